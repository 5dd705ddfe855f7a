// What each pull identity's principal holds, as listed per subscription (ARM's `assignedTo` filter),
// remembered for at most 15 minutes and shared by the event path and the sweep: the decision path asks
// it before granting or attaching an identity, the sweep's excess-roles finding fills it afresh every
// run, so a sweep's findings and the decisions after it agree. Concurrent callers share one listing;
// a failed one is forgotten. A principal the app's own PUT just created (ARM's 201) holds nothing
// yet, and neither does one whose identity ARM says the app created a moment ago (systemData, so every
// instance knows it, not only the one whose PUT made it): either counts as a listing made at its birth. Only the cache; the judging is core/excessRoles.ts, the listing pair/roleCheck.ts.
import type { HeldAssignment } from '../azure/roleAssignments';
import { idKey } from '../core/resourceId';

/** How long a listing is trusted. A role granted meanwhile is seen at most this much later. */
export const ROLE_CHECK_TTL_MS = 15 * 60_000;

interface Listing {
  readonly at: number;
  readonly held: Promise<readonly HeldAssignment[]>;
}

export interface HeldOptions {
  /** Listings older than this (ms since the epoch) are made again: the sweep's start, say. */
  readonly listedSince?: number;
  /**
   * When the principal came to be, as ARM's systemData says, if the app made it
   * (ownership.ts `selfCreatedAt`): it held nothing then, as a listing made at that moment would show.
   */
  readonly bornAt?: number;
}

export class RoleCheckCache {
  private readonly listings = new Map<string, Listing>();
  /** Principals created by the app's own PUT, when (they held no role assignment then). */
  private readonly created = new Map<string, number>();
  private swept: readonly string[] = [];

  constructor(
    private readonly now: () => number = Date.now,
    readonly ttlMs = ROLE_CHECK_TTL_MS,
  ) {}

  /**
   * Every assignment the principal holds as seen from each subscription: a listing younger than the
   * TTL (and not older than `listedSince`) is reused; else the principal's birth within that window
   * (the app's 201, or `bornAt`) counts as a listing made then, showing nothing; else one is made with
   * `list`. A real listing wins over the birth: it may show what was granted since. `listed` counts
   * the listings this call started.
   */
  async held(
    principalId: string,
    subscriptions: readonly string[],
    list: (subscriptionId: string) => Promise<HeldAssignment[]>,
    options: HeldOptions = {},
  ): Promise<{ held: HeldAssignment[]; listed: number }> {
    const now = this.now();
    const since = Math.max(now - this.ttlMs, options.listedSince ?? Number.NEGATIVE_INFINITY);
    const bornAt = Math.max(
      this.created.get(idKey(principalId)) ?? Number.NEGATIVE_INFINITY,
      options.bornAt ?? Number.NEGATIVE_INFINITY,
    );
    // Made within the window (by the app): nothing was assigned to it then but what the app grants.
    const newborn = bornAt >= since;
    this.prune(now);
    let listed = 0;
    const pending = subscriptions.map((subscriptionId) => {
      const key = `${idKey(principalId)}|${idKey(subscriptionId)}`;
      const cached = this.listings.get(key);
      if (cached && cached.at >= since) return cached.held;
      if (newborn) return Promise.resolve([]);
      listed += 1;
      const held = list(subscriptionId);
      const entry = { at: now, held };
      this.listings.set(key, entry);
      held.catch(() => {
        if (this.listings.get(key) === entry) this.listings.delete(key);
      });
      return held;
    });
    const lists = await Promise.all(pending);
    return { held: lists.flat(), listed };
  }

  /** ARM answered the app's PUT with 201: a new principal, holding no role assignment yet. */
  rememberCreated(principalId: string): void {
    this.created.set(idKey(principalId), this.now());
  }

  /** The subscriptions the last sweep covered: the event path checks them too. */
  noteSwept(subscriptions: readonly string[]): void {
    this.swept = [...subscriptions];
  }

  sweptSubscriptions(): readonly string[] {
    return this.swept;
  }

  /** Entries past the TTL go: the cache holds at most one window of principals. */
  private prune(now: number): void {
    for (const [key, entry] of this.listings) if (entry.at < now - this.ttlMs) this.listings.delete(key);
    for (const [key, at] of this.created) if (at < now - this.ttlMs) this.created.delete(key);
  }
}
