// The event path reuses (registry, region) pairs this instance verified within a minute: the first VM
// of a known pair on a warm instance costs its VM read and its attach only. Expiry and a failed
// attach make it verify again; the sweep always verifies afresh.
import { createVmWriteHandler } from '../../src/handlers/vmWriteHandler';
import { VerifiedPairs } from '../../src/reconcile/verifiedPairs';
import { type Harness, startHarness, writeSuccessEvent } from '../support/harness';

const actions = (records: readonly { action: string; outcome: string }[]) =>
  records.map((r) => `${r.action}:${r.outcome}`);

describe('verified pairs on the event path', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('the first VM of a known pair on a warm instance costs 3 requests: VM read, PATCH, 1 poll', async () => {
    h = await startHarness();
    await h.deliver(h.seedVm('vm-first', 'contosoapps').id);
    h.emu.resetCounts();

    const result = await h.deliver(h.seedVm('vm-second', 'contosoapps').id);

    expect(actions(result?.records ?? [])).toEqual([
      'identity-reused:unchanged',
      'role-present:unchanged',
      'identity-attached:changed',
    ]);
    expect(result?.records[0]?.reason).toMatch(/^verified by this instance \d+ s ago$/);
    const counts = h.emu.counts();
    expect([counts['vm.get'], counts['vm.patch'], counts['vm.operationStatus']]).toEqual([1, 1, 1]);
    expect(h.emu.totals().reads + h.emu.totals().writes + h.emu.totals().polls).toBe(3);
  });

  it('verifies again once the minute is over', async () => {
    h = await startHarness();
    let now = Date.now();
    const pairs = new VerifiedPairs(() => now);
    const handler = createVmWriteHandler({ ...h.runtime, verifiedPairs: pairs });
    const context = () => ({ debug() {}, info() {}, warn() {}, error() {} }) as never;
    await handler(writeSuccessEvent(h.seedVm('vm-a', 'contosoapps').id), context());
    now += pairs.ttlMs - 1;
    h.emu.resetCounts();
    await handler(writeSuccessEvent(h.seedVm('vm-b', 'contosoapps').id), context());
    expect([h.emu.counts()['identity.get'], h.emu.counts()['roleAssignment.list']]).toEqual([0, 0]);

    now += 1;
    h.emu.resetCounts();
    await handler(writeSuccessEvent(h.seedVm('vm-c', 'contosoapps').id), context());

    expect([h.emu.counts()['identity.get'], h.emu.counts()['roleAssignment.list']]).toEqual([1, 1]);
  });

  it('forgets a pair whose attach failed, and the sweep never reuses one', async () => {
    h = await startHarness();
    await h.deliver(h.seedVm('vm-a', 'contosoapps').id);
    h.emu.injectFault({ operation: 'vm.patch', status: 400, code: 'InvalidParameter' });
    await h.deliver(h.seedVm('vm-b', 'contosoapps').id);
    h.emu.resetCounts();

    await h.deliver(h.seedVm('vm-c', 'contosoapps').id);
    expect(h.emu.counts()['identity.get']).toBe(1);

    h.emu.resetCounts();
    await h.sweep();
    expect(h.emu.counts()['identity.get']).toBe(1);
    expect(h.emu.counts()['roleAssignment.list']).toBeGreaterThanOrEqual(1);
  });
});
