// Scale sets get pull access like VMs: the same identity, grant and attach, on the scale set's own
// identity, through the real handler and sweep against the emulator. Flexible members are VMs and are
// governed by their own tag; a Flexible scale set's tag governs the scale set's model only.
import type { AuditRecord } from '../../src/audit/auditRecord';
import { SCALE_SET_WRITE, TAGS_WRITE } from '../../src/targets/writeEvent';
import { fleet, type ScaleSetSpec } from '../support/fleet';
import { type Harness, IDENTITY_RG, identityId, startHarness } from '../support/harness';

const actions = (records: readonly AuditRecord[] | undefined) =>
  (records ?? []).map((r) => `${r.action}:${r.outcome}`);
const keys = (identity: { userAssignedIdentities?: Record<string, unknown> } | undefined) =>
  Object.keys(identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase());

describe('scale sets', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(() => h.close());

  const seedScaleSet = (name: string, spec: ScaleSetSpec = {}) =>
    fleet(h.emu).scaleSet(name, { tag: 'contosoapps', ...spec });

  it('a tagged Uniform scale set gets the identity, the grant and the attach on its own identity', async () => {
    const vmss = seedScaleSet('ss-web', { upgradeMode: 'Manual' });

    const result = await h.deliver(vmss.id, { operationName: SCALE_SET_WRITE });

    expect(result?.outcome).toBe('changed');
    expect(actions(result?.records)).toEqual([
      'identity-created:changed',
      'role-assigned:changed',
      'identity-attached:changed',
    ]);
    expect(keys(h.emu.getScaleSet(vmss.id)?.identity)).toEqual([
      identityId('contosoapps', 'eastus').toLowerCase(),
    ]);
    // Identities are tracked at the scale-set level: nothing to upgrade, even under Manual.
    expect(result?.records.find((r) => r.action === 'identity-attached')?.reason).toMatch(
      /every instance has it without an upgrade/,
    );
    expect(h.emu.counts()['vmss.patch']).toBe(1);
    expect(h.emu.counts()['vm.patch']).toBe(0);
  });

  it('a tag write on a scale set is an event for it; the next event finds it compliant with one read', async () => {
    const vmss = seedScaleSet('ss-tagged');
    await h.deliver(vmss.id, { operationName: TAGS_WRITE });
    h.emu.resetCounts();

    const again = await h.deliver(vmss.id, { operationName: TAGS_WRITE });

    expect(actions(again?.records)).toEqual(['already-compliant:unchanged']);
    expect(h.emu.totals()).toMatchObject({ reads: 1, writes: 0 });
  });

  it('keeps a system-assigned identity and another user-assigned identity on the scale set', async () => {
    const other = fleet(h.emu).identity('id-app-own');
    const vmss = seedScaleSet('ss-both', { systemAssigned: true, identities: [other] });
    const systemPrincipal = vmss.identity?.principalId;

    await h.deliver(vmss.id, { operationName: SCALE_SET_WRITE });

    const after = h.emu.getScaleSet(vmss.id)?.identity;
    expect(after?.type).toBe('SystemAssigned, UserAssigned');
    expect(after?.principalId).toBe(systemPrincipal);
    expect(keys(after).sort()).toEqual(
      [other.id.toLowerCase(), identityId('contosoapps', 'eastus').toLowerCase()].sort(),
    );
  });

  it('leaves a scale set whose only identity is its owner’s user-assigned one alone (its IMDS default)', async () => {
    const own = fleet(h.emu).identity('id-batch');
    const vmss = seedScaleSet('ss-single', { identities: [own] });

    const result = await h.deliver(vmss.id, { operationName: SCALE_SET_WRITE });

    expect(result?.outcome).toBe('rejected');
    expect(actions(result?.records)).toEqual(['attach-refused:rejected']);
    expect(h.emu.totals().writes).toBe(0);
  });

  it('never writes a scale set while another writer’s operation runs on it; defers, then attaches', async () => {
    const vmss = seedScaleSet('ss-busy');
    h.emu.startVmOperation(vmss.id, { forMs: 2_500 });

    const during = await h.sweep();
    const patchesDuring = h.emu.counts()['vmss.patch'];
    await new Promise((resolve) => setTimeout(resolve, 2_550));
    const after = await h.sweep();

    expect(during.summary).toMatchObject({ deferred: 1, changed: 0 });
    expect(patchesDuring).toBe(0);
    expect(after.summary).toMatchObject({ deferred: 0, changed: 1 });
    expect(h.emu.preemptions()).toEqual([]);
  });

  it('the sweep finds tagged scale sets and VMs in one Resource Graph query and attaches both', async () => {
    const vmss = seedScaleSet('ss-swept', { location: 'westeurope' });
    const vm = h.seedVm('vm-swept', 'contosoapps', 'westeurope');

    const { summary } = await h.sweep();

    expect(summary).toMatchObject({ vmsScanned: 2, changed: 2, failed: 0, finished: true });
    // One query for both types (and one for untagged pull-identity holders).
    expect(h.emu.counts()['graph.query']).toBe(2);
    const pull = identityId('contosoapps', 'westeurope').toLowerCase();
    expect(keys(h.emu.getScaleSet(vmss.id)?.identity)).toEqual([pull]);
    expect(keys(h.emu.getVm(vm.id)?.identity)).toEqual([pull]);
  });
});

describe('Flexible scale sets and their member VMs', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(() => h.close());

  it('a tagged member VM is attached as a VM; its untagged scale set is not written', async () => {
    const f = fleet(h.emu);
    const vmss = f.scaleSet('ss-flex', { orchestrationMode: 'Flexible' });
    const member = f.vm('ss-flex_1a2b3c', { tag: 'contosoapps', scaleSet: vmss });

    const result = await h.deliver(member.id);

    expect(result?.outcome).toBe('changed');
    expect(keys(h.emu.getVm(member.id)?.identity)).toEqual([
      identityId('contosoapps', 'eastus').toLowerCase(),
    ]);
    expect(h.emu.getScaleSet(vmss.id)?.identity).toBeUndefined();
    expect(h.emu.counts()['vmss.patch']).toBe(0);
  });

  it('a tagged Flexible scale set gets the identity on its model (user-assigned only); its members are not written', async () => {
    const f = fleet(h.emu);
    const vmss = f.scaleSet('ss-flex-tagged', { orchestrationMode: 'Flexible', tag: 'contosoapps' });
    const member = f.vm('ss-flex-tagged_1', { scaleSet: vmss });

    const result = await h.deliver(vmss.id, { operationName: SCALE_SET_WRITE });
    const { summary } = await h.sweep();

    expect(result?.outcome).toBe('changed');
    expect(h.emu.getScaleSet(vmss.id)?.identity?.type).toBe('UserAssigned');
    expect(result?.records.find((r) => r.action === 'identity-attached')?.reason).toMatch(
      /existing member VMs .* their own acrPull tag/,
    );
    // The Flexible scale set's GET shows no principal or client id: the audit takes them from the identity.
    const identity = h.emu
      .listIdentities()
      .find(
        (i) =>
          `${IDENTITY_RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${i.name}`.toLowerCase() ===
          identityId('contosoapps', 'eastus').toLowerCase(),
      );
    expect(result?.records.find((r) => r.action === 'identity-attached')?.clientId).toBe(identity?.clientId);
    // The member (untagged) is never written, by the event or the sweep.
    expect(h.emu.getVm(member.id)?.identity).toBeUndefined();
    expect(h.emu.counts()['vm.patch']).toBe(0);
    expect(summary).toMatchObject({ compliant: 1, changed: 0, failed: 0 });
  });
});
