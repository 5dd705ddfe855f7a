// The sweep's way to the (registry, region) pairs: each subscription's registries listed once per
// sweep, each registry authorized once per search scope, and each pair ensured once, for every page
// of every subscription. The pairs' identity and grant records go to one pair auditor (vmId empty),
// which leaves verified, unchanged state out of the trail.
import { Auditor } from '../../audit/auditor';
import type { Trigger } from '../../audit/auditRecord';
import { ArmOperationError } from '../../azure/armErrors';
import type { RegistryState } from '../../azure/containerRegistries';
import type { RetryEnvironment } from '../../azure/retry';
import { idKey } from '../../core/resourceId';
import type { RegistryRef } from '../../core/tag';
import type { TargetRef } from '../../targets';
import type { ReconcileDeps } from '../deps';
import { authorizeRegistry, registrySearchScope } from '../pair/authorize';
import type { ReadyRegistry, RegistryAuthorization, RegistryDecision } from '../pair/decision';
import { ensurePullAccess } from '../pair/ensure';
import type { PullAccess } from '../pair/pullAccess';
import type { SweepBudget } from './budget';
import type { CheckedIdentity } from './findings';

export class SweepPullAccess implements PullAccess {
  readonly pairAuditor: Auditor;
  /** (registry, region) pairs whose identity and grant were checked. */
  pairsChecked = 0;
  /** When the sweep began: role-assignment listings older than this are made again. */
  readonly startedAt: number;
  private readonly listings = new Map<string, Promise<RegistryState[]>>();
  private readonly authorizations = new Map<string, Promise<RegistryAuthorization>>();
  private readonly pairs = new Map<string, Promise<RegistryDecision>>();

  constructor(
    private readonly deps: ReconcileDeps,
    private readonly retryEnv: RetryEnvironment,
    private readonly budget: SweepBudget,
    trigger: Trigger,
  ) {
    this.pairAuditor = new Auditor(deps.audit, { mode: deps.settings.mode, trigger, vmId: '' }, deps.now, {
      skipUnchanged: true,
    });
    this.startedAt = (deps.now ?? Date.now)();
  }

  authorize(ref: RegistryRef, target: TargetRef): Promise<RegistryAuthorization> {
    const scope = registrySearchScope(this.deps, target.subscriptionId);
    const key = `${ref.form === 'resourceId' ? idKey(ref.registry.id) : ref.name}|${scope.join(',')}`;
    let pending = this.authorizations.get(key);
    if (!pending) {
      pending = authorizeRegistry(this.deps, this.retryEnv, ref, scope, { listings: this.listings });
      this.authorizations.set(key, pending);
    }
    return pending;
  }

  /** The pair's decision, or a failure when the sweep has no time left to start it. */
  async ensure(registry: RegistryState, region: string): Promise<RegistryDecision> {
    return (
      (await this.ensureIfTime(registry, region)) ?? {
        status: 'failed',
        error: new Error('the sweep ran out of time'),
      }
    );
  }

  /** Authorized and ensured once per sweep; undefined when out of time and not started. */
  async decide(ref: RegistryRef, region: string, target: TargetRef): Promise<RegistryDecision | undefined> {
    const authorization = await this.authorize(ref, target);
    if (authorization.status !== 'allowed') return authorization;
    return this.ensureIfTime(authorization.registry, region);
  }

  private ensureIfTime(registry: RegistryState, region: string): Promise<RegistryDecision> | undefined {
    const key = `${idKey(registry.id)}|${region}`;
    let pending = this.pairs.get(key);
    if (pending) return pending;
    if (!this.budget.hasTime()) return undefined; // out of time: not started
    this.pairsChecked += 1;
    pending = ensurePullAccess(
      { deps: this.deps, retryEnv: this.retryEnv, auditor: this.pairAuditor },
      registry,
      region,
      { rolesListedSince: this.startedAt },
    ).then((decision) => {
      // Cut short by the time budget: not a failure; its targets are left for the next sweep.
      if (decision.status === 'failed' && outOfTime(decision.error)) this.budget.stop();
      else if (decision.status === 'failed')
        this.pairAuditor.failed(decision.error, { registry: registry.name, registryId: registry.id });
      return decision;
    });
    this.pairs.set(key, pending);
    return pending;
  }

  /** Every pair that ended ready (for the findings). */
  async readyPairs(): Promise<ReadyRegistry[]> {
    const decided = await Promise.all(this.pairs.values());
    return decided.filter((d): d is ReadyRegistry => d.status === 'ready');
  }

  /**
   * The pull identities the pairs read: those that ended ready, and those refused for holding roles
   * beyond pull (targets that already hold one keep it: the finding tells the operator).
   */
  async checkedIdentities(): Promise<CheckedIdentity[]> {
    const decided = await Promise.all(this.pairs.values());
    return decided.flatMap((d): CheckedIdentity[] => {
      if (!d.registry) return [];
      const identity =
        d.status === 'ready' ? d.identity : d.status === 'rejected' ? d.excessRolesOf : undefined;
      return identity ? [{ identity, registry: d.registry }] : [];
    });
  }
}

/** A check the time budget cut short (no ARM refusal): deferred to the next sweep, not failed. */
export function outOfTime(error: unknown): boolean {
  return error instanceof ArmOperationError && error.budgetExhausted;
}
