// Opt-in revocation (ACRPULL_REVOKE=on): when a VM's or scale set's tag no longer names a registry, or
// the allowlist no longer allows it, the app detaches the pull identity it made for that registry —
// only identities ARM's systemData says it created, never an override, a planted look-alike or the
// owner's — in one PATCH that keeps everything else and sets the right `type`. Off: nothing written,
// counted once per sweep. Through the real handler and sweep against the emulator.
import { InvocationContext } from '@azure/functions';
import { type AuditRecord, MemoryAuditSink } from '../../src/audit/auditRecord';
import { Deadline } from '../../src/azure/retry';
import { loadSettings } from '../../src/config/settings';
import { createVmWriteHandler } from '../../src/handlers/vmWriteHandler';
import { reconcileTarget } from '../../src/reconcile/perTarget/reconcileTarget';
import { createRuntime } from '../../src/runtime';
import { SCALE_SET_WRITE, TAGS_WRITE } from '../../src/targets/writeEvent';
import { fleet } from '../support/fleet';
import {
  type Harness,
  IDENTITY_RG,
  identityId,
  SUB,
  startHarness,
  writeSuccessEvent,
} from '../support/harness';

const actions = (records: readonly AuditRecord[] | undefined) =>
  (records ?? []).map((r) => `${r.action}:${r.outcome}`);
const keys = (identity: { userAssignedIdentities?: Record<string, unknown> } | undefined) =>
  Object.keys(identity?.userAssignedIdentities ?? {})
    .map((k) => k.toLowerCase())
    .sort();
const A = identityId('contosoapps', 'eastus').toLowerCase();
const B = identityId('fabrikamabac', 'eastus').toLowerCase();

const ON = { ACRPULL_REVOKE: 'on' };
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const context = () =>
  new InvocationContext({ functionName: 'vmWriteEvent', invocationId: 't', logHandler: () => {} });

/** The app on other settings against the same emulator (a redeployment), revocation on. */
function runtimeFor(h: Harness, env: Record<string, string>) {
  return createRuntime(
    loadSettings({
      ACRPULL_MODE: 'enforce',
      ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG,
      ACRPULL_ALLOWED_REGISTRIES: 'contosoapps fabrikamabac',
      ACRPULL_ARM_ENDPOINT: h.emu.armEndpoint,
      ACRPULL_ATTACH_FIRST_POLL_SECONDS: '0.05',
      ...ON,
      ...env,
    }),
    {
      caCertPem: h.emu.caCertPem,
      audit: new MemoryAuditSink(),
      log: quiet,
      warnAtStartup: false,
      pollIntervalMs: 0,
    },
  );
}

async function attachedVm(h: Harness, name: string, tag: string, extra: { systemAssigned?: boolean } = {}) {
  const vm = fleet(h.emu).vm(name, { tag, ...extra });
  await h.deliver(vm.id);
  return vm;
}

function retag(h: Harness, id: string, tags: Record<string, string>) {
  h.emu.updateVmOutOfBand(id, (vm) => {
    vm.tags = tags;
  });
}

describe('revocation on: the event path', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('reaches a pull identity a person attached by hand to a VM that was never tagged (documented in how-it-works#revocation)', async () => {
    h = await startHarness({ env: ON });
    await attachedVm(h, 'vm-tagged', 'contosoapps'); // the app makes the pull identity
    const untagged = fleet(h.emu).vm('vm-tried-by-hand', { tags: {} });
    const pull = h.emu.listIdentities().find((i) => i.id.toLowerCase() === A);
    h.emu.updateVmOutOfBand(untagged.id, (vm) => {
      vm.identity = {
        type: 'UserAssigned',
        userAssignedIdentities: {
          [identityId('contosoapps', 'eastus')]: {
            principalId: pull?.principalId ?? '',
            clientId: pull?.clientId ?? '',
          },
        },
      };
    });

    const result = await h.deliver(untagged.id);

    expect(actions(result?.records)).toEqual(['identity-detached:changed']);
    expect(keys(h.emu.getVm(untagged.id)?.identity)).toEqual([]);
  });

  it('a removed tag detaches the app’s pull identity and keeps the system-assigned and the owner’s identities', async () => {
    h = await startHarness({ env: ON });
    const f = fleet(h.emu);
    const own = f.identity('id-own');
    const vm = f.vm('vm-untagged-later', { tag: 'contosoapps', systemAssigned: true, identities: [own] });
    await h.deliver(vm.id);
    const system = h.emu.getVm(vm.id)?.identity?.principalId;
    retag(h, vm.id, { env: 'prod' });

    const result = await h.deliver(vm.id, { operationName: TAGS_WRITE });

    expect(actions(result?.records)).toEqual(['identity-detached:changed']);
    expect(result?.records[0]).toMatchObject({
      registry: 'contosoapps',
      identityId: expect.stringMatching(/id-acrpull-contosoapps-eastus$/),
      reason: expect.stringMatching(/no acrPull tag any more/),
    });
    const after = h.emu.getVm(vm.id)?.identity;
    expect(after?.type).toBe('SystemAssigned, UserAssigned');
    expect(after?.principalId).toBe(system);
    expect(keys(after)).toEqual([own.id.toLowerCase()]);
  });

  it('a tag edited from a,b to a detaches b only, in one PATCH', async () => {
    h = await startHarness({ env: ON });
    const vm = await attachedVm(h, 'vm-ab', 'contosoapps,fabrikamabac');
    expect(keys(h.emu.getVm(vm.id)?.identity)).toEqual([A, B].sort());
    retag(h, vm.id, { acrPull: 'contosoapps' });
    h.emu.resetCounts();

    const result = await h.deliver(vm.id, { operationName: TAGS_WRITE });

    expect(actions(result?.records)).toEqual(['already-compliant:unchanged', 'identity-detached:changed']);
    expect(keys(h.emu.getVm(vm.id)?.identity)).toEqual([A]);
    expect(h.emu.counts()['vm.patch']).toBe(1);
  });

  it('the last identity going leaves type None', async () => {
    h = await startHarness({ env: ON });
    const vm = await attachedVm(h, 'vm-only-pull', 'contosoapps');
    retag(h, vm.id, {});

    await h.deliver(vm.id, { operationName: TAGS_WRITE });

    expect(h.emu.getVm(vm.id)?.identity).toBeUndefined();
  });

  it('an allowlist that no longer allows the registry detaches its identity', async () => {
    h = await startHarness({ env: ON });
    const vm = await attachedVm(h, 'vm-shrunk', 'contosoapps,fabrikamabac');
    // The app redeployed with a smaller allowlist: a new runtime on new settings, the same Azure.
    const shrunk = runtimeFor(h, { ACRPULL_ALLOWED_REGISTRIES: 'contosoapps' });

    const result = await createVmWriteHandler(shrunk)(writeSuccessEvent(vm.id), context());

    expect(actions(result?.records)).toEqual([
      'already-compliant:unchanged',
      'registry-denied:rejected',
      'identity-detached:changed',
    ]);
    expect(result?.records[2]?.reason).toMatch(/no longer allowed by ACRPULL_ALLOWED_REGISTRIES/);
    expect(keys(h.emu.getVm(vm.id)?.identity)).toEqual([A]);
  });

  it('never detaches a look-alike someone else made, nor an override identity', async () => {
    const bring = `/subscriptions/${SUB}/resourcegroups/rg-apps/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-bring`;
    h = await startHarness({ env: { ...ON, ACRPULL_IDENTITY_OVERRIDES: `contosoapps=${bring}` } });
    const f = fleet(h.emu);
    // Made by someone else: systemData names them.
    const planted = f.plantedPullIdentity('fabrikamabac', 'eastus');
    const own = f.identity('id-bring');
    const vm = f.vm('vm-lookalike', { tags: { env: 'untagged' }, identities: [planted, own] });

    const result = await h.deliver(vm.id, { operationName: TAGS_WRITE });

    expect(actions(result?.records)).toEqual([]);
    expect(h.emu.totals().writes).toBe(0);
    expect(keys(h.emu.getVm(vm.id)?.identity)).toEqual(
      [planted.id, own.id].map((i) => i.toLowerCase()).sort(),
    );
  });

  it('decides again on a retry: a tag that names the registry again before the PATCH lands keeps it', async () => {
    h = await startHarness({ env: ON });
    const vm = await attachedVm(h, 'vm-flip', 'contosoapps,fabrikamabac');
    retag(h, vm.id, { acrPull: 'contosoapps' });
    // The owner puts it back between the app's read and its PATCH: the PATCH's etag is stale (412).
    h.emu.onBeforeOperation('vm.patch', () => retag(h, vm.id, { acrPull: 'contosoapps,fabrikamabac' }), true);

    const result = await h.deliver(vm.id, { operationName: TAGS_WRITE });

    expect(actions(result?.records).filter((a) => a.startsWith('identity-detached'))).toEqual([]);
    expect(keys(h.emu.getVm(vm.id)?.identity)).toEqual([A, B].sort());
  });

  it('keeps the identity of a registry the tag still names when an override is configured for it since', async () => {
    h = await startHarness({ env: ON });
    const vm = await attachedVm(h, 'vm-override-later', 'contosoapps');
    const f = fleet(h.emu);
    const brought = f.identity('id-brought', { resourceGroup: 'rg-own' });
    f.pullGrant('contosoapps', brought);
    const withOverride = runtimeFor(h, { ACRPULL_IDENTITY_OVERRIDES: `contosoapps=${brought.id}` });

    const result = await createVmWriteHandler(withOverride)(writeSuccessEvent(vm.id), context());

    expect(actions(result?.records)).not.toContain('identity-detached:changed');
    expect(keys(h.emu.getVm(vm.id)?.identity)).toEqual([A, brought.id.toLowerCase()].sort());
  });

  it('an unset allowlist (deny-all by mistake) revokes nothing', async () => {
    h = await startHarness({ env: ON });
    const vm = await attachedVm(h, 'vm-unset', 'contosoapps');
    const unset = runtimeFor(h, { ACRPULL_ALLOWED_REGISTRIES: '' });
    h.emu.resetCounts();

    const result = await createVmWriteHandler(unset)(writeSuccessEvent(vm.id), context());

    expect(actions(result?.records)).toEqual(['registry-denied:rejected']);
    expect(h.emu.totals().writes).toBe(0);
    expect(keys(h.emu.getVm(vm.id)?.identity)).toEqual([A]);
  });

  it('does not detach when that would make the owner’s single identity the IMDS default (keep)', async () => {
    h = await startHarness({ env: ON });
    const own = fleet(h.emu).identity('id-owner');
    const pull = await attachedVm(h, 'vm-seed-pull', 'contosoapps'); // makes the app's identity
    const vm = fleet(h.emu).vm('vm-two-then-one', {
      tags: { env: 'x' },
      identities: [own, Object.keys(h.emu.getVm(pull.id)?.identity?.userAssignedIdentities ?? {})[0] ?? ''],
    });
    h.emu.resetCounts();

    const result = await h.deliver(vm.id, { operationName: TAGS_WRITE });

    expect(actions(result?.records)).toEqual(['identity-detached:rejected']);
    expect(result?.records[0]?.reason).toMatch(/only identity, and IMDS would then give it/);
    expect(h.emu.totals().writes).toBe(0);
  });

  it('a scale set whose tag was removed loses the app’s identity too', async () => {
    h = await startHarness({ env: ON });
    const vmss = fleet(h.emu).scaleSet('ss-revoked', { tag: 'contosoapps', systemAssigned: true });
    await h.deliver(vmss.id, { operationName: SCALE_SET_WRITE });
    retag(h, vmss.id, {});

    const result = await h.deliver(vmss.id, { operationName: TAGS_WRITE });

    expect(actions(result?.records)).toEqual(['identity-detached:changed']);
    expect(h.emu.getScaleSet(vmss.id)?.identity?.type).toBe('SystemAssigned');
    expect(h.emu.counts()['vmss.patch']).toBeGreaterThan(0);
  });

  it('audit mode plans the detach and writes nothing', async () => {
    h = await startHarness({ env: ON });
    const vm = await attachedVm(h, 'vm-audit', 'contosoapps');
    retag(h, vm.id, {});
    const dry = runtimeFor(h, { ACRPULL_MODE: 'audit' });
    h.emu.resetCounts();

    const result = await reconcileTarget(dry, {
      targetId: vm.id,
      trigger: 'cli',
      deadline: new Deadline(10_000),
    });

    expect(actions(result.records)).toEqual(['identity-detached:planned']);
    expect(result.outcome).toBe('planned');
    expect(h.emu.totals().writes).toBe(0);
    expect(keys(h.emu.getVm(vm.id)?.identity)).toEqual([A]);
  });
});

describe('revocation: the sweep', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('off: writes nothing, and the sweep summary counts the VMs holding a pull identity their tag no longer asks for', async () => {
    h = await startHarness();
    const untagged = await attachedVm(h, 'vm-off-untagged', 'contosoapps');
    const edited = await attachedVm(h, 'vm-off-edited', 'contosoapps,fabrikamabac');
    await attachedVm(h, 'vm-off-fine', 'contosoapps');
    retag(h, untagged.id, {});
    retag(h, edited.id, { acrPull: 'contosoapps' });
    const event = await h.deliver(untagged.id, { operationName: TAGS_WRITE });
    h.emu.resetCounts();

    const { summary } = await h.sweep();

    expect(event?.records).toEqual([]);
    expect(summary).toMatchObject({ revocable: 2, changed: 0 });
    expect(h.emu.totals().writes).toBe(0);
    expect(keys(h.emu.getVm(untagged.id)?.identity)).toEqual([A]);
    expect(keys(h.emu.getVm(edited.id)?.identity)).toEqual([A, B].sort());
  });

  it('on: a missed untag and a missed edit are both caught; the identity nobody holds any more is reported, not deleted', async () => {
    h = await startHarness({ env: ON });
    const untagged = await attachedVm(h, 'vm-on-untagged', 'contosoapps');
    const edited = await attachedVm(h, 'vm-on-edited', 'contosoapps,fabrikamabac');
    retag(h, untagged.id, {});
    retag(h, edited.id, { acrPull: 'contosoapps' });

    const { summary } = await h.sweep();

    expect(summary).toMatchObject({ revocable: 0, changed: 2, failed: 0, finished: true });
    expect(h.emu.getVm(untagged.id)?.identity).toBeUndefined();
    expect(keys(h.emu.getVm(edited.id)?.identity)).toEqual([A]);
    const detached = h.audit.records.filter((r) => r.action === 'identity-detached');
    expect(detached.map((r) => [r.vmId, r.registry, r.outcome])).toEqual(
      expect.arrayContaining([
        [untagged.id, 'contosoapps', 'changed'],
        [edited.id, 'fabrikamabac', 'changed'],
      ]),
    );
    const unused = h.audit.records.filter((r) => r.action === 'identity-unused');
    expect(unused.map((r) => r.identityId?.toLowerCase())).toEqual([B]);
    expect(h.emu.listIdentities().map((i) => i.id.toLowerCase())).toContain(B);
  });
});
