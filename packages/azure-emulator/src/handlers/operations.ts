// Compute's async-operation status endpoint:
// GET /subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/operations/{id}.
// An operation ends by elapsed time, however often it is polled: InProgress until its duration has
// passed (settings.operationDurationMs for the app's PATCH, `forMs` for another writer's operation),
// then Succeeded (or Failed, when a fault said so); one a newer PATCH preempted answers Canceled with
// OperationPreempted. Bodies as recorded (azure-cli test_vm_explicit_msi.yaml, api 2024-11-01):
// {startTime, status, name} while running, plus endTime when done. Identity updates there took 3.3,
// 5.3 and 7.0 s from startTime to endTime.
// Retry-After: in recorded VM creations (azure-sdk-for-js recording_virtualmachines_create_test.json,
// azure-powershell TestVirtualMachineIdentity.json) Compute put a generous Retry-After (50, 70) on the
// first InProgress poll only, none on later polls or on Succeeded; for an update no recording shows
// it (the CLI's recorder strips it; its polls 30 s apart, Python's default, suggest none was sent).
// So the emulator sends none by default, and settings.pollRetryAfterSeconds puts it on the first
// InProgress poll, as on creations. A Retry-After makes the SDK's poller wait that long.
import { randomUUID } from 'node:crypto';
import { type Handler, ok } from '../armHttp';
import { operationNotFound } from '../errors';
import { sameId } from '../resourceIds';
import type { AsyncOperationRecord } from '../store';
import { requireSubscription } from './lookup';

const normalizeLocation = (l: string) => l.replace(/\s/g, '').toLowerCase();

export function operationUrl(baseUrl: string, op: AsyncOperationRecord, apiVersion: string): string {
  const path = `/subscriptions/${op.subscriptionId}/providers/Microsoft.Compute/locations/${normalizeLocation(op.location)}/operations/${op.name}`;
  return `${baseUrl}${path}?p=${randomUUID()}&api-version=${apiVersion}`;
}

export function renderOperation(op: AsyncOperationRecord): unknown {
  return {
    startTime: op.startTime,
    ...(op.endTime ? { endTime: op.endTime } : {}),
    status: op.status,
    ...(op.status === 'Failed' && op.failure ? { error: op.failure } : {}),
    ...(op.status === 'Canceled' && op.canceled ? { error: op.canceled } : {}),
    name: op.name,
  };
}

export const getOperationStatus: Handler = (req, ctx) => {
  const { subscriptionId = '', location = '', operationId = '' } = req.params;
  requireSubscription(ctx.store, subscriptionId);
  const op = ctx.store.getOperation(operationId);
  if (
    !op ||
    !sameId(op.subscriptionId, subscriptionId) ||
    normalizeLocation(op.location) !== normalizeLocation(location)
  ) {
    throw operationNotFound();
  }
  const polled = ctx.store.pollOperation(op);
  const retryAfter = ctx.settings.pollRetryAfterSeconds;
  const firstInProgress = polled.status === 'InProgress' && polled.polls === 1;
  return ok(
    renderOperation(polled),
    firstInProgress && retryAfter !== undefined ? { 'Retry-After': String(retryAfter) } : undefined,
  );
};
