// The attach (and detach) step: one PATCH of the target's identities, keeping whatever it already has,
// never while another operation runs on it, and never taking the owner's IMDS default without
// consent. The only step that re-observes: its first attempt decides from the target as observed; a
// retry (412 etag race, a busy target, throttling, a lost poller) reads it again and decides again
// (core/attachPlan.ts), so a concurrent writer's identities are kept, a writer who started an
// operation meanwhile is waited for, and work someone else finished is not redone.
import type { Auditor } from '../../audit/auditor';
import { ArmOperationError, deferralReason, TransientConditionError } from '../../azure/armErrors';
import { type RetryEnvironment, withRetry } from '../../azure/retry';
import type { TargetState } from '../../azure/targetResources';
import { type AttachDecision, decide } from '../../core/attachPlan';
import { lastOperationFailed, TARGET_BUSY } from '../../core/busy';
import { identityFacts, soleOf } from '../../core/identityView';
import { idKey, sameId } from '../../core/resourceId';
import { stillRevoked } from '../../core/revocation';
import { type TargetRef, targetKind } from '../../targets';
import type { ReconcileDeps } from '../deps';
import { knownPullIdentity, provePullIdentity } from '../ownership';
import type { ReadyRegistry } from '../pair/decision';
import { type Attempts, type PatchSubject, recordDeferred, recordPatch } from './attachRecords';
import { TargetGoneError } from './observe';
import type { DetachRequest } from './steps';

export interface PatchStep {
  readonly deps: ReconcileDeps;
  readonly retryEnv: RetryEnvironment;
  readonly auditor: Auditor;
  readonly ref: TargetRef;
  /** The target as observed, to plan the first attempt from; undefined to read it again first. */
  readonly firstRead: TargetState | undefined;
  readonly pending: readonly ReadyRegistry[];
  readonly detach: readonly DetachRequest[];
  /**
   * Event path: re-read a busy target with backoff within the time budget, and let the failure to
   * finish in time defer (Event Grid redelivers). Sweep and CLI: record it deferred at once.
   */
  readonly waitWhileBusy: boolean;
}

/** Throws TargetGoneError when the target disappears; other failures throw for the caller to audit. */
export async function patchIdentities(step: PatchStep): Promise<void> {
  const attempts: Attempts = { sent: new Set(), removed: new Set(), stillUnwanted: new Set() };
  let outcome: { target: TargetState; decision: AttachDecision };
  try {
    outcome = await attemptPatch(step, attempts);
  } catch (error) {
    const cause = error instanceof ArmOperationError ? error.cause : undefined;
    if (cause instanceof TargetGoneError) throw cause;
    const deferral = deferralReason(error);
    if (!deferral) throw error;
    // Not a failure: the target is busy with someone else's operation and we do not write during it,
    // or our own attach is still running. Event Grid redelivers, or the next sweep attaches it.
    recordDeferred(subjectOf(step), attempts, deferral, undefined);
    return;
  }
  const reach = targetKind(step.ref.kind).attachReach(outcome.target.orchestrationMode);
  recordPatch(subjectOf(step), attempts, identityFacts(outcome.target.identity), outcome.decision, reach);
}

const subjectOf = (step: PatchStep): PatchSubject => ({
  auditor: step.auditor,
  pending: step.pending,
  detach: step.detach,
  enforce: step.deps.settings.mode === 'enforce',
});

function attemptPatch(step: PatchStep, attempts: Attempts) {
  const { deps, ref } = step;
  const wanted = step.pending.map((p) => p.identityId);
  let current = step.firstRead;
  return withRetry('attach identities', step.retryEnv, async (signal) => {
    const target = current ?? (await deps.targets.get(ref, signal));
    current = undefined; // every retry starts from a fresh read
    if (!target) throw new TargetGoneError(ref.id);
    const facts = identityFacts(target.identity);
    // A sole identity named like a pull identity is proven (or not) before the IMDS-default rule asks.
    const sole = soleOf(facts);
    if (sole) await provePullIdentity(deps, step.retryEnv, sole.id, sole.principalId, { signal });
    // Detaches are decided again from this read: a tag that names the registry again (or is now
    // invalid) keeps its identity. A removal needs the etag guard: without one nothing is removed.
    const unwanted = target.etag
      ? step.detach
          .filter((d) => stillRevoked(target.tags, deps.settings, d.registry, d.cause))
          .map((d) => d.identityId)
      : [];
    attempts.stillUnwanted = new Set(unwanted.map(idKey));
    const decision = decide(target.provisioningState, facts, wanted, {
      singleIdentityVms: deps.settings.singleIdentityVms,
      isPullIdentity: (id) =>
        knownPullIdentity(deps, id, facts.userAssigned.find((held) => sameId(held.id, id))?.principalId),
      // Re-send identities the model already lists only when it was our own update that ended Failed: a
      // target failed for some other reason (an extension, say) is not ours to re-apply.
      resendListed: attempts.sent.size > 0 && lastOperationFailed(target.provisioningState),
      unwanted,
    });
    if (decision.action === 'defer' && step.waitWhileBusy)
      throw new TransientConditionError(TARGET_BUSY, decision.reason);
    const writes = decision.action === 'attach' || decision.action === 'detach';
    if (!writes || deps.settings.mode !== 'enforce') return { target, decision };
    for (const id of decision.patch.add) attempts.sent.add(idKey(id));
    for (const id of decision.patch.remove) attempts.removed.add(idKey(id));
    // A re-send after our own failed update sees the identities already listed: keep the first warning.
    attempts.warning ??= decision.warning;
    try {
      return { target: await deps.targets.attach(ref, decision.patch, target.etag, signal), decision };
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
      // A 404 from the PATCH or from a status poll: only a fresh read says whether the target is gone.
      if (!(await deps.targets.get(ref, signal))) throw new TargetGoneError(ref.id);
      throw new TransientConditionError(
        'OperationStatusUnavailable',
        `the update of ${ref.id} could not be followed`,
      );
    }
  });
}
