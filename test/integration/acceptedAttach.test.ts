// The event path with a state store answers Event Grid once ARM has accepted its attach, instead of
// holding the invocation for the operation's seconds: the operation is remembered as pending, and its
// end is seen by the echo of the app's own write (confirmed), or by the sweep (confirmed, or sent again
// when it ended Failed). Without a store that answers, the invocation follows its operation to its end
// as before. Through the real handler, the real Tables SDK against Azurite and the emulator.
import type { AuditRecord } from '../../src/audit/auditRecord';
import { StateTable } from '../../src/azure/stateTable';
import { RetryableReconcileError } from '../../src/handlers/vmWriteHandler';
import { TargetMemory } from '../../src/reconcile/targetMemory';
import { type Harness, identityId, ownWriteEvent, startHarness, writeSuccessEvent } from '../support/harness';

const PULL_ID = identityId('contosoapps', 'eastus');
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

const recordsOf = (h: Harness, vm: string, action: string): AuditRecord[] =>
  h.audit.records.filter((r) => r.vmId === vm && r.action === action);

const running = (h: Harness, vm: string) =>
  h.emu
    .vmOperations(vm)
    .filter((o) => o.status === 'InProgress' && o.startedBy === h.emu.appIdentity.principalId);

const echoOf = (h: Harness, vm: string) => ownWriteEvent(vm, h.emu.appIdentity);

function memoryOf(h: Harness, now?: () => number): TargetMemory {
  return new TargetMemory(
    StateTable.connect(
      { kind: 'connection-string', connectionString: h.azurite?.connectionString ?? '' },
      null as never,
    ),
    quiet,
    now,
  );
}

describe('an attach answered once ARM accepts it', () => {
  let h: Harness;
  beforeEach(async () => {
    // Updates run for 1.5 s: the invocation's answer comes well before the operation ends.
    h = await startHarness({ state: true, emulator: { operationDurationMs: 1500 } });
    // Who the app is, as an instance knows once it has had a token (the echo is told by it).
    await h.runtime.whoAmI();
  });
  afterEach(async () => {
    await h.close();
  });

  it('answers while the operation runs, remembers it, and the echo of its write confirms it', async () => {
    const vm = h.seedVm('vm-accepted', 'contosoapps').id;

    const result = await h.deliverRaw(writeSuccessEvent(vm));

    expect(result?.outcome).toBe('changed');
    expect(running(h, vm)).toHaveLength(1);
    expect(h.emu.totals().polls).toBe(0);
    expect(recordsOf(h, vm, 'identity-attached')).toEqual([
      expect.objectContaining({
        outcome: 'changed',
        identityId: expect.stringMatching(/id-acrpull-contosoapps-eastus$/),
        reason: expect.stringMatching(/^ARM accepted the update at .*attach-confirmed follows/),
      }),
    ]);
    const pending = (await memoryOf(h).recall(vm))?.pending;
    expect(pending?.identities.map((i) => i.toLowerCase())).toEqual([PULL_ID.toLowerCase()]);

    // The operation ends; the echo of the app's PATCH sees it end.
    await h.settle(vm);
    h.emu.resetCounts();
    const echo = await h.deliverRaw(echoOf(h, vm));

    expect(echo?.outcome).toBe('compliant');
    expect(h.emu.counts()['vm.patch']).toBe(0);
    expect(recordsOf(h, vm, 'attach-confirmed')).toEqual([
      expect.objectContaining({
        outcome: 'unchanged',
        trigger: 'event',
        registry: 'contosoapps',
        identityId: expect.stringMatching(/id-acrpull-contosoapps-eastus$/i),
        reason: expect.stringMatching(/accepted by ARM at .* has Succeeded$/),
      }),
    ]);
    expect((await memoryOf(h).recall(vm))?.pending).toBeUndefined();
    // Confirmed once: the next echo costs no ARM request, as any echo without a pending operation.
    h.emu.resetCounts();
    expect(await h.deliverRaw(echoOf(h, vm))).toBeUndefined();
    expect(h.emu.totals()).toMatchObject({ reads: 0, writes: 0, polls: 0 });
  });

  it('an echo while its own operation runs is deferred, never written, with no busy deferral: its redelivery confirms it', async () => {
    const vm = h.seedVm('vm-accepted-then-echo', 'contosoapps').id;
    await h.deliverRaw(writeSuccessEvent(vm));
    h.emu.resetCounts();
    const echo = echoOf(h, vm);

    await expect(h.deliverRaw(echo)).rejects.toThrow(RetryableReconcileError);

    expect(h.emu.counts()['vm.patch']).toBe(0);
    expect(recordsOf(h, vm, 'identity-attached').at(-1)).toMatchObject({
      outcome: 'deferred',
      reason: expect.stringMatching(/the operation that attaches the identity has not finished/),
    });
    expect(recordsOf(h, vm, 'attach-confirmed')).toEqual([]);
    // No 90 s busy deferral for the app's own seconds-long operation: Event Grid's redelivery reads it.
    expect((await memoryOf(h).recall(vm))?.deferral).toBeUndefined();
    await h.settle(vm);
    expect((await h.deliverRaw(echo))?.outcome).toBe('compliant');
    expect(recordsOf(h, vm, 'attach-confirmed')).toHaveLength(1);
    expect(h.emu.counts()['vm.patch']).toBe(0);
  });

  it('two deliveries of the echo at once (Event Grid delivers at least once): one confirmation', async () => {
    const vm = h.seedVm('vm-echo-twice', 'contosoapps').id;
    await h.deliverRaw(writeSuccessEvent(vm));
    await h.settle(vm);
    const echo = echoOf(h, vm);

    await Promise.all([h.deliverRaw(echo), h.deliverRaw(echo), h.deliverRaw(echo)]);

    expect(recordsOf(h, vm, 'attach-confirmed')).toHaveLength(1);
    expect((await memoryOf(h).recall(vm))?.pending).toBeUndefined();
  });

  it('an accepted attach that ends Failed raises no write event: the sweep sends it again and nothing stays pending', async () => {
    const vm = h.seedVm('vm-accepted-failed', 'contosoapps').id;
    h.emu.injectFault({
      operation: 'vm.patch',
      kind: 'asyncFailed',
      status: 500,
      code: 'InternalExecutionError',
    });

    expect((await h.deliverRaw(writeSuccessEvent(vm)))?.outcome).toBe('changed');
    await h.settle(vm);
    // The model lists the identity, as Compute leaves a failed update's model.
    expect(h.emu.getVm(vm)?.provisioningState).toBe('Failed');
    expect(Object.keys(h.emu.getVm(vm)?.identity?.userAssignedIdentities ?? {})).toHaveLength(1);
    expect((await memoryOf(h).pendingTargets())?.size).toBe(1);
    h.emu.resetCounts();

    await h.sweep();

    expect(h.emu.counts()['vm.patch']).toBe(1);
    expect(h.emu.getVm(vm)?.provisioningState).toBe('Succeeded');
    expect(recordsOf(h, vm, 'identity-attached').at(-1)).toMatchObject({
      outcome: 'changed',
      trigger: 'reconcile',
    });
    expect(recordsOf(h, vm, 'attach-confirmed')).toEqual([]);
    expect((await memoryOf(h).pendingTargets())?.size).toBe(0);
  });

  it('a pending row whose target no sweep query shows any more (untagged, its identities gone) is ended by the sweep all the same', async () => {
    const vm = h.seedVm('vm-accepted-untagged', 'contosoapps').id;
    expect((await h.deliverRaw(writeSuccessEvent(vm)))?.outcome).toBe('changed');
    await h.settle(vm);
    // Before any echo or sweep, its owner takes the tag off and the identity with it: neither the
    // tagged-VM query nor the pull-identity holders' query finds it now.
    h.emu.updateVmOutOfBand(vm, (v) => {
      v.tags = {};
      v.identity = undefined;
    });
    expect((await memoryOf(h).pendingTargets())?.size).toBe(1);
    h.emu.resetCounts();

    await h.sweep();

    expect((await memoryOf(h).pendingTargets())?.size).toBe(0);
    expect(h.emu.counts()['vm.get']).toBe(1);
    expect(h.emu.totals().writes).toBe(0);
    // The tag asks for nothing: no confirmation to record, the row only cleared.
    expect(recordsOf(h, vm, 'attach-confirmed')).toEqual([]);
  });

  it('a target that Failed in another writer’s later update is not written: the accepted operation’s own status Succeeded', async () => {
    const vm = h.seedVm('vm-failed-by-owner', 'contosoapps').id;
    await h.deliverRaw(writeSuccessEvent(vm));
    await h.settle(vm);
    // Before any echo or sweep saw the app's operation end, the owner's own update Failed.
    h.emu.updateVmOutOfBand(vm, (v) => {
      v.provisioningState = 'Failed';
    });
    h.emu.resetCounts();

    await h.sweep();

    expect(h.emu.counts()['vm.patch']).toBe(0);
    expect(recordsOf(h, vm, 'attach-confirmed')).toHaveLength(1);
    expect((await memoryOf(h).pendingTargets())?.size).toBe(0);
  });

  it('a forged pending row (its target’s own hash) on a target Failed for someone else: whose failure cannot be told, nothing is written', async () => {
    const vm = h.seedVm('vm-forged-failed', 'contosoapps').id;
    await h.deliver(vm);
    await h.sweep(); // confirmed: no row left
    h.emu.updateVmOutOfBand(vm, (v) => {
      v.provisioningState = 'Failed';
    });
    const memory = memoryOf(h);
    const other = '22222222-2222-2222-2222-222222222222';
    for (const operation of [
      undefined,
      // A Compute operation path of another subscription, and a URL to another host: never requested.
      `/subscriptions/${other}/providers/Microsoft.Compute/locations/eastus/operations/x1`,
      'https://attacker.example/subscriptions/x/providers/Microsoft.Compute/locations/eastus/operations/x2',
    ]) {
      await memory.rememberPending(vm, {
        identities: [PULL_ID],
        acceptedAt: Date.now(),
        ...(operation ? { operation } : {}),
      });
      h.emu.resetCounts();

      await h.sweep();

      expect([operation, h.emu.counts()['vm.patch']]).toEqual([operation, 0]);
      expect((await memory.pendingTargets())?.size).toBe(0);
    }
    expect(h.logs.some((l) => /not sent again, since the failure may be another writer's/.test(l))).toBe(
      true,
    );
  });

  it('a pending row accepted in the future, older than a day, or filed under another target is not believed', async () => {
    const vm = h.seedVm('vm-forged-pending', 'contosoapps').id;
    const memory = memoryOf(h);
    const day = 24 * 3_600_000;
    await memory.rememberPending(vm, { identities: [PULL_ID], acceptedAt: Date.now() + 10 * day });
    expect((await memory.recall(vm))?.pending).toBeUndefined();
    await memory.rememberPending(vm, { identities: [PULL_ID], acceptedAt: Date.now() - 2 * day });
    expect((await memory.recall(vm))?.pending).toBeUndefined();
    expect((await memory.pendingTargets())?.size).toBe(0);
    await memory.rememberPending(vm, { identities: [PULL_ID], acceptedAt: Date.now() });
    expect((await memory.pendingTargets())?.size).toBe(1);
    // Someone with write access to the table files a row under another key than its target's.
    const table = StateTable.connect(
      { kind: 'connection-string', connectionString: h.azurite?.connectionString ?? '' },
      null as never,
    );
    await table.put({
      partitionKey: 'pending-operations',
      rowKey: 'not-the-hash-of-its-target',
      properties: {
        targetId: vm.replace('vm-forged-pending', 'vm-other'),
        identities: JSON.stringify([PULL_ID]),
        acceptedAt: Date.now(),
      },
    });
    expect([...((await memory.pendingTargets()) ?? new Map()).keys()]).toEqual([vm.toLowerCase()]);
  });
});

describe('without a store that answers', () => {
  it('the invocation follows its operation to its end, as before', async () => {
    const h = await startHarness({ stateFaults: true, emulator: { operationDurationMs: 300 } });
    try {
      h.stateFaults?.setDraw(() => 'unavailable');
      const vm = h.seedVm('vm-no-store', 'contosoapps').id;

      const result = await h.deliverRaw(writeSuccessEvent(vm));

      expect(result?.outcome).toBe('changed');
      expect(running(h, vm)).toEqual([]);
      expect(h.emu.getVm(vm)?.provisioningState).toBe('Succeeded');
      expect(recordsOf(h, vm, 'identity-attached')[0]?.reason ?? '').not.toMatch(/ARM accepted/);
    } finally {
      await h.close();
    }
  });
});
