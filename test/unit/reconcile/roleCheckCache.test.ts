import type { HeldAssignment } from '../../../src/azure/roleAssignments';
import { ROLE_CHECK_TTL_MS, RoleCheckCache } from '../../../src/reconcile/roleCheckCache';

const held = (id: string): HeldAssignment => ({
  id,
  scope: '/subscriptions/s1',
  roleGuid: 'r',
  principalId: 'p-1',
});

describe('RoleCheckCache', () => {
  let now = 0;
  const calls: string[] = [];
  const list = async (sub: string) => {
    calls.push(sub);
    return [held(`${sub}-ra`)];
  };
  beforeEach(() => {
    now = 1_000;
    calls.length = 0;
  });

  it('lists each subscription once per principal per 15 minutes, then again', async () => {
    const cache = new RoleCheckCache(() => now);
    expect(await cache.held('P-1', ['s1', 's2'], list)).toEqual({
      held: [held('s1-ra'), held('s2-ra')],
      listed: 2,
    });
    now += ROLE_CHECK_TTL_MS - 1;
    expect((await cache.held('p-1', ['S1', 's2', 's3'], list)).listed).toBe(1); // only s3 is new
    expect(calls).toEqual(['s1', 's2', 's3']);
    now += 2;
    expect((await cache.held('p-1', ['s1'], list)).listed).toBe(1);
  });

  it('shares a listing in flight, forgets a failed one, and lists afresh since a given time', async () => {
    const cache = new RoleCheckCache(() => now);
    let release: (v: HeldAssignment[]) => void = () => {};
    const slow = () => new Promise<HeldAssignment[]>((resolve) => (release = resolve));
    const first = cache.held('p-1', ['s1'], slow);
    const second = cache.held('p-1', ['s1'], list);
    release([held('x')]);
    expect((await first).listed).toBe(1);
    expect(await second).toEqual({ held: [held('x')], listed: 0 });

    await expect(cache.held('p-2', ['s1'], async () => Promise.reject(new Error('403')))).rejects.toThrow(
      '403',
    );
    expect((await cache.held('p-2', ['s1'], list)).listed).toBe(1);

    now += 10;
    expect((await cache.held('p-1', ['s1'], list, { listedSince: now })).listed).toBe(1);
  });

  it('a principal the app just created holds nothing, without a listing, until a sweep looks afresh', async () => {
    const cache = new RoleCheckCache(() => now);
    cache.rememberCreated('p-new');
    expect(await cache.held('p-new', ['s1', 's2'], list)).toEqual({ held: [], listed: 0 });
    expect((await cache.held('p-new', ['s1'], list, { listedSince: now + 1 })).listed).toBe(1);
    now += ROLE_CHECK_TTL_MS + 1;
    expect((await cache.held('p-new', ['s2'], list)).listed).toBe(1);
  });

  it("a principal born within the window (ARM's systemData) counts as listed then, empty; a real listing wins over it", async () => {
    const cache = new RoleCheckCache(() => now);
    const bornAt = now - 60_000;
    expect(await cache.held('p-born', ['s1', 's2'], list, { bornAt })).toEqual({ held: [], listed: 0 });
    // The sweep looks afresh: born before its start, so listed; from then on the listing counts.
    expect((await cache.held('p-born', ['s1'], list, { bornAt, listedSince: now })).listed).toBe(1);
    expect(await cache.held('p-born', ['s1', 's2'], list, { bornAt })).toEqual({
      held: [held('s1-ra')],
      listed: 0,
    });
    // Born longer ago than the window: listed like any other principal.
    now = bornAt + ROLE_CHECK_TTL_MS + 1;
    expect((await cache.held('p-born', ['s2'], list, { bornAt })).listed).toBe(1);
  });

  it('remembers the subscriptions the last sweep covered', () => {
    const cache = new RoleCheckCache(() => now);
    expect(cache.sweptSubscriptions()).toEqual([]);
    cache.noteSwept(['s1', 's2']);
    expect(cache.sweptSubscriptions()).toEqual(['s1', 's2']);
  });
});
