// `acrpull-autopilot status`: the fleet at a glance from one read-only pass. It is the app's own sweep
// in what-if mode (the same discovery, the same decisions, the same pull readiness: what the status
// says is what the next sweep would find), with nothing written: no ARM write (what-if), nothing to
// the state store (read for deferrals and contested attaches, never written), no audit trail (the
// records stay in memory). Per registry and region: tagged, compliant, can pull, blocked by blocker,
// to change, refused, deferred, contested, failed.
import { parseArgs } from 'node:util';
import { MemoryAuditSink } from '../audit/auditRecord';
import { loadSettings, type Settings } from '../config/settings';
import { sweep } from '../reconcile/sweep/sweep';
import { createRuntime, operatorCredential, type Runtime } from '../runtime';
import {
  type CliIo,
  cliMemory,
  EXIT,
  formatTable,
  InterruptibleDeadline,
  type Output,
  parseOutput,
  quietLog,
  signIn,
  UsageError,
  unseenMessage,
  unseenSubscriptions,
  whenAborted,
} from './common';
import { type FleetStatus, fleetStatus, type StatusRow } from './fleetStatus';

export const STATUS_USAGE = `usage: acrpull-autopilot status [--subscription <id>]... [--output table|json]

The fleet at a glance, from one read-only pass: the app's sweep in what-if mode (nothing is written to
Azure, to the state store or to the audit trail). One row per registry and region:

  tagged      targets (VMs, scale sets) whose tag names the registry
  compliant   they hold its pull identity, and the identity its grant
  can pull    compliant, and pull ready (the registry's network settings and the grant's age allow it)
  blocked     compliant, but not (or not yet, or not surely) pull ready: targets per blocker code
              (docs/why-cant-my-vm-pull.md; acrpull-autopilot doctor <target> for one target)
  to change   an identity, grant or attach is missing: reconcile --apply makes it
  refused     not allowed (allowlist, region, IMDS default, an identity the app did not make, ...)
  deferred    busy, or not reached in time: the next sweep decides
  contested   another writer keeps removing the identity (acrpull-autopilot reset once resolved)
  failed      something could not be read

  --subscription <id>  look at this subscription (repeatable; default ACRPULL_SUBSCRIPTIONS, else all visible)
  --output table|json  default table; json: one document on stdout (progress stays on stderr)
  --help               this text

Exit code: 0 the pass saw the whole fleet; 1 part of it could not be seen (a read failed, a
subscription was not found or not accessible, the pass stopped early, signing in failed); 2 usage or
settings; 130 interrupted (Ctrl-C).
Settings come from the same environment variables as the app. Authentication: DefaultAzureCredential.`;

interface StatusArgs {
  readonly subscriptions: string[];
  readonly output: Output;
}

export function parseStatusArgs(argv: readonly string[]): StatusArgs | 'help' {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      subscription: { type: 'string', multiple: true },
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals[0] !== 'status' || positionals.length > 1)
    throw new UsageError(`unknown command ${JSON.stringify(positionals.join(' '))}`);
  return { subscriptions: values.subscription ?? [], output: parseOutput(values.output) };
}

/** What one pass saw, and what kept it from seeing all. */
interface StatusPass {
  status?: FleetStatus;
  findings: Record<string, number>;
  readonly errors: string[];
  interrupted: boolean;
  summary?: { subscriptions: number; armReads: number; durationMs: number; finished: boolean };
}

export async function runStatusCommand(argv: readonly string[], io: CliIo): Promise<number> {
  let args: StatusArgs | 'help';
  let settings: Settings;
  try {
    args = parseStatusArgs(argv);
    if (args === 'help') {
      io.out(STATUS_USAGE);
      return EXIT.ok;
    }
    settings = loadSettings({
      ...io.env,
      ACRPULL_MODE: 'audit',
      ...(args.subscriptions.length > 0 ? { ACRPULL_SUBSCRIPTIONS: args.subscriptions.join(',') } : {}),
    });
  } catch (error) {
    io.err(`acrpull-autopilot: ${(error as Error).message}`);
    io.err(STATUS_USAGE);
    return EXIT.usage;
  }
  const pass: StatusPass = { findings: {}, errors: [], interrupted: false };
  const credential = io.runtime?.credential ?? operatorCredential();
  io.err(`acrpull-autopilot status: reads only (${settings.armEndpoint})`);
  const notSignedIn = await signIn(credential, settings.armAudience);
  if (notSignedIn) {
    for (const line of notSignedIn) io.err(line);
    pass.errors.push(notSignedIn.join('\n'));
  } else {
    const log = quietLog(io);
    const audit = new MemoryAuditSink();
    const runtime: Runtime = {
      ...createRuntime(settings, { ...io.runtime, credential, audit, log, warnAtStartup: false }),
      memory: cliMemory(settings, credential, log, true),
    };
    await look(pass, runtime, settings, io, audit);
  }
  const code = pass.interrupted ? EXIT.interrupted : pass.errors.length > 0 ? EXIT.failed : EXIT.ok;
  if (args.output === 'json') io.out(JSON.stringify(statusJson(pass, settings, code), null, 2));
  else printStatus(io, pass);
  // Signing in said its own lines already.
  if (!notSignedIn) for (const error of pass.errors) io.err(`acrpull-autopilot: ${error}`);
  return code;
}

/** The pass: the subscriptions checked, the what-if sweep, its targets and records turned into rows. */
async function look(
  pass: StatusPass,
  runtime: Runtime,
  settings: Settings,
  io: CliIo,
  audit: MemoryAuditSink,
): Promise<void> {
  const deadline = new InterruptibleDeadline(settings.sweepTimeBudgetMs, io.signal);
  const work = (async () => {
    const unseen = await unseenSubscriptions(runtime, settings);
    if (unseen.length > 0) {
      pass.errors.push(unseenMessage(unseen));
      return;
    }
    let lastShown = 0;
    const result = await sweep(runtime, {
      trigger: 'cli',
      deadline,
      keepOutcomes: true,
      onProgress: (settled, total) => {
        const now = Date.now();
        if (settled === total || now - lastShown > 2000) {
          lastShown = now;
          io.err(`  ${settled}/${total} targets`);
        }
      },
    });
    const { summary } = result;
    pass.summary = summary;
    if (!summary.finished) pass.errors.push(`the pass stopped early: ${summary.reason ?? 'unknown'}`);
    for (const r of audit.records) {
      if (r.outcome === 'flagged') pass.findings[r.action] = (pass.findings[r.action] ?? 0) + 1;
      if (!r.vmId && r.outcome === 'failed')
        pass.errors.push(`${r.action}${r.registry ? ` ${r.registry}` : ''}: ${r.reason ?? 'failed'}`);
    }
    pass.status = fleetStatus(result.targets, audit.records);
  })().catch((error: unknown) => {
    pass.errors.push((error as Error).message);
  });
  if ((await Promise.race([work, whenAborted(io.signal)])) === 'interrupted') pass.interrupted = true;
}

function blockedCell(row: StatusRow): string {
  if (row.blockedTargets === 0) return '0';
  const codes = Object.entries(row.blocked).map(([code, n]) => `${code} ${n}`);
  return `${row.blockedTargets} (${codes.join(', ')})`;
}

function printStatus(io: CliIo, pass: StatusPass): void {
  if (pass.interrupted) {
    io.out('interrupted: no status (nothing was changed)');
    return;
  }
  const status = pass.status;
  if (!status) return;
  if (status.rows.length === 0) io.out('no tagged VMs or scale sets');
  else {
    const header = ['registry', 'region', 'tagged', 'compliant', 'can pull', 'blocked', 'to change'];
    const rows = [[...header, 'refused', 'deferred', 'contested', 'failed']];
    for (const r of status.rows)
      rows.push(
        [r.registry, r.region, r.tagged, r.compliant, r.canPull, blockedCell(r), r.toChange]
          .concat([r.refused, r.deferred, r.contested, r.failed])
          .map(String),
      );
    for (const line of formatTable(rows)) io.out(line);
  }
  const findings = Object.entries(pass.findings).map(([action, n]) => `${n} ${action}`);
  const s = pass.summary;
  io.out('');
  io.out(
    `${status.tagged} tagged target${status.tagged === 1 ? '' : 's'}` +
      (s ? ` in ${s.subscriptions} subscription${s.subscriptions === 1 ? '' : 's'}` : '') +
      (findings.length ? `; findings: ${findings.join(', ')}` : '') +
      (s ? `; ${s.armReads} ARM reads in ${(s.durationMs / 1000).toFixed(1)} s` : ''),
  );
}

function statusJson(pass: StatusPass, settings: Settings, exitCode: number) {
  return {
    command: 'status',
    armEndpoint: settings.armEndpoint,
    exitCode,
    interrupted: pass.interrupted,
    errors: pass.errors,
    tagged: pass.status?.tagged ?? null,
    rows: pass.status?.rows ?? [],
    findings: pass.findings,
    pass: pass.summary ?? null,
  };
}
