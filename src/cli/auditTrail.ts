// Where the CLI's decisions go: its own memory (for the table and the JSON), with --apply the app's
// audit trail in Application Insights, and with --apply each change as it is made on stderr (so an
// operator sees what was done even if the run is cut short).
import type { TokenCredential } from '@azure/core-auth';
import { AppInsightsAuditSink } from '../audit/appInsightsAuditSink';
import { AttributedAuditSink } from '../audit/attributedSink';
import type { AuditRecord, AuditSink, SweepSummary } from '../audit/auditRecord';
import { FanOutAuditSink, MemoryAuditSink } from '../audit/auditRecord';
import type { Settings } from '../config/settings';
import { selfPrincipal } from '../runtime';
import { parseTargetId } from '../targets';
import type { CliIo } from './common';

export interface CliAuditTrail {
  /** The run's own records, for the table. */
  readonly memory: MemoryAuditSink;
  /** What the reconcile records to: the memory, and with --apply Application Insights, attributed. */
  readonly sink: AuditSink;
  /** Sends what is pending (at most `withinMs`) and lets the process exit. */
  close(withinMs?: number): Promise<void>;
}

/**
 * With --apply, the same trail as the app: every record to Application Insights (the app's connection
 * string, sent with the operator's Entra token, as the app sends with its own), trigger `cli`, caller
 * the operator the CLI runs as (from its ARM token). Without a connection string it says, before
 * anything is changed, that the changes will not be in the audit trail. A what-if run changes nothing
 * and records nowhere but its own table. Undefined (exit 1) when --apply cannot tell who the operator is.
 */
export async function openAuditTrail(
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
  const sinks: AuditSink[] = [memory];
  if (appInsights) sinks.push(appInsights);
  if (apply) sinks.push(new ChangesAsMade(io.err));
  const recorded = sinks.length === 1 ? memory : new FanOutAuditSink(sinks);
  const sink = caller ? new AttributedAuditSink(recorded, caller) : recorded;
  return {
    memory,
    sink,
    close: async (withinMs = 60_000) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          io.err(`acrpull-autopilot: the audit trail did not take every record within ${withinMs / 1000} s`);
          resolve();
        }, withinMs);
      });
      const sent = (async () => {
        await sink.flush();
        await appInsights?.shutdown();
      })();
      await Promise.race([sent, late]);
      clearTimeout(timer);
    },
  };
}

/** One line per change, as it is made: what Ctrl-C would otherwise hide. */
class ChangesAsMade implements AuditSink {
  constructor(private readonly err: (line: string) => void) {}
  record(record: AuditRecord): void {
    if (record.outcome === 'changed') this.err(`  done: ${describeChange(record)}`);
  }
  recordSweep(_summary: SweepSummary): void {}
  async flush(): Promise<void> {}
}

/** `<target or (shared)>: <action> <registry> [<identity name>]`, and its warning. */
export function describeChange(r: AuditRecord): string {
  const where = r.vmId ? (parseTargetId(r.vmId)?.name ?? r.vmId) : '(shared)';
  const identity = r.identityId ? ` ${r.identityId.slice(r.identityId.lastIndexOf('/') + 1)}` : '';
  return `${where}: ${r.action}${r.registry ? ` ${r.registry}` : ''}${identity}${r.warning ? ` (warning: ${r.warning})` : ''}`;
}
