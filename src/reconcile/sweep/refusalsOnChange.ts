// A sweep records a refusal when it changes, not every time: without this, a VM with a bad tag or a
// denied registry gets the same `rejected` record every 15 minutes (96 a day) and the trail drowns in
// them. With a state store, the sweep's rejected records pass through this sink: each is recorded if
// the target's remembered refusals (targetMemory.ts) do not hold it, or last recorded it over a day
// ago (so "refused in the last 24 hours" queries still see every standing refusal once a day). The
// event path always records (an event is someone asking now). Without an answer from the store,
// every record goes through, as before.
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import type { AuditRecord, AuditSink, SweepSummary } from '../../audit/auditRecord';
import type { TargetMemory } from '../targetMemory';

/** A standing refusal is recorded again after this long, even unchanged. */
export const REFUSAL_REPEAT_MS = 24 * 60 * 60 * 1000;
/** Rejected records are looked up in batches of about this many. */
const BATCH = 200;

export function refusalFingerprint(r: AuditRecord): string {
  return createHash('sha256')
    .update([r.action, r.registry ?? '', (r.identityId ?? '').toLowerCase(), r.reason ?? ''].join('\n'))
    .digest('hex')
    .slice(0, 24);
}

export class RefusalsOnChange implements AuditSink {
  private pending: AuditRecord[] = [];
  private work: Promise<void> = Promise.resolve();
  /** Rejected records the sweep left out because nothing changed. */
  suppressed = 0;

  constructor(
    private readonly inner: AuditSink,
    private readonly memory: TargetMemory,
    private readonly now: () => number = Date.now,
  ) {}

  record(record: AuditRecord): void {
    if (record.outcome !== 'rejected' || !record.vmId) {
      this.inner.record(record);
      return;
    }
    this.pending.push(record);
    if (this.pending.length >= BATCH) this.drain();
  }

  recordSweep(summary: SweepSummary): void {
    this.inner.recordSweep(summary);
  }

  async flush(): Promise<void> {
    await this.settle();
    await this.inner.flush();
  }

  /** Every rejected record so far decided and, if it is to be, passed on. */
  async settle(): Promise<void> {
    this.drain();
    await this.work;
  }

  private drain(): void {
    const batch = this.pending;
    this.pending = [];
    if (batch.length > 0) this.work = this.work.then(() => this.decide(batch));
  }

  private async decide(batch: readonly AuditRecord[]): Promise<void> {
    const byTarget = new Map<string, AuditRecord[]>();
    for (const r of batch) byTarget.set(r.vmId, [...(byTarget.get(r.vmId) ?? []), r]);
    const limit = pLimit(8);
    await Promise.all(
      [...byTarget].map(([targetId, records]) => limit(() => this.decideTarget(targetId, records))),
    );
  }

  private async decideTarget(targetId: string, records: readonly AuditRecord[]): Promise<void> {
    const remembered = await this.memory.refusals(targetId);
    if (!remembered) {
      for (const r of records) this.inner.record(r);
      return;
    }
    const now = this.now();
    const next = new Map<string, number>();
    for (const r of records) {
      const fingerprint = refusalFingerprint(r);
      const last = remembered.get(fingerprint);
      if (last !== undefined && now - last < REFUSAL_REPEAT_MS) {
        next.set(fingerprint, last);
        this.suppressed += 1;
        continue;
      }
      next.set(fingerprint, now);
      this.inner.record(r);
    }
    // What the target is refused for now replaces what it was (a refusal that went away is forgotten).
    const same = next.size === remembered.size && [...next].every(([k, v]) => remembered.get(k) === v);
    if (!same) await this.memory.rememberRefusals(targetId, next);
  }
}
