// Test harness: the emulator, plus the app's real runtime (real SDK clients, real
// DefaultAzureCredential fetching tokens from the emulator's managed-identity endpoint) pointed at it.

import {
  type Delivery,
  deliverWithRetries,
  type Emulator,
  type EmulatorOptions,
  resourceWriteSuccessEvent,
  startEmulator,
  type VmRecord,
} from '@acrpull/azure-emulator';
import { rawArm } from '@acrpull/azure-emulator/testing';
import { InvocationContext } from '@azure/functions';
import { type Azurite, startAzurite } from '../../scripts/lib/azurite';
import { type AuditSink, FanOutAuditSink, MemoryAuditSink } from '../../src/audit/auditRecord';
import type { PacingSettings } from '../../src/azure/armRequestPolicy';
import { Deadline } from '../../src/azure/retry';
import { loadSettings } from '../../src/config/settings';
import { createVmWriteHandler, type VmWriteHandler } from '../../src/handlers/vmWriteHandler';
import { type SweepResult, sweep } from '../../src/reconcile/sweep/sweep';
import { createAuditSink, createRuntime, managedIdentityCredential, type Runtime } from '../../src/runtime';
import { type StateFaultProxy, startStateFaultProxy } from './stateFaults';

export const SUB = '11111111-1111-1111-1111-111111111111';
export const OTHER_SUB = '22222222-2222-2222-2222-222222222222';
export const IDENTITY_RG = `/subscriptions/${SUB}/resourceGroups/rg-identities`;
/** The Function App the harness's event subscription delivers to. */
export const APP_FUNCTION_APP = `/subscriptions/${SUB}/resourceGroups/rg-acrpull-app/providers/Microsoft.Web/sites/func-acrpull`;

export const vmId = (name: string, rg = 'rg-apps', sub = SUB) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${name}`;
export const identityId = (registry: string, region: string) =>
  `${IDENTITY_RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-acrpull-${registry}-${region}`;

export interface HarnessOptions {
  readonly env?: Record<string, string>;
  readonly emulator?: EmulatorOptions;
  /** Also send the audit through the real Application Insights SDK to the emulator's ingestion endpoint. */
  readonly appInsights?: boolean;
  /** Client-side pacing; default far above ARM's rates. */
  readonly pacing?: PacingSettings;
  /**
   * Keep state in a state store: an Azurite of this harness's own (started here, stopped by close),
   * reached through AzureWebJobsStorage as in production. Default: none (the app remembers nothing).
   */
  readonly state?: boolean;
  /** With state: reach Azurite through a proxy that injects the store's own faults (h.stateFaults). */
  readonly stateFaults?: boolean;
  /**
   * Wire SUB's events as the template does (a system topic and an event subscription to the app's
   * function), so a sweep finds them (no events-missing). Default true.
   */
  readonly events?: boolean;
  /** Between the attach's later status polls (default 0: the emulator is local). */
  readonly pollIntervalMs?: number;
  /** Called on every retry the app makes (counting them). */
  readonly retry?: { readonly onRetry?: () => void; readonly maxAttempts?: number };
}

export interface Harness {
  readonly emu: Emulator;
  readonly runtime: Runtime;
  readonly audit: MemoryAuditSink;
  readonly handler: VmWriteHandler;
  readonly logs: string[];
  /** The harness's Azurite, when it keeps state (options.state). */
  readonly azurite?: Azurite;
  /** The proxy in front of it, when asked for (options.stateFaults). */
  readonly stateFaults?: StateFaultProxy;
  /**
   * Delivers a ResourceWriteSuccess event for the VM through the real handler. With a state store the
   * handler answers once ARM has accepted its attach; deliver then also waits for the VM's operations
   * to end, as the next event for it would come later (a test about that race uses `handler`).
   */
  deliver(
    vm: string,
    options?: { operationName?: string; eventId?: string; upn?: string },
  ): ReturnType<VmWriteHandler>;
  /**
   * Delivers the event as Event Grid does: redelivered while the handler throws, on Event Grid's
   * schedule (10 s, 30 s, 1 min, …) scaled by `timeScale` (default 0.05: 0.5 s, 1.5 s, 3 s), at most
   * `maxAttempts` times (default 4; Event Grid: 30).
   */
  deliverUntilDone(
    vm: string,
    options?: { timeScale?: number; maxAttempts?: number },
  ): Promise<Delivery<Awaited<ReturnType<VmWriteHandler>>>>;
  /** Resolves once no operation runs on the VM (every one, without an id) in the emulator. */
  settle(vm?: string): Promise<void>;
  /** A handler on a fresh runtime, as on a newly started instance (empty caches). */
  coldDeliver(vm: string): ReturnType<VmWriteHandler>;
  /** One fresh runtime (a newly started instance) for several deliveries. */
  coldHandler(): (vm: string) => ReturnType<VmWriteHandler>;
  /** Seeds a VM in SUB/rg-apps tagged `acrPull=<tag>` (or with the given tags), in eastus unless told. */
  seedVm(name: string, tag: string | Record<string, string>, location?: string): VmRecord;
  /** Runs one sweep on the shared runtime with the given time budget (default 60 s). */
  sweep(options?: { budgetMs?: number; marginMs?: number }): Promise<SweepResult>;
  /** Delivers any payload through the real handler. */
  deliverRaw(event: unknown): ReturnType<VmWriteHandler>;
  close(): Promise<void>;
}

/** The event ARM's system topic raises for a write to the VM (or scale set, or its tags). */
export function writeSuccessEvent(
  vm: string,
  options: { operationName?: string; eventId?: string; upn?: string } = {},
) {
  return resourceWriteSuccessEvent(vm, {
    id: options.eventId ?? `evt-${Math.random().toString(16).slice(2)}`,
    operationName: options.operationName ?? 'Microsoft.Compute/virtualMachines/write',
    correlationId: 'corr-test',
    claims: {
      'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn': options.upn ?? 'alice@contoso.com',
    },
  });
}

/** Waits until no operation of the emulator's runs on the VM (any VM, without an id); throws after 30 s. */
async function settle(emu: Emulator, vm?: string): Promise<void> {
  const until = Date.now() + 30_000;
  while (emu.vmOperations(vm).some((o) => o.status === 'InProgress')) {
    if (Date.now() > until) throw new Error(`settle: an operation on ${vm ?? 'a VM'} still runs after 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * The echo of the app's own PATCH: ARM's VM write event whose claims name the app's identity (its
 * object id and client id), as the system topic raises it for the app's write.
 */
export function ownWriteEvent(vm: string, app: { readonly principalId: string; readonly clientId: string }) {
  const e = writeSuccessEvent(vm);
  const claims = {
    'http://schemas.microsoft.com/identity/claims/objectidentifier': app.principalId,
    appid: app.clientId,
  };
  return { ...e, data: { ...e.data, claims } };
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  // The app's VM updates take 20 ms and the app polls 50 ms after its PATCH: one poll finds it done
  // (the poll cannot reach the emulator before 50 ms have passed since the operation started).
  const emu = await startEmulator({ operationDurationMs: 20, ...options.emulator });
  const azurite = options.state || options.stateFaults ? await startAzurite() : undefined;
  const stateFaults = azurite && options.stateFaults ? await startStateFaultProxy(azurite.port) : undefined;
  // The production credential code path: DefaultAzureCredential → App Service managed identity.
  process.env.IDENTITY_ENDPOINT = emu.identityEndpoint;
  process.env.IDENTITY_HEADER = emu.identityHeader;
  const settings = loadSettings({
    ACRPULL_MODE: 'enforce',
    ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG,
    ACRPULL_ALLOWED_REGISTRIES: 'contosoapps fabrikamabac',
    ACRPULL_ARM_ENDPOINT: emu.armEndpoint,
    ACRPULL_ATTACH_FIRST_POLL_SECONDS: '0.05',
    ...(options.appInsights ? { APPLICATIONINSIGHTS_CONNECTION_STRING: emu.connectionString } : {}),
    ...(azurite ? { AzureWebJobsStorage: (stateFaults ?? azurite).connectionString } : {}),
    ...options.env,
  });
  emu.seedResourceGroup(SUB, 'rg-identities', 'eastus');
  if (options.events !== false) {
    emu.seedResourceGroup(SUB, 'rg-acrpull-app', 'eastus');
    const topic = emu.seedSubscriptionSystemTopic({
      subscriptionId: SUB,
      resourceGroup: 'rg-acrpull-app',
      name: 'acrpull-events',
    });
    emu.seedEventSubscription({
      topicId: topic.id,
      name: 'acrpull-vm-writes',
      functionId: `${APP_FUNCTION_APP}/functions/vmWriteEvent`,
    });
  }
  emu.seedResourceGroup(SUB, 'rg-apps', 'eastus');
  emu.seedRegistry({ subscriptionId: SUB, resourceGroup: 'rg-registries', name: 'contosoapps' });
  emu.seedRegistry({
    subscriptionId: SUB,
    resourceGroup: 'rg-registries',
    name: 'fabrikamabac',
    roleAssignmentMode: 'AbacRepositoryPermissions',
  });
  emu.seedRegistry({ subscriptionId: SUB, resourceGroup: 'rg-registries', name: 'secretregistry' });

  const audit = new MemoryAuditSink();
  const sinks: AuditSink[] = [audit];
  if (options.appInsights) {
    // As in production: the audit goes with the app's managed-identity token.
    sinks.push(
      createAuditSink(settings, {
        caCertPem: emu.caCertPem,
        disableOfflineStorage: true,
        credential: managedIdentityCredential(),
      }),
    );
  }
  const logs: string[] = [];
  const log = {
    debug: (m: string) => logs.push(`debug ${m}`),
    info: (m: string) => logs.push(`info ${m}`),
    warn: (m: string) => logs.push(`warn ${m}`),
    error: (m: string) => logs.push(`error ${m}`),
  };
  const newRuntime = () =>
    createRuntime(settings, {
      caCertPem: emu.caCertPem,
      audit: sinks.length === 1 ? audit : new FanOutAuditSink(sinks),
      log,
      pollIntervalMs: options.pollIntervalMs ?? 0,
      // Under injected store faults every request meets the draw (no pause after a failure).
      ...(stateFaults ? { statePauseMs: 0 } : {}),
      // The emulator is local: pace far above ARM's rates unless a test is about pacing.
      pacing: options.pacing ?? {
        reads: { burst: 1000, perSecond: 5000 },
        writes: { burst: 1000, perSecond: 5000 },
      },
      retry: {
        policy: { maxAttempts: options.retry?.maxAttempts ?? 8, baseDelayMs: 5, maxDelayMs: 100 },
        ...(options.retry?.onRetry ? { onRetry: options.retry.onRetry } : {}),
      },
    });
  const runtime = newRuntime();
  const handler = createVmWriteHandler(runtime);
  const context = () =>
    new InvocationContext({
      functionName: 'vmWriteEvent',
      invocationId: 'test',
      logHandler: (level, ...args) => logs.push(`${level} ${args.join(' ')}`),
    });
  return {
    emu,
    runtime,
    audit,
    handler,
    logs,
    ...(azurite ? { azurite } : {}),
    ...(stateFaults ? { stateFaults } : {}),
    deliver: async (vm, opts) => {
      const result = await handler(writeSuccessEvent(vm, opts), context());
      if (azurite) await settle(emu, vm);
      return result;
    },
    settle: (vm) => settle(emu, vm),
    deliverUntilDone: (vm, opts = {}) => {
      // One event, redelivered with the same id, as Event Grid does.
      const event = writeSuccessEvent(vm);
      return deliverWithRetries(() => handler(event, context()), {
        timeScale: opts.timeScale ?? 0.05,
        maxAttempts: opts.maxAttempts ?? 4,
      });
    },
    seedVm: (name, tag, location = 'eastus') =>
      emu.seedVm({
        subscriptionId: SUB,
        resourceGroup: 'rg-apps',
        name,
        location,
        tags: typeof tag === 'string' ? { acrPull: tag } : tag,
      }),
    coldDeliver: (vm) => createVmWriteHandler(newRuntime())(writeSuccessEvent(vm), context()),
    coldHandler: () => {
      const cold = createVmWriteHandler(newRuntime());
      return (vm) => cold(writeSuccessEvent(vm), context());
    },
    deliverRaw: (event) => handler(event, context()),
    // Like the timer handler: sweep, then flush the audit.
    sweep: async (opts = {}) => {
      const result = await sweep(runtime, {
        deadline: new Deadline(opts.budgetMs ?? 60_000),
        keepOutcomes: true,
        ...(opts.marginMs !== undefined ? { marginMs: opts.marginMs } : {}),
      });
      await runtime.audit.flush();
      return result;
    },
    close: async () => {
      await emu.close();
      await stateFaults?.close();
      await azurite?.stop();
    },
  };
}

/**
 * Another instance of the app (the same identity, so ARM's same buckets) reading as fast as it can,
 * until `stop()` says the instance under test has met a 429, or `maxMs` / `maxRequests` run out.
 * A bucket drained once can refill before the instance under test sends anything (on a loaded
 * machine a quarter of a second is enough), so the storm is kept up rather than started once.
 * Resolves with whether `stop()` became true: false means the storm was never met.
 */
export async function drainReadsUntil(
  emu: Emulator,
  path: string,
  stop: () => boolean,
  limits: { maxMs?: number; maxRequests?: number } = {},
): Promise<boolean> {
  const until = Date.now() + (limits.maxMs ?? 20_000);
  const token = emu.issueToken();
  for (let sent = 0; sent < (limits.maxRequests ?? 20_000) && Date.now() < until; sent++) {
    if (stop()) return true;
    await rawArm(emu, 'GET', path, { token });
  }
  return stop();
}
