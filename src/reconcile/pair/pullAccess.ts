// How a target's reconcile reaches the (registry, region) pairs it needs: authorize (reads only, at
// observe time) and ensure (the pair reconciler, at execute time). The event path and the CLI decide
// afresh for each target, reusing pairs this instance verified a moment ago; the sweep hands in its
// own access that decides each pair once per sweep (sweep/sweepPullAccess.ts).
import type { Auditor } from '../../audit/auditor';
import type { RegistryState } from '../../azure/containerRegistries';
import type { RetryEnvironment } from '../../azure/retry';
import type { RegistryRef } from '../../core/tag';
import type { TargetRef } from '../../targets';
import type { ReconcileDeps } from '../deps';
import { authorizeRegistry, registrySearchScope } from './authorize';
import type { RegistryAuthorization, RegistryDecision } from './decision';
import { ensurePullAccess } from './ensure';

export interface PullAccess {
  authorize(ref: RegistryRef, target: TargetRef, retryEnv: RetryEnvironment): Promise<RegistryAuthorization>;
  /**
   * `auditor`: the target's, where the pair's records go unless the access keeps its own;
   * `targetSubscriptionId`: where the target is (the identity's role assignments are looked for there
   * too).
   */
  ensure(
    registry: RegistryState,
    region: string,
    auditor: Auditor,
    retryEnv: RetryEnvironment,
    targetSubscriptionId?: string,
  ): Promise<RegistryDecision>;
}

/** A fresh decision per registry; one registry listing per subscription for the whole invocation. */
export function freshPullAccess(deps: ReconcileDeps): PullAccess {
  const listings = new Map<string, Promise<RegistryState[]>>();
  return {
    // A registry this instance resolved within the verified-pair window is not looked up again.
    authorize: (ref, target, retryEnv) =>
      authorizeRegistry(deps, retryEnv, ref, registrySearchScope(deps, target.subscriptionId), {
        listings,
        cachedWithinMs: deps.verifiedPairs.ttlMs,
      }),
    ensure: (registry, region, auditor, retryEnv, targetSubscriptionId) =>
      ensurePullAccess({ deps, retryEnv, auditor }, registry, region, {
        reuseVerified: true,
        ...(targetSubscriptionId ? { targetSubscriptionId } : {}),
      }),
  };
}
