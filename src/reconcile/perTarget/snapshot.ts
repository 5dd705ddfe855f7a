// What observe() saw of one target: the target as ARM reads it now (after any running operation
// ended, where the caller waits), its tag, and for each registry the tag names what the reads said.
// Plain data: plan() decides from it alone.
import type { AuditFields } from '../../audit/auditor';
import type { Trigger } from '../../audit/auditRecord';
import type { Deadline } from '../../azure/retry';
import type { TargetState } from '../../azure/targetResources';
import type { PendingOperation, PendingVerdict } from '../../core/pendingOperation';
import type { RevocationCandidate } from '../../core/revocation';
import type { RegistryRef } from '../../core/tag';
import type { TargetRef } from '../../targets';
import type { RegistryAuthorization } from '../pair/decision';
import type { TargetRecall } from '../targetMemory';

export interface TargetRequest {
  /** The target's resource id (the audit schema keeps calling it `vmId`). */
  readonly targetId: string;
  readonly trigger: Trigger;
  readonly deadline: Deadline;
  readonly eventId?: string;
  readonly correlationId?: string;
  readonly eventTime?: string;
  readonly caller?: string;
  /**
   * Re-read a target busy with another operation until it is idle or the budget runs out (the event
   * path, the default for trigger `event`), rather than defer it at once (sweep, CLI).
   */
  readonly waitWhileBusy?: boolean;
  /**
   * Check the whole chain for every registry — identity, its proof, its grant — even where the pull
   * identity is attached (the CLI's single-target reconcile), instead of the one-read shortcut that
   * trusts an attached, proven identity to hold its grant (the event path).
   */
  readonly wholeChain?: boolean;
}

/** How observe reads: whether it waits for a busy target, and whether it checks the whole chain. */
export interface ObserveOptions {
  readonly wait: boolean;
  readonly wholeChain: boolean;
  /** The app's accepted attach nobody has seen end (state store): its outcome is judged from this read. */
  readonly pending?: PendingOperation;
}

export type TagReading =
  | { readonly kind: 'untagged' }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'refs'; readonly refs: readonly RegistryRef[] };

/** One registry the tag names, as observed. */
export type RegistryObservation = {
  readonly ref: RegistryRef;
  /** The pull identity for it in the target's region. */
  readonly identityId: string;
} & (
  | /** Would take the owner's IMDS default (ACRPULL_SINGLE_IDENTITY_VMS=keep): nothing was read. */
  { readonly kind: 'imds-default'; readonly reason: string }
  /** Attached, provably the app's, still allowed: nothing to do. */
  | { readonly kind: 'compliant'; readonly fields: AuditFields }
  /** Not (provably) attached: the registry as authorized (allowed, refused, or failed to find). */
  | { readonly kind: 'authorized'; readonly authorization: RegistryAuthorization }
  /** A read for it failed. */
  | { readonly kind: 'unreadable'; readonly error: unknown }
);

/** An identity revocation would detach, with whether the app could prove it made it. */
export interface RevocableObservation {
  readonly candidate: RevocationCandidate;
  readonly proof: { readonly proven: boolean } | { readonly error: unknown };
}

export type TargetSnapshot =
  | { readonly kind: 'invalid-id' }
  | { readonly kind: 'unreadable'; readonly error: unknown }
  /** Not found when read, or deleted while the reconcile waited for it. */
  | { readonly kind: 'gone'; readonly whileWaiting: boolean }
  /** Busy with another operation, and the reconcile did not (or could not) wait. */
  | {
      readonly kind: 'busy';
      readonly reason: string;
      readonly target: TargetState;
      readonly tag: TagReading;
      readonly region: string;
    }
  | {
      readonly kind: 'idle';
      readonly ref: TargetRef;
      readonly target: TargetState;
      /** When the target was read (a read older than FRESH_READ_MS is not planned from). */
      readonly readAt: number;
      readonly tag: TagReading;
      readonly region: string;
      /** The proof of the target's sole user-assigned identity failed: nothing can be decided. */
      readonly soleProofError?: unknown;
      readonly registries: readonly RegistryObservation[];
      /** With revocation on: the app's identities the tag (or the allowlist) no longer asks for. */
      readonly revocable: readonly RevocableObservation[];
      /**
       * The target's resource group, read only where the plan would write: whether another service
       * manages it (then nothing is written), or why that could not be read.
       */
      readonly platform?: { readonly managedBy?: string } | { readonly error: unknown };
      /** What the state store remembers of the target (absent: no store, or it could not answer). */
      readonly recall?: TargetRecall;
      /** Who wrote the target last, as far as the app knows (the triggering event's claims). */
      readonly lastWriter?: string;
      /**
       * The app's accepted attach nobody had seen end, and how it ended (the target is idle here, so it
       * did): Succeeded (confirmed) or Failed (its identities are sent again).
       */
      readonly pendingOperation?: {
        readonly pending: PendingOperation;
        readonly verdict: Exclude<PendingVerdict, { kind: 'running' }>;
      };
    };
