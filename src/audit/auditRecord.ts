// The audit schema: one record per decision per VM and registry, with the same field names
// everywhere (event path, sweep, CLI), so one KQL query answers for all of them.
import type { Mode } from '../config/settings';
import type { PullReady } from '../core/pullReadiness';

export type AuditAction =
  | 'identity-created'
  | 'identity-reused'
  | 'role-assigned'
  | 'role-present'
  | 'identity-attached'
  /**
   * The app's attach that ARM accepted (recorded then as identity-attached, changed) has ended
   * Succeeded and the target holds the identity: seen by the target's write event or the sweep.
   */
  | 'attach-confirmed'
  /**
   * A pull identity the app made, detached because the tag no longer names its registry or the
   * allowlist no longer allows it (ACRPULL_REVOKE=on).
   */
  | 'identity-detached'
  /** Sweep finding: a pull identity no VM or scale set uses any more (grants and identity kept). */
  | 'identity-unused'
  /** Not attached, to keep the VM's IMDS default identity (ACRPULL_SINGLE_IDENTITY_VMS=keep). */
  | 'attach-refused'
  /**
   * A pull identity the app cannot prove it created (ARM's systemData names someone else), an
   * override that is the app's own identity, or a pull identity or override that holds role
   * assignments beyond its pull grants: neither granted nor attached.
   */
  | 'identity-refused'
  /** Sweep finding: a pull identity holds role assignments beyond its pull grants. */
  | 'identity-excess-roles'
  /**
   * Sweep finding: an identity in the identity resource group that the app did not make (ARM's
   * systemData; trusted creators count as the app) and that is not an override. Never attached.
   */
  | 'identity-foreign'
  /** The target's region is not in ACRPULL_REGIONS: no identity is read, made or attached for it. */
  | 'region-denied'
  /**
   * A new (registry, region) pair needs a new pull identity, and the app already has
   * ACRPULL_MAX_PULL_IDENTITIES of them: nothing is created, granted or attached.
   */
  | 'identity-limit-reached'
  /**
   * The target's resource group is managed by another service (managedBy: an AKS node resource group,
   * a managed application's): nothing is written there; the reason says how to get pull access instead.
   */
  | 'target-platform-managed'
  /**
   * The target is outside ACRPULL_WRITE_RESOURCE_GROUPS (where the app holds VM and scale set write):
   * nothing is made or attached for it.
   */
  | 'target-out-of-scope'
  /**
   * The target's entry for a pull identity (or an override) was bound to another principal than the
   * identity's current one, or to none (the identity was deleted and re-created under its name):
   * detached and attached again.
   */
  | 'identity-rebound'
  /**
   * A role assignment on the registry held by a principal that no longer backs the identity (the
   * vanished principal of a re-created identity): reported; the app has no right to delete it.
   */
  | 'grant-orphaned'
  /**
   * A pull assignment to a pull identity that carries an ABAC condition: it does not count as the
   * grant (it may match no repository); the unconditioned grant is made, or refused if ARM will not.
   */
  | 'grant-conditioned'
  /**
   * Another writer keeps removing the identity the app attaches (ACRPULL_MAX_REATTACHES re-attaches
   * undone within 24 hours, or removed as it is written): the app stops re-attaching it until the tag
   * changes or an operator runs `acrpull-autopilot reset`; the reason names the other writer.
   */
  | 'attach-contested'
  /**
   * Sweep finding: a swept subscription whose Event Grid system topic delivers no VM write events to
   * the app (no live event subscription): its targets wait for the sweep.
   */
  | 'events-missing'
  | 'already-compliant'
  | 'tag-invalid'
  | 'registry-denied'
  | 'vm-not-found'
  /**
   * An event refused for its origin before any request was made for it: its topic is not a swept
   * subscription's system topic, or it names a resource outside that subscription.
   */
  | 'event-refused'
  | 'failed';

/**
 * changed: a write was made; unchanged: verified, nothing to write; planned: audit mode, a write
 * would have been made; rejected: the request was refused (bad tag, not allowed); flagged: a finding
 * the operator must look at, nothing was written; skipped: nothing to
 * act on (VM gone); deferred: not possible yet (the VM is busy), retried later; failed: an error
 * stopped it.
 */
export type AuditOutcome =
  | 'changed'
  | 'unchanged'
  | 'planned'
  | 'rejected'
  /** A finding for the operator (the sweep saw something wrong that is not the app's to change). */
  | 'flagged'
  | 'skipped'
  | 'deferred'
  | 'failed';

export type Trigger = 'event' | 'reconcile' | 'cli';

export interface AuditRecord {
  readonly action: AuditAction;
  readonly outcome: AuditOutcome;
  readonly mode: Mode;
  readonly trigger: Trigger;
  /** The target's resource id: a VM's or a scale set's (the name kept for the queries written against it). */
  readonly vmId: string;
  /** The target's ARM resource type (Microsoft.Compute/virtualMachines or …/virtualMachineScaleSets). */
  readonly targetType?: string;
  readonly registry?: string;
  readonly registryId?: string;
  readonly identityId?: string;
  readonly principalId?: string;
  readonly clientId?: string;
  /** The subscription a subscription-wide finding is about (events-missing). */
  readonly subscriptionId?: string;
  /** Who ARM's systemData says created the identity (`createdBy (createdByType)`), when it matters. */
  readonly identityCreatedBy?: string;
  readonly role?: string;
  readonly eventId?: string;
  readonly correlationId?: string;
  /** The Event Grid event's time: when ARM accepted the VM write. */
  readonly eventTime?: string;
  /**
   * Event path: the principal whose write raised the event (UPN, else app id, else object id from the
   * event's claims): any write to a tagged target, not necessarily the one that set the tag (the
   * Activity Log says who did: docs/audit-log.md). CLI: the operator the CLI ran as. Sweep: absent.
   */
  readonly caller?: string;
  readonly reason?: string;
  /**
   * Something the VM's owner must know about a change that was made (or planned): today only that
   * IMDS token requests without a client id now fail on the VM.
   */
  readonly warning?: string;
  /**
   * Attach and compliant records: whether the target can pull from the registry as far as the
   * registry's settings and the grant's age tell (core/pullReadiness.ts): yes, no, pending (grant
   * younger than 10 minutes), unknown (not read, or it depends on the VM's network).
   */
  readonly pullReady?: PullReady;
  /** Comma-separated blocker codes behind a pullReady other than yes (docs/why-cant-my-vm-pull.md). */
  readonly blockers?: string;
  /** Comma-separated codes of what limits some clients without blocking the pull. */
  readonly pullNotes?: string;
  /** For failures: whether another attempt (Event Grid redelivery, next sweep) may succeed. */
  readonly retryable?: boolean;
  readonly durationMs?: number;
}

/** One record per sweep: what it covered, what it changed, what it cost in ARM requests. */
export interface SweepSummary {
  readonly sweepId: string;
  readonly mode: Mode;
  readonly trigger: Trigger;
  readonly subscriptions: number;
  /** Tagged VMs Resource Graph returned. */
  readonly vmsScanned: number;
  readonly compliant: number;
  readonly changed: number;
  readonly planned: number;
  readonly rejected: number;
  readonly failed: number;
  /** Gone, or untagged, by the time they were re-read. */
  readonly skipped: number;
  /** Tagged VMs not reached before the time budget ran out (left for the next sweep). */
  readonly deferred: number;
  /** (registry, region) pairs whose identity and grant were checked. */
  readonly pairs: number;
  /** Tagged targets by pull readiness (a target is as ready as its least ready registry). */
  readonly pullReadyYes: number;
  readonly pullReadyNo: number;
  readonly pullReadyPending: number;
  readonly pullReadyUnknown: number;
  /**
   * VMs and scale sets holding a pull identity of the app's that their tag (or the allowlist) no
   * longer asks for, left as they are because ACRPULL_REVOKE is off (0 when on: they are reconciled).
   */
  readonly revocable: number;
  /** Targets with an identity the app stopped re-attaching because another writer keeps removing it. */
  readonly contested: number;
  readonly armReads: number;
  readonly armWrites: number;
  readonly armPolls: number;
  readonly armThrottled: number;
  readonly durationMs: number;
  /** False when the sweep stopped early (time budget) or could not list the VMs. */
  readonly finished: boolean;
  readonly reason?: string;
}

export interface AuditSink {
  record(record: AuditRecord): void;
  recordSweep(summary: SweepSummary): void;
  /** Called before an invocation returns, so nothing is lost when the instance is scaled in. */
  flush(): Promise<void>;
}

/** Keeps records in memory: for the demo, the CLI's table and tests. */
export class MemoryAuditSink implements AuditSink {
  readonly records: AuditRecord[] = [];
  readonly sweeps: SweepSummary[] = [];
  record(record: AuditRecord): void {
    this.records.push(record);
  }
  recordSweep(summary: SweepSummary): void {
    this.sweeps.push(summary);
  }
  async flush(): Promise<void> {}
}

/** Writes each record as one JSON line to a logger (the Functions host forwards it to its logs). */
export class LogAuditSink implements AuditSink {
  constructor(private readonly log: (line: string) => void) {}
  record(record: AuditRecord): void {
    this.log(`acrpull-audit ${JSON.stringify(record)}`);
  }
  recordSweep(summary: SweepSummary): void {
    this.log(`acrpull-sweep ${JSON.stringify(summary)}`);
  }
  async flush(): Promise<void> {}
}

/** Sends every record to several sinks (e.g. the log and Application Insights). */
export class FanOutAuditSink implements AuditSink {
  constructor(private readonly sinks: readonly AuditSink[]) {}
  record(record: AuditRecord): void {
    for (const sink of this.sinks) sink.record(record);
  }
  recordSweep(summary: SweepSummary): void {
    for (const sink of this.sinks) sink.recordSweep(summary);
  }
  async flush(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.flush()));
  }
}
