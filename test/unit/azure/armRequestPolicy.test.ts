import { requestKind, throttlingScope } from '../../../src/azure/armRequestPolicy';
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
