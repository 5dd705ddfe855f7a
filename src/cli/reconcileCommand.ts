// `acrpull-autopilot reconcile`: the same reconcile the app runs, from an operator's shell, against
// real Azure (DefaultAzureCredential: az login, environment, managed identity) or the emulator.
// What-if by default: decide and report, write nothing; --apply makes the changes.
import { parseArgs } from 'node:util';
import type { TokenCredential } from '@azure/core-auth';
import { AppInsightsAuditSink } from '../audit/appInsightsAuditSink';
import { AttributedAuditSink } from '../audit/attributedSink';
import type { AuditRecord, AuditSink } from '../audit/auditRecord';
import { FanOutAuditSink, MemoryAuditSink } from '../audit/auditRecord';
import { Deadline } from '../azure/retry';
import { loadSettings, type Settings } from '../config/settings';
import { reconcileTarget } from '../reconcile/perTarget/reconcileTarget';
import { describeStep, type TargetPlan } from '../reconcile/perTarget/steps';
import { sweep } from '../reconcile/sweep/sweep';
import {
  createRuntime,
  operatorCredential,
  type Runtime,
  type RuntimeOptions,
  selfPrincipal,
} from '../runtime';
import { parseTargetId } from '../targets';

export const USAGE = `usage: acrpull-autopilot reconcile [--what-if | --apply] [--subscription <id>]... [--vm <vmId>]...
       acrpull-autopilot doctor <target resource id> [--registry <name>] [--output table|json] [--probe-script]
         why a VM or scale set cannot pull (reads only; acrpull-autopilot doctor --help)

  --what-if            decide and report, change nothing (default)
  --apply              make the changes
  --subscription <id>  sweep this subscription (repeatable; default ACRPULL_SUBSCRIPTIONS, else all visible)
  --vm <resource id>   reconcile only this VM (repeatable)
  --help               this text

Settings come from the same environment variables as the app (ACRPULL_IDENTITY_RESOURCE_GROUP,
ACRPULL_ALLOWED_REGISTRIES, ...). Authentication: DefaultAzureCredential (e.g. after az login).
--apply records its decisions in the app's audit trail (trigger cli, caller you) when
APPLICATIONINSIGHTS_CONNECTION_STRING is set, and says so when it is not.`;

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: Record<string, string | undefined>;
  /** Only for callers that must trust an extra CA (e.g. the emulator) without NODE_EXTRA_CA_CERTS. */
  readonly runtime?: Pick<RuntimeOptions, 'caCertPem' | 'credential' | 'pollIntervalMs' | 'pacing'>;
}

export class UsageError extends Error {}

interface Parsed {
  readonly apply: boolean;
  readonly subscriptions: string[];
  readonly vms: string[];
}

export function parseReconcileArgs(argv: readonly string[]): Parsed | 'help' {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      'what-if': { type: 'boolean' },
      apply: { type: 'boolean' },
      subscription: { type: 'string', multiple: true },
      vm: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals[0] !== 'reconcile' || positionals.length > 1) {
    throw new UsageError(`unknown command ${JSON.stringify(positionals.join(' '))}`);
  }
  if (values.apply && values['what-if']) throw new UsageError('choose one of --what-if and --apply');
  const vms = values.vm ?? [];
  for (const vm of vms)
    if (!parseTargetId(vm))
      throw new UsageError(`--vm ${JSON.stringify(vm)} is not a virtual machine or scale set resource id`);
  return { apply: values.apply === true, subscriptions: values.subscription ?? [], vms };
}

/** Runs the command; returns the process exit code (0 ok, 1 something failed, 2 usage or settings). */
export async function runReconcileCommand(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: Parsed | 'help';
  let settings: Settings;
  try {
    parsed = parseReconcileArgs(argv);
    if (parsed === 'help') {
      io.out(USAGE);
      return 0;
    }
    settings = loadSettings({
      ...io.env,
      ACRPULL_MODE: parsed.apply ? 'enforce' : 'audit',
      ...(parsed.subscriptions.length > 0 ? { ACRPULL_SUBSCRIPTIONS: parsed.subscriptions.join(',') } : {}),
    });
  } catch (error) {
    io.err(`acrpull-autopilot: ${(error as Error).message}`);
    io.err(USAGE);
    return 2;
  }

  const credential = io.runtime?.credential ?? operatorCredential();
  const trail = await openAuditTrail(settings, parsed.apply, credential, io);
  if (!trail) return 1;
  const quiet = { debug() {}, info() {}, warn: (m: string) => io.err(m), error: (m: string) => io.err(m) };
  const runtime = createRuntime(settings, {
    ...io.runtime,
    credential,
    audit: trail.sink,
    log: quiet,
    warnAtStartup: false,
  });
  if (settings.allowlistUnset)
    io.err('acrpull-autopilot: ACRPULL_ALLOWED_REGISTRIES is not set: every registry is denied');
  io.err(
    `acrpull-autopilot: ${parsed.apply ? 'applying changes' : 'what-if: nothing will be changed'} (${settings.armEndpoint})`,
  );
  try {
    return await reconcileAndReport(runtime, settings, parsed, io, trail.memory);
  } finally {
    await trail.close();
  }
}

/** Reconciles what was asked (the targets named, else a sweep), then prints the table and the plan. */
async function reconcileAndReport(
  runtime: Runtime,
  settings: Settings,
  parsed: Parsed,
  io: CliIo,
  audit: MemoryAuditSink,
): Promise<number> {
  const outcomes = new Map<string, string>();
  const plans = new Map<string, TargetPlan>();
  if (parsed.vms.length > 0) {
    for (const targetId of parsed.vms) {
      // One target on request: the whole chain (identity, proof, grant), not the event path's shortcut.
      const result = await reconcileTarget(runtime, {
        targetId,
        wholeChain: true,
        trigger: 'cli',
        deadline: new Deadline(settings.sweepTimeBudgetMs),
      });
      outcomes.set(result.targetId, result.outcome);
      plans.set(result.targetId, result.plan);
    }
  } else {
    let lastShown = 0;
    const result = await sweep(runtime, {
      trigger: 'cli',
      deadline: new Deadline(settings.sweepTimeBudgetMs),
      keepOutcomes: true, // for the table
      onProgress: (settled, total) => {
        const now = Date.now();
        if (settled === total || now - lastShown > 2000) {
          lastShown = now;
          io.err(`  ${settled}/${total} VMs`);
        }
      },
    });
    for (const target of result.targets) {
      outcomes.set(target.targetId, target.outcome);
      if (target.plan) plans.set(target.targetId, target.plan);
    }
    if (!result.summary.finished) io.err(`acrpull-autopilot: stopped early: ${result.summary.reason}`);
    if (result.discoveryFailed) {
      io.err(`acrpull-autopilot: ${result.summary.reason}`);
      return 1;
    }
  }
  printTable(io, outcomes, audit.records);
  printPlans(io, plans, parsed.apply);
  const failed = [...outcomes.values()].filter((o) => o === 'failed').length;
  const counts = countBy([...outcomes.values()]);
  const order = ['changed', 'planned', 'compliant', 'rejected', 'skipped', 'untagged', 'deferred', 'failed'];
  const summary = order.filter((o) => counts[o]).map((o) => `${counts[o]} ${o}`);
  io.out('');
  io.out(
    `${outcomes.size} VMs${summary.length ? `: ${summary.join(', ')}` : ''}${
      parsed.apply ? '' : ' (what-if: nothing was changed; run with --apply to make the changes)'
    }`,
  );
  return failed > 0 ? 1 : 0;
}

interface CliAuditTrail {
  /** The run's own records, for the table. */
  readonly memory: MemoryAuditSink;
  /** What the reconcile records to: the memory, and with --apply Application Insights, attributed. */
  readonly sink: AuditSink;
  /** Sends what is pending and lets the process exit. */
  close(): Promise<void>;
}

/**
 * With --apply, the same trail as the app: every record to Application Insights (the app's connection
 * string, sent with the operator's Entra token, as the app sends with its own), trigger `cli`, caller
 * the operator the CLI runs as (from its ARM token). Without a connection string it says, before
 * anything is changed, that the changes will not be in the audit trail. A what-if run changes nothing
 * and records nowhere but its own table. Undefined (exit 1) when --apply cannot tell who the operator is.
 */
async function openAuditTrail(
  settings: Settings,
  apply: boolean,
  credential: TokenCredential,
  io: CliIo,
): Promise<CliAuditTrail | undefined> {
  const memory = new MemoryAuditSink();
  let caller: string | undefined;
  try {
    const me = await selfPrincipal(credential, settings.armAudience)();
    caller = me.signInName ?? me.clientId ?? me.objectId;
  } catch (error) {
    if (apply) {
      io.err(`acrpull-autopilot: cannot tell who you are for the audit trail: ${(error as Error).message}`);
      return undefined;
    }
  }
  const connection = settings.appInsightsConnectionString;
  const appInsights =
    apply && connection
      ? new AppInsightsAuditSink(connection, {
          credential,
          ...(io.runtime?.caCertPem ? { caCertPem: io.runtime.caCertPem } : {}),
        })
      : undefined;
  if (apply && !appInsights)
    io.err(
      "acrpull-autopilot: APPLICATIONINSIGHTS_CONNECTION_STRING is not set: the changes this run makes will not be in the audit trail (set it to the app's connection string to record them)",
    );
  const recorded = appInsights ? new FanOutAuditSink([memory, appInsights]) : memory;
  const sink = caller ? new AttributedAuditSink(recorded, caller) : recorded;
  return {
    memory,
    sink,
    close: async () => {
      await sink.flush();
      await appInsights?.shutdown();
    },
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

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
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
        r?.reason ?? (r?.clientId ? `client id ${r.clientId}` : ''),
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
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length))) ?? [];
  for (const row of rows)
    io.out(
      row
        .map((cell, c) => cell.padEnd(widths[c] ?? 0))
        .join('  ')
        .trimEnd(),
    );
}
