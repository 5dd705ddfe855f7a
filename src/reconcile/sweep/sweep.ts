// The sweep: every tagged target in the configured subscriptions, catching missed events and drift.
// Discovery (Resource Graph pages, discovery.ts) + the same per-target reconcile as the event path
// (triage.ts decides which targets need one) + a tally (tally.ts) + findings (findings.ts). Cost is
// kept near the lower bound: one identity and grant check per (registry, region) rather than per
// target, and a read plus attach only for targets the snapshot shows non-compliant.
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import type { SweepSummary, Trigger } from '../../audit/auditRecord';
import type { Deadline } from '../../azure/retry';
import { withRetry } from '../../azure/retry';
import { idKey } from '../../core/resourceId';
import { SweepBudget } from './budget';
import { sweepSubscription } from './discovery';
import { reportMissingEvents } from './eventsFinding';
import { reportExcessRoles, reportIdentityGroup } from './findings';
import { RefusalsOnChange } from './refusalsOnChange';
import { type SweepDeps, SweepRun } from './sweepRun';
import { type KeptOutcome, Tally } from './tally';
import { reconcileUnseenPending } from './triage';

export type { SweepDeps } from './sweepRun';

export interface SweepOptions {
  readonly deadline: Deadline;
  readonly trigger?: Trigger;
  /** Stop starting new work when less than this remains of the budget. */
  readonly marginMs?: number;
  /** Called as targets are settled: for progress on large fleets. */
  readonly onProgress?: (settled: number, total: number) => void;
  /** Keep each target's outcome for the result (the CLI's table); a timer sweep only counts them. */
  readonly keepOutcomes?: boolean;
}

export interface SweepResult {
  readonly summary: SweepSummary;
  /** The tagged targets could not be listed: nothing was reconciled. */
  readonly discoveryFailed: boolean;
  /** Each target's outcome (and plan, where reconciled), with `keepOutcomes` only (empty otherwise). */
  readonly targets: readonly ({ readonly targetId: string } & KeptOutcome)[];
}

export async function sweep(deps: SweepDeps, options: SweepOptions): Promise<SweepResult> {
  if (!deps.memory) return sweepWith(deps, options);
  // With a state store, a refusal is recorded when it changes (refusalsOnChange.ts), not every sweep.
  const audit = new RefusalsOnChange(deps.audit, deps.memory, deps.now);
  try {
    return await sweepWith({ ...deps, audit }, options);
  } finally {
    await audit.settle();
  }
}

async function sweepWith(deps: SweepDeps, options: SweepOptions): Promise<SweepResult> {
  const now = deps.now ?? Date.now;
  const started = now();
  const before = deps.meter.snapshot();
  const marginMs = options.marginMs ?? Math.min(10_000, Math.floor(options.deadline.remainingMs() / 10));
  const run = new SweepRun(
    deps,
    randomUUID(),
    options.trigger ?? 'reconcile',
    new SweepBudget(options.deadline, marginMs),
    new Tally(options.keepOutcomes === true, options.onProgress),
  );
  let subscriptions: readonly string[] = deps.settings.subscriptions;
  const finish = (finished: boolean, reason?: string, discoveryFailed = false): SweepResult => {
    const after = deps.meter.snapshot();
    const summary = run.tally.summary(
      {
        sweepId: run.sweepId,
        mode: deps.settings.mode,
        trigger: run.trigger,
        subscriptions: subscriptions.length,
        pairs: run.access.pairsChecked,
      },
      {
        armReads: after.reads - before.reads,
        armWrites: after.writes - before.writes,
        armPolls: after.polls - before.polls,
        armThrottled: after.throttled - before.throttled,
        durationMs: now() - started,
      },
      finished,
      reason,
    );
    deps.audit.recordSweep(summary);
    deps.log.info(
      `sweep ${run.sweepId}: ${summary.vmsScanned} tagged VMs, ${summary.changed} changed, ${summary.failed} failed, ` +
        `${summary.deferred} deferred; ARM reads=${summary.armReads} writes=${summary.armWrites} polls=${summary.armPolls}` +
        (finished ? '' : `; stopped early: ${reason}`),
    );
    return { summary, discoveryFailed, targets: run.tally.outcomes() };
  };

  // 1. Which subscriptions. A configured one the app cannot see (mistyped, no role in it) is a failure
  // naming it, never an empty part of the fleet: the rest is swept, the findings (which would take its
  // targets' identities for unused) are not made, and the sweep is not finished.
  try {
    if (subscriptions.length === 0)
      subscriptions = await withRetry('list subscriptions', run.retryEnv, (signal) =>
        deps.subscriptions.listEnabledIds(signal),
      );
    else {
      const configured = subscriptions;
      const unseen = await withRetry('list subscriptions', run.retryEnv, (signal) =>
        deps.subscriptions.unseen(configured, signal),
      );
      if (unseen.length > 0) {
        run.discoveryError = `subscription${unseen.length === 1 ? '' : 's'} ${unseen.join(', ')} not found or not accessible`;
        subscriptions = configured.filter((s) => !unseen.includes(s));
      }
    }
  } catch (error) {
    return finish(false, `could not list tagged VMs: ${(error as Error).message}`, true);
  }
  if (subscriptions.length === 0)
    return run.discoveryError
      ? finish(false, run.discoveryError, true)
      : finish(true, 'no subscriptions to sweep');
  // The role checks (decision path and finding) look at what the pull identities hold in each.
  deps.roleChecks.noteSwept(subscriptions);
  // The event path's accepted attaches nobody has seen end (a Failed one raises no write event): each
  // such target is reconciled, whatever its snapshot shows.
  run.pending = (await deps.memory?.pendingTargets()) ?? new Map();

  // 2. Subscriptions side by side, as ARM's limits are per subscription (one shared pool would convoy
  // behind the slowest); a few at a time, so memory holds at most two pages per subscription in flight.
  const subscriptionLimit = pLimit(Math.max(1, Math.min(8, subscriptions.length)));
  await Promise.all(subscriptions.map((sub) => subscriptionLimit(() => sweepSubscription(run, sub))));
  // 2b. Accepted attaches whose target no page showed: reconciled by id (their rows end here too).
  await reconcileUnseenPending(run, subscriptions);
  if (run.discoveryError !== undefined) return finish(false, run.discoveryError, run.tally.settled === 0);

  // 3. Findings: a pull identity that holds more than pull is flagged (the app never grants more), one
  // of the app's that nothing the sweep saw holds any more is reported (kept, not deleted), and so is
  // any identity in the identity resource group the app did not make (identity-foreign).
  if (!run.budget.stopped && run.budget.hasTime()) {
    const ready = await run.access.readyPairs();
    // Held by something the sweep saw, or wanted by a tag it saw (an attach deferred or failed).
    const used = run.tally.held();
    for (const d of ready) used.add(idKey(d.identityId));
    const checked = await run.access.checkedIdentities();
    await reportExcessRoles(deps, run.retryEnv, run.access.pairAuditor, checked, run.access.startedAt);
    await reportIdentityGroup(deps, run.retryEnv, run.access.pairAuditor, used);
    await reportMissingEvents(deps, run.retryEnv, run.access.pairAuditor, subscriptions);
  }
  const stopped = run.budget.stopped;
  return finish(!stopped, stopped ? 'time budget reached; the rest is left for the next sweep' : undefined);
}
