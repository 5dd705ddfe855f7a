// Who made the decisions, where no event says so: the CLI stamps every record with the operator it
// runs as, so `acrpull-autopilot reconcile --apply` leaves the same trail as the app, attributed.
import type { AuditRecord, AuditSink, SweepSummary } from './auditRecord';

export class AttributedAuditSink implements AuditSink {
  constructor(
    private readonly inner: AuditSink,
    /** The principal every record is attributed to (a record that names one keeps its own). */
    private readonly caller: string,
  ) {}

  record(record: AuditRecord): void {
    this.inner.record(record.caller ? record : { ...record, caller: this.caller });
  }

  recordSweep(summary: SweepSummary): void {
    this.inner.recordSweep(summary);
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }
}
