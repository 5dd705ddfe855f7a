// Builds audit records for one unit of work (a VM, or a registry/region pair in a sweep) with the
// shared fields filled in once, and sends each to the sink as it is decided.
import { ArmOperationError } from '../azure/armErrors';
import type { Mode } from '../config/settings';
import type { AuditAction, AuditOutcome, AuditRecord, AuditSink, Trigger } from './auditRecord';

export interface AuditContext {
  readonly mode: Mode;
  readonly trigger: Trigger;
  readonly vmId: string;
  readonly targetType?: string;
  readonly eventId?: string;
  readonly correlationId?: string;
  readonly eventTime?: string;
  readonly caller?: string;
}

export type AuditFields = Partial<Omit<AuditRecord, 'action' | 'outcome' | 'mode' | 'trigger'>>;

export class Auditor {
  readonly records: AuditRecord[] = [];
  private readonly started: number;

  constructor(
    private readonly sink: AuditSink,
    private readonly context: AuditContext,
    private readonly now: () => number = Date.now,
    /** A sweep leaves verified, unchanged state out of the trail (it is counted in the summary). */
    private readonly options: { skipUnchanged?: boolean } = {},
  ) {
    this.started = now();
  }

  record(action: AuditAction, outcome: AuditOutcome, fields: AuditFields = {}): void {
    if (this.options.skipUnchanged && outcome === 'unchanged') return;
    const full: AuditRecord = {
      action,
      outcome,
      ...this.context,
      ...fields,
      durationMs: this.now() - this.started,
    };
    // Absent context (no event, no caller) leaves no key behind, whatever the sink.
    const record = withoutUndefined(full);
    this.records.push(record);
    this.sink.record(record);
  }

  /** A `failed` record whose reason and retryable flag come from the error's classification. */
  failed(error: unknown, fields: AuditFields = {}): void {
    const failure = error instanceof ArmOperationError ? error : undefined;
    this.record('failed', 'failed', {
      ...fields,
      reason: failure ? failure.message : `unexpected error: ${(error as Error)?.message ?? String(error)}`,
      retryable: failure?.failure.retryable ?? false,
    });
  }

  get retryable(): boolean {
    return this.records.some(
      (r) => (r.outcome === 'failed' || r.outcome === 'deferred') && r.retryable === true,
    );
  }
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
