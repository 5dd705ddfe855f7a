// `acrpull-autopilot reconcile`: the same reconcile the app runs, from an operator's shell, against
// real Azure (DefaultAzureCredential: az login, environment, managed identity) or the emulator.
// What-if by default: decide and report, write nothing; --apply makes the changes.
import { parseArgs } from 'node:util';
import { loadSettings, type Settings } from '../config/settings';
import { reconcileTarget } from '../reconcile/perTarget/reconcileTarget';
import { sweep } from '../reconcile/sweep/sweep';
import { createRuntime, operatorCredential, type Runtime } from '../runtime';
import { parseTargetId } from '../targets';
import { openAuditTrail } from './auditTrail';
import {
  type CliIo,
  cliMemory,
  EXIT,
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
import { exitCodeOf, printReport, type ReconcileRun, reportJson } from './reconcileReport';

export type { CliIo } from './common';
export { UsageError } from './common';

export const USAGE = `usage: acrpull-autopilot reconcile [--what-if | --apply] [--subscription <id>]... [--vm <id>]... [--output table|json]
       acrpull-autopilot status [--subscription <id>]... [--output table|json]
         the fleet at a glance, per registry and region (reads only; acrpull-autopilot status --help)
       acrpull-autopilot doctor <target resource id> [--registry <name>] [--output table|json] [--probe-script]
         why a VM or scale set cannot pull (reads only; acrpull-autopilot doctor --help)
       acrpull-autopilot reset <target resource id> [--output table|json]
         forget what the app remembers of a target (its deferral, its contested attaches)

  --what-if            decide and report, change nothing (default)
  --apply              make the changes (each one is printed on stderr as it is made)
  --subscription <id>  sweep this subscription (repeatable; default ACRPULL_SUBSCRIPTIONS, else all visible)
  --vm <resource id>   reconcile only this VM or scale set (repeatable)
  --output table|json  default table; json: one document on stdout (progress stays on stderr)
  --help               this text

Exit code: 0 nothing failed; 1 something failed or was left undone (a target; a shared step: an
identity, a grant, a finding; a subscription not found or not accessible; the sweep stopped early;
signing in); 2 usage or settings; 130 interrupted (Ctrl-C: the changes already made are printed).

Settings come from the same environment variables as the app (ACRPULL_IDENTITY_RESOURCE_GROUP,
ACRPULL_ALLOWED_REGISTRIES, ...). Authentication: DefaultAzureCredential (e.g. after az login).
--apply records its decisions in the app's audit trail (trigger cli, caller you) when
APPLICATIONINSIGHTS_CONNECTION_STRING is set, and says so when it is not.`;

interface Parsed {
  readonly apply: boolean;
  readonly subscriptions: string[];
  readonly vms: string[];
  readonly output: Output;
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
      output: { type: 'string', short: 'o' },
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
  return {
    apply: values.apply === true,
    subscriptions: values.subscription ?? [],
    vms,
    output: parseOutput(values.output),
  };
}

/** Runs the command; returns the exit code (0 ok, 1 something failed, 2 usage or settings, 130 Ctrl-C). */
export async function runReconcileCommand(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: Parsed | 'help';
  let settings: Settings;
  try {
    parsed = parseReconcileArgs(argv);
    if (parsed === 'help') {
      io.out(USAGE);
      return EXIT.ok;
    }
    settings = loadSettings({
      ...io.env,
      ACRPULL_MODE: parsed.apply ? 'enforce' : 'audit',
      ...(parsed.subscriptions.length > 0 ? { ACRPULL_SUBSCRIPTIONS: parsed.subscriptions.join(',') } : {}),
    });
  } catch (error) {
    io.err(`acrpull-autopilot: ${(error as Error).message}`);
    io.err(USAGE);
    return EXIT.usage;
  }

  const credential = io.runtime?.credential ?? operatorCredential();
  const context = { apply: parsed.apply, armEndpoint: settings.armEndpoint };
  io.err(
    `acrpull-autopilot: ${parsed.apply ? 'applying changes' : 'what-if: nothing will be changed'} (${settings.armEndpoint})`,
  );
  const notSignedIn = await signIn(credential, settings.armAudience);
  if (notSignedIn) return failBeforeStart(io, parsed.output, context, notSignedIn);
  const trail = await openAuditTrail(settings, parsed.apply, credential, io);
  if (!trail) return EXIT.failed;
  const log = quietLog(io);
  const runtime: Runtime = {
    ...createRuntime(settings, { ...io.runtime, credential, audit: trail.sink, log, warnAtStartup: false }),
    memory: cliMemory(settings, credential, log, !parsed.apply),
  };
  if (settings.allowlistUnset)
    io.err('acrpull-autopilot: ACRPULL_ALLOWED_REGISTRIES is not set: every registry is denied');
  let run: ReconcileRun | undefined;
  try {
    run = await reconcileRun(runtime, settings, parsed, io);
  } finally {
    // After Ctrl-C the trail gets a few seconds, not a minute.
    await trail.close(run?.interrupted ? 5_000 : undefined);
  }
  const report = { ...context, records: trail.memory.records };
  const code = exitCodeOf(run, report.records);
  if (parsed.output === 'json') {
    io.out(JSON.stringify(reportJson(run, report, code), null, 2));
    for (const error of run.errors) io.err(`acrpull-autopilot: ${error}`);
  } else printReport(io, run, report);
  return code;
}

/** Signing in failed: say how to sign in (and, with --output json, a document that says it too). */
function failBeforeStart(
  io: CliIo,
  output: Output,
  context: { apply: boolean; armEndpoint: string },
  lines: readonly string[],
): number {
  for (const line of lines) io.err(line);
  if (output === 'json') {
    const run: ReconcileRun = {
      outcomes: new Map(),
      plans: new Map(),
      errors: [lines.join('\n')],
      interrupted: false,
    };
    io.out(JSON.stringify(reportJson(run, { ...context, records: [] }, EXIT.failed), null, 2));
  }
  return EXIT.failed;
}

/**
 * Reconciles what was asked (the targets named, else a sweep of the subscriptions, each of which must
 * exist): until done, or until Ctrl-C, which stops new work and returns at once with what was done.
 */
async function reconcileRun(
  runtime: Runtime,
  settings: Settings,
  parsed: Parsed,
  io: CliIo,
): Promise<ReconcileRun> {
  const run: ReconcileRun = { outcomes: new Map(), plans: new Map(), errors: [], interrupted: false };
  const deadline = new InterruptibleDeadline(settings.sweepTimeBudgetMs, io.signal);
  const work = (async () => {
    if (parsed.vms.length > 0) {
      for (const targetId of parsed.vms) {
        if (io.signal?.aborted) return;
        // One target on request: the whole chain (identity, proof, grant), not the event path's shortcut.
        const result = await reconcileTarget(runtime, {
          targetId,
          wholeChain: true,
          trigger: 'cli',
          deadline,
        });
        run.outcomes.set(result.targetId, result.outcome);
        run.plans.set(result.targetId, result.plan);
      }
      return;
    }
    const unseen = await unseenSubscriptions(runtime, settings);
    if (unseen.length > 0) {
      run.errors.push(unseenMessage(unseen));
      return;
    }
    await sweepInto(run, runtime, io, deadline);
  })().catch((error: unknown) => {
    run.errors.push((error as Error).message);
  });
  if ((await Promise.race([work, whenAborted(io.signal)])) === 'interrupted') run.interrupted = true;
  return run;
}

async function sweepInto(
  run: ReconcileRun,
  runtime: Runtime,
  io: CliIo,
  deadline: InterruptibleDeadline,
): Promise<void> {
  let lastShown = 0;
  const result = await sweep(runtime, {
    trigger: 'cli',
    deadline,
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
    run.outcomes.set(target.targetId, target.outcome);
    if (target.plan) run.plans.set(target.targetId, target.plan);
  }
  run.sweep = result.summary;
  if (!result.summary.finished) run.errors.push(`stopped early: ${result.summary.reason ?? 'unknown'}`);
}
