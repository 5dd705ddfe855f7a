// Resource Graph's quota as its headers state it: pure pacing decisions, on a fake clock.
import { parseQuotaResetsAfter } from '../../../src/azure/armErrors';
import { ResourceGraphQuota } from '../../../src/azure/resourceGraph';

describe('x-ms-user-quota-resets-after', () => {
  it('reads hh:mm:ss (fractions rounded up to the millisecond), nothing else', () => {
    expect(parseQuotaResetsAfter('00:00:03')).toBe(3_000);
    expect(parseQuotaResetsAfter('01:02:03.5')).toBe(3_723_500);
    expect(parseQuotaResetsAfter(' 00:00:01 ')).toBe(1_000);
    expect(parseQuotaResetsAfter('3')).toBeUndefined();
    expect(parseQuotaResetsAfter(undefined)).toBeUndefined();
  });
});

describe('ResourceGraphQuota', () => {
  it('sends while the last answer left queries, then waits for the window to reset', () => {
    let now = 1_000_000;
    const quota = new ResourceGraphQuota(() => now);
    expect(quota.take()).toBe(0); // nothing known yet: send, and learn
    quota.observe('2', '00:00:05');
    expect([quota.take(), quota.take()]).toEqual([0, 0]);
    expect(quota.take()).toBe(5_000);
    now += 2_000;
    expect(quota.take()).toBe(3_000);
    now += 3_000;
    expect(quota.take()).toBe(0); // a new window
  });

  it('another instance’s queries count: the headers, not this process, are the truth', () => {
    const quota = new ResourceGraphQuota(() => 0);
    quota.observe('0', '00:00:02');
    expect(quota.take()).toBe(2_000);
    quota.observe('garbage', '00:00:02'); // ignored
    expect(quota.take()).toBe(2_000);
  });

  it('one query learns an unknown window while the others wait; late answers cannot raise the count', () => {
    let now = 0;
    const quota = new ResourceGraphQuota(() => now);
    expect(quota.take()).toBe(0); // the probe
    expect(quota.take()).toBe(50); // waits for the probe's answer
    quota.observe('3', '00:00:05');
    expect([quota.take(), quota.take()]).toEqual([0, 0]); // 1 left
    quota.observe('1', '00:00:05'); // an answer to a query sent earlier: the lowest count wins
    quota.observe('2', '00:00:05'); // and a still older one cannot raise it
    expect(quota.take()).toBe(0);
    expect(quota.take()).toBe(5_000);
    now = 5_000;
    expect([quota.take(), quota.take()]).toEqual([0, 50]); // a new window: one probe again
  });
});
