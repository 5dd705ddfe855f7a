// What one sweep carries from page to page, as one object handed down rather than locals closed over:
// its dependencies, its time, its tally, its way to the pairs, and the concurrency limits.
import pLimit from 'p-limit';
import { Auditor } from '../../audit/auditor';
import type { Trigger } from '../../audit/auditRecord';
import type { ArmRequestMeter } from '../../azure/armRequestPolicy';
import type { EventSubscriptions } from '../../azure/eventSubscriptions';
import type { ResourceGraph } from '../../azure/resourceGraph';
import type { RetryEnvironment } from '../../azure/retry';
import type { Subscriptions } from '../../azure/subscriptions';
import type { PendingOperation } from '../../core/pendingOperation';
import { parseTargetId } from '../../targets';
import type { ReconcileDeps } from '../deps';
import type { SweepBudget } from './budget';
import { SweepPullAccess } from './sweepPullAccess';
import type { Tally } from './tally';

export interface SweepDeps extends ReconcileDeps {
  readonly graph: ResourceGraph;
  readonly subscriptions: Subscriptions;
  readonly meter: ArmRequestMeter;
  /** Event Grid's side of each swept subscription (the events-missing finding); absent: not checked. */
  readonly eventSubscriptions?: EventSubscriptions;
}

export class SweepRun {
  readonly budget: SweepBudget;
  readonly tally: Tally;
  readonly access: SweepPullAccess;
  readonly retryEnv: RetryEnvironment;
  /** Pairs are ensured this many at a time across the sweep; targets, this many per subscription. */
  readonly pairLimit: ReturnType<typeof pLimit>;
  /** Set once discovery in some subscription failed: the sweep is reported as not finished. */
  discoveryError: string | undefined;
  /**
   * Targets (idKey) with an accepted attach of the event path's that nobody has seen end, from the
   * state store: reconciled even where the snapshot shows them compliant.
   */
  pending: ReadonlyMap<string, PendingOperation> = new Map();
  /** Of those, the ones a discovery page showed (the rest are reconciled by id afterwards). */
  readonly pendingSeen = new Set<string>();

  constructor(
    readonly deps: SweepDeps,
    readonly sweepId: string,
    readonly trigger: Trigger,
    budget: SweepBudget,
    tally: Tally,
  ) {
    this.budget = budget;
    this.tally = tally;
    this.retryEnv = {
      ...deps.retry,
      deadline: budget.deadline,
      onRetry: (info) => {
        deps.log.info(
          `sweep ${sweepId}: retrying ${info.operation} in ${info.delayMs} ms after ${info.code}`,
        );
        deps.retry?.onRetry?.(info);
      },
    };
    this.access = new SweepPullAccess(deps, this.retryEnv, budget, trigger);
    this.pairLimit = pLimit(deps.settings.sweepConcurrency);
  }

  /** An auditor for one target's records made by the sweep itself (from the snapshot). */
  targetAuditor(targetId: string): Auditor {
    return new Auditor(
      this.deps.audit,
      {
        mode: this.deps.settings.mode,
        trigger: this.trigger,
        vmId: targetId,
        targetType: parseTargetId(targetId)?.type,
      },
      this.deps.now,
    );
  }
}
