// Audit records as Application Insights custom events: `AcrPullDecision` per decision and
// `AcrPullSweep` per sweep. Strings and flags become customDimensions, numbers customMeasurements,
// with the record's field names unchanged, so the shipped KQL works on both.
import type { TokenCredential } from '@azure/core-auth';
import { TelemetryClient } from 'applicationinsights';
import type { AuditRecord, AuditSink, SweepSummary } from './auditRecord';

export const DECISION_EVENT = 'AcrPullDecision';
export const SWEEP_EVENT = 'AcrPullSweep';

export interface AppInsightsOptions {
  /** Extra CA for the ingestion endpoint (the local emulator). */
  readonly caCertPem?: string;
  /** Keep refused batches off disk (tests: a later run must not replay them). */
  readonly disableOfflineStorage?: boolean;
  /**
   * Sends each batch with an Entra token for https://monitor.azure.com, so a component with local
   * auth disabled (only authenticated telemetry, nothing forged with the connection string) takes it.
   */
  readonly credential?: TokenCredential;
}

/** Pure: a record's fields as event properties (strings) and measurements (numbers). */
export function toEventFields(record: object): {
  properties: Record<string, string>;
  measurements: Record<string, number>;
} {
  const properties: Record<string, string> = {};
  const measurements: Record<string, number> = {};
  for (const [key, value] of Object.entries(record)) {
    if (value === undefined || value === null) continue; // the SDK would send the text "undefined"
    if (typeof value === 'number') measurements[key] = value;
    else properties[key] = String(value);
  }
  return { properties, measurements };
}

export class AppInsightsAuditSink implements AuditSink {
  private readonly client: TelemetryClient;

  constructor(connectionString: string, options: AppInsightsOptions = {}) {
    // An isolated client: no global OpenTelemetry providers, auto-instrumentation, live metrics or
    // performance counters — the Functions host already reports those. Only our events.
    this.client = new TelemetryClient(connectionString, { useGlobalProviders: false });
    // Replaces the exporter options, so the connection string is repeated here.
    this.client.config.azureMonitorOpenTelemetryOptions = {
      azureMonitorExporterOptions: {
        connectionString,
        ...(options.caCertPem ? { tlsOptions: { ca: options.caCertPem } } : {}),
        ...(options.disableOfflineStorage ? { disableOfflineStorage: true } : {}),
        ...(options.credential ? { credential: options.credential } : {}),
      },
    };
  }

  record(record: AuditRecord): void {
    this.client.trackEvent({ name: DECISION_EVENT, ...toEventFields(record) });
  }

  recordSweep(summary: SweepSummary): void {
    this.client.trackEvent({ name: SWEEP_EVENT, ...toEventFields(summary) });
  }

  /** Sends what is pending; the handlers await it before returning so scale-in loses nothing. */
  async flush(): Promise<void> {
    await this.client.flush();
  }

  async shutdown(): Promise<void> {
    await this.client.shutdown();
  }
}
