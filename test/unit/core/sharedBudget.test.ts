// Pacing from ARM's shared signals: the remaining-count header slows every instance as it drops, a 429
// pauses the whole (subscription, kind), and no wait outlives the caller's budget. Fake clocks.
import type { PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import { createHttpHeaders, createPipelineRequest } from '@azure/core-rest-pipeline';
import { ArmRequestMeter, sleepUnlessAborted } from '../../../src/azure/armRequestPolicy';
import { SharedBudget } from '../../../src/core/sharedBudget';

const READS = { lowWater: 100, maxGapMs: 1_000, staleAfterMs: 5_000 };

describe('SharedBudget', () => {
  it('sends at once while plenty is left, and spaces requests more the lower the count', () => {
    let now = 0;
    const budget = new SharedBudget(READS, () => now);
    budget.observe(249);
    expect([budget.reserve(), budget.reserve()]).toEqual([0, 0]);
    budget.observe(50);
    expect(budget.gapMs()).toBe(500);
    budget.observe(10);
    expect(budget.gapMs()).toBe(900);
    // Slots follow each other: concurrent requests in this process do not all go at once.
    expect([budget.reserve(), budget.reserve(), budget.reserve()]).toEqual([0, 900, 1_800]);
    now += 6_000; // the count is stale: the bucket has refilled since
    expect(budget.gapMs()).toBe(0);
  });

  it('scales its low water mark to a smaller bucket', () => {
    const budget = new SharedBudget(READS, () => 0);
    budget.observe(14); // a bucket of 15
    budget.observe(7);
    expect(budget.gapMs()).toBe(0); // 7 ≥ 40% of 15
    budget.observe(3);
    expect(budget.gapMs()).toBeGreaterThan(0);
  });

  it('takes the requests sent after the one that gave the count off it; older answers are older news', () => {
    const budget = new SharedBudget(READS, () => 0);
    budget.observe(249, budget.sent()); // a bucket of 250
    const first = budget.sent();
    const second = budget.sent();
    budget.observe(120, second);
    expect(budget.estimate()).toBe(120);
    for (let i = 0; i < 30; i++) budget.sent();
    expect(budget.estimate()).toBe(90);
    expect(budget.plenty()).toBe(false); // below the mark of 100, though ARM last said 120
    expect(budget.gapMs()).toBe(0); // the spacing follows ARM's count itself
    budget.observe(200, first); // sent before `second`: its count is older than 120
    expect(budget.estimate()).toBe(90);
    budget.observe(undefined, budget.sent()); // an answer without a count changes nothing
    expect(budget.estimate()).toBe(89);
  });

  it('a 429 pauses the whole bucket for its Retry-After', () => {
    let now = 0;
    const budget = new SharedBudget(READS, () => now);
    budget.pauseFor(2_000);
    expect(budget.reserve()).toBe(2_000);
    now += 1_500;
    expect(budget.reserve()).toBe(500);
  });
});

describe('ArmRequestMeter with shared signals', () => {
  const vmUrl =
    'https://management.azure.com/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm?api-version=2024-07-01';
  const respond =
    (status: number, headers: Record<string, string>) =>
    async (request: PipelineRequest): Promise<PipelineResponse> => ({
      request,
      status,
      headers: createHttpHeaders(headers),
    });
  /** A meter whose buckets hold `burst` and refill at `perSecond`, recording each wait it asks for. */
  const meterWithWaits = (burst: number, perSecond: number, clock: () => number = () => 0) => {
    const waits: number[] = [];
    const meter = new ArmRequestMeter(
      { reads: { burst, perSecond }, writes: { burst, perSecond } },
      async (ms) => {
        waits.push(ms);
      },
      clock,
    );
    return { meter, waits };
  };

  it('waits after a low remaining-reads header, and pauses reads (not writes) after a 429', async () => {
    const { meter, waits } = meterWithWaits(1_000, 1_000);
    const get = () => createPipelineRequest({ url: vmUrl, method: 'GET' });
    const header = (n: number) => ({ 'x-ms-ratelimit-remaining-subscription-reads': String(n) });
    await meter.policy.sendRequest(get(), respond(200, header(249)));
    await meter.policy.sendRequest(get(), respond(200, header(20))); // not spaced yet: 249 was left
    await meter.policy.sendRequest(get(), respond(200, header(20))); // takes the first spaced slot
    await meter.policy.sendRequest(get(), respond(200, header(20))); // the next: 800 ms later
    await meter.policy.sendRequest(get(), respond(429, { 'retry-after': '3', ...header(0) }));
    await meter.policy.sendRequest(get(), respond(200, {})); // the whole bucket paused for 3 s
    await meter.policy.sendRequest(createPipelineRequest({ url: vmUrl, method: 'PATCH' }), respond(200, {}));

    expect(waits).toEqual([800, 1_600, 3_000]); // the write is not held up
    expect(meter.pacedByArm()).toBe(3);
    expect(meter.snapshot()).toMatchObject({ reads: 6, writes: 1, throttled: 1 });
  });

  it('while ARM’s count is fresh it alone paces; stale, the process’s bucket goes on from what ARM last said', async () => {
    let now = 0;
    const { meter, waits } = meterWithWaits(20, 1, () => now);
    const patch = () => createPipelineRequest({ url: vmUrl, method: 'PATCH' });
    const header = (n: number) => ({ 'x-ms-ratelimit-remaining-subscription-writes': String(n) });
    // Plenty left by ARM's count: thirty writes go at once, though the process's bucket holds twenty.
    for (let i = 0; i < 30; i++) await meter.policy.sendRequest(patch(), respond(200, header(190 - i)));
    expect(waits).toEqual([]);
    // ARM says one is left, then nothing for a while: its count is stale, the process's bucket paces,
    // holding no more than ARM last said (one) plus its refill at 1/s: 6 s later, seven.
    await meter.policy.sendRequest(patch(), respond(200, header(1)));
    now += 6_000;
    for (let i = 0; i < 9; i++) await meter.policy.sendRequest(patch(), respond(200, {}));
    expect(waits).toEqual([1_000, 2_000]); // without the cap, the bucket's twenty would have gone at once
  });

  it('requests decided together do not all go on one count: past the mark, the process’s bucket paces them', async () => {
    const { meter, waits } = meterWithWaits(2, 1);
    const patch = () => createPipelineRequest({ url: vmUrl, method: 'PATCH' });
    await meter.policy.sendRequest(
      patch(),
      respond(200, { 'x-ms-ratelimit-remaining-subscription-writes': '199' }),
    );
    await meter.policy.sendRequest(
      patch(),
      respond(200, { 'x-ms-ratelimit-remaining-subscription-writes': '85' }),
    );
    // 150 writes at the same moment: 5 go on ARM's count (85 left, mark 80), then the bucket's.
    const answer = respond(200, {});
    await Promise.all(Array.from({ length: 150 }, () => meter.policy.sendRequest(patch(), answer)));
    expect(150 - waits.length).toBeLessThanOrEqual(8);
  });

  it('counts 429s per subscription, for the sweep of that subscription', async () => {
    const { meter } = meterWithWaits(1_000, 1_000);
    const url = (sub: string) =>
      `https://management.azure.com/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm?api-version=2024-07-01`;
    const get = (sub: string) => createPipelineRequest({ url: url(sub), method: 'GET' });
    await meter.policy.sendRequest(get('S1'), respond(429, { 'retry-after': '0' }));
    await meter.policy.sendRequest(get('s1'), respond(429, { 'retry-after': '0' }));
    await meter.policy.sendRequest(get('s2'), respond(200, {}));
    expect(meter.throttledIn('s1')).toBe(2);
    expect(meter.throttledIn('S1')).toBe(2);
    expect(meter.throttledIn('s2')).toBe(0);
    expect(meter.throttledIn('never-seen')).toBe(0);
  });

  it('never waits past the caller’s budget: the wait ends with an AbortError when the signal fires', async () => {
    const controller = new AbortController();
    const waiting = sleepUnlessAborted(60_000, controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    await expect(sleepUnlessAborted(1, AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
  });
});
