// The sweep: every tagged VM in the configured subscriptions, catching missed events and drift.
// Cost is kept near the lower bound: Resource Graph pages for discovery, one identity and grant
// check per (registry, region) rather than per VM, and a VM read plus attach only for VMs that the
// snapshot shows non-compliant (re-read first: the snapshot can lag ARM).
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { Auditor } from '../audit/auditor';
import type { SweepSummary, Trigger } from '../audit/auditRecord';
import type { ArmRequestMeter } from '../azure/armRequestPolicy';
import type { RegistryState } from '../azure/containerRegistries';
import type { ResourceGraph, TaggedVmRow } from '../azure/resourceGraph';
import { type Deadline, type RetryEnvironment, withRetry } from '../azure/retry';
import type { Subscriptions } from '../azure/subscriptions';
import { isAttached } from '../core/attachPlan';
import { normalizeRegion } from '../core/names';
import { isPullIdentityId } from '../core/pullIdentity';
import { parseVmId, type VmRef } from '../core/resourceId';
import { parseRegistryTag, type RegistryRef } from '../core/tag';
import { reportExcessRoles } from './identityFindings';
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
}

export interface SweepResult {
  readonly summary: SweepSummary;
  /** The tagged VMs could not be listed: nothing was reconciled. */
  readonly discoveryFailed: boolean;
  readonly vms: readonly { readonly vmId: string; readonly outcome: VmOutcome | 'deferred' }[];
}

interface VmWork {
  readonly row: TaggedVmRow;
  readonly vmRef: VmRef;
  readonly region: string;
  readonly refs: readonly RegistryRef[];
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
  const outcomes = new Map<string, VmOutcome | 'deferred'>();
  let total = 0;
  const settle = (vmId: string, outcome: VmOutcome | 'deferred') => {
    outcomes.set(vmId, outcome);
    options.onProgress?.(outcomes.size, total);
  };
  let pairsChecked = 0;

  const finish = (finished: boolean, reason?: string, discoveryFailed = false): SweepResult => {
    const after = deps.meter.snapshot();
    const count = (o: VmOutcome | 'deferred') => [...outcomes.values()].filter((v) => v === o).length;
    const summary: SweepSummary = {
      sweepId,
      mode: settings.mode,
      trigger,
      subscriptions: subscriptions.length,
      vmsScanned: outcomes.size,
      compliant: count('compliant'),
      changed: count('changed'),
      planned: count('planned'),
      rejected: count('rejected'),
      failed: count('failed'),
      skipped: count('skipped') + count('untagged'),
      deferred: count('deferred'),
      pairs: pairsChecked,
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
    return { summary, discoveryFailed, vms: [...outcomes].map(([vmId, outcome]) => ({ vmId, outcome })) };
  };

  // 1. Discover: which subscriptions, then every tagged VM in them from Resource Graph.
  let subscriptions: readonly string[] = settings.subscriptions;
  const rows: TaggedVmRow[] = [];
  try {
    if (subscriptions.length === 0) {
      subscriptions = await withRetry('list subscriptions', retryEnv, (signal) =>
        deps.subscriptions.listEnabledIds(signal),
      );
    }
    if (subscriptions.length === 0) return finish(true, 'no subscriptions to sweep');
    let skipToken: string | undefined;
    do {
      const token = skipToken;
      const page = await withRetry('query Resource Graph', retryEnv, (signal) =>
        deps.graph.taggedVmPage(subscriptions, settings.tagKey, token, signal),
      );
      rows.push(...page.rows);
      skipToken = page.skipToken;
    } while (skipToken);
  } catch (error) {
    return finish(false, `could not list tagged VMs: ${(error as Error).message}`, true);
  }

  total = rows.length;
  // 2. Parse every tag; an invalid one is audited against its VM and costs nothing more.
  const work: VmWork[] = [];
  for (const row of rows) {
    const vmRef = parseVmId(row.id);
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
    // the snapshot, before any identity or grant is made for it; the refs the allowlist denies by name
    // go on, to be audited as such.
    const region = normalizeRegion(row.location ?? '');
    // From the snapshot, by name: a name-pull single identity is left to the VM's reconcile, which
    // proves it (systemData) before counting it as the app's.
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
    work.push({ row, vmRef, region, refs, refused: refused.length > 0 });
  }

  // 3. Registries: each subscription listed once per sweep; each (registry, region) ensured once.
  const listings = new Map<string, Promise<RegistryState[]>>();
  const authorizations = new Map<string, ReturnType<typeof authorizeRegistry>>();
  const authorize = (ref: RegistryRef, vmRef: VmRef) => {
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
        if (decision.status === 'failed') {
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
    vmRef: VmRef,
  ): Promise<RegistryDecision | undefined> => {
    const authorization = await authorize(ref, vmRef);
    if (authorization.status !== 'allowed') return authorization;
    const key = pairKey(authorization.registry, region);
    if (!pairs.has(key) && !hasTime()) return undefined; // out of time: not started
    return ensurePair(authorization.registry, region);
  };

  // 4. Every (registry, region) pair first, so VM work never holds a slot waiting for a pair.
  const limit = pLimit(settings.sweepConcurrency);
  await Promise.all(
    work.flatMap((item) => item.refs.map((ref) => limit(() => decide(ref, item.region, item.vmRef)))),
  );

  // 5. Each VM: compliant from the snapshot costs nothing; otherwise re-read and reconcile it.
  // Concurrency is per subscription, as ARM's limits are: one shared pool would fill up with the
  // slowest subscription's VMs (a convoy) and run the whole sweep at that subscription's pace.
  const perSubscription = new Map<string, ReturnType<typeof pLimit>>();
  const limitFor = (subscriptionId: string) => {
    let pool = perSubscription.get(subscriptionId);
    if (!pool) {
      pool = pLimit(settings.sweepConcurrency);
      perSubscription.set(subscriptionId, pool);
    }
    return pool;
  };
  let stopped = false;
  await Promise.all(
    work.map((item) =>
      limitFor(item.vmRef.subscriptionId)(async () => {
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
        if (!needsAttach) {
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
        settle(item.vmRef.id, result.outcome);
      }),
    ),
  );
  // 6. Findings: a pull identity that holds more than pull is flagged (the app never grants more).
  if (!stopped && hasTime()) {
    const decided = await Promise.all(pairs.values());
    const ready = decided.filter(
      (d): d is Extract<RegistryDecision, { status: 'ready' }> => d.status === 'ready',
    );
    await reportExcessRoles(deps, retryEnv, pairAuditor, ready, subscriptions);
  }
  return finish(!stopped, stopped ? 'time budget reached; the rest is left for the next sweep' : undefined);
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
      outcome = 'failed';
    }
  });
  return outcome;
}
