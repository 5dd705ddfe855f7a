// How a target ended up, in words that finish "VM x is/was …", and which of two outcomes says more:
// one home for the precedence, used by the target reconcile and by the sweep's tally.
import type { AuditRecord } from '../audit/auditRecord';

export type TargetOutcome =
  | 'compliant'
  | 'changed'
  | 'planned'
  | 'rejected'
  | 'skipped'
  | 'untagged'
  | 'deferred'
  | 'failed';

/** Which outcome wins when a target's registries (or a sweep's view of it) end differently. */
const RANK: Record<TargetOutcome, number> = {
  failed: 6,
  deferred: 5,
  changed: 4,
  planned: 3,
  rejected: 2,
  skipped: 1,
  compliant: 0,
  untagged: 0,
};

export function worse(a: TargetOutcome, b: TargetOutcome): TargetOutcome {
  return RANK[b] > RANK[a] ? b : a;
}

/** A target's outcome from the records its reconcile made. */
export function outcomeOf(records: readonly AuditRecord[]): TargetOutcome {
  if (records.some((r) => r.action === 'vm-not-found')) return 'skipped';
  if (records.some((r) => r.outcome === 'failed')) return 'failed';
  if (records.some((r) => r.outcome === 'deferred')) return 'deferred';
  // A target left alone to keep its IMDS default was not changed, even if its identity and grant were
  // made before the attach decided from a fresher read.
  const attached = records.some((r) => r.action === 'identity-attached' && r.outcome === 'changed');
  if (!attached && records.some((r) => r.action === 'attach-refused')) return 'rejected';
  if (records.some((r) => r.outcome === 'changed')) return 'changed';
  if (records.some((r) => r.outcome === 'planned')) return 'planned';
  if (records.some((r) => r.outcome === 'rejected')) return 'rejected';
  return 'compliant';
}
