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
import { type AttachDecision, decide, decideRebind, planPatch } from '../../core/attachPlan';
import { lastOperationFailed, TARGET_BUSY } from '../../core/busy';
import { type IdentityFacts, identityFacts, soleOf } from '../../core/identityView';
import { idKey, parseUserAssignedIdentityId, resourceGroupId, sameId } from '../../core/resourceId';
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
  /**
   * The event path with a state store that answered: an attach-only PATCH returns once ARM has
   * accepted it and the operation is remembered as pending (core/pendingOperation.ts), instead of
   * holding the invocation for the operation's 3-7 s. Absent: follow every operation to its end.
   */
  readonly answerOnAccept?: { readonly eventId?: string };
  /**
   * Identities (lower-cased ids) of the app's own accepted attach whose operation ended Failed: sent
   * again even though the model lists them.
   */
  readonly resend?: ReadonlySet<string>;
}

/** What the PATCH left that the caller stores: identities removed as they were written. */
export interface PatchResult {
  readonly stripped: readonly string[];
  /** The PATCH was written (followed to its end, or accepted: see `accepted`). */
  readonly written?: boolean;
  /** The PATCH was answered once ARM accepted it (its operation is remembered as pending). */
  readonly accepted?: boolean;
}

/** Throws TargetGoneError when the target disappears; other failures throw for the caller to audit. */
export async function patchIdentities(step: PatchStep): Promise<PatchResult> {
  const attempts: Attempts = {
    sent: new Set(),
    removed: new Set(),
    stillUnwanted: new Set(),
    rebound: new Map(),
    detachedToRebind: new Set(),
    stripped: new Set(),
  };
  const none: PatchResult = { stripped: [] };
  let outcome: { target: TargetState; decision: AttachDecision };
  try {
    outcome = await attemptPatch(step, attempts);
  } catch (error) {
    const cause = error instanceof ArmOperationError ? error.cause : undefined;
    recordUnfinishedRebind(step, attempts, error);
    if (cause instanceof TargetGoneError) throw cause;
    if (cause instanceof PullIdentityChangedError) {
      // The pair this attach was given is out of date: nothing more is written now; the next attempt
      // (Event Grid's redelivery, the next sweep) verifies the pair again (proof, grant) first.
      for (const p of step.pending)
        step.auditor.record('failed', 'failed', {
          registry: p.registry.name,
          registryId: p.registry.id,
          identityId: p.identityId,
          reason: cause.message,
          retryable: true,
        });
      return none;
    }
    const deferral = deferralReason(error);
    if (!deferral) throw error;
    // Not a failure: the target is busy with someone else's operation and we do not write during it,
    // or our own attach is still running. Event Grid redelivers, or the next sweep attaches it.
    recordDeferred(subjectOf(step), attempts, deferral, undefined);
    return none;
  }
  const kind = targetKind(step.ref.kind);
  const reach = kind.attachReach(outcome.target.orchestrationMode);
  const bound = kind.reportsBoundPrincipals(outcome.target.orchestrationMode);
  recordPatch(subjectOf(step), attempts, identityFacts(outcome.target.identity), outcome.decision, {
    reach,
    bound,
  });
  if (step.deps.settings.mode === 'enforce') await reportOrphanedGrants(step, attempts);
  return {
    stripped: step.pending.map((p) => p.identityId).filter((id) => attempts.stripped.has(idKey(id))),
    ...(attempts.sent.size > 0 || attempts.removed.size > 0 ? { written: true } : {}),
    ...(attempts.acceptedAt !== undefined ? { accepted: true } : {}),
  };
}

/**
 * ARM said the PATCH succeeded, but its result lacks an identity it added: read the target once more.
 * Still missing: something removes it as it is written (an Azure Policy modify or deny effect, say);
 * terminal, not a retry that ends the same way 30 times.
 */
async function confirmHeld(
  step: PatchStep,
  attempts: Attempts,
  added: readonly string[],
  patched: TargetState,
  signal: AbortSignal,
): Promise<TargetState> {
  const missing = (t: TargetState) =>
    added.filter((id) => !identityFacts(t.identity).userAssigned.some((h) => sameId(h.id, id)));
  if (missing(patched).length === 0) return patched;
  const again = await step.deps.targets.get(step.ref, signal);
  if (!again) throw new TargetGoneError(step.ref.id);
  for (const id of missing(again)) attempts.stripped.add(idKey(id));
  return again;
}

/**
 * After a re-bind: the grants the vanished principal still holds on the registry are reported (the app
 * has no right to delete role assignments). A failed read is logged, never a failure of the attach.
 */
async function reportOrphanedGrants(step: PatchStep, attempts: Attempts): Promise<void> {
  for (const p of step.pending) {
    const boundTo = attempts.rebound.get(idKey(p.identityId));
    if (!boundTo || !attempts.sent.has(idKey(p.identityId)) || !/^[0-9a-f-]{36}$/i.test(boundTo)) continue;
    try {
      const orphaned = await step.deps.roleAssignments.grantsAt(
        p.registry.id,
        p.registry.subscriptionId,
        boundTo,
      );
      if (orphaned.length === 0) continue;
      const ids = orphaned.map((g) => g.id);
      step.auditor.record('grant-orphaned', 'flagged', {
        registry: p.registry.name,
        registryId: p.registry.id,
        identityId: p.identityId,
        principalId: boundTo,
        reason:
          `${ids.join(', ')} still grant${ids.length === 1 ? 's' : ''} ${boundTo}, the principal of a deleted ` +
          `${p.identityId}, access to ${p.registry.name}; the app may not delete role assignments: ` +
          `az role assignment delete --ids ${ids.join(' ')}`,
      });
    } catch (error) {
      step.deps.log.warn(
        `could not list the grants of ${boundTo} on ${p.registry.id}: ${(error as Error).message}`,
      );
    }
  }
}

/** Thrown when the identity behind a pending pair is not the one the pair was verified with. */
class PullIdentityChangedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PullIdentityChangedError';
  }
}

/**
 * The pending identities the target holds under an entry bound to another principal than the
 * identity's (or, `strict`, to none), with the principal the entry names: they are re-bound. Only for
 * kinds whose GET reports bound principals, and only where the identity was read (enforce mode). A
 * mismatch is confirmed by reading the identity afresh: if the identity is no longer the one its pair
 * was verified with (the pair came from the verified-pair cache and the identity was re-created
 * since), nothing is re-bound or attached: PullIdentityChangedError, and the pair is verified again
 * (proof of ownership, grant) on the next attempt. An identity re-bound once in this run and found
 * stale again is a failure, never a loop.
 */
async function staleBindings(
  step: PatchStep,
  attempts: Attempts,
  target: TargetState,
  facts: IdentityFacts,
  signal: AbortSignal,
  strict: boolean,
): Promise<{ identityId: string; boundTo: string }[]> {
  if (!targetKind(step.ref.kind).reportsBoundPrincipals(target.orchestrationMode)) return [];
  const stale: { identityId: string; boundTo: string }[] = [];
  for (const p of step.pending) {
    const held = facts.userAssigned.find((h) => sameId(h.id, p.identityId));
    const known = p.identity?.principalId;
    if (!held || !known) continue;
    const differs = held.principalId !== undefined ? !sameId(held.principalId, known) : strict;
    if (!differs) continue;
    const current = await currentPrincipal(step, p.identityId, signal);
    if (!current || !sameId(current, known)) {
      forgetIdentity(step.deps, p.identityId);
      throw new PullIdentityChangedError(
        `${p.identityId} is not the identity its pair was verified with (principal ${current ?? 'none'}, not ${known}): it is verified again before anything is attached`,
      );
    }
    if (attempts.rebound.has(idKey(p.identityId)) && attempts.detachedToRebind.size === 0)
      throw new Error(
        `${p.identityId} is still bound to ${held.principalId ?? 'no principal'} after a re-bind`,
      );
    stale.push({ identityId: p.identityId, boundTo: held.principalId ?? 'no principal' });
  }
  return stale;
}

/**
 * A pair whose identity this PATCH added bound to another principal than the one verified: the
 * identity was deleted and re-created since it was read (the verified-pair cache's minute, a burst's
 * listing of its group up to 10 s old, or a GET just before), perhaps by someone else. The app's own
 * addition is undone at once (an etag-guarded PATCH that removes only what it just added), and the
 * pair is verified again
 * (proof of ownership, grant) on the next attempt. Judged from the PATCH's answer, so the cache keeps
 * costing no identity read; a response that shows no principal is not judged.
 */
async function undoIfPairChanged(
  step: PatchStep,
  added: readonly string[],
  patched: TargetState,
  signal: AbortSignal,
): Promise<void> {
  const facts = identityFacts(patched.identity);
  const changed = step.pending.filter((p) => {
    if (!p.identity || !added.some((id) => sameId(id, p.identityId))) return false;
    const held = facts.userAssigned.find((h) => sameId(h.id, p.identityId));
    return held?.principalId !== undefined && !sameId(held.principalId, p.identity.principalId);
  });
  if (changed.length === 0) return;
  for (const p of changed) forgetIdentity(step.deps, p.identityId);
  const undo = planPatch(facts, [], { unwanted: changed.map((p) => p.identityId) });
  if (undo && patched.etag) await step.deps.targets.attach(step.ref, undo, patched.etag, signal);
  throw new PullIdentityChangedError(
    `${changed.map((p) => p.identityId).join(', ')} was bound to another principal than the one its pair was verified with (deleted and re-created since): ${undo && patched.etag ? 'detached again at once' : 'left attached (no etag to guard its removal)'}, and verified again before it is attached`,
  );
}

/**
 * The re-bind's detach (the first of its two PATCHes), or undefined when there is nothing stale.
 * Returns what to do next: go on to the attach from the target the detach left, or stop here (audit
 * mode, refused, deferred).
 */
async function detachStale(
  step: PatchStep,
  attempts: Attempts,
  target: TargetState,
  isPullIdentity: (id: string) => boolean,
  signal: AbortSignal,
): Promise<{ next: TargetState } | { stop: { target: TargetState; decision: AttachDecision } } | undefined> {
  const { deps } = step;
  const facts = identityFacts(target.identity);
  const stale = await staleBindings(step, attempts, target, facts, signal, true);
  if (stale.length === 0) return undefined;
  for (const s of stale) attempts.rebound.set(idKey(s.identityId), s.boundTo);
  const rebind = decideRebind(
    target.provisioningState,
    facts,
    stale.map((s) => s.identityId),
    { singleIdentityVms: deps.settings.singleIdentityVms, isPullIdentity },
  );
  if (rebind.action === 'defer' && step.waitWhileBusy)
    throw new TransientConditionError(TARGET_BUSY, rebind.reason);
  if (rebind.action !== 'detach' || deps.settings.mode !== 'enforce')
    return {
      stop: {
        target,
        decision: rebind.action === 'detach' ? { ...rebind, action: 'attach' as const } : rebind,
      },
    };
  // A removal needs the etag guard: without one, nothing is removed.
  if (!target.etag)
    throw new TransientConditionError(
      'EtagMissing',
      `${step.ref.id} was read without an etag: no re-bind now`,
    );
  attempts.warning ??= rebind.warning;
  const next = await deps.targets.attach(step.ref, rebind.patch, target.etag, signal);
  for (const s of stale) attempts.detachedToRebind.add(idKey(s.identityId));
  attempts.afterRebindDetach = new Set(identityFacts(next.identity).userAssigned.map((h) => idKey(h.id)));
  return { next };
}

/**
 * A re-bind whose detach was made but whose attach did not land: the target lost the identity for now.
 * Said as it is (identity-detached, changed), before the failure itself is recorded.
 */
function recordUnfinishedRebind(step: PatchStep, attempts: Attempts, error: unknown): void {
  for (const p of step.pending) {
    if (!attempts.detachedToRebind.has(idKey(p.identityId))) continue;
    step.auditor.record('identity-detached', 'changed', {
      registry: p.registry.name,
      registryId: p.registry.id,
      identityId: p.identityId,
      reason: `detached to re-bind it (its entry was bound to ${attempts.rebound.get(idKey(p.identityId))}); attaching it again failed (${(error as Error).message}): the next event or sweep attaches it again`,
    });
  }
}

async function currentPrincipal(step: PatchStep, identityId: string, signal: AbortSignal) {
  const ref = parseUserAssignedIdentityId(identityId);
  if (!ref) return undefined;
  const rg = {
    subscriptionId: ref.subscriptionId,
    resourceGroup: ref.resourceGroup,
    id: `/subscriptions/${ref.subscriptionId}/resourceGroups/${ref.resourceGroup}`,
  };
  return (await step.deps.identities.get(rg, ref.name, signal))?.principalId;
}

const subjectOf = (step: PatchStep): PatchSubject => ({
  auditor: step.auditor,
  pending: step.pending,
  detach: step.detach,
  enforce: step.deps.settings.mode === 'enforce',
  now: (step.deps.now ?? Date.now)(),
});

function attemptPatch(step: PatchStep, attempts: Attempts) {
  const { deps, ref } = step;
  const wanted = step.pending.map((p) => p.identityId);
  let current = step.firstRead;
  return withRetry('attach identities', step.retryEnv, async (signal) => {
    let target = current ?? (await deps.targets.get(ref, signal));
    current = undefined; // every retry starts from a fresh read
    if (!target) throw new TargetGoneError(ref.id);
    let facts = identityFacts(target.identity);
    // A sole identity named like a pull identity is proven (or not) before the IMDS-default rule asks.
    const sole = soleOf(facts);
    if (sole) await provePullIdentity(deps, step.retryEnv, sole.id, sole.principalId, { signal });
    const isPullIdentity = (id: string) =>
      knownPullIdentity(deps, id, facts.userAssigned.find((held) => sameId(held.id, id))?.principalId);
    // A stale binding is re-bound: detach (here), then attach again (below, from what the detach left).
    const rebind = await detachStale(step, attempts, target, isPullIdentity, signal);
    if (rebind && 'stop' in rebind) return rebind.stop;
    if (rebind) {
      target = rebind.next;
      facts = identityFacts(target.identity);
    }
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
      isPullIdentity,
      // Putting back what the re-bind detached restores the identities the target had (the IMDS rule
      // was asked before the detach), but only while the target holds exactly what the detach left.
      restore: sameKeys(facts, attempts.afterRebindDetach)
        ? step.pending.map((p) => p.identityId).filter((id) => attempts.detachedToRebind.has(idKey(id)))
        : [],
      // Re-send identities the model already lists only when it was our own update that ended Failed
      // (this run's, or an accepted one remembered as pending): a target failed for some other reason
      // (an extension, say) is not ours to re-apply.
      resendListed:
        lastOperationFailed(target.provisioningState) &&
        (attempts.sent.size > 0 || wanted.some((id) => step.resend?.has(idKey(id)) === true)),
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
      const answered = await deps.targets.attach(
        ref,
        decision.patch,
        target.etag,
        signal,
        answerOnAccept(step, attempts, decision),
      );
      if (answered.acceptedAt !== undefined) {
        attempts.acceptedAt = answered.acceptedAt;
        return { target: answered, decision };
      }
      attempts.detachedToRebind.clear();
      const patched = await confirmHeld(step, attempts, decision.patch.add, answered, signal);
      await undoIfPairChanged(step, decision.patch.add, patched, signal);
      // After any attach the entry must name the identity's principal (a missing one in the response is
      // not judged): else the next attempt reads the target again and re-binds it, once.
      const left = await staleBindings(
        step,
        attempts,
        patched,
        identityFacts(patched.identity),
        signal,
        false,
      );
      if (left.length > 0)
        throw new TransientConditionError(
          'StaleIdentityBinding',
          `${left.map((l) => l.identityId).join(', ')} attached bound to another principal than the identity's`,
        );
      return { target: patched, decision };
    } catch (error) {
      if (error instanceof TransientConditionError || error instanceof PullIdentityChangedError) throw error;
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

/**
 * The hook that lets an attach return once ARM has accepted it (TargetResources.attach), or undefined
 * to follow the operation to its end. Only for a plain attach on the event path with a state store: a
 * detach or re-bind, or an accepted model that would need another write (an identity missing from
 * it, bound to another principal than the one verified), is followed to its end as before — so no
 * second write is ever made while the app's own operation runs. The pending row is written before
 * the invocation answers; if the store does not take it, the operation is followed to its end.
 */
function answerOnAccept(step: PatchStep, attempts: Attempts, decision: AttachDecision) {
  const memory = step.deps.memory;
  const early = step.answerOnAccept;
  if (!memory || !early || decision.action !== 'attach' || decision.patch.remove.length > 0) return undefined;
  if (attempts.rebound.size > 0 || attempts.detachedToRebind.size > 0) return undefined;
  const added = decision.patch.add;
  return async (
    accepted: TargetState,
    acceptedAt: number,
    operation: string | undefined,
  ): Promise<boolean> => {
    const facts = identityFacts(accepted.identity);
    const settled = step.pending.every((p) => {
      if (!added.some((id) => sameId(id, p.identityId))) return true;
      const held = facts.userAssigned.find((h) => sameId(h.id, p.identityId));
      if (!held) return false;
      const known = p.identity?.principalId;
      return held.principalId === undefined || !known || sameId(held.principalId, known);
    });
    // Without the operation's own status path, a Failed end could not be told from someone else's
    // failure later, and would never be sent again: follow this one to its end.
    if (!settled || !operation) return false;
    return memory.rememberPending(step.ref.id, {
      identities: added,
      acceptedAt,
      ...(operation ? { operation } : {}),
      ...(early.eventId ? { eventId: early.eventId } : {}),
    });
  };
}

/** Whether the target holds exactly these identities (lower-cased ids). */
function sameKeys(facts: IdentityFacts, keys: ReadonlySet<string> | undefined): boolean {
  if (!keys) return false;
  const held = facts.userAssigned.map((h) => idKey(h.id));
  return held.length === keys.size && held.every((k) => keys.has(k));
}

/**
 * A pull identity that changed under a verification: neither its verified pairs nor its group's
 * listing answer for it again.
 */
function forgetIdentity(deps: ReconcileDeps, identityId: string): void {
  deps.verifiedPairs.forgetIdentity(identityId);
  const ref = parseUserAssignedIdentityId(identityId);
  if (ref) deps.identityReads.forget(resourceGroupId(ref.subscriptionId, ref.resourceGroup));
}
