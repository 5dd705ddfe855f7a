// The sweep in constant memory and within Resource Graph's quota: page by page (each page worked on
// while at most the next is fetched), paced by the quota headers every response carries, and a 429
// that names only the quota window's reset honoured. Through the real sweep and SDK clients.

import { rawArm } from '@acrpull/azure-emulator/testing';
import { Deadline } from '../../src/azure/retry';
import { sweep } from '../../src/reconcile/sweep/sweep';
import { fleet } from '../support/fleet';
import { type Harness, SUB, startHarness } from '../support/harness';

const VMS = 2_600; // three Resource Graph pages of 1,000

/** A steady fleet: every VM already has its pull identity, so the sweep makes no per-VM request. */
function seedCompliantFleet(h: Harness) {
  const f = fleet(h.emu);
  const identity = f.appPullIdentity('contosoapps', 'eastus');
  f.pullGrant('contosoapps', identity);
  for (let i = 0; i < VMS; i++) {
    f.vm(`vm-page-${String(i).padStart(5, '0')}`, { tag: 'contosoapps', identities: [identity] });
  }
}

describe('sweep paging', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('works page by page: a page is asked for only once the page two before it is done', async () => {
    h = await startHarness();
    seedCompliantFleet(h);
    let settled = 0;
    const settledAtQuery: number[] = [];
    h.emu.onBeforeOperation('graph.query', () => settledAtQuery.push(settled));

    const result = await sweep(h.runtime, {
      deadline: new Deadline(60_000),
      onProgress: (n) => {
        settled = n;
      },
    });

    expect(result.summary).toMatchObject({ vmsScanned: VMS, compliant: VMS, finished: true });
    // 3 pages of tagged VMs, then the one page of untagged pull-identity holders (none here).
    expect(settledAtQuery).toHaveLength(4);
    // Query 1 and 2 (prefetched) before any VM; query 3 only after page 1's 1,000 VMs; the holders
    // query once every tagged VM is done.
    expect(settledAtQuery[2]).toBeGreaterThanOrEqual(1_000);
    expect(settledAtQuery[3]).toBe(VMS);
    // A timer sweep keeps counts, not each VM.
    expect(result.targets).toEqual([]);
  });

  it('stays within Resource Graph’s quota by its headers: no query is refused', async () => {
    h = await startHarness({ emulator: { throttle: { resourceGraph: { queries: 1, windowMs: 600 } } } });
    seedCompliantFleet(h);

    const { summary } = await h.sweep();

    expect(summary).toMatchObject({ vmsScanned: VMS, finished: true });
    expect(h.emu.counts()['graph.query']).toBe(3 + 1); // tagged pages + the holders query
    expect(h.emu.throttled().byOperation['graph.query']).toBe(0);
  });

  it('never waits for the quota past its time budget: it stops, says so, and leaves the rest deferred', async () => {
    h = await startHarness({ emulator: { throttle: { resourceGraph: { queries: 1, windowMs: 30_000 } } } });
    seedCompliantFleet(h);

    // The next page's query could go only after 30 s; the budget is 5 s.
    const { summary } = await h.sweep({ budgetMs: 5_000, marginMs: 500 });

    expect(summary).toMatchObject({ finished: false, vmsScanned: 1_000, deferred: VMS - 1_000 });
    expect(summary.reason).toMatch(/time budget/);
    expect(h.emu.counts()['graph.query']).toBe(1); // not sent, so not refused
    expect(h.emu.throttled().byOperation['graph.query']).toBe(0);
  });

  it.each([true, false])(
    'honours a 429 from Resource Graph (Retry-After sent: %s) by the quota window’s reset',
    async (retryAfter) => {
      h = await startHarness({
        emulator: { throttle: { resourceGraph: { queries: 1, windowMs: 1_000, retryAfter } } },
      });
      seedCompliantFleet(h);
      // Another instance of the app (same identity, so the same quota) used this window's query.
      const other = await rawArm(h.emu, 'POST', '/providers/Microsoft.ResourceGraph/resources', {
        body: { query: 'resources | limit 1', subscriptions: [SUB] },
      });
      expect(other.headers['x-ms-user-quota-remaining']).toBe('0');
      const delays: { code: string; delayMs: number }[] = [];

      const result = await sweep(
        {
          ...h.runtime,
          retry: { ...h.runtime.retry, onRetry: (info) => delays.push(info) },
        },
        { deadline: new Deadline(60_000) },
      );

      expect(result.summary).toMatchObject({ vmsScanned: VMS, finished: true });
      expect(h.emu.throttled().byOperation['graph.query']).toBeGreaterThanOrEqual(1);
      const graphRetries = delays.filter((d) => d.code === 'RateLimiting');
      expect(graphRetries.length).toBeGreaterThanOrEqual(1);
      // The wait the service named (a second: 00:00:01), not a blind exponential backoff.
      for (const d of graphRetries) expect(d.delayMs).toBeGreaterThanOrEqual(900);
    },
  );
});
