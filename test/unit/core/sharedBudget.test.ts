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

  it('waits after a low remaining-reads header, and pauses reads (not writes) after a 429', async () => {
    const waits: number[] = [];
    const meter = new ArmRequestMeter(
      { reads: { burst: 1_000, perSecond: 1_000 }, writes: { burst: 1_000, perSecond: 1_000 } },
      async (ms) => {
        waits.push(ms);
      },
      () => 0,
    );
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

  it('never waits past the caller’s budget: the wait ends with an AbortError when the signal fires', async () => {
    const controller = new AbortController();
    const waiting = sleepUnlessAborted(60_000, controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    await expect(sleepUnlessAborted(1, AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
  });
});
