// One Functions instance of the storm scenario (bench/storm.ts): the app's real Event Grid handler
// on its own runtime, settings from the environment as in Azure, at most STORM_CONCURRENCY deliveries
// at once (the Functions host's per-instance concurrency). The parent plays Event Grid: it sends each
// delivery over IPC and redelivers what this process answers with a failure.
import { InvocationContext } from '@azure/functions';
import pLimit from 'p-limit';
import type { AuditRecord, AuditSink } from '../src/audit/auditRecord';
import { loadSettings } from '../src/config/settings';
import { silentLogger } from '../src/core/logger';
import { createVmWriteHandler } from '../src/handlers/vmWriteHandler';
import { createRuntime } from '../src/runtime';

export const STORM_CONCURRENCY = 16;

export type StormToWorker =
  | { readonly kind: 'start'; readonly caCertPem: string }
  | { readonly kind: 'deliver'; readonly seq: number; readonly event: unknown }
  | { readonly kind: 'stop' };

export type StormFromWorker =
  | { readonly kind: 'ready' }
  | { readonly kind: 'delivered'; readonly seq: number; readonly ok: boolean }
  | {
      readonly kind: 'stopped';
      readonly throttled: number;
      readonly pacedByArm: number;
      readonly peakRssMb: number;
    };

class NullSink implements AuditSink {
  record(_record: AuditRecord): void {}
  recordSweep(): void {}
  async flush(): Promise<void> {}
}

let handler: ReturnType<typeof createVmWriteHandler> | undefined;
let runtime: ReturnType<typeof createRuntime> | undefined;
const limit = pLimit(STORM_CONCURRENCY);
const send = (message: StormFromWorker) => process.send?.(message);

process.on('message', (message: StormToWorker) => {
  if (message.kind === 'start') {
    runtime = createRuntime(loadSettings(process.env), {
      caCertPem: message.caCertPem,
      audit: new NullSink(),
      log: silentLogger,
      warnAtStartup: false,
    });
    handler = createVmWriteHandler(runtime);
    send({ kind: 'ready' });
  } else if (message.kind === 'deliver') {
    const run = handler;
    if (!run) throw new Error('storm worker: deliver before start');
    void limit(async () => {
      const context = new InvocationContext({
        functionName: 'vmWriteEvent',
        invocationId: String(message.seq),
        logHandler: () => {},
      });
      // The Functions host answers Event Grid non-2xx when the function throws: Event Grid redelivers.
      const ok = await run(message.event, context).then(
        () => true,
        (error: unknown) => {
          // STORM_DEBUG=1: why a delivery failed (Event Grid redelivers it after its backoff).
          if (process.env.STORM_DEBUG) console.error(`storm: delivery ${message.seq} failed:`, error);
          return false;
        },
      );
      send({ kind: 'delivered', seq: message.seq, ok });
    });
  } else {
    send({
      kind: 'stopped',
      throttled: runtime?.meter.snapshot().throttled ?? 0,
      pacedByArm: runtime?.meter.pacedByArm() ?? 0,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
    });
    process.disconnect?.();
  }
});
