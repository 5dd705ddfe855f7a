// `npm run bench`: sweep and event-path figures against the emulator. Timings live here, never in
// jest. Each scenario's app side runs in its own process (worker.ts) so its peak RSS is the app's.
import { fork } from 'node:child_process';
import path from 'node:path';
import { DEFAULT_LIMITS, type Emulator, startEmulator } from '@acrpull/azure-emulator';
import {
  appSettings,
  FAST,
  type FleetCase,
  type OperationTimes,
  REALISTIC,
  REGISTRIES,
  SUBSCRIPTIONS,
  seedFleet,
} from './fleet';
import { stormLine, stormScenario } from './storm';
import type { WorkerReply, WorkerRequest } from './worker';

const LATENCIES = [0, 30] as const;
const POLLS_PER_ATTACH = 1; // the first poll comes after the operation's duration
/** A sweep of thousands of new VMs is paced by ARM's limits; it runs to the end within this budget. */
const NEW_FLEET_BUDGET_SECONDS = 900;
/** The 100,000-VM sweep runs with V8's old space capped here: it must not need more. */
const HEAP_CAP_MB = 128;

interface Run {
  readonly latencyMs: number;
  readonly reads: number;
  readonly writes: number;
  readonly polls: number;
  readonly wallSeconds: number;
  readonly peakRssMb: number;
  readonly reply: WorkerReply;
  readonly attachedAfter: number;
  /** 429s the emulator sent (only with the throttle on). */
  readonly throttled: number;
}

function runWorker(
  request: WorkerRequest,
  env: Record<string, string>,
  execArgv: readonly string[] = [],
): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'worker.js'), [], {
      env: { ...process.env, ...env },
      stdio: 'inherit',
      execArgv: [...execArgv],
    });
    child.once('message', (reply) => resolve(reply as WorkerReply));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`bench worker exited with ${code}`));
    });
    child.send(request);
  });
}

function countAttached(emu: Emulator): number {
  return emu.listVms().filter((vm) => Object.keys(vm.identity?.userAssignedIdentities ?? {}).length > 0)
    .length;
}

/** The fewest ARM requests any correct sweep could make for this case (see README "Benchmark"). */
function lowerBound(
  n: number,
  pairs: number,
  fleetCase: FleetCase,
  attaches: number,
  finished: boolean,
): number {
  // Resource Graph pages: each subscription's VMs are paged on their own (VM i is in subscription i % 3).
  const pages = SUBSCRIPTIONS.reduce(
    (sum, _, k) =>
      sum + Math.ceil(Math.floor((n + SUBSCRIPTIONS.length - 1 - k) / SUBSCRIPTIONS.length) / 1000),
    0,
  );
  const pairChecks = pairs * (fleetCase === 'new' ? 4 : 2); // read identity + read grants (+ create both)
  const perAttach = 1 + 1 + POLLS_PER_ATTACH; // read with etag, PATCH, status polls
  // A finished sweep lists each existing pull identity's role assignments in each swept subscription
  // (the role check: one identity per pair here; an identity the sweep just created holds nothing to
  // list), and the identity resource group once (the unused and foreign identities: one page of 100).
  // A new fleet also needs the number of pull identities before creating one (the cap): at least one
  // list of the group.
  const roleLists = fleetCase === 'new' ? 0 : pairs * SUBSCRIPTIONS.length;
  const capCount = fleetCase === 'new' ? Math.ceil(pairs / 100) : 0;
  // And each swept subscription's Event Grid system topics (events-missing): one list each; the bench
  // deploys no topics, so there are no event subscriptions to list.
  const eventTopics = SUBSCRIPTIONS.length;
  const findings = (finished ? roleLists + Math.ceil(pairs / 100) + eventTopics : 0) + capCount;
  // One query per subscription for untagged VMs holding a pull identity (revocation; none here).
  const holders = SUBSCRIPTIONS.length;
  // Before its first write in a resource group, whether another service manages it: one read per
  // group that holds a VM to attach (the fleet's VMs are in rg-fleet of each subscription).
  const groupReads = Math.min(attaches, SUBSCRIPTIONS.length);
  return pages + holders + pairChecks + attaches * perAttach + findings + groupReads;
}

/**
 * The least time a sweep that attaches `attaches` VMs could take under ARM's budgets: on each
 * subscription's write bucket its PATCHes, on its read bucket each VM's read and poll, served no
 * faster than the bucket's burst plus its refill allow (shared by every instance of the app); then
 * the last PATCH's operation runs for at least the shortest operation time before anyone can see it
 * end.
 */
function sweepTimeBoundSeconds(attaches: number, times: OperationTimes): number {
  const perSubscription = Math.ceil(attaches / SUBSCRIPTIONS.length);
  const bucketSeconds = (requests: number, kind: 'reads' | 'writes') =>
    Math.max(0, (requests - DEFAULT_LIMITS[kind].burst) / DEFAULT_LIMITS[kind].perSecond);
  const shortestOperation =
    typeof times.operationDurationMs === 'number'
      ? times.operationDurationMs
      : times.operationDurationMs.minMs;
  return (
    Math.max(
      bucketSeconds(perSubscription * (1 + POLLS_PER_ATTACH), 'reads'),
      bucketSeconds(perSubscription, 'writes'),
    ) + (attaches > 0 ? shortestOperation / 1000 : 0)
  );
}

async function sweepScenario(
  n: number,
  fleetCase: FleetCase,
  times: OperationTimes,
  options: {
    readonly latencies?: readonly number[];
    readonly throttle?: boolean;
    /** V8's old-space cap for the app's process: a sweep that held the fleet would run out of memory. */
    readonly heapCapMb?: number;
  } = {},
) {
  const runs: Run[] = [];
  let pairs = 0;
  let nonCompliant = 0;
  for (const latencyMs of options.latencies ?? LATENCIES) {
    const emu = await startEmulator({
      operationDurationMs: times.operationDurationMs,
      pageSize: 100,
      // ARM's buckets and Resource Graph's quota (15 queries per 5 s) enforced: 429s are real.
      ...(options.throttle ? { throttle: true } : {}),
    });
    try {
      const fleet = seedFleet(emu, n, fleetCase);
      pairs = fleet.pairs;
      nonCompliant = fleet.nonCompliant;
      emu.setLatency(latencyMs);
      emu.resetCounts();
      const env = {
        ...appSettings(emu, times),
        ...(fleetCase === 'new'
          ? { ACRPULL_SWEEP_TIME_BUDGET_SECONDS: String(NEW_FLEET_BUDGET_SECONDS) }
          : {}),
      };
      const reply = await runWorker(
        { kind: 'sweep', caCertPem: emu.caCertPem },
        env,
        options.heapCapMb ? [`--max-old-space-size=${options.heapCapMb}`] : [],
      );
      const totals = emu.totals();
      runs.push({
        latencyMs,
        reads: totals.reads,
        writes: totals.writes,
        polls: totals.polls,
        wallSeconds: reply.wallMs / 1000,
        peakRssMb: reply.peakRssMb,
        reply,
        attachedAfter: countAttached(emu),
        throttled: emu.throttled().total,
      });
    } finally {
      await emu.close();
    }
  }
  const base = runs[0] as Run;
  const changed = base.reply.summary?.changed ?? 0;
  const bound = lowerBound(n, pairs, fleetCase, changed, base.reply.summary?.finished ?? false);
  const timeBound = sweepTimeBoundSeconds(changed, times);
  const total = base.reads + base.writes + base.polls;
  return {
    scenario: `sweep-${fleetCase}-${n}`,
    vms: n,
    operation: times.label,
    case: fleetCase,
    nonCompliantBefore: nonCompliant,
    changed,
    finished: base.reply.summary?.finished ?? false,
    deferred: base.reply.summary?.deferred ?? 0,
    failed: base.reply.summary?.failed ?? 0,
    requests: { read: base.reads, write: base.writes, poll: base.polls, total },
    lowerBound: bound,
    ratio: Number((total / bound).toFixed(3)),
    timeBoundSeconds: Number(timeBound.toFixed(1)),
    wallSeconds: Object.fromEntries(
      runs.map((r) => [`latency${r.latencyMs}ms`, Number(r.wallSeconds.toFixed(2))]),
    ),
    vmsPerSecond: Object.fromEntries(
      runs.map((r) => [
        `latency${r.latencyMs}ms`,
        Number(((r.reply.summary?.changed ?? 0) / r.wallSeconds).toFixed(1)),
      ]),
    ),
    attachedAfter: Object.fromEntries(runs.map((r) => [`latency${r.latencyMs}ms`, r.attachedAfter])),
    peakRssMb: Number(Math.max(...runs.map((r) => r.peakRssMb)).toFixed(1)),
    throttled: base.throttled,
    auditRecords: base.reply.auditRecords,
  };
}

async function eventScenario(times: OperationTimes) {
  const emu = await startEmulator({ operationDurationMs: times.operationDurationMs });
  try {
    const fleet = seedFleet(emu, 8, 'steady');
    const fresh = emu.seedVm({
      subscriptionId: SUBSCRIPTIONS[0],
      resourceGroup: 'rg-fleet',
      name: 'vm-first-time',
      location: 'eastus',
      tags: { acrPull: REGISTRIES[0] as string },
    });
    const measure = async (vmId: string) => {
      emu.resetCounts();
      const reply = await runWorker(
        { kind: 'event', caCertPem: emu.caCertPem, vmId },
        appSettings(emu, times),
      );
      const t = emu.totals();
      return {
        outcome: reply.outcome,
        read: t.reads,
        write: t.writes,
        poll: t.polls,
        total: t.reads + t.writes + t.polls,
      };
    };
    const firstTimeVm = await measure(fresh.id);
    const alreadyCompliantVm = await measure(fleet.vmIds[0] as string);
    // A figure of an event that was refused or failed would be a figure of nothing.
    if (firstTimeVm.outcome !== 'changed' || alreadyCompliantVm.outcome !== 'compliant')
      throw new Error(
        `event path: expected changed and compliant, got ${firstTimeVm.outcome} and ${alreadyCompliantVm.outcome}`,
      );
    return {
      scenario: 'event-path',
      firstTimeVm,
      alreadyCompliantVm,
      ownPatchEcho: await measure(fresh.id),
    };
  } finally {
    await emu.close();
  }
}

/** `bench: adopt <n> VMs op=<s>s wall=<s>s bound=<s>s ratio=<r> finished=<yes|no> throttled=<n>` */
function adoptLine(r: Awaited<ReturnType<typeof sweepScenario>>): string {
  const wall = r.wallSeconds.latency30ms;
  const ratio = wall === undefined || r.timeBoundSeconds === 0 ? '-' : (wall / r.timeBoundSeconds).toFixed(2);
  return (
    `bench: adopt ${r.vms} VMs op=${r.operation} wall=${wall}s bound=${r.timeBoundSeconds}s ratio=${ratio} ` +
    `finished=${r.finished ? 'yes' : 'no'} throttled=${r.throttled} failed=${r.failed} deferred=${r.deferred} requests=${r.requests.total}`
  );
}

function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0]?.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length))) ?? [];
  return cells.map((r) => r.map((cell, c) => cell.padStart(widths[c] ?? 0)).join('  ')).join('\n');
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const times = process.argv.includes('--fast') ? FAST : REALISTIC;
  console.log(`bench: operation times ${times.name} (op=${times.label})`);
  // `--adopt N`: only the adoption of N new VMs (one sweep), for a quick look at that figure.
  const adoptOnly = process.argv.indexOf('--adopt');
  if (adoptOnly >= 0) {
    const n = Number(process.argv[adoptOnly + 1] ?? 10_000);
    const r = await sweepScenario(n, 'new', times, { latencies: [30], throttle: true });
    console.log(JSON.stringify(r));
    console.log(adoptLine(r));
    return;
  }
  const sizes = quick ? [1000] : [1000, 10_000];
  const results = [];
  // The storm: 2,000 VMs tagged within a minute, events over 1 and 8 app instances sharing ARM's buckets.
  const storms = [];
  for (const instances of quick ? [] : [1, 8]) {
    const storm = await stormScenario(instances, times);
    console.log(JSON.stringify({ scenario: `storm-${instances}`, ...storm }));
    storms.push(storm);
  }
  for (const n of sizes) {
    for (const fleetCase of ['steady', 'drift', 'new'] as const) {
      // Adopting an estate (every VM new) takes minutes at ARM's pace: measured once, at 30 ms, with
      // ARM's buckets enforced (429s are real and counted).
      const adopt = fleetCase === 'new';
      const result = await sweepScenario(n, fleetCase, times, {
        latencies: adopt ? [30] : LATENCIES,
        ...(adopt ? { throttle: true } : {}),
      });
      console.log(JSON.stringify(result));
      results.push(result);
    }
  }
  // 100,000 VMs, steady, with ARM's and Resource Graph's limits enforced: constant memory, within quota.
  const huge = quick
    ? undefined
    : await sweepScenario(100_000, 'steady', times, {
        latencies: [30],
        throttle: true,
        heapCapMb: HEAP_CAP_MB,
      });
  if (huge) {
    console.log(JSON.stringify(huge));
    results.push(huge);
  }
  const event = await eventScenario(times);
  console.log(JSON.stringify(event));

  console.log('');
  console.log(
    table([
      [
        'scenario',
        'changed',
        'reads',
        'writes',
        'polls',
        'bound',
        'ratio',
        'wall 0ms',
        'wall 30ms',
        'VMs/s 30ms',
        'rss MB',
        'finished',
      ],
      ...results.map((r) => [
        r.scenario,
        r.changed,
        r.requests.read,
        r.requests.write,
        r.requests.poll,
        r.lowerBound,
        r.ratio.toFixed(2),
        r.wallSeconds.latency0ms === undefined ? '-' : `${r.wallSeconds.latency0ms}s`,
        `${r.wallSeconds.latency30ms}s`,
        r.vmsPerSecond.latency30ms ?? 0,
        r.peakRssMb,
        r.finished ? 'yes' : `no (${r.deferred} left)`,
      ]),
    ]),
  );
  console.log(
    `\nevent path: first-time VM ${event.firstTimeVm.total} requests (${event.firstTimeVm.read} reads, ${event.firstTimeVm.write} writes, ${event.firstTimeVm.poll} polls); ` +
      `already-compliant VM ${event.alreadyCompliantVm.total} (${event.alreadyCompliantVm.write} writes); echo of our own PATCH ${event.ownPatchEcho.total}`,
  );
  for (const r of results.filter((x) => x.case === 'new')) console.log(adoptLine(r));
  for (const storm of storms) console.log(stormLine(storm));
  if (huge) {
    console.log(
      `bench: sweep ${huge.vms} VMs steady ratio=${huge.ratio.toFixed(2)} wall30ms=${huge.wallSeconds.latency30ms}s rss=${Math.round(huge.peakRssMb)}MB`,
    );
  }
  const steady = results.find((r) => r.scenario === `sweep-steady-${sizes[sizes.length - 1]}`);
  if (steady) {
    console.log(
      `bench: steady-state ${steady.vms} VMs ratio=${steady.ratio.toFixed(2)} writes=${steady.requests.write} wall30ms=${steady.wallSeconds.latency30ms}s rss=${Math.round(steady.peakRssMb)}MB`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
