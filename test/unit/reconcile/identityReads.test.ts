// The event path's identity reads: single GETs for lone events, one listing of the group for a burst.
// Pure (the reads are functions handed in).
import type { IdentityState } from '../../../src/azure/userAssignedIdentities';
import {
  IDENTITY_LISTING_FRESH_MS,
  IdentityReads,
  LIST_AFTER_READS,
  RELIST_AFTER_MS,
} from '../../../src/reconcile/identityReads';

const GROUP = '/subscriptions/s1/resourceGroups/rg-acrpull-identities';
const identity = (name: string, principalId = `p-${name}`): IdentityState => ({
  id: `${GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`,
  name,
  location: 'eastus',
  principalId,
  clientId: `c-${name}`,
});

describe('IdentityReads', () => {
  let now = 0;
  let gets: string[] = [];
  let lists = 0;
  let group: IdentityState[] = [];
  const reads = () => new IdentityReads(() => now);
  const listing = (items: () => IdentityState[]) => async () => {
    lists++;
    return items();
  };
  const find = (r: IdentityReads, name: string, list = listing(() => [...group])) =>
    r.find(
      GROUP,
      name,
      async () => {
        gets.push(name);
        return group.find((i) => i.name === name);
      },
      list,
    );
  beforeEach(() => {
    now = 1_000;
    gets = [];
    lists = 0;
    group = ['a', 'b', 'c', 'd', 'e'].map((n) => identity(n));
  });

  it('reads lone identities with their GET', async () => {
    const r = reads();
    for (const name of ['a', 'b']) {
      expect(await find(r, name)).toEqual(identity(name));
      now += IDENTITY_LISTING_FRESH_MS;
    }
    expect({ gets, lists }).toEqual({ gets: ['a', 'b'], lists: 0 });
  });

  it('lists the group once reads come in a burst, and answers from that listing for its freshness', async () => {
    const r = reads();
    for (const name of ['a', 'b', 'c'].slice(0, LIST_AFTER_READS)) await find(r, name);
    expect(await find(r, 'd')).toEqual(identity('d'));
    now += IDENTITY_LISTING_FRESH_MS - 1;
    expect(await find(r, 'e')).toEqual(identity('e'));
    expect({ gets, lists }).toEqual({ gets: ['a', 'b', 'c'], lists: 1 });
    // Past its freshness, with no burst since: a GET again.
    now += 1;
    await find(r, 'a');
    expect({ gets: gets.length, lists }).toEqual({ gets: 4, lists: 1 });
  });

  it('an identity a listing lacks: absent when that listing was made for this read, else read again (a new listing a second on, else its GET); a failed listing falls back to GETs', async () => {
    const r = reads();
    for (const name of ['a', 'b', 'c']) await find(r, name);
    // The fourth read lists the group: what that listing lacks does not exist (as a GET's 404).
    expect(await find(r, 'late')).toBeUndefined();
    expect({ gets: gets.length, lists }).toEqual({ gets: 3, lists: 1 });
    group.push(identity('late'));
    // Less than a second later the listing may be older than the identity: its GET tells.
    now += RELIST_AFTER_MS - 1;
    expect(await find(r, 'late')).toEqual(identity('late'));
    expect({ gets: gets.length, lists }).toEqual({ gets: 4, lists: 1 });
    group.push(identity('later'));
    // A second or more: a new listing tells, and answers the reads after it.
    now += 1;
    expect(await find(r, 'later')).toEqual(identity('later'));
    expect(await find(r, 'late')).toEqual(identity('late'));
    expect({ gets: gets.length, lists }).toEqual({ gets: 4, lists: 2 });

    const failing = reads();
    for (const name of ['a', 'b', 'c']) await find(failing, name);
    gets = [];
    expect(await find(failing, 'd', async () => Promise.reject(new Error('503')))).toEqual(identity('d'));
    expect(gets).toEqual(['d']);
    // Forgotten, and not tried again within the window: the burst goes on with GETs.
    lists = 0;
    await find(failing, 'e');
    expect({ gets, lists }).toEqual({ gets: ['d', 'e'], lists: 0 });
    now += IDENTITY_LISTING_FRESH_MS;
    for (const name of ['a', 'b', 'c']) await find(failing, name);
    await find(failing, 'e');
    expect(lists).toBe(1);
  });

  it('lists once per freshness while a burst goes on, with no GETs, and hands a fresh listing to a count of the group', async () => {
    const r = reads();
    for (const name of ['a', 'b', 'c']) await find(r, name);
    gets = [];
    for (let i = 0; i < 30; i++) {
      await find(r, ['a', 'b', 'c', 'd', 'e'][i % 5] ?? 'a');
      now += IDENTITY_LISTING_FRESH_MS / 10;
    }
    expect({ gets, lists }).toEqual({ gets: [], lists: 3 });
    // `all` answers from the last listing while it is fresh, else lists (here: an empty group).
    const counted = async () =>
      (
        await r.all(
          GROUP,
          listing(() => []),
        )
      ).length;
    now -= 1; // the last listing is still fresh
    expect(await counted()).toBe(5);
    expect(lists).toBe(3);
    now += IDENTITY_LISTING_FRESH_MS;
    expect(await counted()).toBe(0);
    expect(lists).toBe(4);
  });

  it('does not believe a listing stamped ahead of the clock (the clock stepped back): a new one answers', async () => {
    const r = reads();
    for (const name of ['a', 'b', 'c', 'd']) await find(r, name); // the fourth lists
    expect(lists).toBe(1);
    gets = [];
    now -= 5_000;
    group = group.filter((i) => i.name !== 'e'); // gone since: only a fresh read tells
    // In a burst again (new reads), so a fresh listing is made, never the one from "the future".
    for (const name of ['a', 'b', 'c']) await find(r, name);
    expect(await find(r, 'e')).toBeUndefined();
    expect(lists).toBe(2);
  });

  it('shares one listing among concurrent readers', async () => {
    const r = reads();
    for (const name of ['a', 'b', 'c']) await find(r, name);
    gets = [];
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((name) => find(r, name)));
    expect({ gets, lists }).toEqual({ gets: [], lists: 1 });
  });
});
