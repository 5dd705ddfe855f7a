// `acrpull-autopilot reset <target id>`: forgets what the app remembers of a target in the state store
// (its busy deferral, and the attach histories that made an identity `attach-contested`), so the next
// event or sweep decides about it afresh. The operator's call once whoever removed the identity
// agreed to stop; the store is the Function App's (AzureWebJobsStorage, as the app reads it).

import { StateTable } from '../azure/stateTable';
import { SettingsError, stateStoreFrom } from '../config/settings';
import { TargetMemory } from '../reconcile/targetMemory';
import { operatorCredential } from '../runtime';
import { parseTargetId } from '../targets';

export interface ResetIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: Record<string, string | undefined>;
}

const USAGE =
  'usage: acrpull-autopilot reset <VM or scale set resource id>\n' +
  "  Needs AzureWebJobsStorage (the Function App's storage connection: a connection string, or\n" +
  '  AzureWebJobsStorage__accountName with Storage Table Data Contributor for you on the account).';

/** Exit codes: 0 done, 1 the store failed, 2 usage or settings. */
export async function runResetCommand(argv: readonly string[], io: ResetIo): Promise<number> {
  const args = argv.filter((a) => a !== 'reset');
  if (args.includes('--help') || args.includes('-h')) {
    io.out(USAGE);
    return 0;
  }
  const [targetId, ...extra] = args;
  const ref = targetId ? parseTargetId(targetId) : undefined;
  if (!ref || extra.length > 0) {
    io.err(targetId && !ref ? `not a VM or scale set resource id: ${targetId}` : USAGE);
    return 2;
  }
  let store: ReturnType<typeof stateStoreFrom>['stateStore'];
  try {
    store = stateStoreFrom(io.env).stateStore;
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    io.err(error.message);
    return 2;
  }
  if (!store) {
    io.err(`AzureWebJobsStorage is not set: nothing to reset.\n${USAGE}`);
    return 2;
  }
  const memory = new TargetMemory(StateTable.connect(store, operatorCredential()), {
    debug: () => {},
    info: () => {},
    warn: io.err,
    error: io.err,
  });
  try {
    const removed = await memory.forget(ref.id);
    io.out(
      removed === 0
        ? `${ref.id}: nothing remembered; nothing to reset`
        : `${ref.id}: forgot ${removed} record${removed === 1 ? '' : 's'} (deferral, attach histories); the next event or sweep decides afresh`,
    );
    return 0;
  } catch (error) {
    io.err(`reset of ${ref.id} failed: ${(error as Error).message}`);
    return 1;
  }
}
