// The fleet at a glance: from what a what-if sweep kept of each tagged target (its outcome, region,
// registries and their readiness) and the records it made, one row per registry and region. Each
// (target, registry) has one standing; a target tagged with two registries counts in both rows.
import type { AuditRecord } from '../audit/auditRecord';
import type { Readiness } from '../core/pullReadiness';
import type { KeptOutcome } from '../reconcile/sweep/tally';

export type Standing = 'compliant' | 'to-change' | 'refused' | 'deferred' | 'contested' | 'failed' | 'gone';

export interface StatusRow {
  readonly registry: string;
  readonly region: string;
  /** Targets whose tag names the registry. */
  tagged: number;
  /** They hold the pull identity (with its grant) for it. */
  compliant: number;
  /** Compliant, and pullReady yes. */
  canPull: number;
  /** Compliant, but pullReady no, pending or unknown: targets per blocker code. */
  readonly blocked: Record<string, number>;
  blockedTargets: number;
  /** An identity, grant or attach is missing: `reconcile --apply` would make it. */
  toChange: number;
  refused: number;
  /** Refused targets per refusal (the audit action: registry-denied, attach-refused, …). */
  readonly refusedBy: Record<string, number>;
  deferred: number;
  contested: number;
  failed: number;
  /** Gone (or untagged) by the time they were read. */
  gone: number;
}

export interface FleetStatus {
  readonly rows: StatusRow[];
  /** Tagged targets seen. */
  readonly tagged: number;
}

interface Judged {
  readonly standing: Standing;
  readonly pullReady?: string;
  readonly blockers?: readonly string[];
  readonly refusedBy?: string;
}

/** Invalid tags name no registry: their row. */
export const INVALID_TAG = '(invalid tag)';

export function fleetStatus(
  targets: readonly ({ readonly targetId: string } & KeptOutcome)[],
  records: readonly AuditRecord[],
): FleetStatus {
  const byTarget = new Map<string, AuditRecord[]>();
  for (const r of records) if (r.vmId) byTarget.set(r.vmId, [...(byTarget.get(r.vmId) ?? []), r]);
  const rows = new Map<string, StatusRow>();
  let tagged = 0;
  for (const target of targets) {
    const seen = target.seen;
    if (!seen) continue; // an untagged holder of a pull identity (revocation): not part of the fleet
    tagged += 1;
    const recs = byTarget.get(target.targetId) ?? [];
    const registries = seen.registries.length > 0 ? seen.registries : [INVALID_TAG];
    for (const registry of registries) {
      const judged =
        registry === INVALID_TAG
          ? { standing: 'refused' as const, refusedBy: 'tag-invalid' }
          : standingOf(target.outcome, registry, recs, seen.readiness?.[registry]);
      count(rowOf(rows, registry, seen.region), judged);
    }
  }
  const sorted = [...rows.values()].sort(
    (a, b) => a.registry.localeCompare(b.registry) || a.region.localeCompare(b.region),
  );
  return { rows: sorted, tagged };
}

function rowOf(rows: Map<string, StatusRow>, registry: string, region: string): StatusRow {
  const key = `${registry}|${region}`;
  let row = rows.get(key);
  if (!row) {
    row = {
      registry,
      region,
      tagged: 0,
      compliant: 0,
      canPull: 0,
      blocked: {},
      blockedTargets: 0,
      toChange: 0,
      refused: 0,
      refusedBy: {},
      deferred: 0,
      contested: 0,
      failed: 0,
      gone: 0,
    };
    rows.set(key, row);
  }
  return row;
}

function count(row: StatusRow, judged: Judged): void {
  row.tagged += 1;
  switch (judged.standing) {
    case 'compliant':
      row.compliant += 1;
      if (judged.pullReady === 'yes') row.canPull += 1;
      else {
        row.blockedTargets += 1;
        const codes = judged.blockers?.length ? judged.blockers : [judged.pullReady ?? 'unknown'];
        for (const code of codes) row.blocked[code] = (row.blocked[code] ?? 0) + 1;
      }
      return;
    case 'to-change':
      row.toChange += 1;
      return;
    case 'refused':
      row.refused += 1;
      if (judged.refusedBy) row.refusedBy[judged.refusedBy] = (row.refusedBy[judged.refusedBy] ?? 0) + 1;
      return;
    case 'deferred':
      row.deferred += 1;
      return;
    case 'contested':
      row.contested += 1;
      return;
    case 'failed':
      row.failed += 1;
      return;
    case 'gone':
      row.gone += 1;
      return;
  }
}

/**
 * One (target, registry): contested, refused and failed from its records (a record that names no
 * registry is about all of the target's); gone, deferred and to-change from its outcome and planned
 * records; else compliant, with the readiness the snapshot or its records gave.
 */
export function standingOf(
  outcome: string,
  registry: string,
  records: readonly AuditRecord[],
  readiness: Readiness | undefined,
): Judged {
  const mine = records.filter((r) => !r.registry || r.registry.toLowerCase() === registry);
  if (mine.some((r) => r.action === 'attach-contested')) return { standing: 'contested' };
  const refusal = mine.find((r) => r.outcome === 'rejected');
  if (refusal) return { standing: 'refused', refusedBy: refusal.action };
  if (mine.some((r) => r.outcome === 'failed')) return { standing: 'failed' };
  if (outcome === 'skipped' || outcome === 'untagged') return { standing: 'gone' };
  if (outcome === 'deferred' || mine.some((r) => r.outcome === 'deferred')) return { standing: 'deferred' };
  if (mine.some((r) => r.outcome === 'planned')) return { standing: 'to-change' };
  if (readiness)
    return {
      standing: 'compliant',
      pullReady: readiness.pullReady,
      blockers: readiness.blockers.map((b) => b.code),
    };
  const recorded = mine.find((r) => r.pullReady);
  if (recorded)
    return {
      standing: 'compliant',
      pullReady: recorded.pullReady as string,
      blockers: (recorded.blockers ?? '').split(',').filter(Boolean),
    };
  // A pair that failed is recorded once for the pair, not against the target.
  if (outcome === 'failed') return { standing: 'failed' };
  if (outcome === 'planned') return { standing: 'to-change' };
  return { standing: 'compliant', pullReady: 'unknown' };
}
