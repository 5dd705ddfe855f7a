// Compute's async-operation status endpoint:
// GET /subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/operations/{id}.
// Answers InProgress for `pollsBeforeDone` polls, then Succeeded (or Failed, when a fault said so);
// an operation a newer PATCH preempted answers Canceled with OperationPreempted. The handle's own
// operations (a creation, an owner's update) end by time only.
// No Retry-After: the SDK would honour it over updateIntervalInMs and slow every test down.
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
  return ok(renderOperation(ctx.store.pollOperation(op)));
};
