// An attach whose PATCH ARM accepted and whose operation nobody has seen end yet. The event path
// answers Event Grid once ARM has accepted its PATCH (the model holds the identity from then on) and
// remembers the operation in the state store; the operation's end is then seen by the target's own
// write event (the echo of the app's PATCH), a later event, or the next sweep: Succeeded and holding
// the identity is confirmed (`attach-confirmed`); Failed is sent again (its model may list an identity
// that never took effect); still running is deferred. Pure.
import { isTerminal, lastOperationFailed } from './busy';
import type { IdentityFacts } from './identityView';
import { idKey, sameId } from './resourceId';

export interface PendingOperation {
  /** The identities the accepted PATCH added. */
  readonly identities: readonly string[];
  /** The registry each was attached for (idKey → registry name), for the confirmation's record. */
  readonly registries?: Readonly<Record<string, string>>;
  /** When ARM accepted it (ms since the epoch). */
  readonly acceptedAt: number;
  /** The event whose invocation sent it. */
  readonly eventId?: string;
}

/**
 * How long a pending row is believed: Event Grid gives up on an event after 24 hours, and a sweep runs
 * every 15 minutes by default; a row older than this is no longer anyone's to finish.
 */
export const PENDING_LIFETIME_MS = 24 * 3_600_000;

/** What the target, read now, says of the pending operation. */
export type PendingVerdict =
  /** Still running (or another operation is): decide nothing yet. */
  | { readonly kind: 'running' }
  /** Ended Succeeded: these pending identities are attached (confirmed); the others were removed since. */
  | { readonly kind: 'succeeded'; readonly held: readonly string[] }
  /** Ended Failed: these identities are sent again (the model may list them without effect). */
  | { readonly kind: 'failed'; readonly resend: ReadonlySet<string> };

export function judgePending(
  pending: PendingOperation,
  provisioningState: string | undefined,
  facts: IdentityFacts,
): PendingVerdict {
  if (!isTerminal(provisioningState)) return { kind: 'running' };
  if (lastOperationFailed(provisioningState))
    return { kind: 'failed', resend: new Set(pending.identities.map(idKey)) };
  return {
    kind: 'succeeded',
    held: pending.identities.filter((id) => facts.userAssigned.some((h) => sameId(h.id, id))),
  };
}

export function confirmedReason(identityId: string, acceptedAt: number): string {
  return `the update that attached ${identityId}, accepted by ARM at ${new Date(acceptedAt).toISOString()}, has Succeeded`;
}

export function acceptedReason(acceptedAt: number): string {
  return `ARM accepted the update at ${new Date(acceptedAt).toISOString()}; attach-confirmed follows once its operation has Succeeded (seen by the target's write event or the next sweep), and a Failed one is sent again`;
}
