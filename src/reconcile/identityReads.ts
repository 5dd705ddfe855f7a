// How the event path reads a pull identity it is about to verify: one GET, as a lone event needs, or,
// once this instance reads several identities of the identity resource group within a few seconds (a
// burst of tag writes meeting many (registry, region) pairs cold), from one listing of the group that
// answers every pair for those seconds. A listing holds the same fields as a GET (id, principal,
// client id, ARM's systemData), so the identity is proven and role-checked exactly as read. An
// identity a listing lacks is never taken as missing unless that listing was started for this read
// (then it is as good as a GET's 404): in a burst a listing more than a second old is made again,
// else the identity is read with its GET. Concurrent readers share a listing in flight; a failed one
// is forgotten, each reader falls back to its GET, and the group is not listed again by a burst for
// IDENTITY_LISTING_FRESH_MS (a group whose identities the app may read but not list costs no failed
// listing per read). Only the cache; the reads are the identity adapter's.
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
/** A listing at least this old that lacks an identity is made again in a burst (it may be newer). */
export const RELIST_AFTER_MS = 1_000;

interface Listing {
  readonly at: number;
  readonly identities: Promise<readonly IdentityState[]>;
}

export class IdentityReads {
  private readonly listings = new Map<string, Listing>();
  private readonly reads = new Map<string, number[]>();
  /** When a listing of the group last failed (a group the app may read identities of, not list). */
  private readonly failedAt = new Map<string, number>();

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
    // A listing that failed within the window is not tried again for it: the GETs go on alone.
    const failed = this.failedAt.get(key);
    const burst =
      recent.length > LIST_AFTER_READS &&
      (failed === undefined || failed > now || now - failed >= IDENTITY_LISTING_FRESH_MS);
    let listing = this.fresh(key);
    if (!listing && burst) listing = this.start(key, list, now);
    if (listing) {
      let answer = await this.lookUp(listing, name);
      // Lacking from a listing older than RELIST_AFTER_MS: it may be newer than that; in a burst,
      // a new listing answers it (and the reads after it) for the cost of its GET.
      if (answer === 'absent' && burst && listing.at < now && now - listing.at >= RELIST_AFTER_MS) {
        listing = this.start(key, list, now);
        answer = await this.lookUp(listing, name);
      }
      if (answer !== 'absent' && answer !== 'failed') return answer;
      // Lacking from a listing started for this very read: as good as the GET's 404.
      if (answer === 'absent' && listing.at === now) return undefined;
    }
    return get();
  }

  private async lookUp(listing: Listing, name: string): Promise<IdentityState | 'absent' | 'failed'> {
    const listed = await listing.identities.catch(() => undefined);
    if (!listed) return 'failed';
    return listed.find((i) => i.name.toLowerCase() === name.toLowerCase()) ?? 'absent';
  }

  /**
   * Every identity of the group, from a listing younger than IDENTITY_LISTING_FRESH_MS (made by
   * `find`'s burst or an earlier call), else listed now and kept for the reads after it.
   */
  async all(groupId: string, list: () => Promise<IdentityState[]>): Promise<readonly IdentityState[]> {
    const key = idKey(groupId);
    return (this.fresh(key) ?? this.start(key, list)).identities;
  }

  /** After this instance created an identity in the group: its listing no longer holds the group. */
  forget(groupId: string): void {
    this.listings.delete(idKey(groupId));
  }

  private fresh(key: string): Listing | undefined {
    const listing = this.listings.get(key);
    const now = this.now();
    // Stamped ahead of now (the clock stepped back): not believed.
    return listing && listing.at <= now && now - listing.at < IDENTITY_LISTING_FRESH_MS ? listing : undefined;
  }

  private start(key: string, list: () => Promise<IdentityState[]>, at = this.now()): Listing {
    const started: Listing = { at, identities: list() };
    this.listings.set(key, started);
    started.identities.catch(() => {
      this.failedAt.set(key, this.now());
      if (this.listings.get(key) === started) this.listings.delete(key);
    });
    return started;
  }
}
