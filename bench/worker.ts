// Runs the app side of one benchmark scenario in its own process, so its peak RSS is the app's alone
// (the emulator and its 10,000 VMs live in the parent). Settings come from the environment exactly as
// in Azure; the emulator's CA arrives over IPC.
import { InvocationContext } from '@azure/functions';
import type { AuditRecord, AuditSink, SweepSummary } from '../src/audit/auditRecord';
import { Deadline } from '../src/azure/retry';
import { loadSettings } from '../src/config/settings';
import { silentLogger } from '../src/core/logger';
import { createVmWriteHandler } from '../src/handlers/vmWriteHandler';
import { sweep } from '../src/reconcile/sweep/sweep';
import { createRuntime } from '../src/runtime';

export type WorkerRequest =
  | { readonly kind: 'sweep'; readonly caCertPem: string }
  | { readonly kind: 'event'; readonly caCertPem: string; readonly vmId: string };

export interface WorkerReply {
  readonly wallMs: number;
  readonly peakRssMb: number;
  readonly summary?: SweepSummary;
  readonly outcome?: string;
  readonly auditRecords: number;
}

/** Counts records instead of keeping them: a sweep of 10,000 new VMs makes tens of thousands. */
class CountingSink implements AuditSink {
  count = 0;
  summary: SweepSummary | undefined;
  record(_record: AuditRecord): void {
    this.count++;
  }
  recordSweep(summary: SweepSummary): void {
    this.summary = summary;
  }
  async flush(): Promise<void> {}
}

process.once('message', async (request: WorkerRequest) => {
  const audit = new CountingSink();
  const runtime = createRuntime(loadSettings(process.env), {
    caCertPem: request.caCertPem,
    audit,
    log: silentLogger,
  });
  const started = performance.now();
  let outcome: string | undefined;
  if (request.kind === 'sweep') {
    await sweep(runtime, { deadline: new Deadline(runtime.settings.sweepTimeBudgetMs) });
  } else {
    const handler = createVmWriteHandler(runtime);
    const context = new InvocationContext({
      functionName: 'bench',
      invocationId: 'bench',
      logHandler: () => {},
    });
    const result = await handler(
      {
        id: 'bench-event',
        // The subscription's system topic, as Event Grid stamps it (the app refuses any other origin).
        topic: request.vmId.split('/').slice(0, 3).join('/'),
        eventType: 'Microsoft.Resources.ResourceWriteSuccess',
        subject: request.vmId,
        data: { operationName: 'Microsoft.Compute/virtualMachines/write', resourceUri: request.vmId },
      },
      context,
    );
    outcome = result?.outcome;
  }
  const reply: WorkerReply = {
    wallMs: performance.now() - started,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    ...(audit.summary ? { summary: audit.summary } : {}),
    ...(outcome ? { outcome } : {}),
    auditRecords: audit.count,
  };
  process.send?.(reply, () => process.exit(0));
});
