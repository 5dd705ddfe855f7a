// The emulator's public types: what startEmulator takes and the handle it returns. Kept apart from
// index.ts (which starts the servers) so the handle can name them without importing the entry point.
import type { ConcurrentWrites, ModifyPolicy } from './armHttp';
import type { FaultSpec, OperationName, ThrottledCounts, Totals } from './controls';
import type { OperationDuration } from './durations';
import type { ImdsStaleIdentity } from './imds';
import type { IngestionAuth } from './ingestion/server';
import type { CustomEvent, TelemetryEnvelope } from './ingestion/telemetryStore';
import type {
  LinkPrivateDnsZoneOptions,
  SeedNic,
  SeedPrivateDnsZone,
  SeedPrivateEndpoint,
  SeedPublicIp,
  SeedVirtualNetwork,
} from './network/model';
import type { ThrottleSettings } from './rateLimit';
import type { RegistryRefusal } from './registry/dataPlane';
import type {
  DenyAssignmentRecord,
  EventSubscriptionRecord,
  IdentityRecord,
  NetworkInterfaceRecord,
  OrchestrationMode,
  PeeringState,
  PreemptionRecord,
  PrivateDnsZoneRecord,
  PrivateEndpointRecord,
  PublicIpRecord,
  RegistryAccessSettings,
  RegistryRecord,
  RoleAssignmentMode,
  RoleAssignmentRecord,
  SystemTopicRecord,
  UpgradeMode,
  VirtualNetworkRecord,
  VmOperationKind,
  VmRecord,
} from './store';
import type { SystemDataActor, SystemDataCreatedBy } from './systemData';

export interface EmulatorOptions {
  /** Added to every ARM response (default 0). */
  latencyMs?: number;
  /** How long a new principal stays invisible to role assignments without principalType (default 0). */
  principalReplicationDelayMs?: number;
  /**
   * How long a VM or scale set update (the app's PATCH) runs before its status says Succeeded, polled
   * or not: a fixed number of ms, or a range each update's duration is drawn from (default
   * RECORDED_UPDATE_MS: identity updates took 3.3-7.0 s in recorded Compute traffic, durations.ts).
   */
  operationDurationMs?: OperationDuration;
  /** Seed of the duration draws (default 1): the same seed, the same durations in the same order. */
  operationDurationSeed?: number;
  /** Retry-After seconds on an operation's first InProgress poll (default: none). */
  pollRetryAfterSeconds?: number;
  /** List page size (default 50). */
  pageSize?: number;
  tenantId?: string;
  /** Fixed ports (default 0 = ephemeral). */
  armPort?: number;
  identityPort?: number;
  ingestionPort?: number;
  /** The Application Insights resource's instrumentation key (a GUID; default all zeros). */
  instrumentationKey?: string;
  /**
   * Refuse requests beyond ARM's limits with 429 (default off: the rate-limit headers count down but
   * nothing is refused). `true` = ARM's defaults; an object overrides some numbers.
   */
  throttle?: boolean | ThrottleSettings;
  /**
   * A VM PATCH while another operation runs on that VM: 'preempt' (default) accepts it and ends the
   * running operation Canceled / OperationPreempted; 'conflict' refuses it with 409. Azure does both.
   */
  concurrentWrites?: ConcurrentWrites;
  /**
   * Application Insights ingestion: 'key' (default) accepts the instrumentation key alone; 'entra'
   * is a component with local auth disabled, which refuses (401) telemetry without an Entra token.
   */
  ingestionAuth?: IngestionAuth;
  /**
   * Which id of a managed-identity caller ARM writes into `systemData.createdBy`: 'clientId'
   * (default) or 'objectId'. Not documented; see emulator/systemData.ts.
   */
  systemDataCreatedBy?: SystemDataCreatedBy;
  /**
   * Registry data plane: how long a new role assignment takes to count for ACR (by its createdOn;
   * default 0). Learn role-based-access-control/troubleshooting: up to 10 minutes.
   */
  rbacPropagationDelayMs?: number;
  /**
   * Registry data plane: where a principal without the pull right is refused. 'emptyAccess' (default):
   * the token endpoint issues a token with no access and the manifest request gets 401;
   * 'tokenEndpoint': the token endpoint answers 401. See registry/dataPlane.ts.
   */
  registryRefusal?: RegistryRefusal;
  /**
   * VM IMDS, for an attached identity that was deleted: 'identityNotFound' (default, 400 as documented)
   * or 'stalePrincipal' (a token for the entry's old principal). See imds.ts.
   */
  imdsStaleIdentity?: ImdsStaleIdentity;
  /** Fixed port of the VMs' IMDS endpoint (default 0 = ephemeral). */
  imdsPort?: number;
}

export interface SeedRegistry {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location?: string;
  roleAssignmentMode?: RoleAssignmentMode;
  /** Basic, Standard (default) or Premium. */
  sku?: string;
  /** Network, audience and anonymous-pull settings; unset ones are a new registry's defaults. */
  access?: Partial<RegistryAccessSettings>;
}

export interface SeedIdentity {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  /**
   * Who ARM records as its creator (systemData): 'app' = the function app's identity, as if the app
   * had created it; default a user, `operator@contoso.example`.
   */
  createdBy?: 'app' | SystemDataActor;
  /**
   * When ARM made it (systemData.createdAt, ms since the epoch). Default: an hour before seeding, as
   * a seed existed before the scene starts (its principal has replicated, too). Learn
   * (rest/api/managedidentity/user-assigned-identities/get): systemData carries createdAt.
   */
  createdAtMs?: number;
}

/** A principal to act as: a token for another caller than the app (an attacker, an operator's pipeline). */
export interface TokenSubject {
  objectId: string;
  clientId: string;
  /** 'ManagedIdentity' (default) or 'Application' (a service principal with a secret or certificate). */
  kind?: 'ManagedIdentity' | 'Application';
  audience?: string;
}

export interface SeedVm {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  tags?: Record<string, string>;
  systemAssigned?: boolean;
  userAssignedIdentityIds?: string[];
  /**
   * Still being created by its owner for this long: provisioningState Creating, with a running `create`
   * operation that a PATCH preempts (or is refused by, under concurrentWrites 'conflict'). Without
   * `forMs`, as long as recorded creations (RECORDED_CREATE_MS: 41-113 s).
   */
  provisioning?: { forMs?: number };
  /** A Flexible scale set's member: that scale set's id (seed the scale set first). */
  virtualMachineScaleSet?: string;
}

/** A scale set: the same identity, tags, etag and operations as a VM (SeedVm's fields mean the same). */
export interface SeedScaleSet extends Omit<SeedVm, 'virtualMachineScaleSet'> {
  /** Default 'Uniform'. */
  orchestrationMode?: OrchestrationMode;
  /** Uniform only; default 'Manual' (Compute's default). */
  upgradeMode?: UpgradeMode;
  /** sku.capacity (default 2). */
  capacity?: number;
}

/** Another writer's operation on a VM, started through the handle (see startVmOperation). */
export interface StartVmOperation {
  /** 'update' (default: provisioningState Updating) or 'create' (Creating). */
  kind?: VmOperationKind;
  /** How long it runs; it ends Succeeded then, polled or not. */
  forMs: number;
  /** Who runs it (default VM_OWNER). */
  by?: string;
  /** What the writer changes in the model when its request is accepted (the etag is bumped anyway). */
  change?: (vm: VmRecord) => void;
  /**
   * Leave the etag as it is: an operation that changes nothing in the model (a power action, say)
   * may not change it, and then only a fresh read, not If-Match, shows that it runs.
   */
  keepEtag?: boolean;
}

/** One async operation of a VM as the handle reports it. */
export interface VmOperationView {
  name: string;
  vmId: string;
  kind: VmOperationKind;
  startedBy: string;
  status: 'InProgress' | 'Succeeded' | 'Failed' | 'Canceled';
  error?: { code: string; message: string };
  startTime: string;
  endTime?: string;
  /** How long it runs from its start (drawn, for the app's updates: durations.ts). */
  runsForMs: number;
  /** The Azure-AsyncOperation URL Compute would have given the writer. */
  statusUrl: string;
}

export interface SeedRoleAssignment {
  scope: string;
  /** A role GUID or a role definition id. */
  roleDefinitionId: string;
  principalId: string;
  name?: string;
  principalType?: string;
  /** An ABAC condition (conditionVersion 2.0), e.g. one that limits pull to some repositories. */
  condition?: string;
  /** When ARM made it (ISO; default now): a grant younger than 10 minutes may not have propagated. */
  createdOn?: string;
}

/** A deny assignment (as Azure makes them: managed apps, deployment stacks, AKS lockdown). */
export interface SeedDenyAssignment {
  scope: string;
  /** A GUID (default: a new one). */
  name?: string;
  denyAssignmentName?: string;
  description?: string;
  permissions: {
    actions?: string[];
    notActions?: string[];
    dataActions?: string[];
    notDataActions?: string[];
  }[];
  /** `{ id: '00000000-0000-0000-0000-000000000000', type: 'SystemDefined' }` is everyone. */
  principals: { id: string; type?: string }[];
  excludePrincipals?: { id: string; type?: string }[];
  doNotApplyToChildScopes?: boolean;
}

/** Where a VM's traffic to registries comes from (see registry/network.ts). */
export interface VmNetworkPosition {
  /** It reaches the registry through an approved private endpoint and the privatelink zone. */
  privatePath: boolean;
  /** The public IP its internet traffic leaves from. */
  publicIp?: string;
}

export interface Emulator {
  readonly armEndpoint: string;
  readonly identityEndpoint: string;
  readonly identityHeader: string;
  readonly caCertPem: string;
  readonly tenantId: string;
  /** The function app's own (system-assigned) identity: whose tokens issueToken() and the token endpoint hand out by default. */
  readonly appIdentity: { principalId: string; clientId: string; resourceId: string };
  /** Application Insights ingestion: `https://127.0.0.1:PORT/` (same CA as ARM, no token needed). */
  readonly ingestionEndpoint: string;
  readonly instrumentationKey: string;
  /** `InstrumentationKey=…;IngestionEndpoint=https://127.0.0.1:PORT/;LiveEndpoint=https://127.0.0.1:PORT/` */
  readonly connectionString: string;
  /** An ARM token for the app's identity, or for another principal. */
  issueToken(as?: TokenSubject): string;
  /** Who ARM records in systemData when the app's identity creates something (per systemDataCreatedBy). */
  appCreator(): SystemDataActor;
  /** A resource group (or the one already there); `managedBy` names the resource that manages it. */
  seedResourceGroup(
    subscriptionId: string,
    name: string,
    location?: string,
    options?: { readonly managedBy?: string },
  ): string;
  seedRegistry(r: SeedRegistry): RegistryRecord;
  /** Changes a registry's settings as its owner would (portal, az acr update, a Modify policy). */
  updateRegistry(id: string, change: Partial<RegistryAccessSettings>): RegistryRecord;
  seedIdentity(i: SeedIdentity): IdentityRecord;
  seedVm(v: SeedVm): VmRecord;
  seedScaleSet(s: SeedScaleSet): VmRecord;
  getScaleSet(id: string): VmRecord | undefined;
  listScaleSets(): VmRecord[];
  /**
   * A role assignment at a subscription, resource group or resource the emulator holds, or at a seeded
   * management group (`/providers/Microsoft.Management/managementGroups/<name>`).
   */
  seedRoleAssignment(a: SeedRoleAssignment): RoleAssignmentRecord;
  /**
   * A management group over these subscriptions (at any depth): its role assignments are inherited
   * by them, and a subscription's filtered list shows them (roleAssignments.ts).
   */
  seedManagementGroup(name: string, subscriptionIds: readonly string[]): string;
  /** A directory principal (user, group, service principal) that role assignments can name. */
  seedPrincipal(principalId: string, type?: string): void;
  // --- the network model (Microsoft.Network and Private DNS, read-only over ARM; network/model.ts) ---
  /** A VNet with its subnets (ids: `<vnet id>/subnets/<name>`). */
  seedVirtualNetwork(v: SeedVirtualNetwork): VirtualNetworkRecord;
  /** Connected (default): both sides peered; Initiated: only `from`'s side; Disconnected: `to`'s side deleted. */
  seedPeering(fromVnetId: string, toVnetId: string, state?: PeeringState): void;
  seedPublicIp(p: SeedPublicIp): PublicIpRecord;
  /** A NIC in a subnet; with `vmId`, attached to that VM (primary if its first), which then lists it. */
  seedNic(n: SeedNic): NetworkInterfaceRecord;
  /** A scale set's instances sit in this subnet (its one NIC configuration). */
  attachScaleSetSubnet(scaleSetId: string, subnetId: string): void;
  /**
   * A private endpoint to a registry in a subnet: its NIC gets an IP for the login server and one for
   * the data endpoint, and the registry records the connection with `status`.
   */
  seedPrivateEndpoint(p: SeedPrivateEndpoint): PrivateEndpointRecord;
  /** A private DNS zone (default `privatelink.azurecr.io`). */
  seedPrivateDnsZone(z: SeedPrivateDnsZone): PrivateDnsZoneRecord;
  linkPrivateDnsZone(zoneId: string, vnetId: string, options?: LinkPrivateDnsZoneOptions): void;
  /** An A record set (replaced if present): `<registry>` or `<registry>.<region>.data`. */
  seedARecord(zoneId: string, name: string, ips: string[]): void;
  getVm(id: string): VmRecord | undefined;
  listVms(): VmRecord[];
  /** A VM's or a scale set's model changed by another writer (the etag is bumped). */
  updateVmOutOfBand(id: string, change: (vm: VmRecord) => void): void;
  /**
   * Another writer's request on the VM (or scale set) is accepted and its operation runs for `forMs`: the VM reads
   * Updating (or Creating) until then. Throws if an operation is already running on it.
   */
  startVmOperation(id: string, op: StartVmOperation): VmOperationView;
  /** The VM's operations still remembered, oldest first (or every VM's). */
  vmOperations(id?: string): VmOperationView[];
  /** Every running operation a newer PATCH preempted, oldest first. */
  preemptions(): PreemptionRecord[];
  setConcurrentWrites(mode: ConcurrentWrites): void;
  /** Assigns an Azure Policy modify effect that strips these identities from compute writes under scope. */
  assignModifyPolicy(policy: ModifyPolicy): void;
  setIngestionAuth(mode: IngestionAuth): void;
  deleteVm(id: string): void;
  listIdentities(): IdentityRecord[];
  /**
   * Deletes a user-assigned identity (its principal leaves with it). VMs and scale sets that held it
   * keep their entry: with the old principal and client id ('keep', default) or with nulls ('null');
   * the issue reports both. Seeding it again under the same name makes a new principal.
   */
  deleteIdentity(id: string, options?: { readonly vmEntries?: 'keep' | 'null' }): void;
  listRoleAssignments(): RoleAssignmentRecord[];
  deleteRoleAssignment(id: string): void;
  injectFault(f: FaultSpec): void;
  clearFaults(): void;
  onBeforeOperation(operation: OperationName, hook: () => void, once?: boolean): void;
  setLatency(ms: number): void;
  /** Resource Graph answers from a copy of the VMs as they are now (again now, if already frozen) until thawed. */
  freezeResourceGraph(): void;
  thawResourceGraph(): void;
  /** Turns the throttle off (false), on with ARM's defaults (true) or on with these numbers; every bucket starts full. */
  setThrottle(settings: ThrottleSettings | boolean): void;
  /** 429s sent by the throttle (not by injectFault), in total and per operation. */
  throttled(): ThrottledCounts;
  counts(): Record<OperationName, number>;
  totals(): Totals;
  resetCounts(): void;
  /** Every envelope the ingestion endpoint accepted, as received (decompressed, parsed), in arrival order. */
  telemetry(): TelemetryEnvelope[];
  /** The accepted custom events (`data.baseType === 'EventData'`), flattened. */
  customEvents(): CustomEvent[];
  clearTelemetry(): void;
  /**
   * The base URL of the IMDS a workload on this VM (or scale set) talks to:
   * `http://127.0.0.1:PORT<resource id>`; append `/metadata/identity/oauth2/token?api-version=…`.
   */
  vmImdsEndpoint(targetId: string): string;
  /** The registry's data-plane listener (started on first call): `{ url: 'https://127.0.0.1:PORT', host: '127.0.0.1:PORT' }`. */
  registryEndpoint(registryIdOrName: string): Promise<{ url: string; host: string }>;
  /** Another image in the registry: repository:tag, a one-layer OCI image; returns its manifest digest. */
  seedImage(registryIdOrName: string, repository: string, tag: string): { digest: string };
  /** The manifest digest of repository:reference in the registry, if it holds it. */
  imageDigest(registryIdOrName: string, repository: string, reference?: string): string | undefined;
  seedDenyAssignment(d: SeedDenyAssignment): DenyAssignmentRecord;
  /**
   * An Event Grid system topic for a subscription's events (topicType Microsoft.Resources.Subscriptions,
   * location global, source /subscriptions/{id}) in a seeded resource group of that subscription.
   */
  seedSubscriptionSystemTopic(t: {
    subscriptionId: string;
    resourceGroup: string;
    name: string;
  }): SystemTopicRecord;
  /**
   * An event subscription of a seeded system topic delivering to an Azure Function (its resource id);
   * provisioningState Succeeded unless told.
   */
  seedEventSubscription(e: {
    topicId: string;
    name: string;
    functionId: string;
    provisioningState?: string;
    includedEventTypes?: string[];
  }): EventSubscriptionRecord;
  /** Deletes an event subscription (as its owner could); false when there was none. */
  deleteEventSubscription(id: string): boolean;
  /** Overrides (or with undefined, clears) where the VM's traffic to registries comes from. */
  setVmNetworkPosition(targetId: string, position: VmNetworkPosition | undefined): void;
  setRbacPropagationDelay(ms: number): void;
  setRegistryRefusal(refusal: RegistryRefusal): void;
  close(): Promise<void>;
}
