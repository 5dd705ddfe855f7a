// State that outlives an instance, in Azurite through the real Tables SDK (no mock): a fight with
// another writer is damped (attach-contested after ACRPULL_MAX_REATTACHES undone re-attaches, or at
// once when a policy removes the identity as it is written), and a busy target is one loop, not one
// per event. Through the real handler against the emulator.

import { InvocationContext } from '@azure/functions';
import type { AuditRecord } from '../../src/audit/auditRecord';
import { StateTable } from '../../src/azure/stateTable';
import { runResetCommand } from '../../src/cli/resetCommand';
import { createVmWriteHandler, RetryableReconcileError } from '../../src/handlers/vmWriteHandler';
import { TargetMemory } from '../../src/reconcile/targetMemory';
import { type Harness, identityId, startHarness, writeSuccessEvent } from '../support/harness';

const PULL_ID = identityId('contosoapps', 'eastus');

const recordsOf = (h: Harness, vm: string, action: string): AuditRecord[] =>
  h.audit.records.filter((r) => r.vmId === vm && r.action === action);

const holds = (h: Harness, vm: string) =>
  Object.keys(h.emu.getVm(vm)?.identity?.userAssignedIdentities ?? {}).some(
    (k) => k.toLowerCase() === PULL_ID.toLowerCase(),
  );

/** Someone else removes the pull identity (their write raises the event the app then gets). */
function detachByOther(h: Harness, vm: string): void {
  h.emu.updateVmOutOfBand(vm, (v) => {
    const kept = Object.fromEntries(
      Object.entries(v.identity?.userAssignedIdentities ?? {}).filter(
        ([k]) => k.toLowerCase() !== PULL_ID.toLowerCase(),
      ),
    );
    v.identity = Object.keys(kept).length
      ? { ...v.identity, type: 'UserAssigned', userAssignedIdentities: kept }
      : undefined;
  });
}

describe('a fight with another writer, damped through the state store', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ state: true });
  });
  afterEach(async () => {
    await h.close();
  });

  it('ten detach rounds cost at most 3 re-attach PATCHes, then attach-contested naming the writer; a new instance knows it', async () => {
    const vm = h.seedVm('vm-fought', 'contosoapps').id;
    expect((await h.deliver(vm, { upn: 'alice@contoso.com' }))?.outcome).toBe('changed');
    h.emu.resetCounts();

    for (let round = 0; round < 10; round++) {
      detachByOther(h, vm);
      await h.deliver(vm, { upn: 'mallory@contoso.com' });
    }

    expect(h.emu.counts()['vm.patch']).toBe(3);
    const contested = recordsOf(h, vm, 'attach-contested');
    expect(contested.length).toBe(7);
    expect(contested[0]).toMatchObject({
      outcome: 'rejected',
      identityId: expect.stringMatching(/id-acrpull-contosoapps-eastus$/i),
      reason: expect.stringContaining('last written by mallory@contoso.com'),
    });
    expect(holds(h, vm)).toBe(false);
    // State outlives the instance: a fresh runtime (empty caches) still does not PATCH.
    h.emu.resetCounts();
    await h.coldDeliver(vm);
    expect(h.emu.counts()['vm.patch']).toBe(0);
  });

  it('acrpull-autopilot reset clears it: the next event attaches again', async () => {
    const vm = h.seedVm('vm-fought-then-reset', 'contosoapps').id;
    await h.deliver(vm);
    for (let round = 0; round < 4; round++) {
      detachByOther(h, vm);
      await h.deliver(vm, { upn: 'mallory@contoso.com' });
    }
    expect(recordsOf(h, vm, 'attach-contested')).toHaveLength(1);
    const out: string[] = [];
    const io = {
      out: (l: string) => out.push(l),
      err: (l: string) => out.push(l),
      env: { AzureWebJobsStorage: h.azurite?.connectionString },
    };

    expect(await runResetCommand(['reset', vm], io)).toBe(0);
    expect(out.join('\n')).toMatch(/forgot \d+ records?/);
    h.emu.resetCounts();
    expect((await h.deliver(vm))?.outcome).toBe('changed');
    expect(h.emu.counts()['vm.patch']).toBe(1);
    expect(await runResetCommand(['reset', 'not-an-id'], io)).toBe(2);
    expect(await runResetCommand(['reset', vm], { ...io, env: {} })).toBe(2);
  });

  it('a changed tag starts afresh: the owner asked again', async () => {
    const vm = h.seedVm('vm-fought-then-retagged', 'contosoapps').id;
    await h.deliver(vm);
    for (let round = 0; round < 4; round++) {
      detachByOther(h, vm);
      await h.deliver(vm, { upn: 'mallory@contoso.com' });
    }
    expect(recordsOf(h, vm, 'attach-contested')).toHaveLength(1);
    h.emu.updateVmOutOfBand(vm, (v) => {
      v.tags = { acrPull: 'contosoapps fabrikamabac' };
    });
    h.emu.resetCounts();

    const result = await h.deliver(vm, { upn: 'alice@contoso.com' });

    expect(result?.outcome).toBe('changed');
    expect(holds(h, vm)).toBe(true);
    expect(h.emu.counts()['vm.patch']).toBe(1);
  });

  it('an identity a modify policy removes as it is written: terminal after one re-read, then no PATCH at all', async () => {
    const vm = h.seedVm('vm-policy', 'contosoapps').id;
    h.emu.assignModifyPolicy({ scope: vm, removeUserAssignedIdentities: [PULL_ID] });

    const first = await h.deliver(vm);

    expect(first?.retryable).toBe(false);
    expect(h.emu.counts()['vm.patch']).toBe(1);
    expect(recordsOf(h, vm, 'attach-contested')).toEqual([
      expect.objectContaining({
        outcome: 'rejected',
        reason: expect.stringContaining('removes it as it is written'),
      }),
    ]);
    expect(recordsOf(h, vm, 'failed')).toEqual([]);
    h.emu.resetCounts();
    await h.deliver(vm);
    expect(h.emu.counts()['vm.patch']).toBe(0);
  });
});

describe('a modify policy without a state store', () => {
  it('is still terminal per event (not 30 redeliveries): attach-contested, not retryable', async () => {
    const h = await startHarness();
    try {
      const vm = h.seedVm('vm-policy-nostate', 'contosoapps').id;
      h.emu.assignModifyPolicy({ scope: vm, removeUserAssignedIdentities: [PULL_ID] });
      const result = await h.deliver(vm);
      expect(result?.retryable).toBe(false);
      expect(recordsOf(h, vm, 'attach-contested')).toHaveLength(1);
    } finally {
      await h.close();
    }
  });
});

describe('one loop per busy target', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ state: true });
  });
  afterEach(async () => {
    await h.close();
  });

  it('five events during a ten-minute owner operation cost at most 3 VM reads; the loop attaches after it', async () => {
    const vm = h.seedVm('vm-long-update', 'contosoapps').id;
    // The owner's operation runs (in real time) until the test has played ten minutes of events.
    h.emu.startVmOperation(vm, { forMs: 4_000 });
    let clock = Date.parse('2026-12-07T10:00:00Z');
    const handler = createVmWriteHandler({ ...h.runtime, now: () => clock });
    const context = () =>
      new InvocationContext({ functionName: 'vmWriteEvent', invocationId: 't', logHandler: () => {} });
    const at = (minutes: number) => Date.parse('2026-12-07T10:00:00Z') + minutes * 60_000;
    const first = writeSuccessEvent(vm, { eventId: 'evt-first' });
    const deliver = async (event: unknown, minutes: number) => {
      clock = at(minutes);
      return handler(event, context()).catch((e: unknown) => e);
    };
    h.emu.resetCounts();

    // Five events, one minute apart from 1:00, and Event Grid redelivering the first (it failed:
    // retryable) 10 s, 30 s, 1 min and 5 min after each failure.
    const timeline: [unknown, number][] = [
      [first, 1],
      [first, 1 + 10 / 60],
      [first, 1 + 40 / 60],
      [first, 1 + 100 / 60],
      [writeSuccessEvent(vm, { eventId: 'evt-2' }), 3],
      [writeSuccessEvent(vm, { eventId: 'evt-3' }), 5],
      [first, 1 + 400 / 60],
      [writeSuccessEvent(vm, { eventId: 'evt-4' }), 7],
      [writeSuccessEvent(vm, { eventId: 'evt-5' }), 9],
    ];
    for (const [event, minutes] of timeline) await deliver(event, minutes);

    expect(h.emu.counts()['vm.get']).toBeLessThanOrEqual(3);
    expect(h.emu.counts()['vm.patch']).toBe(0);

    // The operation ends; the first event's next redelivery (10 min after the last) takes it up.
    await new Promise((resolve) => setTimeout(resolve, 4_200));
    const last = await deliver(first, 1 + 1000 / 60);
    expect(last).toMatchObject({ outcome: 'changed' });
    expect(holds(h, vm)).toBe(true);
  });

  it('the deferring event is redelivered (retryable); others before the due time are acknowledged', async () => {
    const vm = h.seedVm('vm-busy-ack', 'contosoapps').id;
    h.emu.startVmOperation(vm, { forMs: 5_000 });
    const first = await h.deliver(vm, { eventId: 'evt-a' }).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(RetryableReconcileError);
    h.emu.resetCounts();

    const other = await h.deliver(vm, { eventId: 'evt-b' });
    const again = await h.deliver(vm, { eventId: 'evt-a' }).catch((e: unknown) => e);

    expect(other).toMatchObject({ outcome: 'deferred', retryable: false });
    expect(again).toBeInstanceOf(RetryableReconcileError);
    expect(h.emu.totals().reads).toBe(0);
  });

  it('the sweep takes a deferred target up whatever its due time', async () => {
    const vm = h.seedVm('vm-busy-sweep', 'contosoapps').id;
    h.emu.startVmOperation(vm, { forMs: 300 });
    await h.deliver(vm, { eventId: 'evt-s' }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 400));

    const { summary } = await h.sweep();

    expect(summary).toMatchObject({ changed: 1, failed: 0 });
    expect(holds(h, vm)).toBe(true);
    // The deferral went with it: the next event reads (and finds it compliant).
    expect((await h.deliver(vm, { eventId: 'evt-t' }))?.outcome).toBe('compliant');
  });
});

describe('a state store that cannot answer', () => {
  it('costs reads, never the reconcile: the event path goes on as without one, and says so', async () => {
    const h = await startHarness({ state: true });
    try {
      await h.azurite?.stop();
      const vm = h.seedVm('vm-store-down', 'contosoapps').id;
      const result = await h.deliver(vm);
      expect(result?.outcome).toBe('changed');
      expect(holds(h, vm)).toBe(true);
      expect(h.logs.some((l) => l.includes('going on without the state store'))).toBe(true);
    } finally {
      await h.close();
    }
  });
});

describe('refusals in the sweep', () => {
  it('are recorded when they change, not every sweep; the event path always records', async () => {
    const h = await startHarness({ state: true });
    try {
      const bad = h.seedVm('vm-bad-tag', 'not a registry!').id;
      const denied = h.seedVm('vm-denied', 'secretregistry').id;
      const count = (vm: string, action: string) => recordsOf(h, vm, action).length;

      await h.sweep();
      await h.sweep();
      await h.sweep();

      expect(count(bad, 'tag-invalid')).toBe(1);
      expect(count(denied, 'registry-denied')).toBe(1);
      // A change of what is refused is recorded at once.
      h.emu.updateVmOutOfBand(bad, (v) => {
        v.tags = { acrPull: 'also bad!' };
      });
      await h.sweep();
      expect(count(bad, 'tag-invalid')).toBe(2);
      // An event is someone asking now: recorded whatever the sweep remembers.
      await h.deliver(denied);
      expect(count(denied, 'registry-denied')).toBe(2);
    } finally {
      await h.close();
    }
  });
});

describe('what the store remembers cannot hold a target back for ever', () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  const memoryOf = (harness: Harness) =>
    new TargetMemory(
      StateTable.connect(
        { kind: 'connection-string', connectionString: harness.azurite?.connectionString ?? '' },
        null as never,
      ),
      { debug() {}, info() {}, warn() {}, error() {} },
    );

  it('the app’s own detach (revocation) is not someone undoing its attach: a tag flipped back and forth is never contested', async () => {
    h = await startHarness({ state: true, env: { ACRPULL_REVOKE: 'on' } });
    const vm = h.seedVm('vm-flipping', 'contosoapps').id;
    await h.deliver(vm, { upn: 'owner@contoso.com' });
    for (let round = 0; round < 5; round++) {
      for (const tag of ['fabrikamabac', 'contosoapps']) {
        h.emu.updateVmOutOfBand(vm, (v) => {
          v.tags = { acrPull: tag };
        });
        await h.deliver(vm, { upn: 'owner@contoso.com' });
      }
    }
    expect(h.audit.records.filter((r) => r.action === 'attach-contested')).toEqual([]);
    expect(holds(h, vm)).toBe(true);
  });

  it('a contest ends when the tag changes, even if it comes back', async () => {
    h = await startHarness({ state: true });
    const vm = h.seedVm('vm-contested-then-asked-again', 'contosoapps').id;
    await h.deliver(vm);
    for (let round = 0; round < 4; round++) {
      detachByOther(h, vm);
      await h.deliver(vm, { upn: 'mallory@contoso.com' });
    }
    expect(recordsOf(h, vm, 'attach-contested')).toHaveLength(1);
    for (const tag of ['fabrikamabac', 'contosoapps']) {
      h.emu.updateVmOutOfBand(vm, (v) => {
        v.tags = { acrPull: tag };
      });
      await h.deliver(vm, { upn: 'owner@contoso.com' });
    }
    expect(holds(h, vm)).toBe(true);
  });

  it('a deferral due further away than the longest delay, or a contest stamped in the future, is not believed', async () => {
    h = await startHarness({ state: true });
    const memory = memoryOf(h);
    const vm = h.seedVm('vm-forged-rows', 'contosoapps').id;
    const inTenDays = Date.now() + 10 * 24 * 60 * 60 * 1000;
    await memory.defer(vm, { dueAt: inTenDays, attempt: 1, eventId: 'forged', reason: 'forged' });
    await memory.rememberAttach(vm, PULL_ID, {
      undone: [inTenDays],
      contested: { at: inTenDays, by: 'forger', tag: 'contosoapps' },
    });

    const result = await h.deliver(vm, { eventId: 'evt-real' });

    expect(result?.outcome).toBe('changed');
    expect(holds(h, vm)).toBe(true);
  });
});
