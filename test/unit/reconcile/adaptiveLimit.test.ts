// The sweep's places per subscription follow ARM's write rate times how long a writing target takes.
import { AdaptiveLimit } from '../../../src/reconcile/sweep/adaptiveLimit';

/** A task that ends when told. */
function gate() {
  let open: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { task: () => done, open };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('AdaptiveLimit', () => {
  it('starts at its floor: no more tasks run at once, the rest wait their turn in order', async () => {
    const limit = new AdaptiveLimit(2, 100);
    const started: number[] = [];
    const gates = [gate(), gate(), gate(), gate()];
    const runs = gates.map((g, i) =>
      limit.run(async () => {
        started.push(i);
        await g.task();
        return i;
      }),
    );
    await settle();
    expect(started).toEqual([0, 1]);
    gates[1]?.open();
    await settle();
    expect(started).toEqual([0, 1, 2]);
    for (const g of gates) g.open();
    await expect(Promise.all(runs)).resolves.toEqual([0, 1, 2, 3]);
  });

  it('grows by how long writing targets wait for their operation (floor 8 + 10 writes/s × 6 s × 1.25 = 83), a few places at a time, within its ceiling', async () => {
    const limit = new AdaptiveLimit(8, 128);
    limit.observeWrite(6_000);
    expect(limit.concurrency).toBe(10);
    for (let i = 0; i < 40; i++) limit.observeWrite(6_000);
    expect(limit.concurrency).toBe(83);
    const gates = Array.from({ length: 100 }, gate);
    let running = 0;
    const runs = gates.map((g) =>
      limit.run(async () => {
        running++;
        await g.task();
      }),
    );
    await settle();
    expect(running).toBe(83);
    // Much longer targets: the ceiling holds.
    for (let i = 0; i < 30; i++) limit.observeWrite(60_000);
    expect(limit.concurrency).toBe(128);
    await settle();
    expect(running).toBe(100);
    // Quick operations: the moving average falls, and the places with it, to the floor and the
    // little those need (10 writes/s × 0.1 s × 1.25 → 2).
    for (let i = 0; i < 60; i++) limit.observeWrite(100);
    expect(limit.concurrency).toBe(10);
    for (const g of gates) g.open();
    await Promise.all(runs);
  });

  it('halves once per new 429 in its subscription, never below its floor', () => {
    const limit = new AdaptiveLimit(8, 128);
    for (let i = 0; i < 40; i++) limit.observeWrite(6_000);
    limit.observeThrottled(0); // none yet
    expect(limit.concurrency).toBe(83);
    limit.observeThrottled(1);
    expect(limit.concurrency).toBe(41);
    // Every target that overlapped that one 429 reports the same count: halved once, not each time.
    limit.observeThrottled(1);
    limit.observeThrottled(1);
    expect(limit.concurrency).toBe(41);
    for (let count = 2; count < 8; count++) limit.observeThrottled(count);
    expect(limit.concurrency).toBe(8);
  });

  it('a failing task frees its place and rejects its own run only', async () => {
    const limit = new AdaptiveLimit(1, 1);
    const failed = limit.run(async () => {
      throw new Error('no');
    });
    await expect(failed).rejects.toThrow('no');
    await expect(limit.run(async () => 'next')).resolves.toBe('next');
  });

  it('a task that throws before it returns a promise frees its place too', async () => {
    const limit = new AdaptiveLimit(1, 1);
    const sync = limit.run((() => {
      throw new Error('at once');
    }) as unknown as () => Promise<void>);
    await expect(sync).rejects.toThrow('at once');
    await expect(limit.run(async () => 'next')).resolves.toBe('next');
  });

  it('refuses a floor above its ceiling', () => {
    expect(() => new AdaptiveLimit(9, 8)).toThrow();
    expect(() => new AdaptiveLimit(0, 8)).toThrow();
  });
});
