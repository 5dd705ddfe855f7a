// (registry, region) pairs this instance verified a moment ago: the identity is the app's (proven by
// systemData) and holds the pull grant on the registry. For a short time the event path reuses that
// instead of reading both again, so the first VM of a known pair costs its VM read and attach only.
// Positive results only; the sweep always verifies afresh (and refreshes the entry); a failed attach
// with the identity forgets it.
import type { RegistryState } from '../azure/containerRegistries';
import type { IdentityState } from '../azure/userAssignedIdentities';
import { idKey, sameId } from '../core/resourceId';

/** How long a verification is reused. A grant deleted meanwhile is re-made at most this much later. */
export const VERIFIED_PAIR_TTL_MS = 60_000;

export interface VerifiedPair {
  readonly registry: RegistryState;
  readonly identity: IdentityState;
  readonly ageMs: number;
  /** When the grant was made, as ARM said (pull rights take minutes to propagate). */
  readonly grantCreatedOn?: string;
}

export class VerifiedPairs {
  private readonly pairs = new Map<
    string,
    { registry: RegistryState; identity: IdentityState; at: number; grantCreatedOn?: string }
  >();

  /** Verifications under way, by pair: concurrent invocations of one pair wait for one of them. */
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    private readonly now: () => number = Date.now,
    readonly ttlMs = VERIFIED_PAIR_TTL_MS,
  ) {}

  get(registryId: string, region: string): VerifiedPair | undefined {
    const key = pairKey(registryId, region);
    const entry = this.pairs.get(key);
    if (!entry) return undefined;
    const ageMs = this.now() - entry.at;
    if (ageMs >= this.ttlMs) {
      this.pairs.delete(key);
      return undefined;
    }
    return {
      registry: entry.registry,
      identity: entry.identity,
      ageMs,
      ...(entry.grantCreatedOn ? { grantCreatedOn: entry.grantCreatedOn } : {}),
    };
  }

  remember(registry: RegistryState, region: string, identity: IdentityState, grantCreatedOn?: string): void {
    this.pairs.set(pairKey(registry.id, region), {
      registry,
      identity,
      at: this.now(),
      ...(grantCreatedOn ? { grantCreatedOn } : {}),
    });
  }

  /** A verification of the pair this instance has under way (settles, never rejects), if any. */
  verifying(registryId: string, region: string): Promise<void> | undefined {
    return this.inFlight.get(pairKey(registryId, region));
  }

  /** Marks the pair as being verified until `work` settles (its outcome is the caller's). */
  track(registryId: string, region: string, work: Promise<unknown>): void {
    const key = pairKey(registryId, region);
    const settled = work.then(
      () => {},
      () => {},
    );
    this.inFlight.set(key, settled);
    void settled.then(() => {
      if (this.inFlight.get(key) === settled) this.inFlight.delete(key);
    });
  }

  /** After a failed write with this identity: verify its pairs again next time. */
  forgetIdentity(identityId: string): void {
    for (const [key, entry] of this.pairs) if (sameId(entry.identity.id, identityId)) this.pairs.delete(key);
  }
}

const pairKey = (registryId: string, region: string) => `${idKey(registryId)}|${region.toLowerCase()}`;
