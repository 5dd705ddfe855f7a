// Proofs that an identity is the app's own (ARM's systemData said so), remembered per (identity id,
// principal id) for a while: a deleted and recreated identity of the same name is a new principal and
// is proven again. Only the cache; the proving is in ownership.ts.
import { idKey } from '../core/resourceId';

/** How long a proof is trusted; the sweep proves every pair it uses again every run (15 min). */
export const PROOF_TTL_MS = 15 * 60_000;

export class ProofCache {
  private readonly proofs = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * An identity has one principal at a time: proving it for a new one (it was deleted and re-created
   * under its name) forgets the proofs for the old ones, so a target still bound to an old principal
   * is not taken for proven (it is re-bound).
   */
  remember(identityId: string, principalId: string): void {
    const prefix = `${idKey(identityId)}|`;
    const fresh = key(identityId, principalId);
    for (const k of [...this.proofs.keys()]) if (k.startsWith(prefix) && k !== fresh) this.proofs.delete(k);
    this.proofs.set(fresh, this.now() + PROOF_TTL_MS);
  }

  /** Proven for this principal (or, without one, for any principal the proof was made for). */
  has(identityId: string, principalId: string | undefined): boolean {
    if (principalId === undefined) {
      const prefix = `${idKey(identityId)}|`;
      for (const [k, until] of this.proofs) if (k.startsWith(prefix) && until > this.now()) return true;
      return false;
    }
    const until = this.proofs.get(key(identityId, principalId));
    return until !== undefined && until > this.now();
  }
}

const key = (identityId: string, principalId: string) => `${idKey(identityId)}|${idKey(principalId)}`;
