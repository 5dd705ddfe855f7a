// `acrpull-autopilot reset <target id>`: forgets what the app remembers of a target in the state store
// (its busy deferral, and the attach histories that made an identity `attach-contested`), so the next
// event or sweep decides about it afresh. The operator's call once whoever removed the identity
// agreed to stop; the store is the Function App's (AzureWebJobsStorage, as the app reads it).
import { parseArgs } from 'node:util';
import type { TokenCredential } from '@azure/core-auth';
import { StateTable } from '../azure/stateTable';
import { SettingsError, type StateStoreSetting, stateStoreFrom } from '../config/settings';
import { TargetMemory } from '../reconcile/targetMemory';
import { operatorCredential } from '../runtime';
import { parseTargetId } from '../targets';
import { EXIT, type Output, parseOutput, signIn, UsageError } from './common';

export interface ResetIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: Record<string, string | undefined>;
  /** Default: the operator's (DefaultAzureCredential), for a store reached by identity. */
  readonly credential?: TokenCredential;
}

const USAGE =
  'usage: acrpull-autopilot reset <VM or scale set resource id> [--output table|json]\n' +
  "  Needs AzureWebJobsStorage (the Function App's storage connection: a connection string, or\n" +
  '  AzureWebJobsStorage__accountName with Storage Table Data Contributor for you on the account).\n' +
  '  Exit code: 0 done (or nothing to forget), 1 the store failed or signing in failed, 2 usage or\n' +
  '  settings; 130 interrupted (Ctrl-C).';

function parseResetArgs(argv: readonly string[]): { targetId: string; output: Output } | 'help' {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return 'help';
  const [command, targetId, ...extra] = positionals;
  if (command !== 'reset' || !targetId || extra.length > 0) throw new UsageError(USAGE);
  if (!parseTargetId(targetId)) throw new UsageError(`not a VM or scale set resource id: ${targetId}`);
  return { targetId, output: parseOutput(values.output) };
}

/** Exit codes: 0 done, 1 the store (or signing in) failed, 2 usage or settings. */
export async function runResetCommand(argv: readonly string[], io: ResetIo): Promise<number> {
  let args: { targetId: string; output: Output } | 'help';
  let store: StateStoreSetting | undefined;
  try {
    args = parseResetArgs(argv);
    if (args === 'help') {
      io.out(USAGE);
      return EXIT.ok;
    }
    store = stateStoreFrom(io.env).stateStore;
  } catch (error) {
    if (!(error instanceof SettingsError) && !(error instanceof UsageError) && !isParseError(error))
      throw error;
    io.err((error as Error).message);
    return EXIT.usage;
  }
  if (!store) {
    io.err(`AzureWebJobsStorage is not set: nothing to reset.\n${USAGE}`);
    return EXIT.usage;
  }
  const ref = parseTargetId(args.targetId);
  const targetId = ref?.id ?? args.targetId;
  const report = (document: object, line: string, toErr: boolean): void => {
    if (args.output === 'json')
      io.out(JSON.stringify({ command: 'reset', target: targetId, ...document }, null, 2));
    if (toErr) io.err(line);
    else if (args.output !== 'json') io.out(line);
  };
  const credential = io.credential ?? operatorCredential();
  if (store.kind === 'identity') {
    // The store's own audience: the storage account's tokens, not ARM's.
    const notSignedIn = await signIn(credential, 'https://storage.azure.com', { service: 'Azure Storage' });
    if (notSignedIn) {
      report({ exitCode: EXIT.failed, error: notSignedIn.join('\n') }, notSignedIn.join('\n'), true);
      return EXIT.failed;
    }
  }
  const memory = new TargetMemory(StateTable.connect(store, credential), {
    debug: () => {},
    info: () => {},
    warn: io.err,
    error: io.err,
  });
  try {
    const forgot = await memory.forget(targetId);
    report(
      { exitCode: EXIT.ok, forgot },
      forgot === 0
        ? `${targetId}: nothing remembered; nothing to reset`
        : `${targetId}: forgot ${forgot} record${forgot === 1 ? '' : 's'} (deferral, attach histories); the next event or sweep decides afresh`,
      false,
    );
    return EXIT.ok;
  } catch (error) {
    const message = `reset of ${targetId} failed: ${(error as Error).message}`;
    report({ exitCode: EXIT.failed, error: message }, message, true);
    return EXIT.failed;
  }
}

function isParseError(error: unknown): boolean {
  return (
    typeof (error as { code?: unknown })?.code === 'string' &&
    /^ERR_PARSE_ARGS/.test((error as { code: string }).code)
  );
}
