// "The target is busy": another writer's operation runs on it (its creation, its owner's update) or
// ours has not finished. The app never writes then (shared/reference/azure-rest.md §11: Compute may
// accept a concurrent PATCH and preempt the running deployment), and work it could not do for that
// reason is deferred, never failed. Every such decision is made here. Pure.

/** The code a busy target is retried under (reads only) and, when the budget runs out, deferred with. */
export const TARGET_BUSY = 'VmBusy';

/** Compute's terminal provisioning states; anything else means an operation is running. */
export function isTerminal(provisioningState: string | undefined): boolean {
  const state = provisioningState?.toLowerCase();
  return state === 'succeeded' || state === 'failed';
}

/** The target's last operation ended Failed: its model may list identities that never took effect. */
export function lastOperationFailed(provisioningState: string | undefined): boolean {
  return provisioningState?.toLowerCase() === 'failed';
}

export function busyReason(provisioningState: string | undefined): string {
  return `the VM is ${provisioningState ?? 'in an unknown state'}: another operation is running on it, and a write now could preempt it`;
}

/** Nothing to write, but the operation (ours, maybe) that would show the outcome has not ended. */
export function unfinishedReason(provisioningState: string | undefined): string {
  return `the VM is ${provisioningState ?? 'in an unknown state'}: the operation that attaches the identity has not finished`;
}

/** ARM's answers for a target that is still being provisioned or has another operation running. */
const BUSY_CODES = new Set([
  'operationnotallowed',
  'conflict',
  'anotheroperationinprogress',
  'conflictingconcurrentwritenotallowed',
]);

export interface FailureView {
  readonly status?: number;
  readonly code: string;
  readonly message: string;
  /** How many attempts were made. */
  readonly attempts: number;
  /** The whole error's message (operation, attempts, status, code). */
  readonly summary: string;
}

/**
 * Why work on a target that did not finish is deferred rather than failed: it stayed busy with another
 * operation (we only read it), Compute refused a PATCH because of one (409), or the budget ran out
 * before an operation's outcome was seen. Undefined for a failure.
 */
export function deferralReasonOf(failure: FailureView): string | undefined {
  const { status, code, message } = failure;
  if (code === TARGET_BUSY) return `${message} (read ${failure.attempts} times, never written)`;
  if (status === 409 && BUSY_CODES.has(code.toLowerCase())) return `the VM is busy: ${failure.summary}`;
  if (code === 'TimeBudgetExceeded')
    return `the time budget ran out before the operation's outcome was seen: ${message}`;
  return undefined;
}
