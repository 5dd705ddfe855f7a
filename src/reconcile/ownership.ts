// "Is this identity ours?" — asked in one place. An attached identity is provably one of the app's
// pull identities when it is an operator override, or an `id-acrpull-…` identity in the identity
// resource group whose ARM systemData says the app (or a trusted creator) made it. A name or a tag is
// only a candidate. Proofs are remembered (proofCache.ts).
import { type RetryEnvironment, withRetry } from '../azure/retry';
import type { IdentityView } from '../core/identityView';
import { soleUserAssigned } from '../core/identityView';
import { ownershipOf } from '../core/ownership';
import { isOverrideId, isPullIdentityId } from '../core/pullIdentity';
import { parseUserAssignedIdentityId, sameId } from '../core/resourceId';
import type { ReconcileDeps } from './deps';

/** Synchronous: an override, or proven before (no request). */
export function knownPullIdentity(deps: ReconcileDeps, identityId: string, principalId?: string): boolean {
  return isOverrideId(deps.settings, identityId) || deps.proven.has(identityId, principalId);
}

export interface ProofOptions {
  /**
   * One attempt with this signal, for a caller already inside a retried step; without, the read is
   * retried within the budget.
   */
  readonly signal?: AbortSignal;
  /**
   * Before a detach where the target reports no principal id (a Flexible scale set's GET shows none):
   * a remembered proof could be for an earlier identity of the same name, so the identity is read
   * afresh and its systemData checked, and nothing is remembered.
   */
  readonly afresh?: boolean;
}

/**
 * Whether an identity attached to a target is provably one of the app's pull identities. Only an
 * `id-acrpull-…` identity in the identity resource group is a candidate; one not proven before costs
 * one identity read (or a share of a listing of the group, in a burst). `principalId` is what the target reports for it.
 */
export async function provePullIdentity(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  identityId: string,
  principalId: string | undefined,
  options: ProofOptions = {},
): Promise<boolean> {
  const afresh = options.afresh === true && principalId === undefined;
  if (!afresh && knownPullIdentity(deps, identityId, principalId)) return true;
  const ref = parseUserAssignedIdentityId(identityId);
  if (!ref || !isPullIdentityId(deps.settings, identityId)) return false;
  const once = async (signal?: AbortSignal) => {
    if (!afresh && knownPullIdentity(deps, identityId, principalId)) return true;
    const group = deps.settings.identityResourceGroup;
    const get = () => deps.identities.get(group, ref.name, signal);
    // Not afresh: from a listing of the group when reads come in a burst (identityReads.ts).
    const identity = afresh
      ? await get()
      : await deps.identityReads.find(group.id, ref.name, get, () => deps.identities.list(group, signal));
    if (!identity) return false;
    if (principalId !== undefined && !sameId(identity.principalId, principalId)) return false;
    const ownership = ownershipOf(identity, await deps.whoAmI(), deps.settings.trustedCreators);
    if (!ownership.owned) return false;
    if (!afresh) deps.proven.remember(identity.id, identity.principalId);
    return true;
  };
  if (options.signal) return once(options.signal);
  return withRetry('read identity', retryEnv, once);
}

/**
 * A target whose only identity is one user-assigned identity: prove it ours or not (remembered), so
 * the IMDS-default rule can ask `knownPullIdentity` synchronously.
 */
export async function proveSoleIdentity(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  identity: IdentityView | undefined,
  signal?: AbortSignal,
): Promise<void> {
  const only = soleUserAssigned(identity);
  if (!only) return;
  await provePullIdentity(deps, retryEnv, only.id, only.principalId, signal ? { signal } : {});
}
