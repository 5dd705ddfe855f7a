// `npm run demo`: the whole app against the local emulator. Seeds a small mixed fleet (VMs, a scale
// set, a VM whose tag was removed), delivers one Event Grid event per resource through the real handler (real SDK clients over HTTPS, real
// DefaultAzureCredential via the emulator's managed-identity endpoint), redelivering on Event Grid's
// schedule while the handler throws (one VM is still being created when its event arrives), then
// delivers the events our own PATCHes cause, and prints what happened and what it cost in ARM requests.

import { deliverWithRetries, resourceWriteSuccessEvent, startEmulator } from '@acrpull/azure-emulator';
import { pullAsVm } from '@acrpull/azure-emulator/testing';
import { InvocationContext } from '@azure/functions';
import { startAzurite } from '../scripts/lib/azurite';
import { FanOutAuditSink, MemoryAuditSink } from '../src/audit/auditRecord';
import { loadSettings } from '../src/config/settings';
import { findTagValue } from '../src/core/tag';
import { createVmWriteHandler } from '../src/handlers/vmWriteHandler';
import type { TargetResult } from '../src/reconcile/perTarget/reconcileTarget';
import { createAuditSink, createRuntime } from '../src/runtime';
import { SCALE_SET_WRITE, TAGS_WRITE } from '../src/targets/writeEvent';
import { fleet as fleetOf } from '../test/support/fleet';

const SUB = '00000000-0000-0000-0000-000000000001';
/** How long vm-build-01's creation runs. */
const CREATION_MS = 3_000;
/**
 * Event Grid's redelivery schedule (10 s, 30 s, 1 min, …) at a fifth of real time, and an event budget
 * of 2 s instead of 25 s, so the demo shows a redelivery within seconds.
 */
const REDELIVERY_TIME_SCALE = 0.2;
const IDENTITY_RG = `/subscriptions/${SUB}/resourceGroups/rg-acrpull-identities`;

const PLATFORM_TEAM = {
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn': 'platform-team@contoso.com',
};

/** What ARM raises for a write to the resource: a VM or scale set write, or a tag write. */
function event(
  vmId: string,
  n: number,
  claims: Record<string, string> = PLATFORM_TEAM,
  kind: 'write' | 'tags' = 'write',
) {
  const scaleSet = /\/virtualMachineScaleSets\//i.test(vmId);
  const operationName =
    kind === 'tags' ? TAGS_WRITE : scaleSet ? SCALE_SET_WRITE : 'Microsoft.Compute/virtualMachines/write';
  return resourceWriteSuccessEvent(vmId, {
    id: `demo-event-${n}`,
    operationName,
    correlationId: `demo-correlation-${n}`,
    claims,
  });
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

async function main(): Promise<void> {
  // VM updates take 300 ms here (3-7 s in Azure); the app polls once, 350 ms after its PATCH.
  const emu = await startEmulator({ operationDurationMs: 300 });
  // State that outlives an instance (busy deferrals, attach histories) in Azurite, as in production in
  // the Function App's storage account.
  const azurite = await startAzurite();
  process.env.IDENTITY_ENDPOINT = emu.identityEndpoint;
  process.env.IDENTITY_HEADER = emu.identityHeader;
  try {
    emu.seedResourceGroup(SUB, 'rg-acrpull-identities', 'eastus');
    emu.seedResourceGroup(SUB, 'rg-apps', 'eastus');
    const seed = fleetOf(emu, { subscriptionId: SUB, identityResourceGroup: 'rg-acrpull-identities' });
    seed.registry('contosoapps');
    seed.registry('contosoabac', { abac: true });
    seed.registry('financeprivate', { resourceGroup: 'rg-finance' });

    // An already-compliant VM: its identity, grant and attachment exist from an earlier run.
    const existing = seed.appPullIdentity('contosoapps', 'westeurope');
    seed.pullGrant('contosoapps', existing, { principalType: 'ServicePrincipal' });
    // Someone with write on the identity resource group made a pull identity's name first: ARM's
    // systemData says who, so the app neither grants nor attaches it, whatever its name and tags say.
    seed.plantedPullIdentity('contosoapps', 'northeurope', { by: 'mallory@contoso.example', type: 'User' });
    const appIdentity = seed.identity('id-batch-app');

    const fleet = [
      seed.vm('vm-web-01', { tag: 'contosoapps' }),
      seed.vm('vm-web-02', { tags: { AcrPull: 'contosoapps.azurecr.io' } }),
      seed.vm('vm-eu-01', { tag: 'contosoapps', location: 'westeurope', identities: [existing] }),
      seed.vm('vm-batch-01', { tag: 'contosoabac', systemAssigned: true, identities: [appIdentity] }),
      seed.vm('vm-multi-01', { tag: 'contosoapps;contosoabac' }),
      seed.vm('vm-finance-01', { tag: 'financeprivate' }),
      // Its owner's deployment is still creating it when Event Grid sends the write event.
      seed.vm('vm-build-01', { tag: 'contosoapps', creatingForMs: CREATION_MS }),
      // Its only identity is its owner's: workloads on it may ask IMDS for a token without a client id.
      seed.vm('vm-legacy-01', { tag: 'contosoapps', identities: [appIdentity] }),
      seed.vm('vm-north-01', { tag: 'contosoapps', location: 'northeurope' }),
      seed.vm('vm-typo-01', { tag: 'contoso-apps!' }),
      // A Uniform scale set (Manual upgrades): the identity goes on the scale set, no instance upgrade.
      seed.scaleSet('ss-workers', { tag: 'contosoapps', upgradeMode: 'Manual' }),
      // Its owner removed the acrPull tag: with ACRPULL_REVOKE=on the app's pull identity goes (the
      // identity itself stays: vm-eu-01 holds it too).
      seed.vm('vm-retired-01', {
        tags: { retired: 'true' },
        location: 'westeurope',
        systemAssigned: true,
        identities: [existing],
      }),
    ];
    const tagWritten = new Set([fleet[fleet.length - 1]?.id]);

    // Audit events go to the emulator's ingestion endpoint, or to real Application Insights when
    // APPLICATIONINSIGHTS_CONNECTION_STRING is set.
    const realAppInsights = process.env.APPLICATIONINSIGHTS_CONNECTION_STRING;
    if (!realAppInsights) {
      // No egress from the SDK: statsbeat off, its settings poll sent to a closed local port.
      process.env.APPLICATION_INSIGHTS_NO_STATSBEAT = 'true';
      process.env.HTTPS_PROXY = 'http://127.0.0.1:9';
      process.env.NO_PROXY = '127.0.0.1,localhost';
    }
    const audit = new MemoryAuditSink();
    const settings = loadSettings({
      APPLICATIONINSIGHTS_CONNECTION_STRING: realAppInsights ?? emu.connectionString,
      ACRPULL_MODE: 'enforce',
      ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG,
      ACRPULL_ALLOWED_REGISTRIES: `contosoapps,/subscriptions/${SUB}/resourceGroups/rg-registries`,
      ACRPULL_ARM_ENDPOINT: emu.armEndpoint,
      ACRPULL_EVENT_TIME_BUDGET_SECONDS: '2',
      ACRPULL_ATTACH_FIRST_POLL_SECONDS: '0.35',
      ACRPULL_REVOKE: 'on',
      AzureWebJobsStorage: azurite.connectionString,
    });
    const quiet = {
      debug() {},
      info() {},
      warn: (m: string) => console.warn(m),
      error: (m: string) => console.error(m),
    };
    const telemetry = createAuditSink(
      settings,
      realAppInsights ? {} : { caCertPem: emu.caCertPem, disableOfflineStorage: true },
    );
    const runtime = createRuntime(settings, {
      caCertPem: emu.caCertPem,
      audit: new FanOutAuditSink([audit, telemetry]),
      log: quiet,
      pollIntervalMs: 200,
      // A busy target is read again after 90 s in Azure; here after 4.5 s (Event Grid's redelivery
      // schedule is scaled down too).
      busyBackoff: { firstMs: 4_500, maxMs: 45_000 },
    });
    const handle = createVmWriteHandler(runtime);
    const context = () =>
      new InvocationContext({ functionName: 'vmWriteEvent', invocationId: 'demo', logHandler: () => {} });

    console.log(
      `acrpull-autopilot demo: ${fleet.length} VMs and scale sets, emulator at ${emu.armEndpoint}\n`,
    );
    const results = new Map<string, { result?: TargetResult; error?: string; deliveries: number }>();
    let n = 0;
    for (const vm of fleet) {
      const delivered = event(vm.id, ++n, PLATFORM_TEAM, tagWritten.has(vm.id) ? 'tags' : 'write');
      const delivery = await deliverWithRetries(() => handle(delivered, context()), {
        timeScale: REDELIVERY_TIME_SCALE,
        maxAttempts: 5,
      });
      const lastError = delivery.errors.at(-1) as Error | undefined;
      results.set(vm.id, {
        ...(delivery.result ? { result: delivery.result } : {}),
        ...(!delivery.delivered ? { error: lastError?.message ?? 'not delivered' } : {}),
        deliveries: delivery.attempts,
      });
    }
    const firstRound = emu.totals();
    const firstCounts = emu.counts();

    // Our own PATCHes raise VM write events too, whose claims name the app's identity: handling them
    // must cost no ARM request and change nothing.
    emu.resetCounts();
    const echoes = fleet.filter((vm) => results.get(vm.id)?.result?.outcome === 'changed');
    const ours = {
      'http://schemas.microsoft.com/identity/claims/objectidentifier': emu.appIdentity.principalId,
      appid: emu.appIdentity.clientId,
    };
    for (const vm of echoes) await handle(event(vm.id, ++n, ours), context());
    const echoRound = emu.totals();

    const rows = [['VM / scale set', 'tag', 'deliveries', 'outcome', 'decisions', 'client id for az login']];
    for (const vm of fleet) {
      const entry = results.get(vm.id);
      const records = entry?.result?.records ?? [];
      const decisions = [
        ...new Set(records.map((r) => `${r.registry ? `${r.registry}:` : ''}${r.action}`)),
      ].join(', ');
      const clientIds = [...new Set(records.map((r) => r.clientId).filter(Boolean))].join(' ');
      rows.push([
        vm.name,
        findTagValue(vm.tags, 'acrPull') ?? '',
        String(entry?.deliveries ?? 0),
        entry?.error ? 'failed' : (entry?.result?.outcome ?? '-'),
        decisions || (entry?.error ?? ''),
        clientIds,
      ]);
    }
    console.log(table(rows));

    const reasons = audit.records.filter((r) => r.outcome === 'rejected' || r.outcome === 'failed');
    if (reasons.length > 0) {
      console.log('\nWhy requests were refused:');
      for (const r of reasons) console.log(`  ${r.vmId.split('/').pop()}: ${r.action}: ${r.reason}`);
    }
    const deferred = audit.records.filter((r) => r.outcome === 'deferred');
    if (deferred.length > 0) {
      console.log('\nDeferred, then redelivered by Event Grid (never written while busy):');
      for (const r of deferred) console.log(`  ${r.vmId.split('/').pop()}: ${r.reason}`);
    }
    const preempted = emu.preemptions();
    console.log(`\nOperations of other writers preempted by the app: ${preempted.length}`);

    console.log('\nARM requests (first round, by operation):');
    console.log(
      `  ${Object.entries(firstCounts)
        .filter(([, count]) => count > 0)
        .map(([op, count]) => `${op}=${count}`)
        .join('  ')}`,
    );
    console.log(`  totals: reads=${firstRound.reads} writes=${firstRound.writes} polls=${firstRound.polls}`);
    const perEvent = echoes.length > 0 ? (echoRound.reads / echoes.length).toFixed(1) : '0';
    console.log(
      `Echo events from our own PATCHes: ${echoes.length} events, reads=${echoRound.reads} (${perEvent} per event) writes=${echoRound.writes}`,
    );
    console.log(
      `Audit records: ${audit.records.length}; ${
        realAppInsights
          ? 'sent to your Application Insights (customEvents named AcrPullDecision)'
          : `${emu.customEvents().length} custom events received by the emulator's Application Insights endpoint`
      }\n`,
    );

    const compliant = fleet.filter((vm) =>
      ['changed', 'compliant'].includes(results.get(vm.id)?.result?.outcome ?? ''),
    ).length;
    const failed = fleet.filter((vm) => {
      const entry = results.get(vm.id);
      return entry?.error !== undefined || entry?.result?.outcome === 'failed';
    }).length;
    const rejected = fleet.filter((vm) => results.get(vm.id)?.result?.outcome === 'rejected').length;
    const canPull = await pullsFromEachTarget(emu, fleet, results);
    console.log(
      `demo: ${fleet.length} VMs and scale sets, ${compliant} compliant, ${canPull} can pull, ${rejected} rejected, ${failed} failed`,
    );
    process.exitCode = failed > 0 || preempted.length > 0 ? 1 : 0;
  } finally {
    await emu.close();
    await azurite.stop();
  }
}

/**
 * Where users end: each compliant target's workload asks its IMDS for a registry token with the client
 * id the app recorded, exchanges it at the emulated registry and reads the hello-world manifest, for
 * every registry its tag names. Returns how many targets pulled from all of them.
 */
async function pullsFromEachTarget(
  emu: Awaited<ReturnType<typeof startEmulator>>,
  fleet: readonly { id: string; name: string }[],
  results: ReadonlyMap<string, { result?: TargetResult }>,
): Promise<number> {
  console.log('Pulls (IMDS token with the client id → /oauth2/exchange → /oauth2/token → manifest):');
  let pulled = 0;
  for (const vm of fleet) {
    const result = results.get(vm.id)?.result;
    if (!result || !['changed', 'compliant'].includes(result.outcome)) continue;
    const granted = result.records.filter(
      (r) => ['identity-attached', 'already-compliant', 'identity-rebound'].includes(r.action) && r.clientId,
    );
    let all = granted.length > 0;
    for (const r of granted) {
      const registryId = r.registryId ?? r.registry ?? '';
      const pull = await pullAsVm(emu, {
        targetId: vm.id,
        registryId,
        ...(r.clientId ? { clientId: r.clientId } : {}),
      });
      all &&= pull.ok;
      const said = pull.ok
        ? `pulled ${pull.digest.slice(0, 19)}…`
        : `refused at ${pull.step} (${pull.status}): ${pull.message}`;
      console.log(`  ${vm.name} ← ${r.registry}: ${said} [pullReady ${r.pullReady ?? 'unknown'}]`);
    }
    if (all) pulled += 1;
  }
  console.log('');
  return pulled;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
