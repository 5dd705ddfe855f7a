// What `reconcile` prints: a table of what it would change or changed (warnings included), each
// reconciled target's plan, a summary line; or one JSON document with the same. And what it prints
// when Ctrl-C cut it short: the changes already made.
import type { AuditRecord, SweepSummary } from '../audit/auditRecord';
import { describeStep, type TargetPlan } from '../reconcile/perTarget/steps';
import { parseTargetId } from '../targets';
import { describeChange } from './auditTrail';
import { type CliIo, formatTable } from './common';

/** What one run did: each target's outcome and plan, and what kept it from doing everything. */
export interface ReconcileRun {
  readonly outcomes: Map<string, string>;
  readonly plans: Map<string, TargetPlan>;
  /** Failures that are no target's: a subscription not found, the sweep stopped early. */
  readonly errors: string[];
  sweep?: SweepSummary;
  interrupted: boolean;
}

export interface ReportContext {
  readonly apply: boolean;
  readonly armEndpoint: string;
  readonly records: readonly AuditRecord[];
}

/** 0 nothing failed, 1 something failed or was left undone, 130 interrupted. */
export function exitCodeOf(run: ReconcileRun, records: readonly AuditRecord[]): number {
  if (run.interrupted) return 130;
  const failed =
    run.errors.length > 0 ||
    [...run.outcomes.values()].includes('failed') ||
    records.some((r) => r.outcome === 'failed');
  return failed ? 1 : 0;
}

const ORDER = ['changed', 'planned', 'compliant', 'rejected', 'skipped', 'untagged', 'deferred', 'failed'];

function counts(run: ReconcileRun): Record<string, number> {
  const byOutcome: Record<string, number> = {};
  for (const o of run.outcomes.values()) byOutcome[o] = (byOutcome[o] ?? 0) + 1;
  return byOutcome;
}

export function printReport(io: CliIo, run: ReconcileRun, context: ReportContext): void {
  if (run.interrupted) {
    printInterrupted(io, context);
    return;
  }
  // Stopped before any target (a subscription not found, a listing that failed): no empty table.
  if (run.outcomes.size === 0 && run.errors.length > 0 && !run.sweep?.vmsScanned) {
    for (const error of run.errors) io.err(`acrpull-autopilot: ${error}`);
    return;
  }
  printTable(io, run.outcomes, context.records);
  printPlans(io, run.plans, context.apply);
  const byOutcome = counts(run);
  const summary = ORDER.filter((o) => byOutcome[o]).map((o) => `${byOutcome[o]} ${o}`);
  io.out('');
  io.out(
    `${run.outcomes.size} VMs${summary.length ? `: ${summary.join(', ')}` : ''}${
      context.apply ? '' : ' (what-if: nothing was changed; run with --apply to make the changes)'
    }`,
  );
  for (const error of run.errors) io.err(`acrpull-autopilot: ${error}`);
}

/** Ctrl-C: what was already done (the records of changes made), and that requests in flight may land. */
function printInterrupted(io: CliIo, context: ReportContext): void {
  const done = context.records.filter((r) => r.outcome === 'changed');
  if (!context.apply) io.out('interrupted: nothing was changed (what-if)');
  else if (done.length === 0) io.out('interrupted: nothing was changed before Ctrl-C');
  else {
    io.out(`interrupted: done before Ctrl-C (${done.length} change${done.length === 1 ? '' : 's'}):`);
    for (const r of done) io.out(`  ${describeChange(r)}`);
  }
  if (context.apply)
    io.err(
      'acrpull-autopilot: interrupted: a request already sent may still complete in Azure; run `acrpull-autopilot reconcile` (what-if) to see where things stand',
    );
}

/** The JSON document: what the table, the plans and the summary say, plus the errors and the sweep. */
export function reportJson(run: ReconcileRun, context: ReportContext, exitCode: number) {
  const byTarget = new Map<string, AuditRecord[]>();
  const shared: AuditRecord[] = [];
  for (const r of context.records) {
    if (!r.vmId) {
      if (r.outcome !== 'unchanged') shared.push(r);
      continue;
    }
    byTarget.set(r.vmId, [...(byTarget.get(r.vmId) ?? []), r]);
  }
  return {
    command: 'reconcile',
    mode: context.apply ? 'apply' : 'what-if',
    armEndpoint: context.armEndpoint,
    exitCode,
    interrupted: run.interrupted,
    errors: run.errors,
    counts: counts(run),
    targets: [...run.outcomes].map(([id, outcome]) => ({
      id,
      name: parseTargetId(id)?.name ?? id,
      outcome,
      records: byTarget.get(id) ?? [],
      plan: (run.plans.get(id)?.steps ?? []).map(describeStep).filter((s) => s.step !== 'nothing'),
    })),
    shared,
    warnings: context.records
      .filter((r) => r.warning)
      .map((r) => ({ target: r.vmId, registry: r.registry ?? null, warning: r.warning })),
    changesMade: context.records.filter((r) => r.outcome === 'changed'),
    sweep: run.sweep ?? null,
  };
}

/**
 * The plan of each target the run reconciled, step by step: the same plan --apply executes (what-if
 * records it as planned). Targets settled from the sweep's snapshot needed none.
 */
function printPlans(io: CliIo, plans: ReadonlyMap<string, TargetPlan>, applied: boolean): void {
  const lines: string[] = [];
  for (const [targetId, plan] of plans) {
    const steps = plan.steps.map(describeStep).filter((s) => s.step !== 'nothing');
    if (steps.length === 0) continue;
    const name = parseTargetId(targetId)?.name ?? targetId;
    lines.push(`${name}: ${steps.map((s) => (s.registry ? `${s.step} ${s.registry}` : s.step)).join(', ')}`);
  }
  if (lines.length === 0) return;
  io.out('');
  io.out(applied ? 'plan (executed):' : 'plan (what --apply would execute):');
  for (const line of lines) io.out(`  ${line}`);
}

/** The detail of a row: its reason, else the client id; and what the VM's owner must know. */
function detailOf(r: AuditRecord | undefined): string {
  if (!r) return '';
  const detail = r.reason ?? (r.clientId ? `client id ${r.clientId}` : '');
  return r.warning ? `${detail ? `${detail}; ` : ''}WARNING: ${r.warning}` : detail;
}

/** One row per VM that has something to say; compliant VMs from a sweep are only counted. */
function printTable(io: CliIo, outcomes: ReadonlyMap<string, string>, records: readonly AuditRecord[]): void {
  const byVm = new Map<string, AuditRecord[]>();
  for (const r of records) {
    if (!r.vmId) continue;
    const list = byVm.get(r.vmId) ?? [];
    list.push(r);
    byVm.set(r.vmId, list);
  }
  const rows = [['VM', 'outcome', 'registry', 'what', 'detail']];
  for (const [vmId, outcome] of outcomes) {
    const vmRecords = byVm.get(vmId) ?? [];
    if (outcome === 'compliant' && vmRecords.length === 0) continue;
    const name = parseTargetId(vmId)?.name ?? vmId;
    for (const r of vmRecords.length > 0 ? vmRecords : [undefined]) {
      rows.push([
        name,
        outcome,
        r?.registry ?? '',
        r ? `${r.action}${r.outcome === 'planned' ? ' (would)' : ''}` : '',
        detailOf(r),
      ]);
    }
  }
  // Identity and grant decisions a sweep makes once per (registry, region), for all its VMs.
  for (const r of records) {
    if (r.vmId || r.outcome === 'unchanged') continue;
    rows.push([
      '(shared)',
      r.outcome,
      r.registry ?? '',
      `${r.action}${r.outcome === 'planned' ? ' (would)' : ''}`,
      r.reason ?? r.identityId ?? '',
    ]);
  }
  if (rows.length === 1) {
    io.out('nothing to change');
    return;
  }
  for (const line of formatTable(rows)) io.out(line);
}
