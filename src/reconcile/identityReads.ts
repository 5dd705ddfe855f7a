// How the event path reads a pull identity it is about to verify: one GET, as a lone event needs, or,
// once this instance reads several identities of the identity resource group within a few seconds (a
// burst of tag writes meeting many (registry, region) pairs cold), from one listing of the group that
// answers every pair for those seconds. A listing holds the same fields as a GET (id, principal,
// client id, ARM's systemData), so the identity is proven and role-checked exactly as read; an
// identity the listing lacks is read with its GET (it may be newer than the listing), never taken as
// missing. Concurrent readers share a listing in flight; a failed one is forgotten and each reader
// falls back to its GET. Only the cache; the reads are the identity adapter's.
import type { IdentityState } from '../azure/userAssignedIdentities';
import { idKey } from '../core/resourceId';

/** How long a listing answers: an identity re-created meanwhile is seen at most this much later than with a GET. */
export const IDENTITY_LISTING_FRESH_MS = 10_000;
/**
 * How many reads of one group within IDENTITY_LISTING_FRESH_MS make the next one a listing: a listing
 * is one request per page (100 identities; the group is capped by ACRPULL_MAX_PULL_IDENTITIES), so it
 * is worth it when reads come faster than that. Reads a listing answered count too, so a burst that
 * goes on lists once per IDENTITY_LISTING_FRESH_MS.
 */
export const LIST_AFTER_READS = 3;

interface Listing {
  readonly at: number;
  readonly identities: Promise<readonly IdentityState[]>;
}

export class IdentityReads {
  private readonly listings = new Map<string, Listing>();
  private readonly reads = new Map<string, number[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * The identity `name` of the group `groupId`: from a listing of the group younger than
   * IDENTITY_LISTING_FRESH_MS (started here when this instance has asked for LIST_AFTER_READS of the
   * group's identities within that time, however they were answered), else with `get`.
   */
  async find(
    groupId: string,
    name: string,
    get: () => Promise<IdentityState | undefined>,
    list: () => Promise<IdentityState[]>,
  ): Promise<IdentityState | undefined> {
    const key = idKey(groupId);
    const now = this.now();
    const recent = (this.reads.get(key) ?? []).filter((at) => now - at < IDENTITY_LISTING_FRESH_MS);
    recent.push(now);
    this.reads.set(key, recent);
    let listing = this.fresh(key);
    if (!listing && recent.length > LIST_AFTER_READS) listing = this.start(key, list);
    if (listing) {
      const listed = await listing.identities.catch(() => undefined);
      const found = listed?.find((i) => i.name.toLowerCase() === name.toLowerCase());
      if (found) return found;
    }
    return get();
  }

  /**
   * Every identity of the group, from a listing younger than IDENTITY_LISTING_FRESH_MS (made by
   * `find`'s burst or an earlier call), else listed now and kept for the reads after it.
   */
  async all(groupId: string, list: () => Promise<IdentityState[]>): Promise<readonly IdentityState[]> {
    const key = idKey(groupId);
    return (this.fresh(key) ?? this.start(key, list)).identities;
  }

  private fresh(key: string): Listing | undefined {
    const listing = this.listings.get(key);
    return listing && this.now() - listing.at < IDENTITY_LISTING_FRESH_MS ? listing : undefined;
  }

  private start(key: string, list: () => Promise<IdentityState[]>): Listing {
    const started: Listing = { at: this.now(), identities: list() };
    this.listings.set(key, started);
    started.identities.catch(() => {
      if (this.listings.get(key) === started) this.listings.delete(key);
    });
    return started;
  }
}
