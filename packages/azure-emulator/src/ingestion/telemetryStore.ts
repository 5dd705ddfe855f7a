// The telemetry the ingestion endpoint accepted, kept as received (decompressed and parsed), plus the
// flattened view of custom events tests assert on. No HTTP here.

/** An Application Insights envelope as the SDKs send it (only what the emulator checks is typed). */
export interface TelemetryEnvelope {
  name: string;
  time: string;
  iKey: string;
  ver?: number;
  sampleRate?: number;
  seq?: string;
  tags?: Record<string, string>;
  data: { baseType: string; baseData?: Record<string, unknown> };
  [field: string]: unknown;
}

/** A custom event (`trackEvent`), flattened: what Log Analytics shows in `customEvents`. */
export interface CustomEvent {
  name: string;
  /** The envelope's time (ISO 8601), as the SDK stamped it. */
  time: string;
  properties: Record<string, string>;
  measurements: Record<string, number>;
}

export const EVENT_BASE_TYPE = 'EventData';

export class TelemetryStore {
  private envelopes: TelemetryEnvelope[] = [];

  add(accepted: readonly TelemetryEnvelope[]): void {
    this.envelopes.push(...accepted.map((envelope) => structuredClone(envelope)));
  }

  /** Every accepted envelope in arrival order (copies). */
  all(): TelemetryEnvelope[] {
    return this.envelopes.map((envelope) => structuredClone(envelope));
  }

  customEvents(): CustomEvent[] {
    return this.envelopes
      .filter((envelope) => envelope.data.baseType === EVENT_BASE_TYPE)
      .map((envelope) => {
        // Ingestion checked that an EventData has a name and string / number maps.
        const baseData = envelope.data.baseData ?? {};
        return {
          name: String(baseData.name),
          time: envelope.time,
          properties: { ...(baseData.properties as Record<string, string> | undefined) },
          measurements: { ...(baseData.measurements as Record<string, number> | undefined) },
        };
      });
  }

  clear(): void {
    this.envelopes = [];
  }
}
