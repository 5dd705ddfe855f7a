// `acrpull-autopilot doctor`: why can't this VM (or scale set) pull from this registry? Reads only,
// under the operator's credential, with the app's settings from the environment; prints an ordered
// checklist, a verdict, and what the VM's owner runs (or, with --probe-script, a script to run on the VM).
import { parseArgs } from 'node:util';
import { loadSettings, type Settings } from '../config/settings';
import { parseRegistryTag, type RegistryRef } from '../core/tag';
import { exitCodeOf } from '../reconcile/doctor/checks';
import { probeScript } from '../reconcile/doctor/commands';
import { createDoctorDeps } from '../reconcile/doctor/deps';
import { type DoctorReport, runDoctor } from '../reconcile/doctor/doctor';
import type { NetworkPathCheck } from '../reconcile/doctor/networkPath';
import { createRuntimeWithClients, operatorCredential } from '../runtime';
import { parseTargetId, type TargetRef } from '../targets';
import { type CliIo, parseOutput, quietLog, signIn, UsageError } from './common';

export const DOCTOR_USAGE = `usage: acrpull-autopilot doctor <target resource id> [options]
       acrpull-autopilot doctor --subscription <id> --resource-group <rg> --name <name> [--scale-set] [options]

Why can't this VM (or scale set) pull from its registry? Reads only: nothing is changed.

  --registry <name>        the registry to check when the tag names several (default: the first)
  --repository <name>      the repository pulled: conditions on grants are evaluated for it
  --output table|json      default table
  --probe-script           print a sh script to run on the VM that walks the pull step by step
  --app-principal <id>     the Function App identity's client or object id: identities it created
                           count as the app's (repeatable; default: you and ACRPULL_TRUSTED_CREATORS)
  --help                   this text

Exit code: 0 can pull, 1 cannot pull, 2 unknown (or a usage error, the target was not found, or
signing in failed); 130 interrupted (Ctrl-C).
Settings come from the same environment variables as the app (ACRPULL_IDENTITY_RESOURCE_GROUP,
ACRPULL_ALLOWED_REGISTRIES, ...). Authentication: DefaultAzureCredential (e.g. after az login).`;

export interface DoctorIo extends CliIo {
  /** The clock grant ages are judged against (tests). */
  readonly now?: () => number;
  /** The network-path check (default: not checked). */
  readonly networkPath?: NetworkPathCheck;
}

export interface DoctorArgs {
  readonly target: TargetRef;
  readonly registry?: RegistryRef;
  readonly repository?: string;
  readonly output: 'table' | 'json';
  readonly probeScript: boolean;
  readonly appPrincipals: readonly string[];
}

export function parseDoctorArgs(argv: readonly string[]): DoctorArgs | 'help' {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      subscription: { type: 'string' },
      'resource-group': { type: 'string' },
      name: { type: 'string' },
      'scale-set': { type: 'boolean' },
      registry: { type: 'string' },
      repository: { type: 'string' },
      output: { type: 'string', short: 'o' },
      'probe-script': { type: 'boolean' },
      'app-principal': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals[0] !== 'doctor')
    throw new UsageError(`unknown command ${JSON.stringify(positionals.join(' '))}`);
  if (positionals.length > 2) throw new UsageError('give one target');
  const byParts =
    values.subscription !== undefined || values['resource-group'] !== undefined || values.name !== undefined;
  let target: TargetRef | undefined;
  if (positionals[1] !== undefined) {
    if (byParts || values['scale-set'])
      throw new UsageError(
        'give the target as a resource id or as --subscription, --resource-group and --name, not both',
      );
    target = parseTargetId(positionals[1]);
    if (!target)
      throw new UsageError(
        `${JSON.stringify(positionals[1])} is not a virtual machine or scale set resource id`,
      );
  } else {
    if (!values.subscription || !values['resource-group'] || !values.name)
      throw new UsageError('give the target: a resource id, or --subscription, --resource-group and --name');
    const type = values['scale-set'] ? 'virtualMachineScaleSets' : 'virtualMachines';
    const id = `/subscriptions/${values.subscription}/resourceGroups/${values['resource-group']}/providers/Microsoft.Compute/${type}/${values.name}`;
    target = parseTargetId(id);
    if (!target)
      throw new UsageError(
        `${JSON.stringify(id)} is not a valid ${values['scale-set'] ? 'scale set' : 'virtual machine'} id`,
      );
  }
  let registry: RegistryRef | undefined;
  if (values.registry !== undefined) {
    const parsed = parseRegistryTag(values.registry, 1);
    if (!parsed.ok || parsed.refs.length !== 1 || !parsed.refs[0])
      throw new UsageError(
        `--registry ${JSON.stringify(values.registry)} is not one registry name, login server or resource id`,
      );
    registry = parsed.refs[0];
  }
  const output = parseOutput(values.output);
  const repository = values.repository?.replace(/[:@].*$/, '');
  if (
    repository !== undefined &&
    !/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(repository)
  )
    throw new UsageError(`--repository ${JSON.stringify(values.repository)} is not a repository name`);
  return {
    target,
    ...(registry ? { registry } : {}),
    ...(repository ? { repository } : {}),
    output,
    probeScript: values['probe-script'] === true,
    appPrincipals: values['app-principal'] ?? [],
  };
}

/** Runs the command; returns the exit code (0 can pull, 1 cannot, 2 unknown or usage). */
export async function runDoctorCommand(argv: readonly string[], io: DoctorIo): Promise<number> {
  let args: DoctorArgs | 'help';
  let settings: Settings;
  try {
    args = parseDoctorArgs(argv);
    if (args === 'help') {
      io.out(DOCTOR_USAGE);
      return 0;
    }
    // Audit mode: nothing here writes, and the settings say so too.
    settings = loadSettings({ ...io.env, ACRPULL_MODE: 'audit' });
  } catch (error) {
    io.err(`acrpull-autopilot: ${(error as Error).message}`);
    io.err(DOCTOR_USAGE);
    return 2;
  }

  const credential = io.runtime?.credential ?? operatorCredential();
  io.err(`acrpull-autopilot doctor: ${args.target.id} (reads only; ${settings.armEndpoint})`);
  const notSignedIn = await signIn(credential, settings.armAudience);
  if (notSignedIn) {
    for (const line of notSignedIn) io.err(line);
    return unknownTarget(io, args, notSignedIn.join('\n'));
  }
  const { runtime, clients } = createRuntimeWithClients(settings, {
    ...io.runtime,
    credential,
    log: quietLog(io),
    warnAtStartup: false,
  });
  const deps = createDoctorDeps(runtime, clients, {
    ...(io.networkPath ? { networkPath: io.networkPath } : {}),
    ...(io.now ? { now: io.now } : {}),
  });
  let result: Awaited<ReturnType<typeof runDoctor>>;
  try {
    result = await runDoctor(
      deps,
      {
        target: args.target,
        ...(args.registry ? { registry: args.registry } : {}),
        ...(args.repository ? { repository: args.repository } : {}),
        progress: (line) => io.err(`  ${line}`),
      },
      { appPrincipals: args.appPrincipals },
    );
  } catch (error) {
    const message = `the ${args.target.kind === 'vm' ? 'VM' : 'scale set'} could not be read: ${(error as Error).message}`;
    io.err(`acrpull-autopilot: ${message}`);
    return unknownTarget(io, args, message);
  }
  if (result.kind === 'not-found') {
    io.err(`acrpull-autopilot: ${args.target.id} was not found`);
    return unknownTarget(io, args, `${args.target.id} was not found`);
  }
  if (result.registry?.chosen === 'first')
    io.err(
      `  the tag names several registries: checking ${result.registry.name}, the first (--registry chooses another)`,
    );
  io.err(`  verdict: ${result.verdict}`);

  if (args.probeScript) {
    if (!result.endpoint) {
      io.err('acrpull-autopilot: no registry to probe (the tag names none; pass --registry)');
      return 2;
    }
    io.out(probeScript(result.endpoint, args.target.name));
  } else if (args.output === 'json') io.out(JSON.stringify(toJson(result), null, 2));
  else printTable(io, result);
  return exitCodeOf(result.verdict);
}

/** No diagnosis (exit 2): with --output json, a document that says why. */
function unknownTarget(io: CliIo, args: DoctorArgs, error: string): number {
  if (args.output === 'json' && !args.probeScript)
    io.out(JSON.stringify({ target: args.target.id, verdict: 'unknown', error, checks: [] }, null, 2));
  return 2;
}

/** The JSON document: target, registry, verdict, checks (id, status, detail, evidence, fix), commands. */
export function toJson(report: DoctorReport) {
  return {
    target: report.target,
    registry: report.registry ?? null,
    verdict: report.verdict,
    checks: report.checks.map((c) => ({
      id: c.id,
      status: c.status,
      detail: c.detail,
      evidence: c.evidence ?? [],
      fix: c.fix ?? null,
    })),
    commands: report.commands ?? null,
  };
}

function printTable(io: CliIo, report: DoctorReport): void {
  const registry = report.registry
    ? ` -> ${report.registry.name}${report.registry.loginServer ? ` (${report.registry.loginServer})` : ''}`
    : '';
  io.out(`${report.target}${registry}`);
  io.out('');
  const idWidth = Math.max(...report.checks.map((c) => c.id.length));
  for (const c of report.checks) {
    io.out(`${c.status.padEnd(7)}  ${c.id.padEnd(idWidth)}  ${c.detail}`);
    const indent = ' '.repeat(9 + idWidth + 2);
    for (const e of c.evidence ?? []) if (c.status !== 'pass') io.out(`${indent}- ${e}`);
    if (c.fix) io.out(`${indent}fix: ${c.fix}`);
  }
  io.out('');
  io.out(`verdict: ${report.verdict}`);
  if (!report.commands) return;
  io.out('');
  io.out('on the VM (its owner):');
  io.out(`  ${report.commands.login}`);
  io.out(`  ${report.commands.acrLogin}`);
  io.out(`  or, without Docker's credential helper: ${report.commands.exposeToken}`);
  io.out(`  or the raw token: ${report.commands.imds}`);
  io.out(
    '  step by step: acrpull-autopilot doctor <target> --probe-script > probe.sh, then sh probe.sh on the VM',
  );
}
