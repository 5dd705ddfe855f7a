// execute: a flat switch over the plan's steps, one ARM call (or none) per step, each audited where it
// is done. Only the PATCH re-observes (see attach.ts); a pair is ensured by the pair reconciler.
import type { Auditor } from '../../audit/auditor';
import type { RetryEnvironment } from '../../azure/retry';
import type { TargetState } from '../../azure/targetResources';
import { attached, STRIPPED_BY, stripped } from '../../core/contest';
import type { PendingOperation } from '../../core/pendingOperation';
import { idKey } from '../../core/resourceId';
import type { TargetRef } from '../../targets';
import type { ReconcileDeps } from '../deps';
import type { ReadyRegistry } from '../pair/decision';
import { decisionFields } from '../pair/decision';
import type { PullAccess } from '../pair/pullAccess';
import { type PatchResult, patchIdentities } from './attach';
import { TargetGoneError } from './observe';
import type { ContestContext, DetachRequest, TargetStep } from './steps';

/** A read older than this is not planned from: the PATCH reads the target again first. */
export const FRESH_READ_MS = 2_000;

export interface Execution {
  readonly deps: ReconcileDeps;
  readonly access: PullAccess;
  readonly retryEnv: RetryEnvironment;
  readonly auditor: Auditor;
  /** The target and when it was read, where it was (idle) and the plan may PATCH it. */
  readonly observed?: { readonly ref: TargetRef; readonly target: TargetState; readonly readAt: number };
  readonly waitWhileBusy: boolean;
  /** See PatchStep.answerOnAccept. */
  readonly answerOnAccept?: { readonly eventId?: string };
  /** The app's accepted attach that ended Failed: its identities are sent again (PatchStep.resend). */
  readonly resend?: { readonly ids: ReadonlySet<string>; readonly pending: PendingOperation };
}

/** Runs the steps in order; returns the names of those it ran (all of them, unless the target vanished). */
export async function executePlan(
  run: Execution,
  steps: readonly TargetStep[],
): Promise<TargetStep['step'][]> {
  const { deps, auditor } = run;
  const ready: ReadyRegistry[] = [];
  const contests = new Map<string, ContestContext>();
  const ran: TargetStep['step'][] = [];
  for (const step of steps) {
    ran.push(step.step);
    switch (step.step) {
      case 'nothing':
        deps.log.debug(step.reason);
        break;
      case 'skip':
        auditor.record('vm-not-found', 'skipped', { reason: step.reason });
        break;
      case 'refuse':
        auditor.record(step.action, 'rejected', { ...step.fields, reason: step.reason });
        break;
      case 'fail':
        auditor.failed(step.error, step.fields);
        break;
      case 'defer':
        auditor.record(step.action, 'deferred', { ...step.fields, reason: step.reason, retryable: true });
        break;
      case 'keep':
        auditor.record('already-compliant', 'unchanged', step.fields);
        break;
      case 'confirm': {
        // Cleared only if nobody cleared or rewrote the row since: one confirmation per operation.
        const cleared =
          run.observed && deps.memory
            ? await deps.memory.clearPending(run.observed.ref.id, step.pending)
            : 'unavailable';
        if (cleared === 'lost') break;
        if (step.confirmed.length === 0) deps.log.info(step.reason);
        for (const c of step.confirmed) auditor.record('attach-confirmed', 'unchanged', c.fields);
        break;
      }
      case 'contest':
        auditor.record('attach-contested', 'rejected', { ...step.fields, reason: step.reason });
        if (step.newly && run.observed)
          await deps.memory?.rememberAttach(run.observed.ref.id, step.identityId, step.history);
        break;
      case 'ensure-pair':
        if (step.contest) contests.set(idKey(step.identityId), step.contest);
        await ensurePair(run, step, ready);
        break;
      case 'attach':
      case 'detach': {
        const done = await patch(run, ready, step.detach);
        if (!done) return ran;
        await rememberAttaches(run, contests, done);
        // The app's accepted attach that had Failed, sent again and followed to its end: nothing is
        // pending any more (one accepted again was remembered anew).
        if (run.resend && done.written && !done.accepted && run.observed)
          await deps.memory?.clearPending(run.observed.ref.id, run.resend.pending);
        break;
      }
      default: {
        // Every step has its case: a step added to the plan without one does not compile.
        const unhandled: never = step;
        throw new Error(`no executor for step ${JSON.stringify(unhandled)}`);
      }
    }
  }
  return ran;
}

async function ensurePair(
  run: Execution,
  step: Extract<TargetStep, { step: 'ensure-pair' }>,
  ready: ReadyRegistry[],
): Promise<void> {
  const { access, auditor, retryEnv } = run;
  const registry = step.registry;
  try {
    const decision = await access.ensure(
      registry,
      step.region,
      auditor,
      retryEnv,
      run.observed?.ref.subscriptionId,
    );
    if (decision.status === 'ready') ready.push(decision);
    else if (decision.status === 'rejected')
      auditor.record(decision.action, 'rejected', {
        ...decisionFields(decision, registry.name, step.identityId),
        reason: decision.reason,
      });
    else auditor.failed(decision.error, decisionFields(decision, registry.name, step.identityId));
  } catch (error) {
    auditor.failed(error, { registry: registry.name, identityId: step.identityId });
  }
}

/**
 * The PATCH, its failures audited against each identity. Plans from the observed read only while it
 * is fresh: once identities or grants were written (replication retries can take seconds), it reads
 * again so the etag and the state the PATCH is planned from are the target's now. False when the
 * target is gone (recorded; nothing after it runs).
 */
async function patch(
  run: Execution,
  ready: readonly ReadyRegistry[],
  detach: readonly DetachRequest[],
): Promise<PatchResult | false> {
  const { deps, auditor, observed } = run;
  if ((ready.length === 0 && detach.length === 0) || !observed) return { stripped: [] };
  const wrote = auditor.records.some((r) => r.outcome === 'changed');
  const fresh = !wrote && (deps.now ?? Date.now)() - observed.readAt < FRESH_READ_MS;
  try {
    return await patchIdentities({
      deps,
      retryEnv: run.retryEnv,
      auditor,
      ref: observed.ref,
      firstRead: fresh ? observed.target : undefined,
      pending: ready,
      detach,
      waitWhileBusy: run.waitWhileBusy,
      ...(run.answerOnAccept ? { answerOnAccept: run.answerOnAccept } : {}),
      ...(run.resend ? { resend: run.resend.ids } : {}),
    });
  } catch (error) {
    if (error instanceof TargetGoneError) {
      auditor.record('vm-not-found', 'skipped', {
        reason: 'the VM was deleted while it was being reconciled',
      });
      return false;
    }
    for (const p of ready) {
      // A failed write with this identity: its pairs are verified afresh next time.
      deps.verifiedPairs.forgetIdentity(p.identityId);
      auditor.failed(error, {
        registry: p.registry.name,
        registryId: p.registry.id,
        identityId: p.identityId,
      });
    }
    for (const d of detach) auditor.failed(error, { registry: d.registry, identityId: d.identityId });
  }
  return { stripped: [] };
}

/**
 * With a state store: each identity this PATCH attached is remembered as attached now (so a later
 * removal counts as undone), and one ARM said it attached but the target did not hold when read again
 * is remembered as contested (core/contest.ts).
 */
async function rememberAttaches(
  run: Execution,
  contests: ReadonlyMap<string, ContestContext>,
  done: PatchResult,
): Promise<void> {
  const { deps, auditor, observed } = run;
  if (!deps.memory || !observed) return;
  const now = (deps.now ?? Date.now)();
  const attachedNow = new Set(
    auditor.records
      .filter(
        (r) =>
          (r.action === 'identity-attached' || r.action === 'identity-rebound') && r.outcome === 'changed',
      )
      .map((r) => idKey(r.identityId ?? '')),
  );
  for (const [key, contest] of contests) {
    const strippedId = done.stripped.find((id) => idKey(id) === key);
    if (strippedId)
      await deps.memory.rememberAttach(
        observed.ref.id,
        strippedId,
        stripped(contest.history, now, contest.tag, contest.by || STRIPPED_BY),
      );
    else if (attachedNow.has(key)) {
      const id = auditor.records.find((r) => idKey(r.identityId ?? '') === key)?.identityId ?? key;
      await deps.memory.rememberAttach(observed.ref.id, id, attached(contest.history, now));
    }
  }
}
