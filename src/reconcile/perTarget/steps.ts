// The named steps of a target's plan. Each says why (its reason) and carries the audit record it will
// produce, so that enforce mode executes them, audit mode and the CLI's what-if print them, and the
// doctor can explain them — from the same plan. Machine-readable: `step` is a fixed vocabulary.
import type { AuditFields } from '../../audit/auditor';
import type { AuditAction } from '../../audit/auditRecord';
import type { RegistryState } from '../../azure/containerRegistries';
import type { AttachHistory } from '../../core/contest';
import type { PendingOperation } from '../../core/pendingOperation';
import type { RevocationCandidate, RevocationCause } from '../../core/revocation';
import type { RegistryRef } from '../../core/tag';

/** A pull identity of the app's own to detach (revocation), with why. */
export interface DetachRequest extends RevocationCandidate {
  readonly cause: RevocationCause;
  readonly reason: string;
}

export type TargetStep =
  /** Nothing to do for the target (untagged and holding nothing the app would revoke). */
  | { readonly step: 'nothing'; readonly reason: string }
  /** The target is gone: a `vm-not-found` record. */
  | { readonly step: 'skip'; readonly reason: string }
  /** A refusal: a `rejected` record of the action (bad id or tag, registry denied or not found, identity refused, IMDS default kept). */
  | {
      readonly step: 'refuse';
      readonly action: AuditAction;
      readonly reason: string;
      readonly fields: AuditFields;
    }
  /** An observation failed: a `failed` record from the error's classification. */
  | { readonly step: 'fail'; readonly error: unknown; readonly fields: AuditFields }
  /** Not now (the target is busy): a `deferred` record, retried later. */
  | {
      readonly step: 'defer';
      readonly action: 'identity-attached' | 'identity-detached';
      readonly reason: string;
      readonly fields: AuditFields;
    }
  /** Attached, provably the app's, still allowed: an `already-compliant` record, no write. */
  | { readonly step: 'keep'; readonly fields: AuditFields }
  /**
   * The (registry, region) pair's identity, then its grant (the pair reconciler: ensure-identity,
   * ensure-grant), so the identity can be attached.
   */
  | {
      readonly step: 'ensure-pair';
      readonly ref: RegistryRef;
      readonly identityId: string;
      /** The registry as ARM returned it (id, subscription, role assignment mode). */
      readonly registry: RegistryState;
      readonly region: string;
      /** The identity's attach history, to store once it is attached (absent: no state store). */
      readonly contest?: ContestContext;
    }
  /**
   * Another writer keeps removing the identity (core/contest.ts): an `attach-contested` record, no
   * PATCH for it; `newly` when this plan stopped it (the stop is stored).
   */
  | {
      readonly step: 'contest';
      readonly identityId: string;
      readonly reason: string;
      readonly fields: AuditFields;
      readonly newly: boolean;
      readonly history: AttachHistory;
    }
  /**
   * The app's accepted attach has ended (core/pendingOperation.ts): Succeeded, an `attach-confirmed`
   * record per identity it attached that the tag still asks for and the target holds; either way its
   * pending row is cleared, unless the plan sends its identities again (it ended Failed).
   */
  | {
      readonly step: 'confirm';
      readonly reason: string;
      /** The row as recalled: cleared only if nobody cleared or rewrote it since. */
      readonly pending: PendingOperation;
      /** None when the row is only cleared (not the app's failure to prove, or nothing left to confirm). */
      readonly confirmed: readonly { readonly identityId: string; readonly fields: AuditFields }[];
    }
  /**
   * One PATCH of the target's identities: attach the identities of the ensured pairs that end ready
   * (`attach`), detach these (`detach`, revocation), or both in the same request.
   */
  | { readonly step: 'attach' | 'detach'; readonly detach: readonly DetachRequest[] };

/** What the attach needs to keep the identity's history in the state store. */
export interface ContestContext {
  readonly history: AttachHistory;
  /** The tag value the plan was made under, and who wrote the target last. */
  readonly tag: string;
  readonly by: string;
}

export type StepName = TargetStep['step'];

export interface TargetPlan {
  readonly steps: readonly TargetStep[];
}

/** A step in words for the CLI and the doctor: its name, and the registry or reason it is about. */
export function describeStep(step: TargetStep): { step: StepName; registry?: string; reason?: string } {
  switch (step.step) {
    case 'nothing':
    case 'skip':
    case 'confirm':
      return { step: step.step, reason: step.reason };
    case 'refuse':
    case 'defer':
    case 'contest':
      return { step: step.step, ...registryOf(step.fields), reason: step.reason };
    case 'fail':
    case 'keep':
      return { step: step.step, ...registryOf(step.fields) };
    case 'ensure-pair':
      return { step: step.step, registry: step.ref.name };
    case 'attach':
    case 'detach':
      return {
        step: step.step,
        ...(step.detach.length ? { reason: `detach ${step.detach.map((d) => d.registry).join(', ')}` } : {}),
      };
  }
}

function registryOf(fields: AuditFields): { registry?: string } {
  return fields.registry ? { registry: fields.registry } : {};
}
