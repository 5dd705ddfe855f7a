// An attach whose PATCH ARM accepted and whose operation nobody has seen end yet. The event path
// answers Event Grid once ARM has accepted its PATCH (the model holds the identity from then on) and
// remembers the operation in the state store; the operation's end is then seen by the target's own
// write event (the echo of the app's PATCH), a later event, or the next sweep: Succeeded and holding
// the identity is confirmed (`attach-confirmed`); Failed in the app's own operation (its status says
// so) is sent again (its model may list an identity that never took effect); still running is
// deferred. Pure.
//
// Sources: ARM raises ResourceWriteSuccess, ResourceWriteFailure and ResourceWriteCancel for writes
// (learn.microsoft.com/azure/event-grid/event-schema-subscriptions); the app subscribes to the first
// only, so a Failed operation has no echo and the sweep looks. Compute answers the PATCH 200 with
// provisioningState Updating and an Azure-AsyncOperation URL whose status body ends Succeeded, Failed
// or Canceled (shared/reference/azure-rest.md §async; azure-resource-manager/management/
// async-operations).
import { isTerminal, lastOperationFailed } from './busy';
import type { IdentityFacts } from './identityView';
import { idKey, sameId } from './resourceId';

export interface PendingOperation {
  /** The identities the accepted PATCH added. */
  readonly identities: readonly string[];
  /**
   * The operation's status path on ARM (the PATCH's Azure-AsyncOperation, without its host): its own
   * status tells the app's operation from a later one of someone else's when the target ends Failed.
   */
  readonly operation?: string;
  /** The row's etag as recalled (the row is cleared only if nobody rewrote it since). */
  readonly etag?: string;
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

/** What the target, read now (and, if it is Failed, the operation's own status), says of the pending operation. */
export type PendingVerdict =
  /** Still running (or another operation is): decide nothing yet. */
  | { readonly kind: 'running' }
  /**
   * The app's operation ended Succeeded: these pending identities are attached (confirmed); the others
   * were removed since. (A target Failed since then failed in someone else's operation.)
   */
  | { readonly kind: 'succeeded'; readonly held: readonly string[] }
  /** The app's operation ended Failed (its own status says so): its identities are sent again. */
  | { readonly kind: 'failed'; readonly resend: ReadonlySet<string> }
  /**
   * The target is Failed but the operation's own status is unknown (no path kept, ARM no longer knows
   * it, or the path was not a Compute operation of the target's subscription): whose failure it is
   * cannot be told, so nothing is sent again.
   */
  | { readonly kind: 'unproven'; readonly reason: string };

/**
 * `operationStatus`: the accepted operation's own status, read only when the target is Failed (the
 * caller asks `needsOperationStatus` first).
 */
export function judgePending(
  pending: PendingOperation,
  provisioningState: string | undefined,
  facts: IdentityFacts,
  operationStatus?: string,
): PendingVerdict {
  if (!isTerminal(provisioningState)) return { kind: 'running' };
  const held = pending.identities.filter((id) => facts.userAssigned.some((h) => sameId(h.id, id)));
  if (!lastOperationFailed(provisioningState)) return { kind: 'succeeded', held };
  const status = operationStatus?.toLowerCase();
  if (status === 'failed' || status === 'canceled')
    return { kind: 'failed', resend: new Set(pending.identities.map(idKey)) };
  if (status === 'succeeded') return { kind: 'succeeded', held };
  if (status === 'inprogress') return { kind: 'running' };
  return {
    kind: 'unproven',
    reason: `the target is Failed, but the status of the update ARM accepted at ${new Date(pending.acceptedAt).toISOString()} cannot be read (${pending.operation ? 'ARM no longer knows it' : 'none was kept'}): not sent again, since the failure may be another writer's`,
  };
}

/** Whether judging needs the operation's own status: the target is Failed. */
export function needsOperationStatus(provisioningState: string | undefined): boolean {
  return lastOperationFailed(provisioningState);
}

export function confirmedReason(identityId: string, acceptedAt: number): string {
  return `the update that attached ${identityId}, accepted by ARM at ${new Date(acceptedAt).toISOString()}, has Succeeded`;
}

export function acceptedReason(acceptedAt: number): string {
  return `ARM accepted the update at ${new Date(acceptedAt).toISOString()}; attach-confirmed follows once its operation has Succeeded (seen by the target's write event or the next sweep), and a Failed one is sent again`;
}
