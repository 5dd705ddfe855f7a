// The sweep at Azure's operation times: a target waiting on its Compute operation holds a place but
// spends no ARM budget, so the places grow past ACRPULL_SWEEP_CONCURRENCY with the operations' length;
// one still running when the budget ends is deferred, never failed, and the next sweep finishes it
// without writing it again.
import { fleet } from '../support/fleet';
import { type Harness, startHarness } from '../support/harness';

function seed(h: Harness, count: number) {
  const f = fleet(h.emu);
  return Array.from({ length: count }, (_, i) =>
    f.vm(`vm-pace-${String(i).padStart(3, '0')}`, { tag: 'contosoapps', location: 'eastus' }),
  );
}

/** The most of the app's PATCH operations that ran at the same moment. */
function mostAtOnce(h: Harness): number {
  const spans = h.emu
    .vmOperations()
    .map((op) => ({ start: Date.parse(op.startTime), end: Date.parse(op.startTime) + op.runsForMs }));
  return Math.max(0, ...spans.map((s) => spans.filter((o) => o.start <= s.start && s.start < o.end).length));
}

const patchesPerVm = (h: Harness) => {
  const counts = new Map<string, number>();
  for (const op of h.emu.vmOperations()) counts.set(op.vmId, (counts.get(op.vmId) ?? 0) + 1);
  return [...counts.values()];
};

describe('the sweep at Azure’s operation times', () => {
  it('keeps more targets in flight than its starting concurrency while their operations run', async () => {
    const h = await startHarness({
      emulator: { operationDurationMs: { minMs: 1_500, maxMs: 2_500 } },
      env: { ACRPULL_SWEEP_CONCURRENCY: '4', ACRPULL_ATTACH_FIRST_POLL_SECONDS: '1.5' },
      pollIntervalMs: 250,
    });
    try {
      const vms = seed(h, 60);
      const { summary } = await h.sweep();

      expect(summary).toMatchObject({ changed: 60, failed: 0, deferred: 0, finished: true });
      // With 4 places, at most 4 operations could run at once; the places grew with their length.
      expect(mostAtOnce(h)).toBeGreaterThan(8);
      expect(patchesPerVm(h)).toEqual(vms.map(() => 1));
    } finally {
      await h.close();
    }
  }, 60_000);

  it('defers, never fails, a target whose operation still runs when the budget ends; the next sweep finishes it without a second PATCH', async () => {
    const h = await startHarness({
      emulator: { operationDurationMs: 6_000 },
      env: { ACRPULL_SWEEP_CONCURRENCY: '4', ACRPULL_ATTACH_FIRST_POLL_SECONDS: '6' },
      pollIntervalMs: 250,
    });
    try {
      // The pair is ready before the sweep (an event for another VM made it), so the sweep's budget
      // goes to the targets alone, however loaded the machine.
      const warm = h.seedVm('vm-warm', 'contosoapps');
      expect((await h.deliver(warm.id))?.outcome).toBe('changed');
      const vms = seed(h, 12);
      const ops = () => h.emu.vmOperations().filter((op) => op.vmId !== warm.id);

      // 3 s: time for a Resource Graph query and a few reads and PATCHes even on a loaded machine, and
      // still short of the 6 s operations.
      const first = await h.sweep({ budgetMs: 3_000, marginMs: 0 });

      expect(first.summary).toMatchObject({ failed: 0, deferred: 12, finished: false });
      expect(h.audit.records.filter((r) => r.outcome === 'failed')).toEqual([]);
      const patched = ops().length;
      expect(patched).toBeGreaterThan(0); // their operations were running when the budget ended

      await new Promise((resolve) => setTimeout(resolve, 6_200));
      const second = await h.sweep();

      expect(second.summary).toMatchObject({ failed: 0, deferred: 0, finished: true });
      // Those PATCHed in the first sweep are compliant from the snapshot; the rest are attached now.
      expect(second.summary.compliant).toBe(patched + 1);
      expect(second.summary.changed).toBe(12 - patched);
      const perVm = new Map<string, number>();
      for (const op of ops()) perVm.set(op.vmId, (perVm.get(op.vmId) ?? 0) + 1);
      expect([...perVm.values()]).toEqual(vms.map(() => 1));
    } finally {
      await h.close();
    }
  }, 60_000);
});
