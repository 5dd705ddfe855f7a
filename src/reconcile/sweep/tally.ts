// What a sweep counts as it goes: each target's outcome (counted, not kept, so a 100,000-VM sweep
// holds a few pages at a time, never the fleet), how many targets hold each identity (for the unused
// finding), and what it left as it was (revocable, revocation off). Becomes the sweep's summary.
import type { AuditRecord, SweepSummary, Trigger } from '../../audit/auditRecord';
import type { Mode } from '../../config/settings';
import { attachedIdentityIds, type IdentityView } from '../../core/identityView';
import type { PullReady, Readiness } from '../../core/pullReadiness';
import { idKey } from '../../core/resourceId';
import type { TargetOutcome } from '../outcome';
import type { TargetPlan } from '../perTarget/steps';

/** What the sweep saw of a tagged target: where it is and what its tag asks (the CLI's status). */
export interface TargetSeen {
  /** Its region, normalized. */
  readonly region: string;
  /** The registries its tag names (lower-cased names; none for an invalid tag). */
  readonly registries: readonly string[];
  /** Per registry the snapshot showed compliant (lower-cased name): its pull readiness. */
  readonly readiness?: Readonly<Record<string, Readiness>>;
}

/** A target's outcome, with the plan its reconcile made where the sweep reconciled it. */
export interface KeptOutcome {
  readonly outcome: TargetOutcome;
  readonly plan?: TargetPlan;
  /** Tagged targets: what the sweep saw of them. */
  readonly seen?: TargetSeen;
}

export class Tally {
  readonly counts: Record<TargetOutcome, number> = {
    failed: 0,
    deferred: 0,
    changed: 0,
    planned: 0,
    rejected: 0,
    skipped: 0,
    compliant: 0,
    untagged: 0,
  };
  /** Each target's outcome (and plan, where it was reconciled), only when asked for (the CLI's table). */
  private readonly kept: Map<string, KeptOutcome> | undefined;
  settled = 0;
  /** Tagged targets discovered (and, revocation on, untagged holders to reconcile). */
  total = 0;
  /** Targets holding a pull identity their tag no longer asks for, left so (revocation off). */
  revocable = 0;
  /** Targets with an identity the app stopped re-attaching (another writer keeps removing it). */
  contested = 0;
  /** Tagged targets by pull readiness, where it was judged (compliant and changed ones). */
  readonly readiness: Record<PullReady, number> = { yes: 0, no: 0, pending: 0, unknown: 0 };
  /** Targets seen holding each identity, plus attaches, less detaches (lower-cased ids). */
  private readonly holders = new Map<string, number>();

  constructor(
    keepOutcomes: boolean,
    private readonly onProgress?: (settled: number, total: number) => void,
  ) {
    this.kept = keepOutcomes ? new Map() : undefined;
  }

  settle(
    targetId: string,
    outcome: TargetOutcome,
    plan?: TargetPlan,
    pullReady?: PullReady,
    seen?: TargetSeen,
  ): void {
    this.counts[outcome] += 1;
    if (pullReady) this.readiness[pullReady] += 1;
    this.settled += 1;
    this.kept?.set(targetId, { outcome, ...(plan ? { plan } : {}), ...(seen ? { seen } : {}) });
    this.onProgress?.(this.settled, this.total);
  }

  noteHeld(identity: IdentityView | null | undefined): void {
    for (const id of attachedIdentityIds(identity))
      this.holders.set(idKey(id), (this.holders.get(idKey(id)) ?? 0) + 1);
  }

  noteChanges(records: readonly AuditRecord[]): void {
    if (records.some((r) => r.action === 'attach-contested')) this.contested += 1;
    for (const r of records) {
      if (r.outcome !== 'changed' || !r.identityId) continue;
      const step = r.action === 'identity-attached' ? 1 : r.action === 'identity-detached' ? -1 : 0;
      const key = idKey(r.identityId);
      if (step !== 0) this.holders.set(key, Math.max(0, (this.holders.get(key) ?? 0) + step));
    }
  }

  /** Identities (lower-cased) something the sweep saw still holds. */
  held(): Set<string> {
    return new Set([...this.holders].filter(([, n]) => n > 0).map(([id]) => id));
  }

  outcomes(): ({ targetId: string } & KeptOutcome)[] {
    return this.kept ? [...this.kept].map(([targetId, kept]) => ({ targetId, ...kept })) : [];
  }

  /** Targets on pages the sweep never reached are left for the next one, like those it reached too late. */
  summary(
    base: { sweepId: string; mode: Mode; trigger: Trigger; subscriptions: number; pairs: number },
    cost: { armReads: number; armWrites: number; armPolls: number; armThrottled: number; durationMs: number },
    finished: boolean,
    reason: string | undefined,
  ): SweepSummary {
    const unreached = finished ? 0 : Math.max(0, this.total - this.settled);
    const c = this.counts;
    return {
      ...base,
      vmsScanned: this.settled,
      compliant: c.compliant,
      changed: c.changed,
      planned: c.planned,
      rejected: c.rejected,
      failed: c.failed,
      skipped: c.skipped + c.untagged,
      deferred: c.deferred + unreached,
      revocable: this.revocable,
      contested: this.contested,
      pullReadyYes: this.readiness.yes,
      pullReadyNo: this.readiness.no,
      pullReadyPending: this.readiness.pending,
      pullReadyUnknown: this.readiness.unknown,
      ...cost,
      finished,
      ...(reason ? { reason } : {}),
    };
  }
}
