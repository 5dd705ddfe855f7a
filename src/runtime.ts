// Composition root: settings → credential → SDK clients → adapters → reconcile dependencies.
// Function files call getRuntime() at load, so a bad setting fails the app at startup, naming the variable.
import type { TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { AppInsightsAuditSink, type AppInsightsOptions } from './audit/appInsightsAuditSink';
import { type AuditSink, LogAuditSink } from './audit/auditRecord';
import { abortableCredential } from './azure/abortableCredential';
import { type ArmClients, createArmClients } from './azure/armClients';
import { ArmRequestMeter, type PacingSettings } from './azure/armRequestPolicy';
import { ContainerRegistries } from './azure/containerRegistries';
import { EventSubscriptions } from './azure/eventSubscriptions';
import { ResourceGraph } from './azure/resourceGraph';
import { ResourceGroups } from './azure/resourceGroups';
import { RoleAssignments } from './azure/roleAssignments';
import { StateTable } from './azure/stateTable';
import { Subscriptions } from './azure/subscriptions';
import { TargetResources } from './azure/targetResources';
import { UserAssignedIdentities } from './azure/userAssignedIdentities';
import { loadSettings, type Settings, startupWarnings } from './config/settings';
import type { DeferralBackoff } from './core/deferral';
import type { Logger } from './core/logger';
import { principalFromToken, type SelfPrincipal } from './core/ownership';
import type { ReconcileDeps, WhoAmI } from './reconcile/deps';
import { IdentityReads } from './reconcile/identityReads';
import { ProofCache } from './reconcile/proofCache';
import { RoleCheckCache } from './reconcile/roleCheckCache';
import type { SweepDeps } from './reconcile/sweep/sweep';
import { TargetMemory } from './reconcile/targetMemory';
import { VerifiedPairs } from './reconcile/verifiedPairs';

/** Everything both triggers need; the event path uses the ReconcileDeps part. */
export interface Runtime extends SweepDeps {}

export interface RuntimeOptions {
  /**
   * Default: the Function App's managed identity (ManagedIdentityCredential, the user-assigned one
   * named by AZURE_CLIENT_ID when set) and nothing else, so the app never reads a secret nor falls
   * back to another credential source; the CLI passes an operator credential instead.
   */
  readonly credential?: TokenCredential;
  /** Extra CA for the ARM endpoint (Azure Stack Hub, a TLS-inspecting proxy, the local emulator). */
  readonly caCertPem?: string;
  readonly audit?: AuditSink;
  readonly log?: Logger;
  /** Poll interval for VM updates; ARM's Retry-After on polls takes precedence. */
  readonly pollIntervalMs?: number;
  readonly retry?: ReconcileDeps['retry'];
  /** Print the startup warnings (unset allowlist, audit mode); the CLI says its own. */
  readonly warnAtStartup?: boolean;
  /** Overrides the pacing derived from ACRPULL_ARM_READS/WRITES_PER_SECOND. */
  readonly pacing?: PacingSettings;
  /** Overrides how busy deferrals back off (core/deferral.ts); the demo scales it down. */
  readonly busyBackoff?: DeferralBackoff;
  /** Overrides how long the state store is left alone after a failure (the fault matrix: 0). */
  readonly statePauseMs?: number;
}

export function createRuntime(settings: Settings, options: RuntimeOptions = {}): Runtime {
  return createRuntimeWithClients(settings, options).runtime;
}

/**
 * The runtime and the ARM clients its adapters were built on (same credential, pacing and CA), for a
 * caller that needs adapters of its own on the same clients (the doctor's role definitions).
 */
export function createRuntimeWithClients(
  settings: Settings,
  options: RuntimeOptions = {},
): { readonly runtime: Runtime; readonly clients: ArmClients } {
  const log = options.log ?? console;
  if (options.warnAtStartup !== false) {
    for (const warning of startupWarnings(settings)) log.warn(`acrpull-autopilot: ${warning}`);
  }
  const credential = options.credential ?? managedIdentityCredential();
  // Paced below ARM's per-subscription refill rates (25 reads/s, 10 writes/s), with bursts of 80% and
  // 75% of its buckets (250, 200): one instance alone never empties them; several are kept in check
  // by ARM's shared signals (sharedBudget.ts).
  const meter = new ArmRequestMeter(
    options.pacing ?? {
      reads: { burst: 200, perSecond: settings.armReadsPerSecond },
      writes: { burst: 150, perSecond: settings.armWritesPerSecond },
    },
  );
  const clients = createArmClients(
    {
      armEndpoint: settings.armEndpoint,
      armAudience: settings.armAudience,
      ...(options.caCertPem ? { caCertPem: options.caCertPem } : {}),
    },
    credential,
    [meter.policy],
  );
  const runtime: Runtime = {
    settings,
    targets: new TargetResources(clients, {
      firstPollDelayMs: settings.attachFirstPollMs,
      pollIntervalMs: options.pollIntervalMs ?? 2_000,
    }),
    identities: new UserAssignedIdentities(clients),
    roleAssignments: new RoleAssignments(clients),
    registries: new ContainerRegistries(clients),
    resourceGroups: new ResourceGroups(clients),
    graph: new ResourceGraph(clients),
    subscriptions: new Subscriptions(clients),
    eventSubscriptions: new EventSubscriptions(clients),
    meter,
    audit:
      options.audit ??
      createAuditSink(settings, {
        ...(options.caCertPem ? { caCertPem: options.caCertPem } : {}),
        credential,
      }),
    log,
    whoAmI: selfPrincipal(credential, settings.armAudience),
    proven: new ProofCache(),
    verifiedPairs: new VerifiedPairs(),
    identityReads: new IdentityReads(),
    roleChecks: new RoleCheckCache(),
    ...(options.retry ? { retry: options.retry } : {}),
    ...stateOf(settings, log, options.statePauseMs),
    ...(options.busyBackoff ? { busyBackoff: options.busyBackoff } : {}),
  };
  return { runtime, clients };
}

/**
 * The state store, when AzureWebJobsStorage names one: with a connection string (Azurite locally), or
 * identity-based with the Function App's managed identity (the one AzureWebJobsStorage__clientId names).
 */
function stateOf(settings: Settings, log: Logger, pauseMs?: number): { memory?: TargetMemory } {
  const store = settings.stateStore;
  if (!store) return {};
  const credential =
    store.kind === 'identity'
      ? new ManagedIdentityCredential(store.clientId ? { clientId: store.clientId } : {})
      : managedIdentityCredential();
  return { memory: new TargetMemory(StateTable.connect(store, credential), log, Date.now, pauseMs) };
}

/**
 * Who the credential signs in as, from the claims of its ARM token (the token the ARM clients use
 * anyway, so normally served from the credential's cache). Remembered once known. A token that names
 * no principal proves nothing: every pull identity the app did not provably create is then refused,
 * which the audit record says.
 *
 * Callers share one attempt only while it is young (`shareMs`): the managed-identity credential
 * retries a failing endpoint for about two minutes, and an invocation that arrives after the outage
 * must not wait for the backoff of one that started during it (it asks again, and the endpoint now
 * answers). Each attempt is abandoned after `giveUpMs`, so a failure is retried on the next call.
 */
export function selfPrincipal(
  credential: TokenCredential,
  audience: string,
  options: { shareMs?: number; giveUpMs?: number; now?: () => number } = {},
): WhoAmI {
  const { shareMs = 2_000, giveUpMs = 30_000, now = Date.now } = options;
  const bounded = abortableCredential(credential);
  let attempt: { promise: Promise<SelfPrincipal>; started: number } | undefined;
  let settled: SelfPrincipal | undefined;
  const whoAmI = (): Promise<SelfPrincipal> => {
    if (settled) return Promise.resolve(settled);
    if (attempt && now() - attempt.started < shareMs) return attempt.promise;
    const mine = {
      started: now(),
      promise: bounded
        .getToken(`${audience.replace(/\/+$/, '')}/.default`, {
          abortSignal: AbortSignal.timeout(giveUpMs),
        })
        .then(
          (token) => {
            if (!token) throw new Error('the credential returned no token for ARM');
            settled ??= principalFromToken(token.token);
            return settled;
          },
          (error: unknown) => {
            if (attempt === mine) attempt = undefined;
            throw error;
          },
        ),
    };
    attempt = mine;
    return mine.promise;
  };
  return Object.assign(whoAmI, { known: () => settled });
}

/** Application Insights when a connection string is set, else one JSON line per record in the log. */
export function createAuditSink(settings: Settings, options: AppInsightsOptions = {}): AuditSink {
  return settings.appInsightsConnectionString
    ? new AppInsightsAuditSink(settings.appInsightsConnectionString, options)
    : new LogAuditSink((line) => console.info(line));
}

/** The Function App's own identity: the only credential the deployed app uses. */
export function managedIdentityCredential(): TokenCredential {
  const clientId = process.env.AZURE_CLIENT_ID;
  return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
}

/**
 * The operator's credential for the CLI: `az login`, environment, workload identity or a managed
 * identity, whichever is present (DefaultAzureCredential's chain).
 */
export function operatorCredential(): TokenCredential {
  const clientId = process.env.AZURE_CLIENT_ID;
  return new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {});
}

let shared: Runtime | undefined;

/** The process-wide runtime built from app settings (environment variables), created once. */
export function getRuntime(): Runtime {
  shared ??= createRuntime(loadSettings(process.env));
  return shared;
}
