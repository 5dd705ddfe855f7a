// The storm: N existing VMs tagged within one minute, each tag write one Event Grid event, delivered
// to K app processes (Functions instances) with 16 concurrent deliveries each, redelivered on Event
// Grid's schedule when the handler throws, against one emulator with ARM's buckets enforced (they are
// per principal: all K instances share them) and 30 ms latency per request. Measures the time until
// every VM is compliant, against the least any correct app could need under ARM's budgets. The
// instances share one state store (Azurite, as the Function App's storage account), so each answers
// once ARM has accepted its attach; as each attach's operation Succeeds, its echo (ARM's VM write
// event for the app's own PATCH) is delivered too, and the storm ends once every event was answered
// and no operation of the app's runs, counting the accepted attaches the echoes left unconfirmed.
import { fork } from 'node:child_process';
import path from 'node:path';
import {
  DEFAULT_LIMITS,
  mulberry32,
  resourceWriteSuccessEvent,
  retryDelayMs,
  startEmulator,
} from '@acrpull/azure-emulator';
import { startAzurite } from '../scripts/lib/azurite';
import { StateTable } from '../src/azure/stateTable';
import { silentLogger } from '../src/core/logger';
import { TargetMemory } from '../src/reconcile/targetMemory';
import { appSettings, FAST, type OperationTimes, REALISTIC, SUBSCRIPTIONS, seedFleet } from './fleet';
import type { StormFromWorker, StormToWorker } from './stormWorker';

const LATENCY_MS = 30;
/** Event Grid gives up after 30 attempts (or 24 h); the bench stops waiting after this long. */
const MAX_ATTEMPTS = 30;
const HORIZON_MS = 900_000;

export interface StormResult {
  readonly instances: number;
  readonly vms: number;
  /** The operation times (`3.3-7.0s`, `0.5s`). */
  readonly operation: string;
  /** Seconds from the first tag write until every VM was compliant (undefined: not within the horizon). */
  readonly wallSeconds: number | undefined;
  readonly boundSeconds: number;
  readonly requests: { read: number; write: number; poll: number; total: number };
  readonly throttled: number;
  readonly deliveries: number;
  readonly redeliveries: number;
  /** Requests by emulator operation (`vm.get`, `identity.get`, `roleAssignment.list`, …). */
  readonly byOperation: Record<string, number>;
  /** Echo events delivered: one per attach operation of the app's that Succeeded. */
  readonly echoes: number;
  /** Accepted attaches still pending in the store at the end (-1: the store did not answer). */
  readonly pendingLeft: number;
  /** Events Event Grid gave up on, or still undelivered when the bench stopped waiting. */
  readonly givenUp: number;
  readonly pacedByArm: number;
  readonly peakRssMb: number;
  /** Seconds until half, 90%, 99% of the VMs held their identity (where the tail is). */
  readonly progress: Record<string, number>;
}

/**
 * The least time any correct app needs: every tag written (the last one just before the window ends), and on each subscription's
 * read and write buckets (burst B, refill r per second, shared by every instance) the requests each
 * VM needs at least — its read, its PATCH, one status poll — served no faster than B + r·t allows.
 * Then the last VM's read and PATCH. Pair checks (a few per (registry, region)) are
 * left out, which only lowers the bound.
 */
export function stormBoundSeconds(vms: number, windowMs: number): number {
  const perSubscription = Math.ceil(vms / SUBSCRIPTIONS.length);
  const bucketSeconds = (requests: number, kind: 'reads' | 'writes') =>
    Math.max(0, (requests - DEFAULT_LIMITS[kind].burst) / DEFAULT_LIMITS[kind].perSecond);
  const budget = Math.max(
    // The last tag is written at (n-1)/n of the window (one every window/n from 0).
    (windowMs * (vms - 1)) / vms / 1000,
    bucketSeconds(perSubscription * 2, 'reads'), // the VM read and one poll
    bucketSeconds(perSubscription, 'writes'), // the PATCH
  );
  // The VM is compliant once its PATCH is accepted (the model has the identity from then on).
  const lastVm = (2 * LATENCY_MS) / 1000;
  return budget + lastVm;
}

const CLAIM_OID = 'http://schemas.microsoft.com/identity/claims/objectidentifier';

/** ARM's VM write event for the app's own PATCH (ResourceWriteSuccess, raised once it Succeeded). */
function echoEvent(vmId: string, operation: string, app: { principalId: string; clientId: string }) {
  return resourceWriteSuccessEvent(vmId, {
    id: `echo-${operation}`,
    operationName: 'Microsoft.Compute/virtualMachines/write',
    claims: { [CLAIM_OID]: app.principalId, appid: app.clientId },
  });
}

function tagWriteEvent(vmId: string, seq: number) {
  return resourceWriteSuccessEvent(vmId, {
    id: `storm-${seq}`,
    operationName: 'Microsoft.Resources/tags/write',
    claims: { 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn': 'owner@contoso.example' },
  });
}

export async function stormScenario(
  instances: number,
  times: OperationTimes,
  options: { vms?: number; windowMs?: number } = {},
): Promise<StormResult> {
  const n = options.vms ?? 2000;
  const windowMs = options.windowMs ?? 60_000;
  const emu = await startEmulator({
    throttle: true,
    latencyMs: LATENCY_MS,
    operationDurationMs: times.operationDurationMs,
    pageSize: 100,
  });
  // The Function App's storage account (AzureWebJobsStorage), shared by every instance as in Azure:
  // with it an invocation answers once ARM has accepted its attach (the operation is remembered).
  const azurite = await startAzurite();
  const workers = Array.from({ length: instances }, () =>
    fork(path.join(__dirname, 'stormWorker.js'), [], {
      env: { ...process.env, ...appSettings(emu, times), AzureWebJobsStorage: azurite.connectionString },
      stdio: 'inherit',
    }),
  );
  try {
    const fleet = seedFleet(emu, n, 'new');
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once('message', () => resolve());
            w.send({ kind: 'start', caCertPem: emu.caCertPem } satisfies StormToWorker);
          }),
      ),
    );
    emu.resetCounts();

    // The tag writes, then (appended as their operations end) the echo of each attach the app made:
    // ARM's VM write event for it, whose claims name the app, as Event Grid delivers it in Azure.
    const events: unknown[] = fleet.vmIds.map((id, seq) => tagWriteEvent(id, seq));
    const attempts: number[] = new Array<number>(n).fill(0);
    const echoed = new Set<string>();
    let delivered = 0;
    let givenUp = 0;
    let deliveries = 0;
    const timers = new Set<NodeJS.Timeout>();
    const later = (ms: number, run: () => void) => {
      const t = setTimeout(() => {
        timers.delete(t);
        run();
      }, ms);
      timers.add(t);
    };
    // Event Grid pushes each delivery to the app's front end, which spreads them over the instances:
    // at random (seeded), not in turn, since turns would line the fleet's (registry, region) pairs up
    // with the instances (VM i's pair and instance i mod K repeat together) and spare each instance
    // the pairs it never sees.
    const pick = mulberry32(20261207);
    const dispatch = (seq: number) => {
      attempts[seq] = (attempts[seq] ?? 0) + 1;
      deliveries++;
      const worker = workers[Math.floor(pick() * instances)];
      worker?.send({ kind: 'deliver', seq, event: events[seq] } satisfies StormToWorker);
    };
    for (const worker of workers) {
      worker.on('message', (m: StormFromWorker) => {
        if (m.kind !== 'delivered') return;
        if (m.ok) {
          delivered++;
          return;
        }
        const attempt = attempts[m.seq] ?? 1;
        if (attempt >= MAX_ATTEMPTS) {
          givenUp++;
          return;
        }
        const step = retryDelayMs(attempt);
        later(Math.round(step + step * 0.1 * Math.random()), () => dispatch(m.seq));
      });
    }

    const started = performance.now();
    for (let seq = 0; seq < n; seq++) later((seq * windowMs) / n, () => dispatch(seq));

    let compliantAt: number | undefined;
    let appRunning = 0;
    const progress: Record<string, number> = {};
    while (performance.now() - started < HORIZON_MS) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      if (compliantAt === undefined) {
        const attached = emu
          .listVms()
          .filter((vm) => Object.keys(vm.identity?.userAssignedIdentities ?? {}).length > 0).length;
        if (attached === n) compliantAt = performance.now();
        for (const share of [50, 90, 99])
          if (progress[`${share}%`] === undefined && attached * 100 >= n * share)
            progress[`${share}%`] = Math.round((performance.now() - started) / 100) / 10;
      }
      appRunning = 0;
      for (const op of emu.vmOperations()) {
        if (op.startedBy !== emu.appIdentity.principalId) continue;
        if (op.status === 'InProgress') appRunning++;
        if (op.status !== 'Succeeded' || echoed.has(op.name)) continue;
        echoed.add(op.name);
        events.push(echoEvent(op.vmId, op.name, emu.appIdentity));
        attempts.push(0);
        dispatch(events.length - 1);
      }
      if (delivered + givenUp === events.length && compliantAt !== undefined && appRunning === 0) break;
    }
    for (const t of timers) clearTimeout(t);
    const totals = emu.totals();
    const byOperation = Object.fromEntries(Object.entries(emu.counts()).filter(([, c]) => c > 0));
    const pendingLeft = (
      await new TargetMemory(
        StateTable.connect(
          { kind: 'connection-string', connectionString: azurite.connectionString },
          null as never,
        ),
        silentLogger,
      ).pendingTargets()
    )?.size;
    const stopped = await Promise.all(
      workers.map(
        (w) =>
          new Promise<Extract<StormFromWorker, { kind: 'stopped' }>>((resolve) => {
            w.on('message', (m: StormFromWorker) => {
              if (m.kind === 'stopped') resolve(m);
            });
            w.send({ kind: 'stop' } satisfies StormToWorker);
          }),
      ),
    );
    return {
      instances,
      vms: n,
      wallSeconds: compliantAt === undefined ? undefined : (compliantAt - started) / 1000,
      operation: times.label,
      boundSeconds: stormBoundSeconds(n, windowMs),
      requests: {
        read: totals.reads,
        write: totals.writes,
        poll: totals.polls,
        total: totals.reads + totals.writes + totals.polls,
      },
      throttled: emu.throttled().total,
      deliveries,
      redeliveries: deliveries - events.length,
      byOperation,
      echoes: echoed.size,
      pendingLeft: pendingLeft ?? -1,
      givenUp: events.length - delivered,
      pacedByArm: stopped.reduce((sum, s) => sum + s.pacedByArm, 0),
      peakRssMb: Math.max(...stopped.map((s) => s.peakRssMb)),
      progress,
    };
  } finally {
    for (const w of workers) if (w.connected) w.kill();
    await emu.close();
    await azurite.stop();
  }
}

/**
 * `bench: storm 2000 VMs instances=<K> op=<s>s wall=<s>s bound=<s>s ratio=<r> throttled=<n> given-up=<n>
 * per-instance=<VMs/s> echoes=<n> pending-left=<n>`
 */
export function stormLine(r: StormResult): string {
  const wall = r.wallSeconds === undefined ? 'not-reached' : `${r.wallSeconds.toFixed(1)}s`;
  const ratio = r.wallSeconds === undefined ? '-' : (r.wallSeconds / r.boundSeconds).toFixed(2);
  const perInstance =
    r.wallSeconds === undefined ? '-' : `${(r.vms / r.wallSeconds / r.instances).toFixed(2)}VMs/s`;
  return `bench: storm ${r.vms} VMs instances=${r.instances} op=${r.operation} wall=${wall} bound=${r.boundSeconds.toFixed(1)}s ratio=${ratio} throttled=${r.throttled} given-up=${r.givenUp} per-instance=${perInstance} echoes=${r.echoes} pending-left=${r.pendingLeft}`;
}

// `node dist/bench/storm.js K [VMS]`: one storm on its own.
if (require.main === module) {
  const k = Number(process.argv[2] ?? 1);
  const vms = Number(process.argv[3] ?? 2000);
  stormScenario(k, process.argv.includes('--fast') ? FAST : REALISTIC, { vms }).then(
    (r) => {
      console.log(JSON.stringify(r));
      console.log(stormLine(r));
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
