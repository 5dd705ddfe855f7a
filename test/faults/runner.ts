// The fault matrix: a mixed fleet of VMs and scale sets driven through events and sweeps while the
// emulator injects, at random from a fixed seed, every fault ARM is known to answer with, and other
// writers create and update VMs while the app works (Compute preempting a concurrent PATCH, the
// emulator's default); mid-way some tags are removed or cut down (revocation on); then one clean
// round; then the invariants. Used by the jest test (a small fleet) and by
// `npm run test:faults` (a larger one).
//
// generator.ts draws the scenario, faultDraw.ts the faults, invariants.ts checks what must hold; this
// file drives the harness through the phases. All draws come from one seeded PRNG, so the order of
// the calls below is part of the scenario: change it and a seed no longer gives the same run.

import { RECORDED_UPDATE_MS } from '@acrpull/azure-emulator';
import type { AuditRecord } from '../../src/audit/auditRecord';
import { RetryableReconcileError } from '../../src/handlers/vmWriteHandler';
import { SCALE_SET_WRITE, TAGS_WRITE } from '../../src/targets/writeEvent';
import { type Harness, startHarness } from '../support/harness';
import type { StateFault } from '../support/stateFaults';
import { armFaults, type FaultDraw } from './faultDraw';
import { eventOrder, type Fleet, generateFleet, prng, type Rng, retagMembers } from './generator';
import { assess, eventPathViolations, watchPatches } from './invariants';

export interface FaultMatrixOptions {
  readonly vms: number;
  readonly seed: number;
  /** Probability that any one ARM request meets a fault while faults are on. */
  readonly faultRate: number;
  /** Probability that any one state store request meets a fault while faults are on (default 0.05). */
  readonly stateFaultRate?: number;
  readonly log?: (line: string) => void;
}

export interface FaultMatrixReport {
  readonly faultsInjected: Record<string, number>;
  /** State store faults (Azurite behind a proxy): unavailable, dropped, slow, conflict. */
  readonly stateFaultsInjected: Record<StateFault, number>;
  readonly totalFaults: number;
  readonly eventsProcessed: number;
  readonly eventsThrown: number;
  readonly retries: number;
  readonly sweeps: number;
  readonly converged: number;
  readonly expectedToConverge: number;
  /** VMs whose only identity is their owner's user-assigned one: refused, as they must be. */
  readonly leftAloneForImdsDefault: number;
  /** VMs that asked for the planted pull identity's pair: refused, never granted or attached. */
  readonly askedForPlanted: number;
  /** Members that asked for the tainted pair (its identity holds a role beyond pull): refused. */
  readonly askedForTainted: number;
  readonly scaleSets: number;
  /** VMs and scale sets whose tag was removed or cut down mid-run (ACRPULL_REVOKE=on). */
  readonly retagged: number;
  /** Identities the app removed from VMs and scale sets, every one an identity it made. */
  readonly detached: number;
  /** Event-path attaches answered once ARM accepted them (pending in the state store). */
  readonly acceptedAttaches: number;
  /** `attach-confirmed` records: accepted attaches seen to end Succeeded (echo, event or sweep). */
  readonly confirmedAttaches: number;
  readonly violations: string[];
}

type Log = (line: string) => void;

/** The fast form's operation times: recorded ones divided by this. */
const TIME_SCALE = 20;

export async function runFaultMatrix(options: FaultMatrixOptions): Promise<FaultMatrixReport> {
  const rng = prng(options.seed);
  const log = options.log ?? (() => {});
  let retries = 0;
  // Few attempts per invocation, so redelivery (the handler throwing) is exercised, not just retries.
  // The state store is Azurite behind a proxy that injects the store's own faults.
  // Compute's operations as recorded (3.3-7.0 s), in the fast form: 20 times shorter, and the app's
  // polls (5 s after the PATCH, then every 2 s) with them. So an operation is sometimes still running
  // at the first poll, and one target's runs while other events for it arrive.
  const h = await startHarness({
    retry: { onRetry: () => retries++, maxAttempts: 3 },
    env: { ACRPULL_REVOKE: 'on', ACRPULL_ATTACH_FIRST_POLL_SECONDS: String(5 / TIME_SCALE) },
    emulator: {
      operationDurationMs: {
        minMs: RECORDED_UPDATE_MS.minMs / TIME_SCALE,
        maxMs: RECORDED_UPDATE_MS.maxMs / TIME_SCALE,
      },
      operationDurationSeed: options.seed,
    },
    pollIntervalMs: 2_000 / TIME_SCALE,
    stateFaults: true,
  });
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    return await drive(h, options, rng, log, () => retries, unhandled);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await h.close();
  }
}

async function drive(
  h: Harness,
  options: FaultMatrixOptions,
  rng: Rng,
  log: Log,
  retries: () => number,
  unhandled: unknown[],
): Promise<FaultMatrixReport> {
  // Prepare: the fleet, then the PATCH watch (armed first, so it sees every PATCH), then the faults.
  const fleet = generateFleet(h, options.vms, rng);
  const patches = watchPatches(h, fleet.planted);
  const faults = armFaults(h, fleet, rng, options.faultRate);
  const stateFaults = h.stateFaults;
  if (!stateFaults) throw new Error('the fault matrix runs with a state store');
  // Its own PRNG: the store's draws come at moments the ARM draws do not, and must not shift them.
  stateFaults.setDraw(stateFaultDraw(prng(options.seed + 1), options.stateFaultRate ?? 0.05));
  const deliveries = new Deliveries(h, fleet.isScaleSet);

  // Act: events — duplicated, reordered, some delivered twice at the same moment — and a sweep.
  await deliverEvents(deliveries, eventOrder(fleet, rng), rng);
  const violations = eventPathViolations(h, fleet, faults.deleted, deliveries.failedEvents);
  let sweeps = 0;
  await h.sweep();
  sweeps++;
  log(
    `faults on: ${deliveries.processed} events (${deliveries.thrown} thrown for redelivery), 1 sweep, ${retries()} retries`,
  );
  const retagged = await revoke(h, fleet, faults, deliveries, rng);
  log(`revocation: ${retagged.length} tags removed or cut down`);
  stateFaults.setDraw(undefined);
  await cleanRound(h, faults, deliveries, log, options.vms);
  sweeps++;

  // Assess: the invariants.
  const assessment = assess(h, {
    fleet,
    deleted: faults.deleted,
    writerAdded: faults.writerAdded,
    failedEvents: deliveries.failedEvents,
    unhandled,
    patches,
  });
  violations.push(...assessment.violations);
  violations.push(...stateStoreViolations(h.audit.records));
  violations.push(...(await pendingViolations(h, faults.deleted)));
  const acceptedAttaches = h.audit.records.filter(
    (r) =>
      r.action === 'identity-attached' && r.outcome === 'changed' && /^ARM accepted/.test(r.reason ?? ''),
  ).length;
  const confirmedAttaches = h.audit.records.filter((r) => r.action === 'attach-confirmed').length;
  log(`accepted attaches: ${acceptedAttaches} answered at ARM's acceptance, ${confirmedAttaches} confirmed`);
  const totalFaults =
    Object.values(faults.injected).reduce((a, b) => a + b, 0) +
    Object.values(stateFaults.injected).reduce((a, b) => a + b, 0);
  return {
    faultsInjected: faults.injected,
    stateFaultsInjected: { ...stateFaults.injected },
    totalFaults,
    eventsProcessed: deliveries.processed,
    eventsThrown: deliveries.thrown,
    retries: retries(),
    sweeps,
    converged: assessment.converged,
    expectedToConverge: assessment.expectedToConverge,
    leftAloneForImdsDefault: assessment.leftAloneForImdsDefault,
    askedForPlanted: assessment.askedForPlanted,
    askedForTainted: assessment.askedForTainted,
    scaleSets: fleet.scaleSets.length,
    retagged: retagged.length,
    detached: patches.detached(),
    acceptedAttaches,
    confirmedAttaches,
    violations,
  };
}

const STATE_FAULTS: readonly StateFault[] = ['unavailable', 'dropped', 'slow', 'conflict'];

function stateFaultDraw(rng: Rng, rate: number): () => StateFault | undefined {
  return () => (rng() < rate ? STATE_FAULTS[Math.floor(rng() * STATE_FAULTS.length)] : undefined);
}

/**
 * Every accepted attach is seen to end by the clean round (confirmed, or sent again if it Failed):
 * a pending row left behind belongs to a target deleted mid-flight or to an operation of the app's
 * still running.
 */
async function pendingViolations(h: Harness, deleted: ReadonlySet<string>): Promise<string[]> {
  const left = await h.runtime.memory?.pendingTargets();
  if (!left) return ['the state store did not list the pending operations after the clean round'];
  const violations: string[] = [];
  const running = (target: string) => h.emu.vmOperations(target).some((o) => o.status === 'InProgress');
  for (const [target, pending] of left) {
    if (deleted.has(target) || running(target)) continue;
    violations.push(
      `${target}: the attach ARM accepted at ${new Date(pending.acceptedAt).toISOString()} was neither confirmed nor sent again by the clean round (${storyOf(h, target)})`,
    );
  }
  // No target left Failed by an operation the event path answered at ARM's acceptance: its end must
  // be seen and, Failed, sent again. (A Failed operation the app followed to its end itself, on the
  // sweep path, is outside this: see docs/how-it-works.md, what is not here yet.)
  const acceptedAt = new Map<string, number>();
  for (const r of h.audit.records) {
    const at = /ARM accepted the update at (\S+?);/.exec(r.reason ?? '')?.[1];
    if (r.action !== 'identity-attached' || !at) continue;
    const key = r.vmId.toLowerCase();
    acceptedAt.set(key, Math.max(acceptedAt.get(key) ?? 0, Date.parse(at)));
  }
  for (const [target, at] of acceptedAt) {
    if (deleted.has(target) || running(target)) continue;
    const ours = h.emu
      .vmOperations(target)
      .filter((o) => o.startedBy === h.emu.appIdentity.principalId)
      .sort((a, b) => Date.parse(b.startTime) - Date.parse(a.startTime));
    const last = ours[0];
    // The app's last operation on it is the accepted one (it started as ARM accepted the PATCH).
    const isAccepted = last !== undefined && Math.abs(Date.parse(last.startTime) - at) < 2_000;
    // Failed, and nothing succeeded on it since (a later update by anyone applies the whole model,
    // the identity included: nothing to send again then).
    if (isAccepted && last.status === 'Failed' && h.emu.getVm(target)?.provisioningState === 'Failed') {
      violations.push(
        `${target}: the operation ARM accepted at ${new Date(at).toISOString()} ended Failed, and the target is still Failed: not sent again by the clean round (${storyOf(h, target)})`,
      );
    }
  }
  return violations;
}

/** Where a target stands, what ran on it and its last records: enough to tell a cause from one line. */
function storyOf(h: Harness, target: string): string {
  const vm = h.emu.getVm(target);
  const operations = h.emu
    .vmOperations(target)
    .sort((a, b) => Date.parse(a.startTime) - Date.parse(b.startTime))
    .map(
      (o) =>
        `${o.startedBy === h.emu.appIdentity.principalId ? 'app' : 'other'} ${o.kind} ${o.startTime}→${o.endTime ?? '…'} ${o.status}`,
    );
  const records = h.audit.records
    .filter((r) => r.vmId.toLowerCase() === target)
    .slice(-8)
    .map((r) => `${r.action}:${r.outcome}${r.reason ? ` (${r.reason.slice(0, 160)})` : ''}`);
  return `now ${vm?.provisioningState ?? 'gone'}, holding ${Object.keys(vm?.identity?.userAssignedIdentities ?? {}).length} user-assigned; operations: ${operations.join('; ')}; last records: ${records.join(' | ')}`;
}

/** The store's faults cost reads, never a decision: no record may fail because of it. */
function stateStoreViolations(records: readonly AuditRecord[]): string[] {
  return records
    .filter((r) => r.outcome === 'failed' && /state store/i.test(r.reason ?? ''))
    .map((r) => `${r.vmId}: a state store fault failed a decision: ${r.reason}`);
}

/** Event deliveries to the app, counted; an event that throws for redelivery is remembered. */
class Deliveries {
  processed = 0;
  thrown = 0;
  readonly failedEvents = new Set<string>();

  constructor(
    private readonly h: Harness,
    private readonly isScaleSet: ReadonlySet<string>,
  ) {}

  async deliver(vmId: string, operationName?: string): Promise<void> {
    this.processed++;
    try {
      const op = operationName ?? (this.isScaleSet.has(vmId.toLowerCase()) ? SCALE_SET_WRITE : undefined);
      await this.h.deliver(vmId, op ? { operationName: op } : {});
    } catch (error) {
      this.thrown++;
      if (!(error instanceof RetryableReconcileError)) throw error;
      this.failedEvents.add(vmId);
    }
  }
}

/** The events in batches, faults on; some batches deliver their first event twice at once. */
async function deliverEvents(deliveries: Deliveries, events: readonly string[], rng: Rng): Promise<void> {
  const batchSize = 8;
  for (let i = 0; i < events.length; i += batchSize) {
    const batch = events.slice(i, i + batchSize);
    if (rng() < 0.2 && batch[0]) batch.push(batch[0]); // two invocations for one VM at once
    await Promise.all(batch.map((id) => deliveries.deliver(id)));
  }
}

/**
 * Revocation, faults still on: some owners remove their tag or cut it down to one registry, and
 * their tag-write events arrive (some twice); whatever they miss, the clean sweep catches.
 */
async function revoke(
  h: Harness,
  fleet: Fleet,
  faults: FaultDraw,
  deliveries: Deliveries,
  rng: Rng,
): Promise<string[]> {
  const retagged = retagMembers(h, fleet, faults.deleted, rng);
  await Promise.all(
    retagged.flatMap((id) => (rng() < 0.2 ? [id, id] : [id])).map((id) => deliveries.deliver(id, TAGS_WRITE)),
  );
  return retagged;
}

/** Clean round: faults off, other writers done, failed events redelivered, one sweep. */
async function cleanRound(
  h: Harness,
  faults: FaultDraw,
  deliveries: Deliveries,
  log: Log,
  vms: number,
): Promise<void> {
  faults.stop();
  while (
    h.emu
      .vmOperations()
      .some((op) => op.status === 'InProgress' && op.startedBy !== h.emu.appIdentity.principalId)
  )
    await new Promise((resolve) => setTimeout(resolve, 50));
  for (const vmId of deliveries.failedEvents) await deliveries.deliver(vmId);
  const beforeClean = h.audit.records.length;
  // A budget for the whole fleet (a pair check cut short by the budget counts its VMs as failed), that
  // grows with it: on 10,000 VMs the in-memory Azurite answers the sweep's state reads far slower than
  // Table storage does. A sweep that still does not finish leaves the rest to the next, as in Azure.
  const budgetMs = Math.max(300_000, vms * 120);
  let clean = await h.sweep({ budgetMs });
  for (let more = 0; !clean.summary.finished && more < 2; more++) clean = await h.sweep({ budgetMs });
  log(
    `clean round: ${deliveries.failedEvents.size} redeliveries, sweep changed ${clean.summary.changed}, failed ${clean.summary.failed}, finished ${clean.summary.finished}`,
  );
  const cleanFailures = new Map<string, number>();
  for (const r of h.audit.records.slice(beforeClean)) {
    if (r.outcome !== 'failed') continue;
    const key = `${r.action}: ${(r.reason ?? '').slice(0, 160)}`;
    cleanFailures.set(key, (cleanFailures.get(key) ?? 0) + 1);
  }
  for (const [reason, n] of cleanFailures) log(`  clean-round failure x${n}: ${reason}`);
}
