// The reconcile of one target (a VM or a scale set), as controller-runtime's example controller and
// ASO's DetermineCreateOrUpdateAction shape it: observe (reads only) → plan (pure, named steps with
// their reasons) → execute (a flat switch, one ARM call per step). Identity, grant, attach — in that
// order: an attached pull identity implies its grant was made, which is what lets an
// already-compliant target cost exactly one read (the sweep re-verifies grants for drift).
import { Auditor } from '../../audit/auditor';
import type { AuditRecord } from '../../audit/auditRecord';
import type { RetryEnvironment } from '../../azure/retry';
import { type PullReady, worseReadiness } from '../../core/pullReadiness';
import { parseTargetId } from '../../targets';
import type { ReconcileDeps } from '../deps';
import { outcomeOf, type TargetOutcome } from '../outcome';
import { freshPullAccess, type PullAccess } from '../pair/pullAccess';
import { executePlan } from './execute';
import { observeTarget } from './observe';
import { planTarget } from './plan';
import type { TargetRequest, TargetSnapshot } from './snapshot';
import type { StepName, TargetPlan } from './steps';

export interface TargetResult {
  readonly targetId: string;
  readonly outcome: TargetOutcome;
  /** True when a failure may clear on another attempt: the event path throws so Event Grid redelivers. */
  readonly retryable: boolean;
  readonly records: readonly AuditRecord[];
  /** The plan the reconcile made (what-if prints it; enforce executes it). */
  readonly plan: TargetPlan;
  /** The steps it ran, in order: the whole plan, unless the target vanished during its PATCH. */
  readonly executed: readonly StepName[];
  /** The least ready of its registries, from its attach and compliant records (none: not judged). */
  readonly pullReady?: PullReady;
}

/** The worst pullReady its records carry. */
export function pullReadyOf(records: readonly AuditRecord[]): PullReady | undefined {
  let worst: PullReady | undefined;
  for (const r of records) if (r.pullReady) worst = worst ? worseReadiness(worst, r.pullReady) : r.pullReady;
  return worst;
}

export async function reconcileTarget(
  deps: ReconcileDeps,
  request: TargetRequest,
  access: PullAccess = freshPullAccess(deps),
): Promise<TargetResult> {
  const retryEnv = retryFor(deps, request);
  const ref = parseTargetId(request.targetId);
  const waitWhileBusy = request.waitWhileBusy ?? request.trigger === 'event';
  const auditor = new Auditor(
    deps.audit,
    {
      mode: deps.settings.mode,
      trigger: request.trigger,
      vmId: request.targetId,
      targetType: ref?.type,
      eventId: request.eventId,
      correlationId: request.correlationId,
      eventTime: request.eventTime,
      caller: request.caller,
    },
    deps.now,
  );
  const snapshot: TargetSnapshot = ref
    ? await observeTarget(
        deps,
        access,
        ref,
        { wait: waitWhileBusy, wholeChain: request.wholeChain === true },
        retryEnv,
      )
    : { kind: 'invalid-id' };
  const plan = planTarget(deps.settings, snapshot, request.targetId);
  const observed = snapshot.kind === 'idle' ? snapshot : undefined;
  const ran = await executePlan({ deps, access, retryEnv, auditor, observed, waitWhileBusy }, plan.steps);
  const outcome = ran.includes('nothing') ? 'untagged' : outcomeOf(auditor.records);
  return {
    targetId: request.targetId,
    outcome,
    retryable: auditor.retryable,
    records: auditor.records,
    plan,
    executed: ran,
    ...withReadiness(auditor.records),
  };
}

function withReadiness(records: readonly AuditRecord[]): { pullReady?: PullReady } {
  const pullReady = pullReadyOf(records);
  return pullReady ? { pullReady } : {};
}

function retryFor(deps: ReconcileDeps, request: TargetRequest): RetryEnvironment {
  return {
    ...deps.retry,
    deadline: request.deadline,
    onRetry: (info) => {
      deps.log.info(
        `retrying ${info.operation} on ${request.targetId} in ${info.delayMs} ms after ${info.code} (attempt ${info.attempt})`,
      );
      deps.retry?.onRetry?.(info);
    },
  };
}
