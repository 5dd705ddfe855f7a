// Which attached identities are provably the app's pull identities: an operator override, or one
// whose ARM systemData says the app (or a trusted creator) made it. A name or tag is only a candidate.
// Proofs are remembered per (identity id, principal id) for a while: a deleted and recreated identity
// of the same name is a new principal and is proven again.
import { type RetryEnvironment, withRetry } from '../azure/retry';
import { hasSystemAssigned, type VmIdentityView } from '../core/attachPlan';
import { ownershipOf } from '../core/ownership';
import { isPullIdentityId } from '../core/pullIdentity';
import { parseUserAssignedIdentityId, sameId } from '../core/resourceId';
import type { ReconcileDeps } from './reconcileDeps';

/** How long a proof is trusted; the sweep proves every pair it uses again every run (15 min). */
export const PROOF_TTL_MS = 15 * 60_000;

export class ProvenIdentities {
  private readonly proofs = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  remember(identityId: string, principalId: string): void {
    this.proofs.set(key(identityId, principalId), this.now() + PROOF_TTL_MS);
  }

  /** Proven for this principal (or, without one, for any principal the proof was made for). */
  has(identityId: string, principalId: string | undefined): boolean {
    if (principalId === undefined) {
      const prefix = `${identityId.toLowerCase()}|`;
      for (const [k, until] of this.proofs) if (k.startsWith(prefix) && until > this.now()) return true;
      return false;
    }
    const until = this.proofs.get(key(identityId, principalId));
    return until !== undefined && until > this.now();
  }
}

const key = (identityId: string, principalId: string) =>
  `${identityId.toLowerCase()}|${principalId.toLowerCase()}`;

function isOverride(deps: ReconcileDeps, identityId: string): boolean {
  for (const o of deps.settings.identityOverrides.values()) if (sameId(o.id, identityId)) return true;
  return false;
}

/** Synchronous: an override, or proven before (no request). */
export function knownPullIdentity(deps: ReconcileDeps, identityId: string, principalId?: string): boolean {
  return isOverride(deps, identityId) || deps.proven.has(identityId, principalId);
}

/**
 * Whether an identity attached to a VM is provably one of the app's pull identities. Only an
 * `id-acrpull-…` identity in the identity resource group is a candidate; one not proven before costs
 * one identity read (retried within the budget). `principalId` is what the VM reports for it.
 */
export async function provePullIdentity(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  identityId: string,
  principalId: string | undefined,
): Promise<boolean> {
  if (knownPullIdentity(deps, identityId, principalId)) return true;
  if (!isPullIdentityId(deps.settings, identityId)) return false;
  return withRetry('read identity', retryEnv, (signal) => proveOnce(deps, identityId, principalId, signal));
}

/**
 * Before detaching: proven for the principal the VM reports. Where the resource reports none (a
 * Flexible scale set's GET shows no principal ids), a remembered proof could be for an earlier
 * identity of the same name, so the identity is read afresh and its systemData checked every time.
 */
export async function proveForDetach(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  identityId: string,
  principalId: string | undefined,
): Promise<boolean> {
  if (principalId !== undefined) return provePullIdentity(deps, retryEnv, identityId, principalId);
  const ref = parseUserAssignedIdentityId(identityId);
  if (!ref || !isPullIdentityId(deps.settings, identityId)) return false;
  const identity = await withRetry('read identity', retryEnv, (signal) =>
    deps.identities.get(deps.settings.identityResourceGroup, ref.name, signal),
  );
  if (!identity) return false;
  return ownershipOf(identity, await deps.whoAmI(), deps.settings.trustedCreators).owned;
}

/** One attempt, no retry: for a caller already inside a retried step. */
async function proveOnce(
  deps: ReconcileDeps,
  identityId: string,
  principalId: string | undefined,
  signal?: AbortSignal,
): Promise<boolean> {
  if (knownPullIdentity(deps, identityId, principalId)) return true;
  const ref = parseUserAssignedIdentityId(identityId);
  if (!ref || !isPullIdentityId(deps.settings, identityId)) return false;
  const identity = await deps.identities.get(deps.settings.identityResourceGroup, ref.name, signal);
  if (!identity) return false;
  if (principalId !== undefined && !sameId(identity.principalId, principalId)) return false;
  const ownership = ownershipOf(identity, await deps.whoAmI(), deps.settings.trustedCreators);
  if (!ownership.owned) return false;
  deps.proven.remember(identity.id, identity.principalId);
  return true;
}

type VmWithIdentities = {
  readonly identity?: VmIdentityView & {
    readonly userAssignedIdentities?: Readonly<Record<string, { readonly principalId?: string }>>;
  };
};

function singleIdentity(vm: VmWithIdentities): { id: string; principalId?: string } | undefined {
  const map = vm.identity?.userAssignedIdentities ?? {};
  const ids = Object.keys(map);
  const only = ids[0];
  if (ids.length !== 1 || only === undefined || hasSystemAssigned(vm.identity?.type)) return undefined;
  const principalId = map[only]?.principalId;
  return { id: only, ...(principalId ? { principalId } : {}) };
}

/**
 * A VM whose only identity is one user-assigned identity: prove it ours or not (remembered), so the
 * IMDS-default rule can ask `knownPullIdentity` synchronously. With a signal: one attempt, for a
 * caller inside a retried step; without: retried within the budget.
 */
export async function proveSingleIdentity(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  vm: VmWithIdentities,
  signal?: AbortSignal,
): Promise<void> {
  const only = singleIdentity(vm);
  if (!only) return;
  if (signal) await proveOnce(deps, only.id, only.principalId, signal);
  else await provePullIdentity(deps, retryEnv, only.id, only.principalId);
}
