// One page of the sweep: each tagged target as Resource Graph shows it. An invalid tag is audited
// against its target and costs nothing more; a target whose only identity is its owner's is left alone
// (IMDS default) from the snapshot; the page's (registry, region) pairs are ensured first (so target
// work never holds a slot waiting for a pair); a target the snapshot shows compliant costs no request;
// the rest are reconciled like any other target (re-read first: the snapshot can lag ARM).
import pLimit from 'p-limit';
import type { Auditor } from '../../audit/auditor';
import type { TaggedVmRow } from '../../azure/resourceGraph';
import { attachedIdentityIds, identityFacts, isAttached, isStaleBinding } from '../../core/identityView';
import { refuseForImdsDefault } from '../../core/imdsDefault';
import { normalizeRegion } from '../../core/names';
import { isPullIdentityId } from '../../core/pullIdentity';
import {
  type PullReady,
  pullReadiness,
  type Readiness,
  readinessFields,
  worseReadiness,
} from '../../core/pullReadiness';
import { idKey, sameId } from '../../core/resourceId';
import { registriesToKeep, revocationCandidates } from '../../core/revocation';
import { parseRegistryTag, type RegistryRef } from '../../core/tag';
import { parseTargetId, type TargetRef } from '../../targets';
import { type TargetOutcome, worse } from '../outcome';
import { type ReadyRegistry, type RegistryDecision, refusedIdentity } from '../pair/decision';
import { reconcileTarget } from '../perTarget/reconcileTarget';
import type { AdaptiveLimit } from './adaptiveLimit';
import { outOfTime } from './sweepPullAccess';
import type { SweepRun } from './sweepRun';
import type { TargetSeen } from './tally';

interface Work {
  readonly row: TaggedVmRow;
  readonly ref: TargetRef;
  readonly region: string;
  /** The tag's registries less those refused for the IMDS default. */
  readonly refs: readonly RegistryRef[];
  /** Every registry the tag names: kept by revocation. */
  readonly named: readonly RegistryRef[];
  /** Some of the tag's registries were refused from the snapshot (the target's IMDS default). */
  readonly refused: boolean;
}

export async function processPage(
  run: SweepRun,
  rows: readonly TaggedVmRow[],
  limit: AdaptiveLimit,
): Promise<void> {
  const work: Work[] = [];
  for (const row of rows) {
    if (run.pending.has(idKey(row.id))) run.pendingSeen.add(idKey(row.id));
    run.tally.noteHeld(row.identity);
    const item = triage(run, row);
    if (item) work.push(item);
  }
  await Promise.all(
    work.flatMap((item) =>
      item.refs.map((ref) => run.pairLimit(() => run.access.decide(ref, item.region, item.ref))),
    ),
  );
  await Promise.all(
    work.map((item) =>
      limit.run(async () => {
        const wrote = await reconcileItem(run, item);
        // The places follow ARM: halved on a new 429 in the subscription, else sized by how long a
        // writing target waits for its operation.
        limit.observeThrottled(run.deps.meter.throttledIn(item.ref.subscriptionId));
        const waited = run.deps.targets.lastOperationWaitMs();
        if (wrote && waited !== undefined) limit.observeWrite(waited);
      }),
    ),
  );
}

/** Settles what the row alone decides; returns the rest as work. */
function triage(run: SweepRun, row: TaggedVmRow): Work | undefined {
  const { settings } = run.deps;
  const ref = parseTargetId(row.id);
  if (!ref) return undefined;
  const region = normalizeRegion(row.location ?? '');
  const parsed = parseRegistryTag(row.tagValue ?? '', settings.maxRegistriesPerVm);
  if (!parsed.ok) {
    run
      .targetAuditor(ref.id)
      .record('tag-invalid', 'rejected', { reason: `${settings.tagKey} tag: ${parsed.reason}` });
    run.tally.settle(ref.id, 'rejected', undefined, undefined, { region, registries: [] });
    return undefined;
  }
  // A name-pull single identity is left to the target's reconcile, which proves it (systemData)
  // before counting it as the app's; the refs the allowlist denies by name go on, to be audited.
  const refused = refuseForImdsDefault(settings, row.identity, parsed.refs, region, (id) =>
    isPullIdentityId(settings, id),
  );
  const auditor = refused.length > 0 ? run.targetAuditor(ref.id) : undefined;
  for (const { ref: registry, identityId, reason } of refused)
    auditor?.record('attach-refused', 'rejected', { registry: registry.name, identityId, reason });
  const refs = parsed.refs.filter((r) => !refused.some((x) => x.ref === r));
  if (refs.length === 0) {
    run.tally.settle(ref.id, 'rejected', undefined, undefined, {
      region,
      registries: parsed.refs.map((r) => r.name),
    });
    return undefined;
  }
  return { row, ref, region, refs, named: parsed.refs, refused: refused.length > 0 };
}

/**
 * Compliant from the snapshot costs nothing; otherwise the target is reconciled. True when it wrote
 * (how long that took sizes the sweep's concurrency).
 */
async function reconcileItem(run: SweepRun, item: Work): Promise<boolean> {
  const { settings } = run.deps;
  const decisions = await Promise.all(item.refs.map((ref) => run.access.decide(ref, item.region, item.ref)));
  if (decisions.some((d) => d === undefined)) {
    run.budget.stop();
    run.tally.settle(item.ref.id, 'deferred', undefined, undefined, seenOf(item));
    return false;
  }
  const decided = decisions as RegistryDecision[];
  const ready = decided.filter((d): d is ReadyRegistry => d.status === 'ready');
  const needsAttach = ready.some(
    (d) => !isAttached(item.row.identity ?? undefined, d.identityId) || boundStale(item, d),
  );
  // Pull identities of the app's the tag (or the allowlist) no longer asks for, from the snapshot: with
  // revocation on the target is reconciled (which proves and detaches them), else counted.
  const denied = new Set(
    decided.flatMap((d, i) =>
      d.status === 'rejected' && d.action === 'registry-denied' ? [item.refs[i]?.name.toLowerCase()] : [],
    ),
  );
  const keep = registriesToKeep(item.named, denied, settings.allowlistUnset);
  const stale = revocationCandidates(settings, attachedIdentityIds(item.row.identity), keep).length > 0;
  if (stale && !settings.revoke) run.tally.revocable += 1;
  const unconfirmed = run.pending.has(idKey(item.ref.id));
  if (!needsAttach && !(stale && settings.revoke) && !unconfirmed) {
    const outcome = outcomeFromSnapshot(run, item, decided);
    const readiness: Record<string, Readiness> = {};
    const worst = readinessFromSnapshot(run, item, ready, outcome, readiness);
    run.tally.settle(item.ref.id, outcome, undefined, worst, seenOf(item, readiness));
    return false;
  }
  if (!run.budget.hasTime()) {
    run.budget.stop();
    run.tally.settle(item.ref.id, 'deferred', undefined, undefined, seenOf(item));
    return false;
  }
  const result = await reconcileTarget(
    run.deps,
    { targetId: item.ref.id, trigger: run.trigger, deadline: run.budget.deadline },
    run.access,
  );
  run.tally.noteChanges(result.records);
  const judged = result.outcome === 'compliant' || result.outcome === 'changed';
  run.tally.settle(
    item.ref.id,
    result.outcome,
    result.plan,
    result.pullReady ?? (judged ? 'unknown' : undefined),
    seenOf(item),
  );
  return result.records.some((r) => r.outcome === 'changed');
}

/** What the status reports of the target: its region, its tag's registries, and their readiness. */
function seenOf(item: Work, readiness?: Record<string, Readiness>): TargetSeen {
  return {
    region: item.region,
    registries: item.named.map((r) => r.name),
    ...(readiness ? { readiness } : {}),
  };
}

/**
 * Whether the snapshot shows the target's entry for the pair's identity bound to another principal
 * than the identity's: a principal other than the identity's is conclusive for any kind; none at all
 * only for a VM (a scale set's mode, and so whether its GET reports principals, is not in the row).
 */
function boundStale(item: Work, d: ReadyRegistry): boolean {
  if (!d.identity) return false;
  const held = identityFacts(item.row.identity ?? undefined).userAssigned.find((h) =>
    sameId(h.id, d.identityId),
  );
  if (!held) return false;
  if (held.principalId === undefined) return item.ref.kind === 'vm';
  return isStaleBinding(held, d.identity.principalId);
}

/**
 * Pull readiness of a target compliant from the snapshot: its least ready registry. One that cannot
 * pull (no) or may not (unknown) gets an already-compliant record saying why (the query for blocked
 * targets reads it); a ready or pending one costs no record.
 */
function readinessFromSnapshot(
  run: SweepRun,
  item: Work,
  ready: readonly ReadyRegistry[],
  outcome: TargetOutcome,
  byRegistry: Record<string, Readiness>,
): PullReady | undefined {
  if (outcome !== 'compliant') return undefined;
  const now = (run.deps.now ?? Date.now)();
  let worst: PullReady = 'yes';
  for (const d of ready) {
    const grant = d.grantCreatedOn ? { createdOn: d.grantCreatedOn } : undefined;
    const readiness = pullReadiness(d.registry.name, d.registry.access, grant, now);
    byRegistry[d.registry.name.toLowerCase()] = readiness;
    worst = worseReadiness(worst, readiness.pullReady);
    // `pending` clears by itself within minutes: counted, not recorded on every sweep.
    if (readiness.pullReady === 'yes' || readiness.pullReady === 'pending') continue;
    const held = identityFacts(item.row.identity ?? undefined).userAssigned.find((h) =>
      sameId(h.id, d.identityId),
    );
    run.targetAuditor(item.ref.id).record('already-compliant', 'unchanged', {
      registry: d.registry.name,
      registryId: d.registry.id,
      identityId: d.identityId,
      ...(held?.clientId ? { clientId: held.clientId } : {}),
      ...readinessFields(readiness),
    });
  }
  return worst;
}

/**
 * A target the snapshot shows compliant for every allowed registry: no request. Refused registries are
 * audited against the target; a failed pair was audited once for the pair and counts the target as
 * failed (deferred when the time budget cut it short).
 */
function outcomeFromSnapshot(
  run: SweepRun,
  item: Work,
  decisions: readonly RegistryDecision[],
): TargetOutcome {
  let outcome: TargetOutcome = item.refused ? 'rejected' : 'compliant';
  const auditor: Auditor = run.targetAuditor(item.ref.id);
  decisions.forEach((decision, i) => {
    if (decision.status === 'rejected') {
      auditor.record(decision.action, 'rejected', {
        registry: decision.registry?.name ?? item.refs[i]?.name,
        ...(decision.registry ? { registryId: decision.registry.id } : {}),
        ...refusedIdentity(decision),
        reason: decision.reason,
      });
      outcome = worse(outcome, 'rejected');
    } else if (decision.status === 'failed') {
      outcome = worse(outcome, outOfTime(decision.error) ? 'deferred' : 'failed');
    }
  });
  return outcome;
}

/**
 * Targets with a pending row that no discovery page showed (their tag removed and their identities
 * gone since, say: neither query finds them), in a swept subscription: reconciled by id all the same,
 * so the accepted attach's end is seen and its row confirmed or cleared, never left for good. One in a
 * subscription the sweep does not cover is no more the sweep's than its events are: left alone.
 */
export async function reconcileUnseenPending(run: SweepRun, subscriptions: readonly string[]): Promise<void> {
  const swept = new Set(subscriptions.map(idKey));
  const unseen = [...run.pending.keys()].filter((key) => {
    const ref = parseTargetId(key);
    return ref !== undefined && !run.pendingSeen.has(key) && swept.has(idKey(ref.subscriptionId));
  });
  const limit = pLimit(UNSEEN_PENDING_CONCURRENCY);
  await Promise.all(
    unseen.map((targetId) =>
      limit(async () => {
        if (run.budget.stopped || !run.budget.hasTime()) return;
        const result = await reconcileTarget(
          run.deps,
          { targetId, trigger: run.trigger, deadline: run.budget.deadline },
          run.access,
        );
        run.tally.noteChanges(result.records);
      }),
    ),
  );
}

/** How many unseen pending targets are reconciled at once (each a VM read, rarely more). */
const UNSEEN_PENDING_CONCURRENCY = 8;
