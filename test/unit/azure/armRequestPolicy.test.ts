import { createHttpHeaders, createPipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import { ArmRequestMeter, requestKind, throttlingScope } from '../../../src/azure/armRequestPolicy';
import { TokenBucket } from '../../../src/core/tokenBucket';

describe('ARM request accounting', () => {
  it.each([
    ['GET', '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm', 'read'],
    ['GET', '/subscriptions/s/providers/Microsoft.Compute/locations/eastus/operations/abc', 'poll'],
    ['PATCH', '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm', 'write'],
    [
      'PUT',
      '//subscriptions/s/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/g',
      'write',
    ],
    ['POST', '/providers/Microsoft.ResourceGraph/resources', 'read'],
  ])('%s %s is a %s', (method, path, kind) => {
    expect(requestKind(method, path)).toBe(kind);
  });

  it('throttles per subscription, tenant-level calls together', () => {
    expect(throttlingScope('//subscriptions/ABC/resourceGroups/x')).toBe('abc');
    expect(throttlingScope('/providers/Microsoft.ResourceGraph/resources')).toBe('tenant');
  });
});

describe('token bucket', () => {
  it('allows the burst, then paces at the refill rate, first come first served', () => {
    let now = 0;
    const bucket = new TokenBucket({ burst: 2, perSecond: 10 }, () => now);
    expect(bucket.reserve()).toBe(0);
    expect(bucket.reserve()).toBe(0);
    expect(bucket.reserve()).toBe(100);
    expect(bucket.reserve()).toBe(200); // queued behind the previous reservation
    now += 200;
    expect(bucket.reserve()).toBe(100);
  });

  it('refills while idle, never beyond its burst', () => {
    let now = 0;
    const bucket = new TokenBucket({ burst: 3, perSecond: 10 }, () => now);
    for (let i = 0; i < 3; i++) bucket.reserve();
    now += 60_000;
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 0]);
    expect(bucket.reserve()).toBe(100);
  });

  it('sustains the configured rate over time', () => {
    const now = 0;
    const bucket = new TokenBucket({ burst: 5, perSecond: 8 }, () => now);
    let granted = 0;
    for (let i = 0; i < 1000; i++) {
      const wait = bucket.reserve();
      if (wait <= 10_000) granted++;
    }
    // 5 at once plus 8 per second for 10 s
    expect(granted).toBe(5 + 80);
  });
});

describe('pacing per subscription, bounded', () => {
  const PACING = { reads: { burst: 2, perSecond: 10 }, writes: { burst: 2, perSecond: 10 } };
  const answer = (request: ReturnType<typeof createPipelineRequest>): Promise<PipelineResponse> =>
    Promise.resolve({ request, status: 200, headers: createHttpHeaders() });
  const get = (meter: ArmRequestMeter, sub: string) =>
    meter.policy.sendRequest(
      createPipelineRequest({
        url: `https://arm.example/subscriptions/${sub}/resourceGroups/rg`,
        method: 'GET',
      }),
      answer,
    );

  it('keeps the pacing of at most the limit of subscriptions, the least recently used forgotten', async () => {
    const waits: number[] = [];
    const meter = new ArmRequestMeter(
      PACING,
      async (ms) => void waits.push(ms),
      () => 0,
      undefined,
      3,
    );
    for (const sub of ['a', 'a', 'b', 'c', 'd']) await get(meter, sub);
    expect(meter.pacedScopes()).toBe(3);
    // `a` was the least recently used: forgotten, its bucket starts full again (no wait).
    await get(meter, 'a');
    expect(waits).toEqual([]);
    // `d` is remembered: its bucket (burst 2) is spent after two more requests at the same instant.
    await get(meter, 'd');
    await get(meter, 'd');
    expect(waits).toEqual([100]);
  });

  it('holds 1,000 subscriptions by default, whatever tags name', async () => {
    const meter = new ArmRequestMeter(
      PACING,
      async () => {},
      () => 0,
    );
    for (let i = 0; i < 1500; i++) await get(meter, `sub-${i}`);
    expect(meter.pacedScopes()).toBe(1000);
  });
});
