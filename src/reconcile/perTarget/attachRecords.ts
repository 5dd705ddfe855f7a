// What the attach step records once its PATCH is done (or refused, deferred, planned): one record per
// identity it meant to attach or detach, from the target's identities as the PATCH left them.
import type { AuditFields, Auditor } from '../../audit/auditor';
import type { AttachDecision } from '../../core/attachPlan';
import { contestedReason, STRIPPED_BY } from '../../core/contest';
import { type IdentityFacts, isStaleBinding } from '../../core/identityView';
import { acceptedReason } from '../../core/pendingOperation';
import { pullReadiness, readinessFields } from '../../core/pullReadiness';
import { idKey, sameId } from '../../core/resourceId';
import type { ReadyRegistry } from '../pair/decision';
import type { DetachRequest } from './steps';

/** What the attempts did, whichever attempt it was. */
/** What the attach step was asked to do, and where its records go. */
export interface PatchSubject {
  readonly auditor: Auditor;
  readonly pending: readonly ReadyRegistry[];
  readonly detach: readonly DetachRequest[];
  /** Enforce mode: the PATCH was sent; audit mode: it is recorded as planned. */
  readonly enforce: boolean;
  /** When the records are made (ms): a grant's age is judged against it. */
  readonly now: number;
}

export interface Attempts {
  /** Ids we sent in any attempt (lower-cased): an attempt whose PATCH landed but whose polling failed is ours too. */
  readonly sent: Set<string>;
  readonly removed: Set<string>;
  /** What the last attempt still meant to detach (lower-cased ids). */
  stillUnwanted: Set<string>;
  /** The first attach decides whether the target loses its IMDS default. */
  warning?: string;
  /** Identities found bound to a stale principal (lower-cased id → the principal the entry named). */
  readonly rebound: Map<string, string>;
  /** Identities the re-bind detached and not yet attached again (lower-cased ids). */
  readonly detachedToRebind: Set<string>;
  /** What the target held right after the re-bind's detach (lower-cased ids). */
  afterRebindDetach?: Set<string>;
  /**
   * Identities ARM said it attached that the target did not hold when read again (lower-cased ids):
   * something removes them as they are written. Terminal (`attach-contested`), never retried.
   */
  readonly stripped: Set<string>;
  /**
   * When ARM accepted the PATCH, if the attach returned then (event path, pending operation stored)
   * instead of following the operation to its end.
   */
  acceptedAt?: number;
}

/** How the target kind reports an attach: what it reaches, and whether its GET shows bound principals. */
export interface KindReport {
  readonly reach: string | undefined;
  readonly bound: boolean;
}

/** The identity as the target holds it, if it does. */
const heldIn = (facts: IdentityFacts, identityId: string) =>
  facts.userAssigned.find((h) => sameId(h.id, identityId));

/** Pull readiness of an identity the target now holds (or would hold), from the registry and the grant's age. */
function readyFields(step: PatchSubject, p: ReadyRegistry): AuditFields {
  const grant = p.grantCreatedOn ? { createdOn: p.grantCreatedOn } : undefined;
  return readinessFields(pullReadiness(p.registry.name, p.registry.access, grant, step.now));
}

function pendingFields(p: ReadyRegistry, target: IdentityFacts | undefined): AuditFields {
  const held = target ? heldIn(target, p.identityId) : undefined;
  return {
    registry: p.registry.name,
    registryId: p.registry.id,
    identityId: p.identityId,
    principalId: p.identity?.principalId,
    clientId: p.identity?.clientId,
    ...(held?.clientId ? { clientId: held.clientId } : {}),
    ...(held?.principalId ? { principalId: held.principalId } : {}),
  };
}

const detachFields = (d: DetachRequest): AuditFields => ({ registry: d.registry, identityId: d.identityId });
const ours = (attempts: Attempts, p: ReadyRegistry) => attempts.sent.has(idKey(p.identityId));

export function recordDeferred(
  step: PatchSubject,
  attempts: Attempts,
  reason: string,
  target: IdentityFacts | undefined,
) {
  for (const p of step.pending) {
    step.auditor.record('identity-attached', 'deferred', {
      ...pendingFields(p, target),
      reason,
      retryable: true,
      ...(ours(attempts, p) ? { warning: attempts.warning } : {}),
    });
  }
  for (const d of step.detach)
    step.auditor.record('identity-detached', 'deferred', { ...detachFields(d), reason, retryable: true });
}

export function recordPatch(
  step: PatchSubject,
  attempts: Attempts,
  target: IdentityFacts,
  decision: AttachDecision,
  kind: KindReport,
): void {
  switch (decision.action) {
    case 'refuse':
      // An attach to a target whose single identity is its owner's, or a detach that would make the
      // owner's identity its IMDS default: nothing is written.
      for (const p of step.pending)
        step.auditor.record('attach-refused', 'rejected', {
          ...pendingFields(p, target),
          reason: decision.reason,
        });
      for (const d of step.detach)
        step.auditor.record('identity-detached', 'rejected', { ...detachFields(d), reason: decision.reason });
      return;
    case 'defer':
      recordDeferred(step, attempts, decision.reason, target);
      return;
    case 'attach':
    case 'detach':
      if (!step.enforce) recordPlanned(step, attempts, target, decision);
      else recordDone(step, attempts, target, kind);
      return;
    case 'nothing':
      recordDone(step, attempts, target, kind);
      return;
  }
}

function recordPlanned(
  step: PatchSubject,
  attempts: Attempts,
  target: IdentityFacts,
  decision: Extract<AttachDecision, { action: 'attach' | 'detach' }>,
): void {
  for (const p of step.pending) {
    const boundTo = attempts.rebound.get(idKey(p.identityId));
    if (boundTo !== undefined) {
      step.auditor.record('identity-rebound', 'planned', {
        ...pendingFields(p, target),
        principalId: p.identity?.principalId,
        reason: reboundReason(boundTo, p),
        ...(decision.warning ? { warning: decision.warning } : {}),
      });
      continue;
    }
    const would = decision.patch.add.some((id) => idKey(id) === idKey(p.identityId));
    step.auditor.record('identity-attached', would ? 'planned' : 'unchanged', {
      ...pendingFields(p, target),
      ...(would ? { warning: decision.warning } : {}),
    });
  }
  for (const d of step.detach) {
    if (!decision.patch.remove.some((id) => idKey(id) === idKey(d.identityId))) continue;
    step.auditor.record('identity-detached', 'planned', {
      ...detachFields(d),
      reason: d.reason,
      ...(decision.action === 'detach' && decision.warning ? { warning: decision.warning } : {}),
    });
  }
}

/** After the PATCH (or with nothing to write): what the target now says, per identity. */
function recordDone(step: PatchSubject, attempts: Attempts, target: IdentityFacts, kind: KindReport): void {
  const { auditor } = step;
  const { reach } = kind;
  for (const p of step.pending) {
    const held = heldIn(target, p.identityId);
    if (!held && attempts.stripped.has(idKey(p.identityId))) {
      auditor.record('attach-contested', 'rejected', {
        ...pendingFields(p, target),
        reason: contestedReason(p.identityId, STRIPPED_BY, 0, true),
      });
      continue;
    }
    if (!held) {
      auditor.record('failed', 'failed', {
        ...pendingFields(p, target),
        reason: 'ARM reported the update as succeeded but the identity is not attached',
        retryable: true,
      });
      continue;
    }
    // A principal the response does not show is not judged; another one than the identity's is.
    const principal = p.identity?.principalId;
    if (kind.bound && principal && held.principalId !== undefined && isStaleBinding(held, principal)) {
      // After any attach, the entry must name the identity's principal: else IMDS hands out tokens
      // for a principal that holds no grant. Failed, so the next event or sweep re-binds it.
      auditor.record('failed', 'failed', {
        ...pendingFields(p, target),
        reason: `the target's entry for ${p.identityId} is bound to ${held.principalId ?? 'no principal'}, not to the identity's principal ${principal}`,
        retryable: true,
      });
      continue;
    }
    const boundTo = attempts.rebound.get(idKey(p.identityId));
    if (boundTo !== undefined && ours(attempts, p)) {
      auditor.record('identity-rebound', 'changed', {
        ...pendingFields(p, target),
        ...readyFields(step, p),
        reason: reboundReason(boundTo, p),
        ...(attempts.warning ? { warning: attempts.warning } : {}),
      });
      continue;
    }
    const mine = ours(attempts, p);
    const accepted =
      mine && attempts.acceptedAt !== undefined ? acceptedReason(attempts.acceptedAt) : undefined;
    const reason = [mine ? reach : undefined, accepted].filter((r) => r !== undefined).join('; ');
    auditor.record('identity-attached', mine ? 'changed' : 'unchanged', {
      ...pendingFields(p, target),
      ...readyFields(step, p),
      ...(mine ? { warning: attempts.warning } : {}),
      ...(reason ? { reason } : {}),
    });
  }
  for (const d of step.detach) {
    // Detached by someone else meanwhile, or no longer to be detached (the tag names it again):
    // nothing of ours happened, nothing to say.
    const key = idKey(d.identityId);
    if (!attempts.removed.has(key)) continue;
    const still = heldIn(target, d.identityId) !== undefined;
    if (still && !attempts.stillUnwanted.has(key)) continue;
    if (still) {
      auditor.record('failed', 'failed', {
        ...detachFields(d),
        reason: 'ARM reported the update as succeeded but the identity is still attached',
        retryable: true,
      });
      continue;
    }
    auditor.record('identity-detached', 'changed', {
      ...detachFields(d),
      reason: d.reason,
      ...(attempts.warning ? { warning: attempts.warning } : {}),
    });
  }
}

function reboundReason(boundTo: string, p: ReadyRegistry): string {
  return (
    `the target's entry for ${p.identityId} was bound to ${boundTo}, but the identity's principal is ` +
    `${p.identity?.principalId} (deleted and re-created under the same name): detached and attached again`
  );
}
