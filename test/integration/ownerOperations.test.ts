// Never break what the VM's owner runs (shared/reference/azure-rest.md §11), through the real handler,
// sweep and CLI against the emulator:
// - no write while another writer's operation runs on the VM: Compute may accept the PATCH and preempt
//   the owner's deployment (the emulator's default), or refuse it with 409; the app must do neither;
// - no second identity on a VM whose IMDS default is its owner's only user-assigned identity, unless
//   the operator opts in (ACRPULL_SINGLE_IDENTITY_VMS=attach), and then with a warning.
import type { ConcurrentWrites, VmRecord } from '@acrpull/azure-emulator';
import type { AuditRecord } from '../../src/audit/auditRecord';
import { runReconcileCommand } from '../../src/cli/reconcileCommand';
import { RetryableReconcileError } from '../../src/handlers/vmWriteHandler';
import { fleet } from '../support/fleet';
import { type Harness, IDENTITY_RG, identityId, startHarness } from '../support/harness';

const PULL_ID = identityId('contosoapps', 'eastus');
const IMDS_WARNING = /^IMDS token requests without a client id now fail on this VM/;

/** The VM's provisioningState each time a PATCH reaches the emulator. */
function watchPatches(h: Harness, vmIdToWatch: string): string[] {
  const states: string[] = [];
  h.emu.onBeforeOperation('vm.patch', () => states.push(h.emu.getVm(vmIdToWatch)?.provisioningState ?? ''));
  return states;
}

const attachedKeys = (vm: VmRecord | undefined) =>
  Object.keys(vm?.identity?.userAssignedIdentities ?? {})
    .map((k) => k.toLowerCase())
    .sort();

const recordsOf = (h: Harness, vm: string, action?: string): AuditRecord[] =>
  h.audit.records.filter((r) => r.vmId === vm && (action === undefined || r.action === action));

describe.each<ConcurrentWrites>(['preempt', 'conflict'])(
  'another writer’s operation in progress (Compute answering a concurrent PATCH with %s)',
  (concurrentWrites) => {
    let h: Harness;
    beforeEach(async () => {
      h = await startHarness({
        env: { ACRPULL_EVENT_TIME_BUDGET_SECONDS: '1' },
        emulator: { concurrentWrites },
      });
    });
    afterEach(async () => {
      expect(h.emu.preemptions()).toEqual([]);
      await h.close();
    });

    it('a VM still being created when its event arrives: no PATCH while it runs, attached after, through redelivery', async () => {
      // Prepare: Event Grid may send the write event at the start of the creation.
      const vm = fleet(h.emu).vm('vm-creating', { tag: 'contosoapps', creatingForMs: 1_500 });
      const statesAtPatch = watchPatches(h, vm.id);

      // Act
      const delivery = await h.deliverUntilDone(vm.id);

      // Assess
      expect(delivery.delivered).toBe(true);
      expect(delivery.attempts).toBeGreaterThan(1);
      expect(delivery.errors.every((e) => e instanceof RetryableReconcileError)).toBe(true);
      expect(delivery.result?.outcome).toBe('changed');
      expect(statesAtPatch).toEqual(['Succeeded']);
      expect(h.emu.vmOperations(vm.id)[0]).toMatchObject({ kind: 'create', status: 'Succeeded' });
      expect(attachedKeys(h.emu.getVm(vm.id))).toEqual([PULL_ID.toLowerCase()]);
      const deferred = recordsOf(h, vm.id, 'identity-attached').filter((r) => r.outcome === 'deferred');
      expect(deferred.length).toBe(delivery.attempts - 1);
      expect(deferred[0]).toMatchObject({ retryable: true, reason: expect.stringContaining('Creating') });
      expect(recordsOf(h, vm.id).some((r) => r.outcome === 'failed')).toBe(false);
    });

    it('a VM its owner is updating: no PATCH while the update runs, attached after, through redelivery', async () => {
      const vm = h.seedVm('vm-owner-updating', 'contosoapps');
      h.emu.startVmOperation(vm.id, {
        forMs: 1_500,
        change: (v) => (v.tags = { ...v.tags, owner: 'bicep' }),
      });
      const statesAtPatch = watchPatches(h, vm.id);

      const delivery = await h.deliverUntilDone(vm.id);

      expect(delivery.result?.outcome).toBe('changed');
      expect(delivery.attempts).toBeGreaterThan(1);
      expect(statesAtPatch).toEqual(['Succeeded']);
      expect(h.emu.vmOperations(vm.id)[0]).toMatchObject({ kind: 'update', status: 'Succeeded' });
      expect(h.emu.getVm(vm.id)?.tags).toEqual({ acrPull: 'contosoapps', owner: 'bicep' });
      expect(attachedKeys(h.emu.getVm(vm.id))).toEqual([PULL_ID.toLowerCase()]);
    });

    it('an owner’s update that starts between our read and our PATCH: 412, re-read, deferred, nothing preempted', async () => {
      const vm = h.seedVm('vm-owner-races', 'contosoapps');
      h.emu.onBeforeOperation('vm.patch', () => h.emu.startVmOperation(vm.id, { forMs: 5_000 }), true);

      const error = await h.deliver(vm.id).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(RetryableReconcileError);
      expect(h.emu.counts()['vm.patch']).toBe(1);
      expect(h.logs.some((l) => l.includes('after PreconditionFailed'))).toBe(true);
      expect(recordsOf(h, vm.id, 'identity-attached')).toEqual([
        expect.objectContaining({ outcome: 'deferred', reason: expect.stringContaining('Updating') }),
      ]);
      expect(h.emu.vmOperations(vm.id)[0]).toMatchObject({ startedBy: 'vm-owner', status: 'InProgress' });
    });

    it('an operation that leaves the etag alone, started while the identity is created: re-read before the PATCH, deferred', async () => {
      const vm = h.seedVm('vm-owner-quiet', 'contosoapps');
      h.emu.onBeforeOperation(
        'identity.put',
        () => h.emu.startVmOperation(vm.id, { forMs: 5_000, keepEtag: true }),
        true,
      );

      const error = await h.deliver(vm.id).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(RetryableReconcileError);
      expect(h.emu.counts()['identity.put']).toBe(1);
      expect(h.emu.counts()['vm.patch']).toBe(0);
      expect(recordsOf(h, vm.id, 'identity-attached')).toEqual([
        expect.objectContaining({ outcome: 'deferred', reason: expect.stringContaining('Updating') }),
      ]);
    });

    it('an attached VM its owner is updating is compliant only once the update has ended', async () => {
      const vm = h.seedVm('vm-attached-then-updated', 'contosoapps');
      expect((await h.deliver(vm.id))?.outcome).toBe('changed');
      h.emu.startVmOperation(vm.id, { forMs: 100 });
      h.emu.resetCounts();

      const result = await h.deliver(vm.id);

      expect(result?.outcome).toBe('compliant');
      expect(h.emu.counts()['vm.get']).toBeGreaterThan(1);
      expect(h.emu.totals().writes).toBe(0);
      expect(h.emu.vmOperations(vm.id).at(-1)).toMatchObject({ startedBy: 'vm-owner', status: 'Succeeded' });
    });

    it('the sweep skips a busy VM and counts it as deferred: no write, no failure', async () => {
      const vm = h.seedVm('vm-busy-at-sweep', 'contosoapps');
      h.emu.startVmOperation(vm.id, { forMs: 5_000 });
      const statesAtPatch = watchPatches(h, vm.id);

      const { summary } = await h.sweep();

      expect(summary).toMatchObject({ vmsScanned: 1, deferred: 1, failed: 0, changed: 0 });
      expect(statesAtPatch).toEqual([]);
      expect(recordsOf(h, vm.id, 'identity-attached')).toEqual([
        expect.objectContaining({ outcome: 'deferred', trigger: 'reconcile' }),
      ]);
    });
  },
);

describe('the IMDS default identity', () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  /** A VM whose only identity is its owner's user-assigned one (no system-assigned identity). */
  function singleIdentityVm(name: string, tag = 'contosoapps') {
    const f = fleet(h.emu);
    const owners = f.identity(`id-${name}`);
    const vm = f.vm(name, { tag, identities: [owners] });
    return { vm, owners };
  }

  it('by default leaves a VM with exactly one user-assigned identity alone: one read, nothing written, rejected', async () => {
    h = await startHarness();
    const { vm, owners } = singleIdentityVm('vm-single');
    h.emu.resetCounts();

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('rejected');
    expect(result?.retryable).toBe(false);
    expect(h.emu.totals()).toMatchObject({ reads: 1, writes: 0 });
    expect(attachedKeys(h.emu.getVm(vm.id))).toEqual([owners.id.toLowerCase()]);
    expect(result?.records).toEqual([
      expect.objectContaining({
        action: 'attach-refused',
        outcome: 'rejected',
        registry: 'contosoapps',
        identityId: PULL_ID,
        reason: expect.stringMatching(
          /exactly one user-assigned identity \(id-vm-single\).*ACRPULL_SINGLE_IDENTITY_VMS=attach/,
        ),
      }),
    ]);
  });

  it('under ACRPULL_SINGLE_IDENTITY_VMS=attach attaches, and the record warns that IMDS calls without a client id now fail', async () => {
    h = await startHarness({ env: { ACRPULL_SINGLE_IDENTITY_VMS: 'attach' } });
    const { vm, owners } = singleIdentityVm('vm-single-optin');

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('changed');
    expect(attachedKeys(h.emu.getVm(vm.id))).toEqual([owners.id, PULL_ID].map((k) => k.toLowerCase()).sort());
    expect(result?.records.find((r) => r.action === 'identity-attached')).toMatchObject({
      outcome: 'changed',
      warning: expect.stringMatching(IMDS_WARNING),
    });
  });

  it('a VM with only a system-assigned identity is attached as before, without a warning (its IMDS default stays)', async () => {
    h = await startHarness();
    const vm = fleet(h.emu).vm('vm-system-only', { tag: 'contosoapps', systemAssigned: true });

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('changed');
    expect(h.emu.getVm(vm.id)?.identity?.type).toBe('SystemAssigned, UserAssigned');
    expect(result?.records.some((r) => r.warning !== undefined)).toBe(false);
  });

  it('a VM with two user-assigned identities already has no default: attached without a warning', async () => {
    h = await startHarness();
    const f = fleet(h.emu);
    const a = f.identity('id-a');
    const b = f.identity('id-b');
    const vm = f.vm('vm-two-own', { tag: 'contosoapps', identities: [a, b] });

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('changed');
    expect(result?.records.some((r) => r.warning !== undefined)).toBe(false);
  });

  it('a tag going from a to a,b takes the VM from one pull identity to two: attached, with the warning', async () => {
    h = await startHarness();
    const vm = h.seedVm('vm-a-then-ab', 'contosoapps');
    expect((await h.deliver(vm.id))?.outcome).toBe('changed');
    h.emu.updateVmOutOfBand(vm.id, (v) => {
      v.tags = { acrPull: 'contosoapps,fabrikamabac' };
    });

    const result = await h.deliver(vm.id, { operationName: 'Microsoft.Resources/tags/write' });

    expect(result?.outcome).toBe('changed');
    expect(attachedKeys(h.emu.getVm(vm.id))).toHaveLength(2);
    expect(result?.records.filter((r) => r.action === 'identity-attached')).toEqual([
      expect.objectContaining({
        registry: 'fabrikamabac',
        outcome: 'changed',
        warning: expect.stringMatching(IMDS_WARNING),
      }),
    ]);
  });

  it('keeps the warning when our own attach ends Failed and is sent again', async () => {
    h = await startHarness();
    const vm = h.seedVm('vm-a-then-ab-failed', 'contosoapps');
    expect((await h.deliver(vm.id))?.outcome).toBe('changed');
    h.emu.updateVmOutOfBand(vm.id, (v) => {
      v.tags = { acrPull: 'contosoapps,fabrikamabac' };
    });
    h.emu.injectFault({
      operation: 'vm.patch',
      kind: 'asyncFailed',
      status: 200,
      code: 'InternalExecutionError',
    });

    const result = await h.deliver(vm.id);

    expect(h.emu.counts()['vm.patch']).toBe(3);
    expect(result?.records.find((r) => r.action === 'identity-attached')).toMatchObject({
      registry: 'fabrikamabac',
      outcome: 'changed',
      warning: expect.stringMatching(IMDS_WARNING),
    });
  });

  it('puts the warning on the deferred record when the budget runs out during our own attach', async () => {
    h = await startHarness({
      env: { ACRPULL_EVENT_TIME_BUDGET_SECONDS: '1' },
      emulator: { operationDurationMs: 3_000 },
    });
    const vm = h.seedVm('vm-a-then-ab-slow', 'contosoapps');
    // Attached by the app earlier: ARM's systemData says the app created it (a name alone proves nothing).
    const pull = fleet(h.emu).appPullIdentity('contosoapps', 'eastus');
    h.emu.updateVmOutOfBand(vm.id, (v) => {
      v.identity = {
        type: 'UserAssigned',
        userAssignedIdentities: { [pull.id]: { principalId: pull.principalId, clientId: pull.clientId } },
      };
      v.tags = { acrPull: 'contosoapps,fabrikamabac' };
    });

    const error = await h.deliver(vm.id).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RetryableReconcileError);
    expect(recordsOf(h, vm.id, 'identity-attached')).toEqual([
      expect.objectContaining({
        registry: 'fabrikamabac',
        outcome: 'deferred',
        warning: expect.stringMatching(IMDS_WARNING),
      }),
    ]);
  });

  it('a writer who makes the VM’s only identity theirs between our read and our PATCH: 412, re-read, refused', async () => {
    h = await startHarness();
    const vm = h.seedVm('vm-writer-single', 'contosoapps');
    const theirs = fleet(h.emu).identity('id-theirs');
    h.emu.onBeforeOperation(
      'vm.patch',
      () =>
        h.emu.updateVmOutOfBand(vm.id, (v) => {
          v.identity = {
            type: 'UserAssigned',
            userAssignedIdentities: {
              [theirs.id]: { principalId: theirs.principalId, clientId: theirs.clientId },
            },
          };
        }),
      true,
    );

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('rejected');
    expect(h.emu.counts()['vm.patch']).toBe(1);
    expect(attachedKeys(h.emu.getVm(vm.id))).toEqual([theirs.id.toLowerCase()]);
    expect(result?.records.at(-1)).toMatchObject({ action: 'attach-refused', outcome: 'rejected' });
  });

  it('the sweep leaves it alone too, and rejects it in its summary', async () => {
    h = await startHarness();
    const { vm, owners } = singleIdentityVm('vm-single-sweep');
    h.emu.resetCounts();

    const { summary } = await h.sweep();

    expect(summary).toMatchObject({ vmsScanned: 1, rejected: 1, changed: 0, failed: 0, pairs: 0 });
    // Refused from the Resource Graph snapshot: no identity, grant or VM read for it.
    expect(h.emu.totals()).toMatchObject({ writes: 0 });
    expect(h.emu.counts()['vm.get']).toBe(0);
    expect(attachedKeys(h.emu.getVm(vm.id))).toEqual([owners.id.toLowerCase()]);
    expect(recordsOf(h, vm.id, 'attach-refused')).toEqual([
      expect.objectContaining({ outcome: 'rejected', trigger: 'reconcile' }),
    ]);
  });

  it('the CLI’s what-if shows the refusal, and --apply leaves the VM alone', async () => {
    h = await startHarness();
    const { vm, owners } = singleIdentityVm('vm-single-cli');
    const out: string[] = [];
    const io = {
      out: (line: string) => out.push(line),
      err: () => {},
      env: {
        ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG,
        ACRPULL_ALLOWED_REGISTRIES: 'contosoapps',
        ACRPULL_ARM_ENDPOINT: h.emu.armEndpoint,
        IDENTITY_ENDPOINT: h.emu.identityEndpoint,
        IDENTITY_HEADER: h.emu.identityHeader,
      },
      runtime: { caCertPem: h.emu.caCertPem, pollIntervalMs: 0 },
    };

    expect(await runReconcileCommand(['reconcile', '--vm', vm.id], io)).toBe(0);
    expect(out.join('\n')).toMatch(/vm-single-cli\s+rejected\s+contosoapps\s+attach-refused/);
    expect(await runReconcileCommand(['reconcile', '--apply', '--vm', vm.id], io)).toBe(0);
    expect(attachedKeys(h.emu.getVm(vm.id))).toEqual([owners.id.toLowerCase()]);
    expect(h.emu.totals().writes).toBe(0);
  });
});
