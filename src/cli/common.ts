// What the CLI's commands share: their I/O, the output formats and exit codes, signing in (fast, with
// how to log in), the subscriptions they are told to look at, a deadline Ctrl-C cuts short, and the
// state store as the operator reaches it.
import type { TokenCredential } from '@azure/core-auth';
import { Deadline, withRetry } from '../azure/retry';
import { StateTable } from '../azure/stateTable';
import type { Settings } from '../config/settings';
import type { Logger } from '../core/logger';
import { TargetMemory } from '../reconcile/targetMemory';
import type { Runtime, RuntimeOptions } from '../runtime';

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: Record<string, string | undefined>;
  /** Only for callers that must trust an extra CA (e.g. the emulator) without NODE_EXTRA_CA_CERTS. */
  readonly runtime?: Pick<RuntimeOptions, 'caCertPem' | 'credential' | 'pollIntervalMs' | 'pacing'>;
  /** Aborted on Ctrl-C (bin's SIGINT): the command stops, says what it did, and exits 130. */
  readonly signal?: AbortSignal;
}

export class UsageError extends Error {}

/** The exit codes every command documents. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

export type Output = 'table' | 'json';

export function parseOutput(value: string | undefined): Output {
  const output = value ?? 'table';
  if (output !== 'table' && output !== 'json')
    throw new UsageError(`--output must be table or json, not ${JSON.stringify(output)}`);
  return output;
}

/** The SDK's and the app's log lines: warnings and errors to stderr, the rest dropped. */
export function quietLog(io: Pick<CliIo, 'err'>): Logger {
  return { debug() {}, info() {}, warn: (m: string) => io.err(m), error: (m: string) => io.err(m) };
}

/** How long signing in may take before the CLI says how to log in (the Azure CLI alone takes ~2 s). */
export const SIGN_IN_TIMEOUT_MS = 8_000;

/**
 * Gets one ARM token, within `timeoutMs`: undefined when it worked, else the lines that say why and how
 * to sign in. The app itself retries a failing credential (a token endpoint's outage clears); an
 * operator without one needs to hear it at once, not after two minutes of retries.
 */
export async function signIn(
  credential: TokenCredential,
  audience: string,
  options: { service?: string; timeoutMs?: number } = {},
): Promise<string[] | undefined> {
  const timeoutMs = options.timeoutMs ?? SIGN_IN_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no token within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    const token = await Promise.race([
      credential.getToken(`${audience.replace(/\/+$/, '')}/.default`),
      timeout,
    ]);
    if (!token) throw new Error('the credential returned no token');
    return undefined;
  } catch (error) {
    return [
      `acrpull-autopilot: cannot sign in to ${options.service ?? 'Azure Resource Manager'} (${audience}): ${credentialProblem(error)}`,
      '  Sign in first: `az login` (then `az account set --subscription <id>`), or set AZURE_TENANT_ID,',
      '  AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service principal, or run where a managed identity is.',
      '  Against the emulator: export the settings `npm run emulator` prints.',
    ];
  } finally {
    clearTimeout(timer);
  }
}

/** One line for what the SDK says in seven: which sources were tried, or the one error's first line. */
function credentialProblem(error: unknown): string {
  const e = error as { name?: string; message?: string; errors?: unknown[] };
  if (e.name === 'AggregateAuthenticationError')
    return 'no credential source could sign in (environment variables, workload identity, managed identity, Azure CLI, Azure PowerShell, Azure Developer CLI)';
  const first = String(e.message ?? error).split('\n')[0] ?? '';
  return `${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${first.length > 300 ? `${first.slice(0, 300)}...` : first}`;
}

/** A deadline that Ctrl-C ends: the sweep starts nothing new, and requests not yet sent are not sent. */
export class InterruptibleDeadline extends Deadline {
  constructor(
    budgetMs: number,
    private readonly signal?: AbortSignal,
  ) {
    super(budgetMs);
  }
  override remainingMs(): number {
    return this.signal?.aborted ? 0 : super.remainingMs();
  }
}

/** Resolves when the signal aborts (never without one). */
export function whenAborted(signal: AbortSignal | undefined): Promise<'interrupted'> {
  return new Promise((resolve) => {
    if (!signal) return;
    if (signal.aborted) resolve('interrupted');
    else signal.addEventListener('abort', () => resolve('interrupted'), { once: true });
  });
}

/**
 * The subscriptions the operator named (or ACRPULL_SUBSCRIPTIONS) that the credential cannot see:
 * mistyped, deleted, or no role in them. Checked before anything else, so that a typo is an error
 * naming it, never an empty fleet.
 */
export async function unseenSubscriptions(runtime: Runtime, settings: Settings): Promise<string[]> {
  if (settings.subscriptions.length === 0) return [];
  return withRetry('list subscriptions', { ...runtime.retry, deadline: new Deadline(60_000) }, (signal) =>
    runtime.subscriptions.unseen(settings.subscriptions, signal),
  );
}

export function unseenMessage(unseen: readonly string[]): string {
  return `subscription${unseen.length === 1 ? '' : 's'} ${unseen.join(', ')} not found or not accessible with this credential (check the id, and \`az account list\`)`;
}

/**
 * The state store as the CLI uses it, reached with the operator's credential (as `reset` does): it
 * remembers deferrals and contested attaches like the app. Every refusal is shown (the sweep's
 * once-a-day damping is for the trail, not for an operator asking now). `readOnly` (what-if, status):
 * nothing is written to it.
 */
export function cliMemory(
  settings: Settings,
  credential: TokenCredential,
  log: Logger,
  readOnly: boolean,
): TargetMemory | undefined {
  if (!settings.stateStore) return undefined;
  const table = StateTable.connect(settings.stateStore, credential);
  return readOnly ? new RecallOnlyMemory(table, log) : new ShowRefusalsMemory(table, log);
}

class ShowRefusalsMemory extends TargetMemory {
  override async refusals(): Promise<undefined> {
    return undefined;
  }
}

class RecallOnlyMemory extends ShowRefusalsMemory {
  override async defer(): Promise<void> {}
  override async clearDeferral(): Promise<void> {}
  override async rememberAttach(): Promise<void> {}
  override async rememberRefusals(): Promise<void> {}
  override async forget(): Promise<number> {
    throw new Error('the state store is read-only here');
  }
}

/** Columns padded to their widest cell; the last one not padded. */
export function formatTable(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length))) ?? [];
  return rows.map((row) =>
    row
      .map((cell, c) => cell.padEnd(widths[c] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}
