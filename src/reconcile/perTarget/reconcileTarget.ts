// The reconcile of one target (a VM or a scale set), as controller-runtime's example controller and
// ASO's DetermineCreateOrUpdateAction shape it: observe (reads only) → plan (pure, named steps with
// their reasons) → execute (a flat switch, one ARM call per step). Identity, grant, attach — in that
// order: an attached pull identity implies its grant was made, which is what lets an
// already-compliant target cost exactly one read (the sweep re-verifies grants for drift).
import { Auditor } from '../../audit/auditor';
import type { AuditRecord } from '../../audit/auditRecord';
import type { RetryEnvironment } from '../../azure/retry';
import { eventAgainstDeferral, nextDeferral } from '../../core/deferral';
import { type PullReady, worseReadiness } from '../../core/pullReadiness';
import { idKey } from '../../core/resourceId';
import { findTagValue } from '../../core/tag';
import { parseTargetId } from '../../targets';
import type { ReconcileDeps } from '../deps';
import { outcomeOf, type TargetOutcome } from '../outcome';
import { freshPullAccess, type PullAccess } from '../pair/pullAccess';
import type { TargetRecall } from '../targetMemory';
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
  // With a state store, what the app remembers of the target: a busy deferral may answer an event
  // without any ARM request, and the attach histories decide whether a re-attach is a fight.
  const recall = ref && deps.memory ? await deps.memory.recall(ref.id) : undefined;
  const early = answerFromDeferral(deps, request, recall);
  if (early) return early;
  const seen: TargetSnapshot = ref
    ? await observeTarget(
        deps,
        access,
        ref,
        // With a store that answered, the event path does not wait in the invocation: the deferral
        // does (one loop). Without one (or when it did not answer), it waits as before.
        {
          wait: waitWhileBusy && !recall,
          wholeChain: request.wholeChain === true,
          ...(recall?.pending ? { pending: recall.pending } : {}),
        },
        retryEnv,
      )
    : { kind: 'invalid-id' };
  const snapshot: TargetSnapshot =
    seen.kind === 'idle' && recall
      ? { ...seen, recall, ...(request.caller ? { lastWriter: request.caller } : {}) }
      : seen;
  const plan = planTarget(deps.settings, snapshot, request.targetId);
  const observed = snapshot.kind === 'idle' ? snapshot : undefined;
  const pendingOperation = observed?.pendingOperation;
  const ran = await executePlan(
    {
      deps,
      access,
      retryEnv,
      auditor,
      observed,
      waitWhileBusy,
      // With a store that answered, the event path answers once ARM accepts its attach.
      ...(request.trigger === 'event' && recall
        ? { answerOnAccept: request.eventId ? { eventId: request.eventId } : {} }
        : {}),
      ...(pendingOperation?.verdict.kind === 'failed'
        ? { resend: { ids: pendingOperation.verdict.resend, pending: pendingOperation.pending } }
        : {}),
    },
    plan.steps,
  );
  const outcome = ran.includes('nothing') ? 'untagged' : outcomeOf(auditor.records);
  // Waiting on the app's own accepted attach (seconds) is no busy deferral: the event's redelivery (10 s
  // later) reads it again, rather than a deferral that would answer events without a read for 90 s.
  const ownOperation = seen.kind === 'busy' && recall?.pending !== undefined;
  if (ref && recall) {
    if (!ownOperation) await keepDeferral(deps, request, ref.id, recall, outcome, auditor.records);
    if (snapshot.kind === 'idle') await settleHistories(deps, snapshot, recall, auditor.records);
  }
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

/**
 * An event for a target deferred until later (core/deferral.ts): acknowledged without a request, or,
 * for the event that deferred it, failed again without one so that Event Grid's redelivery stays the
 * one loop. Undefined: go on and read it.
 */
function answerFromDeferral(
  deps: ReconcileDeps,
  request: TargetRequest,
  recall: TargetRecall | undefined,
): TargetResult | undefined {
  if (request.trigger !== 'event' || !recall?.deferral) return undefined;
  const answer = eventAgainstDeferral(
    recall.deferral,
    (deps.now ?? Date.now)(),
    request.eventId,
    deps.busyBackoff,
  );
  if (answer === 'read') return undefined;
  const due = new Date(recall.deferral.dueAt).toISOString();
  deps.log.info(
    `${request.targetId}: deferred until ${due} (${recall.deferral.reason}); ${answer === 'redeliver' ? 'redelivery before its time' : 'event acknowledged'} without a request`,
  );
  return {
    targetId: request.targetId,
    outcome: 'deferred',
    retryable: answer === 'redeliver',
    records: [],
    plan: { steps: [] },
    executed: [],
  };
}

/** A target that ended busy keeps (or gets) a deferral with its next due time; one that did not, none. */
async function keepDeferral(
  deps: ReconcileDeps,
  request: TargetRequest,
  targetId: string,
  recall: TargetRecall,
  outcome: TargetOutcome,
  records: readonly AuditRecord[],
): Promise<void> {
  const memory = deps.memory;
  if (!memory) return;
  const busy = records.find((r) => r.outcome === 'deferred');
  if (outcome === 'deferred' && busy) {
    const now = (deps.now ?? Date.now)();
    const eventId = request.trigger === 'event' ? request.eventId : recall.deferral?.eventId;
    await memory.defer(
      targetId,
      nextDeferral(recall.deferral, now, busy.reason ?? 'busy', eventId, deps.busyBackoff),
    );
  } else if (recall.deferral) await memory.clearDeferral(targetId);
}

/**
 * Histories that no longer hold: an identity the app itself detached (revocation) was not undone by
 * anyone, so its next attach starts afresh; a contest stopped under another tag value than the
 * target's now is over (the owner asked again, even if the tag came back since).
 */
async function settleHistories(
  deps: ReconcileDeps,
  snapshot: Extract<TargetSnapshot, { kind: 'idle' }>,
  recall: TargetRecall,
  records: readonly AuditRecord[],
): Promise<void> {
  const memory = deps.memory;
  if (!memory || recall.attaches.size === 0) return;
  const tag = findTagValue(snapshot.target.tags, deps.settings.tagKey) ?? '';
  const detached = new Set(
    records
      .filter((r) => r.action === 'identity-detached' && r.outcome === 'changed' && r.identityId)
      .map((r) => idKey(r.identityId ?? '')),
  );
  for (const [key, history] of recall.attaches) {
    const stale = history.contested !== undefined && history.contested.tag !== tag;
    const ownDetach = detached.has(key) && history.attachedAt !== undefined;
    if (!stale && !ownDetach) continue;
    await memory.rememberAttach(snapshot.ref.id, history.identityId, { undone: stale ? [] : history.undone });
  }
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
