import { requestKind, throttlingScope } from '../../src/azure/armRequestPolicy';
import { TokenBucket } from '../../src/core/tokenBucket';

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
  it('allows the burst, then paces at the refill rate', () => {
    let now = 0;
    const bucket = new TokenBucket({ burst: 2, perSecond: 10 }, () => now);
    expect(bucket.take()).toBe(0);
    expect(bucket.take()).toBe(0);
    expect(bucket.take()).toBe(100);
    now += 100;
    expect(bucket.take()).toBe(0);
    now += 50;
    expect(bucket.take()).toBe(50);
  });

  it('never holds more than its burst', () => {
    let now = 0;
    const bucket = new TokenBucket({ burst: 1, perSecond: 10 }, () => now);
    now += 60_000;
    expect(bucket.take()).toBe(0);
    expect(bucket.take()).toBeGreaterThan(0);
  });
});
