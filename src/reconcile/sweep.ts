// The sweep: every tagged VM in the configured subscriptions, catching missed events and drift.
// Cost is kept near the lower bound: Resource Graph pages for discovery, one identity and grant
// check per (registry, region) rather than per VM, and a VM read plus attach only for VMs that the
// snapshot shows non-compliant (re-read first: the snapshot can lag ARM).
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { Auditor } from '../audit/auditor';
import type { AuditRecord, SweepSummary, Trigger } from '../audit/auditRecord';
import { ArmOperationError } from '../azure/armErrors';
import type { ArmRequestMeter } from '../azure/armRequestPolicy';
import type { RegistryState } from '../azure/containerRegistries';
import { QuotaExhaustedError, type ResourceGraph, type TaggedVmRow } from '../azure/resourceGraph';
import { type Deadline, type RetryEnvironment, withRetry } from '../azure/retry';
import type { Subscriptions } from '../azure/subscriptions';
import { attachedIdentityIds, isAttached } from '../core/attachPlan';
import { normalizeRegion } from '../core/names';
import { isPullIdentityId } from '../core/pullIdentity';
import { type ComputeRef, parseComputeId } from '../core/resourceId';
import { holdsRevocable, registriesToKeep, revocationCandidates } from '../core/revocation';
import { findTagValue, parseRegistryTag, type RegistryRef } from '../core/tag';
import { reportExcessRoles, reportUnusedIdentities } from './identityFindings';
import type { ReconcileDeps } from './reconcileDeps';
import {
  type DecideRegistry,
  reconcileVm,
  refusedIdentity,
  refuseForImdsDefault,
  type VmOutcome,
} from './reconcileVm';
import {
  authorizeRegistry,
  ensurePullAccess,
  type RegistryDecision,
  registrySearchScope,
} from './registryAccess';

export interface SweepDeps extends ReconcileDeps {
  readonly graph: ResourceGraph;
  readonly subscriptions: Subscriptions;
  readonly meter: ArmRequestMeter;
}

export interface SweepOptions {
  readonly deadline: Deadline;
  readonly trigger?: Trigger;
  /** Stop starting new work when less than this remains of the budget. */
  readonly marginMs?: number;
  /** Called as VMs are settled: for progress on large fleets. */
  readonly onProgress?: (settled: number, total: number) => void;
  /** Keep each VM's outcome for the result (the CLI's table); a timer sweep only counts them. */
  readonly keepOutcomes?: boolean;
}

export interface SweepResult {
  readonly summary: SweepSummary;
  /** The tagged VMs could not be listed: nothing was reconciled. */
  readonly discoveryFailed: boolean;
  /** Each VM's outcome, with `keepOutcomes` only (empty otherwise). */
  readonly vms: readonly { readonly vmId: string; readonly outcome: VmOutcome | 'deferred' }[];
}

interface VmWork {
  readonly row: TaggedVmRow;
  readonly vmRef: ComputeRef;
  readonly region: string;
  readonly refs: readonly RegistryRef[];
  /** Every registry the tag names (refs less those refused for the IMDS default): kept by revocation. */
  readonly named: readonly RegistryRef[];
  /** Some of the tag's registries were refused from the snapshot (the VM's IMDS default). */
  readonly refused: boolean;
}

const rank: Record<VmOutcome | 'deferred', number> = {
  failed: 6,
  deferred: 5,
  changed: 4,
  planned: 3,
  rejected: 2,
  skipped: 1,
  compliant: 0,
  untagged: 0,
};

export async function sweep(deps: SweepDeps, options: SweepOptions): Promise<SweepResult> {
  const now = deps.now ?? Date.now;
  const started = now();
  const before = deps.meter.snapshot();
  const { settings } = deps;
  const trigger = options.trigger ?? 'reconcile';
  const sweepId = randomUUID();
  const marginMs = options.marginMs ?? Math.min(10_000, Math.floor(options.deadline.remainingMs() / 10));
  const hasTime = () => options.deadline.remainingMs() > marginMs;
  const retryEnv: RetryEnvironment = {
    ...deps.retry,
    deadline: options.deadline,
    onRetry: (info) => {
      deps.log.info(`sweep ${sweepId}: retrying ${info.operation} in ${info.delayMs} ms after ${info.code}`);
      deps.retry?.onRetry?.(info);
    },
  };
  // Counted, not kept: a 100,000-VM sweep holds a few pages of rows at a time, never the fleet.
  const counts: Record<VmOutcome | 'deferred', number> = {
    failed: 0,
    deferred: 0,
    changed: 0,
    planned: 0,
    rejected: 0,
    skipped: 0,
    compliant: 0,
    untagged: 0,
  };
  const kept = options.keepOutcomes ? new Map<string, VmOutcome | 'deferred'>() : undefined;
  let settled = 0;
  let total = 0;
  const settle = (vmId: string, outcome: VmOutcome | 'deferred') => {
    counts[outcome] += 1;
    settled += 1;
    kept?.set(vmId, outcome);
    options.onProgress?.(settled, total);
  };
  let pairsChecked = 0;
  let subscriptions: readonly string[] = settings.subscriptions;
  /** VMs and scale sets holding a pull identity their tag no longer asks for, left so (revoke off). */
  let revocable = 0;
  /**
   * How many VMs and scale sets the sweep saw holding each identity (lower-cased ids), plus those it
   * attached it to, less those it detached it from: the unused finding. A count per identity, not the holders: constant memory.
   */
  const holders = new Map<string, number>();
  const noteUsed = (identity: TaggedVmRow['identity']) => {
    for (const id of attachedIdentityIds(identity ?? undefined))
      holders.set(id.toLowerCase(), (holders.get(id.toLowerCase()) ?? 0) + 1);
  };
  const noteChanges = (records: readonly AuditRecord[]) => {
    for (const r of records) {
      if (r.outcome !== 'changed' || !r.identityId) continue;
      const step = r.action === 'identity-attached' ? 1 : r.action === 'identity-detached' ? -1 : 0;
      const key = r.identityId.toLowerCase();
      if (step !== 0) holders.set(key, Math.max(0, (holders.get(key) ?? 0) + step));
    }
  };

  const finish = (finished: boolean, reason?: string, discoveryFailed = false): SweepResult => {
    const after = deps.meter.snapshot();
    // Tagged VMs on pages the sweep never reached are left for the next one, like those it reached
    // too late.
    const unreached = finished ? 0 : Math.max(0, total - settled);
    const summary: SweepSummary = {
      sweepId,
      mode: settings.mode,
      trigger,
      subscriptions: subscriptions.length,
      vmsScanned: settled,
      compliant: counts.compliant,
      changed: counts.changed,
      planned: counts.planned,
      rejected: counts.rejected,
      failed: counts.failed,
      skipped: counts.skipped + counts.untagged,
      deferred: counts.deferred + unreached,
      pairs: pairsChecked,
      revocable,
      armReads: after.reads - before.reads,
      armWrites: after.writes - before.writes,
      armPolls: after.polls - before.polls,
      armThrottled: after.throttled - before.throttled,
      durationMs: now() - started,
      finished,
      ...(reason ? { reason } : {}),
    };
    deps.audit.recordSweep(summary);
    deps.log.info(
      `sweep ${sweepId}: ${summary.vmsScanned} tagged VMs, ${summary.changed} changed, ${summary.failed} failed, ` +
        `${summary.deferred} deferred; ARM reads=${summary.armReads} writes=${summary.armWrites} polls=${summary.armPolls}` +
        (finished ? '' : `; stopped early: ${reason}`),
    );
    return {
      summary,
      discoveryFailed,
      vms: kept ? [...kept].map(([vmId, outcome]) => ({ vmId, outcome })) : [],
    };
  };

  // 1. Which subscriptions.
  try {
    if (subscriptions.length === 0) {
      subscriptions = await withRetry('list subscriptions', retryEnv, (signal) =>
        deps.subscriptions.listEnabledIds(signal),
      );
    }
  } catch (error) {
    return finish(false, `could not list tagged VMs: ${(error as Error).message}`, true);
  }
  if (subscriptions.length === 0) return finish(true, 'no subscriptions to sweep');

  // Registries: each subscription listed once per sweep; each (registry, region) ensured once, for
  // every page of every subscription.
  const listings = new Map<string, Promise<RegistryState[]>>();
  const authorizations = new Map<string, ReturnType<typeof authorizeRegistry>>();
  const authorize = (ref: RegistryRef, vmRef: ComputeRef) => {
    const scope = registrySearchScope(deps, vmRef.subscriptionId);
    const key = `${ref.form === 'resourceId' ? ref.registry.id.toLowerCase() : ref.name}|${scope.join(',')}`;
    let pending = authorizations.get(key);
    if (!pending) {
      pending = authorizeRegistry(deps, retryEnv, ref, scope, { listings });
      authorizations.set(key, pending);
    }
    return pending;
  };
  const pairAuditor = new Auditor(deps.audit, { mode: settings.mode, trigger, vmId: '' }, deps.now, {
    skipUnchanged: true,
  });
  const pairs = new Map<string, Promise<RegistryDecision>>();
  const pairKey = (registry: RegistryState, region: string) => `${registry.id.toLowerCase()}|${region}`;
  const ensurePair = (registry: RegistryState, region: string): Promise<RegistryDecision> => {
    const key = pairKey(registry, region);
    let pending = pairs.get(key);
    if (!pending) {
      pairsChecked += 1;
      pending = ensurePullAccess(deps, retryEnv, pairAuditor, registry, region).then((decision) => {
        // Cut short by the time budget: not a failure; its VMs are left for the next sweep.
        if (decision.status === 'failed' && outOfTime(decision.error)) stopped = true;
        else if (decision.status === 'failed') {
          pairAuditor.failed(decision.error, { registry: registry.name, registryId: registry.id });
        }
        return decision;
      });
      pairs.set(key, pending);
    }
    return pending;
  };
  const decide = async (
    ref: RegistryRef,
    region: string,
    vmRef: ComputeRef,
  ): Promise<RegistryDecision | undefined> => {
    const authorization = await authorize(ref, vmRef);
    if (authorization.status !== 'allowed') return authorization;
    const key = pairKey(authorization.registry, region);
    if (!pairs.has(key) && !hasTime()) return undefined; // out of time: not started
    return ensurePair(authorization.registry, region);
  };
  const pairLimit = pLimit(settings.sweepConcurrency);
  let stopped = false;

  // One page: parse every tag (an invalid one is audited against its VM and costs nothing more),
  // ensure its (registry, region) pairs, then reconcile its VMs, `vmLimit` at a time.
  const processPage = async (rows: readonly TaggedVmRow[], vmLimit: ReturnType<typeof pLimit>) => {
    const work: VmWork[] = [];
    for (const row of rows) {
      noteUsed(row.identity);
      const vmRef = parseComputeId(row.id);
      if (!vmRef) continue;
      const parsed = parseRegistryTag(row.tagValue ?? '', settings.maxRegistriesPerVm);
      if (!parsed.ok) {
        vmAuditor(deps, trigger, vmRef.id).record('tag-invalid', 'rejected', {
          reason: `${settings.tagKey} tag: ${parsed.reason}`,
        });
        settle(vmRef.id, 'rejected');
        continue;
      }
      // A VM whose only identity is its owner's user-assigned one is left alone (IMDS default) from
      // the snapshot, before any identity or grant is made for it; the refs the allowlist denies by
      // name go on, to be audited as such. A name-pull single identity is left to the VM's reconcile,
      // which proves it (systemData) before counting it as the app's.
      const region = normalizeRegion(row.location ?? '');
      const refused = refuseForImdsDefault(settings, row.identity, parsed.refs, region, (id) =>
        isPullIdentityId(settings, id),
      );
      const auditor = refused.length > 0 ? vmAuditor(deps, trigger, vmRef.id) : undefined;
      for (const { ref, identityId, reason } of refused) {
        auditor?.record('attach-refused', 'rejected', { registry: ref.name, identityId, reason });
      }
      const refs = parsed.refs.filter((ref) => !refused.some((r) => r.ref === ref));
      if (refs.length === 0) {
        settle(vmRef.id, 'rejected');
        continue;
      }
      work.push({ row, vmRef, region, refs, named: parsed.refs, refused: refused.length > 0 });
    }
    // The page's pairs first, so VM work never holds a slot waiting for a pair.
    await Promise.all(
      work.flatMap((item) => item.refs.map((ref) => pairLimit(() => decide(ref, item.region, item.vmRef)))),
    );
    await Promise.all(work.map((item) => vmLimit(() => reconcileItem(item))));
  };

  // Compliant from the snapshot costs nothing; otherwise re-read and reconcile the VM.
  const reconcileItem = async (item: VmWork): Promise<void> => {
    const decisions = await Promise.all(item.refs.map((ref) => decide(ref, item.region, item.vmRef)));
    if (decisions.some((d) => d === undefined)) {
      stopped = true;
      settle(item.vmRef.id, 'deferred');
      return;
    }
    const ready = decisions.filter(
      (d): d is Extract<RegistryDecision, { status: 'ready' }> => d?.status === 'ready',
    );
    const needsAttach = ready.some((d) => !isAttached(item.row.identity ?? undefined, d.identityId));
    // Pull identities of the app's the tag (or the allowlist) no longer asks for, from the snapshot:
    // with revocation on the VM is reconciled (which proves and detaches them), else counted.
    const denied = new Set(
      decisions.flatMap((d, i) =>
        d?.status === 'rejected' && d.action === 'registry-denied' ? [item.refs[i]?.name.toLowerCase()] : [],
      ),
    );
    const keep = registriesToKeep(item.named, denied, settings.allowlistUnset);
    const stale =
      revocationCandidates(settings, attachedIdentityIds(item.row.identity ?? undefined), keep).length > 0;
    if (stale && !settings.revoke) revocable += 1;
    if (!needsAttach && !(stale && settings.revoke)) {
      settle(item.vmRef.id, outcomeFromSnapshot(deps, trigger, item, decisions as RegistryDecision[]));
      return;
    }
    if (!hasTime()) {
      stopped = true;
      settle(item.vmRef.id, 'deferred');
      return;
    }
    // Decided once per (registry, region) above; the reconcile re-reads the VM and its tag, and a
    // registry the tag did not name in the snapshot is decided like any other.
    const known = new Map(item.refs.map((ref, i) => [ref.name, decisions[i] as RegistryDecision]));
    const decideKnown: DecideRegistry = async (ref, region, _auditor, _env, vmRef) =>
      (region === item.region ? known.get(ref.name) : undefined) ??
      (await decide(ref, region, vmRef)) ?? {
        status: 'failed',
        error: new Error('the sweep ran out of time'),
      };
    const result = await reconcileVm(
      deps,
      { vmId: item.vmRef.id, trigger, deadline: options.deadline },
      decideKnown,
    );
    noteChanges(result.records);
    settle(item.vmRef.id, result.outcome);
  };

  // 2. Each subscription's tagged VMs, page by page from Resource Graph (paced by its quota), each page
  // worked on while the next is fetched. Subscriptions run side by side, as ARM's limits are per
  // subscription (one shared pool would convoy behind the slowest); a few at a time, so memory holds
  // at most two pages per subscription in flight.
  let discoveryError: string | undefined;
  const sweepSubscription = async (subscriptionId: string) => {
    const vmLimit = pLimit(settings.sweepConcurrency);
    const fetchPage = (token: string | undefined) =>
      withRetry('query Resource Graph', retryEnv, (signal) =>
        deps.graph.taggedVmPage(
          [subscriptionId],
          settings.tagKey,
          token,
          signal,
          options.deadline.remainingMs() - marginMs,
        ),
      );
    let next: ReturnType<typeof fetchPage> | undefined = fetchPage(undefined);
    let firstPage = true;
    while (next) {
      let page: Awaited<ReturnType<typeof fetchPage>>;
      try {
        page = await next;
      } catch (error) {
        if (isQuotaExhausted(error)) {
          stopped = true;
          return;
        }
        discoveryError ??= `could not list tagged VMs in ${subscriptionId}: ${(error as Error).message}`;
        return;
      }
      if (firstPage) total += page.totalRecords ?? page.rows.length;
      firstPage = false;
      const token = page.skipToken;
      next = token && hasTime() && !stopped ? fetchPage(token) : undefined;
      if (token && !next) stopped = true;
      // A page fetched ahead that is not used must not reject unobserved.
      next?.catch(() => {});
      await processPage(page.rows, vmLimit);
    }
    if (!stopped && hasTime()) await sweepHolders(subscriptionId, vmLimit);
  };

  // 2b. Untagged VMs and scale sets holding a pull-named identity (their tag was removed): with
  // revocation on each is reconciled (read, proven, detached); off, counted. Paged like the tagged.
  const sweepHolders = async (subscriptionId: string, vmLimit: ReturnType<typeof pLimit>) => {
    let token: string | undefined;
    do {
      let page: Awaited<ReturnType<ResourceGraph['pullIdentityHoldersPage']>>;
      try {
        page = await withRetry('query Resource Graph', retryEnv, (signal) =>
          deps.graph.pullIdentityHoldersPage(
            [subscriptionId],
            settings.identityResourceGroup.id,
            settings.tagKey,
            token,
            signal,
            options.deadline.remainingMs() - marginMs,
          ),
        );
      } catch (error) {
        if (isQuotaExhausted(error)) stopped = true;
        else
          discoveryError ??= `could not list untagged pull identity holders in ${subscriptionId}: ${(error as Error).message}`;
        return;
      }
      const holders = page.rows.filter(
        (row) =>
          findTagValue(row.tags ?? {}, settings.tagKey) === undefined &&
          holdsRevocable(settings, attachedIdentityIds(row.identity ?? undefined)),
      );
      for (const row of holders) noteUsed(row.identity);
      if (!settings.revoke) revocable += holders.length;
      else {
        total += holders.length;
        await Promise.all(
          holders.map((row) =>
            vmLimit(async () => {
              if (!hasTime()) {
                stopped = true;
                settle(row.id, 'deferred');
                return;
              }
              const result = await reconcileVm(deps, { vmId: row.id, trigger, deadline: options.deadline });
              noteChanges(result.records);
              settle(row.id, result.outcome === 'untagged' ? 'compliant' : result.outcome);
            }),
          ),
        );
      }
      token = page.skipToken;
      if (token && (!hasTime() || stopped)) {
        stopped = true;
        return;
      }
    } while (token);
  };
  const subscriptionLimit = pLimit(Math.max(1, Math.min(8, subscriptions.length)));
  await Promise.all(subscriptions.map((sub) => subscriptionLimit(() => sweepSubscription(sub))));
  if (discoveryError !== undefined && settled === 0) return finish(false, discoveryError, true);
  if (discoveryError !== undefined) return finish(false, discoveryError);

  // 3. Findings: a pull identity that holds more than pull is flagged (the app never grants more), and
  // one of the app's that nothing the sweep saw holds any more is reported (kept, not deleted).
  if (!stopped && hasTime()) {
    const decided = await Promise.all(pairs.values());
    const ready = decided.filter(
      (d): d is Extract<RegistryDecision, { status: 'ready' }> => d.status === 'ready',
    );
    // Held by something the sweep saw, or wanted by a tag it saw (an attach deferred or failed).
    const used = new Set([...holders].filter(([, n]) => n > 0).map(([id]) => id));
    for (const d of ready) used.add(d.identityId.toLowerCase());
    await reportExcessRoles(deps, retryEnv, pairAuditor, ready, subscriptions);
    await reportUnusedIdentities(deps, retryEnv, pairAuditor, used);
  }
  return finish(!stopped, stopped ? 'time budget reached; the rest is left for the next sweep' : undefined);
}

function isQuotaExhausted(error: unknown): boolean {
  return (
    error instanceof QuotaExhaustedError ||
    (error instanceof ArmOperationError && error.cause instanceof QuotaExhaustedError)
  );
}

function vmAuditor(deps: ReconcileDeps, trigger: Trigger, vmId: string): Auditor {
  return new Auditor(deps.audit, { mode: deps.settings.mode, trigger, vmId }, deps.now);
}

/**
 * A VM the snapshot shows compliant for every allowed registry: no request. Refused registries are
 * audited against the VM; a failed pair was audited once for the pair and counts the VM as failed.
 */
function outcomeFromSnapshot(
  deps: ReconcileDeps,
  trigger: Trigger,
  item: VmWork,
  decisions: readonly RegistryDecision[],
): VmOutcome {
  let outcome: VmOutcome = item.refused ? 'rejected' : 'compliant';
  const auditor = vmAuditor(deps, trigger, item.vmRef.id);
  decisions.forEach((decision, i) => {
    if (decision.status === 'rejected') {
      auditor.record(decision.action, 'rejected', {
        registry: decision.registry?.name ?? item.refs[i]?.name,
        ...(decision.registry ? { registryId: decision.registry.id } : {}),
        ...refusedIdentity(decision),
        reason: decision.reason,
      });
      if (rank.rejected > rank[outcome]) outcome = 'rejected';
    } else if (decision.status === 'failed') {
      const cut = outOfTime(decision.error) ? 'deferred' : 'failed';
      if (rank[cut] > rank[outcome]) outcome = cut;
    }
  });
  return outcome;
}

/** A check the time budget cut short (no ARM refusal): deferred to the next sweep, not failed. */
function outOfTime(error: unknown): boolean {
  return error instanceof ArmOperationError && error.budgetExhausted;
}
