// Local stand-in for the Azure endpoints acrpull-autopilot calls: ARM over HTTPS (VMs, user-assigned
// identities, role assignments, container registries, async operations), the App Service
// managed-identity token endpoint and an Application Insights ingestion endpoint (the audit trail).
// See README.md for what it emulates and what it simplifies.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:net';
import type { Emulator, EmulatorOptions } from './api';
import type { EmulatorSettings } from './armHttp';
import { generateCertificate } from './certificate';
import { Controls } from './controls';
import { durationSource, RECORDED_UPDATE_MS } from './durations';
import { createHandle } from './handle';
import { createImdsServer } from './imds';
import { createIngestionServer, type IngestionAuth } from './ingestion/server';
import { TelemetryStore } from './ingestion/telemetryStore';
import { RequestLimiter } from './rateLimit';
import { RegistryDataPlane } from './registry/dataPlane';
import { isGuid } from './resourceIds';
import { createArmServer } from './server';
import { Store } from './store';
import { createTokenServer } from './tokenServer';
import { TokenAuthority } from './tokens';

export type {
  Emulator,
  EmulatorOptions,
  SeedDenyAssignment,
  SeedIdentity,
  SeedRegistry,
  SeedRoleAssignment,
  SeedScaleSet,
  SeedVm,
  StartVmOperation,
  TokenSubject,
  VmNetworkPosition,
  VmOperationView,
} from './api';
export type { ConcurrentWrites, ModifyPolicy } from './armHttp';
export type { FaultRequest, FaultSpec, OperationName, ThrottledCounts, Totals } from './controls';
export { OPERATIONS } from './controls';
export {
  durationSource,
  mulberry32,
  type OperationDuration,
  RECORDED_CREATE_MS,
  RECORDED_UPDATE_MS,
} from './durations';
export {
  type Delivery,
  deliverWithRetries,
  EVENT_GRID_RETRY_SCHEDULE_MS,
  type ResourceWriteEventOptions,
  resourceWriteSuccessEvent,
  retryDelayMs,
} from './eventGrid';
export type { ImdsStaleIdentity } from './imds';
export type { ItemError, TrackResponseBody } from './ingestion/errors';
export type { IngestionAuth } from './ingestion/server';
export type { CustomEvent, TelemetryEnvelope } from './ingestion/telemetryStore';
export type {
  LinkPrivateDnsZoneOptions,
  SeedNic,
  SeedPrivateDnsZone,
  SeedPrivateEndpoint,
  SeedPublicIp,
  SeedVirtualNetwork,
} from './network/model';
export type { ResourceGraphQuota, ThrottleSettings, TokenBucketSettings } from './rateLimit';
export { DEFAULT_LIMITS } from './rateLimit';
export { decidePull, type PullDecision } from './registry/authorization';
export { type ConditionRequest, type ConditionResult, evaluateCondition } from './registry/conditions';
export { ACR_AUDIENCE, NULL_GUID, type RegistryRefusal } from './registry/dataPlane';
export { API_VERSIONS } from './routes';
export type {
  ARecordSetRecord,
  AttachedIdentity,
  DenyAssignmentRecord,
  IdentityRecord,
  NetworkInterfaceRecord,
  NicIpConfigurationRecord,
  OrchestrationMode,
  PeeringRecord,
  PeeringState,
  PreemptionRecord,
  PrivateDnsZoneRecord,
  PrivateEndpointRecord,
  PublicIpRecord,
  RegistryAccessSettings,
  RegistryPrivateEndpointConnection,
  RegistryRecord,
  RoleAssignmentMode,
  RoleAssignmentRecord,
  SubnetRecord,
  UpgradeMode,
  VirtualNetworkLinkRecord,
  VirtualNetworkRecord,
  VmIdentity,
  VmIdentityType,
  VmOperationKind,
  VmRecord,
} from './store';
export { OPERATION_PREEMPTED, VM_OWNER } from './store';
export type { CreatedByType, SystemDataActor, SystemDataCreatedBy, SystemDataRecord } from './systemData';

/**
 * Defaults shared by every emulator in this process, for the same reason as the signing key: a
 * token MSAL cached from an earlier instance names this tenant and this app identity.
 */
const PROCESS_DEFAULTS = {
  tenantId: randomUUID(),
  appIdentity: {
    principalId: randomUUID(),
    clientId: randomUUID(),
    resourceId:
      '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-acrpull-app/providers/Microsoft.Web/sites/acrpull-app',
  },
};

const DEFAULT_INSTRUMENTATION_KEY = '00000000-0000-0000-0000-000000000000';

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

function nonNegative(value: number, what: string): number {
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`emulator: ${what} must be a finite number >= 0, not ${value}`);
  return value;
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const tenantId = options.tenantId ?? PROCESS_DEFAULTS.tenantId;
  const settings: EmulatorSettings = {
    latencyMs: options.latencyMs ?? 0,
    principalReplicationDelayMs: options.principalReplicationDelayMs ?? 0,
    operationDurationMs: durationSource(
      options.operationDurationMs ?? RECORDED_UPDATE_MS,
      options.operationDurationSeed,
    ),
    pollRetryAfterSeconds:
      options.pollRetryAfterSeconds === undefined
        ? undefined
        : nonNegative(options.pollRetryAfterSeconds, 'pollRetryAfterSeconds'),
    pageSize: options.pageSize ?? 50,
    tenantId,
    concurrentWrites: options.concurrentWrites ?? 'preempt',
    systemDataCreatedBy: options.systemDataCreatedBy ?? 'clientId',
    modifyPolicies: [],
  };
  const instrumentationKey = options.instrumentationKey ?? DEFAULT_INSTRUMENTATION_KEY;
  // The SDK refuses a connection string whose key is not a GUID, so the emulator does too.
  if (!isGuid(instrumentationKey))
    throw new Error(`emulator: instrumentationKey '${instrumentationKey}' is not a GUID`);
  const certificate = await generateCertificate();
  const store = new Store(tenantId);
  const controls = new Controls();
  const limiter = new RequestLimiter();
  limiter.configure(options.throttle);
  const authority = new TokenAuthority(tenantId);
  const appIdentity = { ...PROCESS_DEFAULTS.appIdentity };
  store.addPrincipal(appIdentity.principalId, 'ServicePrincipal', 0);
  const identityHeader = randomBytes(24).toString('hex');

  let armEndpoint = '';
  const arm = createArmServer({
    store,
    controls,
    authority,
    settings,
    limiter,
    certificate,
    baseUrl: () => armEndpoint,
  });
  const tokens = createTokenServer({ store, controls, authority, identityHeader, appIdentity });
  const telemetry = new TelemetryStore();
  const ingestionAuth = { mode: options.ingestionAuth ?? ('key' as IngestionAuth) };
  const ingestion = createIngestionServer({
    controls,
    store: telemetry,
    instrumentationKey,
    certificate,
    authority,
    auth: ingestionAuth,
  });
  armEndpoint = `https://127.0.0.1:${await listen(arm, options.armPort ?? 0)}`;
  const identityPort = await listen(tokens, options.identityPort ?? 0);
  const ingestionEndpoint = `https://127.0.0.1:${await listen(ingestion, options.ingestionPort ?? 0)}/`;
  const imds = createImdsServer({
    store,
    authority,
    settings: { staleIdentity: options.imdsStaleIdentity ?? 'identityNotFound' },
  });
  const imdsEndpoint = `http://127.0.0.1:${await listen(imds, options.imdsPort ?? 0)}`;
  const registry = new RegistryDataPlane({
    store,
    authority,
    certificate,
    settings: {
      rbacPropagationDelayMs: nonNegative(options.rbacPropagationDelayMs ?? 0, 'rbacPropagationDelayMs'),
      refusal: options.registryRefusal ?? 'emptyAccess',
    },
  });

  return createHandle({
    armEndpoint,
    identityEndpoint: `http://127.0.0.1:${identityPort}/msi/token`,
    identityHeader,
    caCertPem: certificate.cert,
    appIdentity,
    store,
    controls,
    authority,
    settings,
    limiter,
    ingestionEndpoint,
    instrumentationKey,
    telemetry,
    ingestionAuth,
    servers: [arm, tokens, ingestion, imds],
    imdsEndpoint,
    registry,
  });
}
