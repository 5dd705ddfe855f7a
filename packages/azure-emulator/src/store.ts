// In-memory state of the emulated Azure. No HTTP here: handlers translate requests into these calls,
// and the test handle reads and seeds through them too.
import { randomUUID } from 'node:crypto';
import {
  identityResourceId,
  keyOf,
  parseScope,
  resourceGroupId,
  resourceId,
  sameId,
  TYPES,
} from './resourceIds';
import { roleDefinitionIdFor } from './roleDefinitions';
import { createdSystemData, type SystemDataActor, type SystemDataRecord } from './systemData';

export interface ResourceGroupRecord {
  id: string;
  name: string;
  subscriptionId: string;
  location: string;
  tags: Record<string, string>;
  /**
   * The resource that manages the group (ResourceGroup.managedBy in the REST spec): an AKS cluster for
   * its node resource group, a managed application for its managed resource group.
   */
  managedBy?: string;
}

/** What Compute reports for each user-assigned identity attached to a VM. */
export interface AttachedIdentity {
  /** null once the identity was deleted, in one of the two shapes reported (see handle.deleteIdentity). */
  principalId: string | null;
  clientId: string | null;
}

export type VmIdentityType = 'SystemAssigned' | 'UserAssigned' | 'SystemAssigned, UserAssigned';

export interface VmIdentity {
  type: VmIdentityType;
  /** System-assigned identity only. */
  principalId?: string;
  tenantId?: string;
  /** Keyed by identity resource id, spelled the way Microsoft.ManagedIdentity spells it. */
  userAssignedIdentities: Record<string, AttachedIdentity>;
}

/** Scale sets only: how instances are orchestrated (Flexible members are virtualMachines). */
export type OrchestrationMode = 'Uniform' | 'Flexible';
export type UpgradeMode = 'Automatic' | 'Rolling' | 'Manual';

/**
 * A VM or a scale set: both carry tags, an etag, an identity with the same PATCH semantics and a
 * provisioningState driven by async operations, which is all the emulator models of either.
 */
export interface VmRecord {
  id: string;
  name: string;
  type: typeof TYPES.vm | typeof TYPES.scaleSet;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  /** Quoted, as Compute sends it: `"3"`. */
  etag: string;
  /** Absent when the VM has no identity (type None). */
  identity?: VmIdentity;
  provisioningState: string;
  /** VMs: vmId; scale sets: uniqueId. */
  vmId: string;
  /** VMs: hardwareProfile.vmSize; scale sets: sku.name. */
  vmSize: string;
  timeCreated: string;
  /** A Flexible scale set's member VM: the scale set's id (properties.virtualMachineScaleSet.id). */
  virtualMachineScaleSet?: string;
  /** Scale sets only. */
  scaleSet?: { orchestrationMode: OrchestrationMode; upgradeMode?: UpgradeMode; capacity: number };
  /**
   * VMs: the seeded NICs (Microsoft.Network/networkInterfaces ids) in networkProfile, the primary one
   * marked; absent = the VM has no NIC in the network model (its GET shows a placeholder NIC id).
   */
  networkInterfaces?: { id: string; primary: boolean }[];
  /** Scale sets: the subnet of its (one, primary) NIC configuration, if seeded. */
  scaleSetSubnetId?: string;
}

export interface IdentityRecord {
  id: string;
  name: string;
  type: typeof TYPES.identity;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  principalId: string;
  clientId: string;
  tenantId: string;
  isolationScope: string;
  /** ISO time; principals younger than principalReplicationDelayMs are not yet "in the directory". */
  createdAt: string;
  /** Who created and last modified it, from the callers' tokens (ARM's systemData). */
  systemData: SystemDataRecord;
}

export type RoleAssignmentMode = 'LegacyRegistryPermissions' | 'AbacRepositoryPermissions';

/** A private endpoint's connection to a registry (Registry.properties.privateEndpointConnections[]). */
export interface RegistryPrivateEndpointConnection {
  /** The connection's name (its id is the registry's id + /privateEndpointConnections/<name>). */
  name: string;
  /** The Microsoft.Network/privateEndpoints resource id. */
  privateEndpointId: string;
  /** privateLinkServiceConnectionState.status: only an Approved connection carries traffic. */
  status: 'Approved' | 'Pending' | 'Rejected' | 'Disconnected';
}

/**
 * What decides whether a client that holds a pull right can reach the registry and use its token.
 * Defaults are a new registry's (Learn: container-registry-access-selected-networks,
 * container-registry-private-link, container-registry-disable-authentication-as-arm,
 * anonymous-pull-access, container-registry-dedicated-data-endpoints; REST spec
 * Microsoft.ContainerRegistry 2025-11-01, Registry / RegistryProperties).
 */
export interface RegistryAccessSettings {
  publicNetworkAccess: 'Enabled' | 'Disabled';
  /** Premium only: Basic and Standard registries answer without a networkRuleSet. */
  networkRuleSet: { defaultAction: 'Allow' | 'Deny'; ipRules: { action: 'Allow'; value: string }[] };
  networkRuleBypassOptions: 'AzureServices' | 'None';
  /** policies.azureADAuthenticationAsArmPolicy.status: 'disabled' refuses ARM-audience tokens. */
  azureADAuthenticationAsArmPolicy: 'enabled' | 'disabled';
  anonymousPullEnabled: boolean;
  dataEndpointEnabled: boolean;
  privateEndpointConnections: RegistryPrivateEndpointConnection[];
}

export const DEFAULT_REGISTRY_ACCESS: Readonly<RegistryAccessSettings> =
  Object.freeze<RegistryAccessSettings>({
    publicNetworkAccess: 'Enabled',
    networkRuleSet: { defaultAction: 'Allow', ipRules: [] },
    networkRuleBypassOptions: 'AzureServices',
    azureADAuthenticationAsArmPolicy: 'enabled',
    anonymousPullEnabled: false,
    dataEndpointEnabled: false,
    privateEndpointConnections: [],
  });

export interface RegistryRecord {
  id: string;
  name: string;
  type: typeof TYPES.registry;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  sku: { name: string; tier: string };
  loginServer: string;
  creationDate: string;
  roleAssignmentMode: RoleAssignmentMode;
  /** Network, audience and anonymous-pull settings (see RegistryAccessSettings). */
  access: RegistryAccessSettings;
}

export interface RoleAssignmentRecord {
  id: string;
  name: string;
  type: typeof TYPES.roleAssignment;
  scope: string;
  roleDefinitionId: string;
  principalId: string;
  principalType: string;
  condition: string | null;
  conditionVersion: string | null;
  description: string | null;
  createdOn: string;
  updatedOn: string;
  createdBy: string;
  updatedBy: string;
}

/** A principal a deny assignment names: `00000000-0000-0000-0000-000000000000` with type SystemDefined is everyone. */
export interface DenyAssignmentPrincipal {
  id: string;
  type: string;
}

/** Microsoft.EventGrid/systemTopics (see handlers/eventGrid.ts). */
export interface SystemTopicRecord {
  id: string;
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  /** e.g. /subscriptions/{id} for topicType Microsoft.Resources.Subscriptions. */
  source: string;
  topicType: string;
  metricResourceId: string;
  provisioningState: string;
}

/** Microsoft.EventGrid/systemTopics/eventSubscriptions. */
export interface EventSubscriptionRecord {
  id: string;
  name: string;
  /** The system topic's id (lower-cased comparisons). */
  topicId: string;
  /** The topic's source, as ARM reports it in properties.topic. */
  topic: string;
  provisioningState: string;
  destination: { endpointType: string; properties: Record<string, unknown> };
  filter: Record<string, unknown>;
}

/**
 * Microsoft.Authorization/denyAssignments (read-only in ARM: Azure creates them for managed apps,
 * deployment stacks, AKS node-resource-group lockdown…). Learn role-based-access-control/deny-assignments;
 * REST spec authorization-DenyAssignmentGetCalls.json (2022-04-01).
 */
export interface DenyAssignmentRecord {
  id: string;
  /** A GUID. */
  name: string;
  type: 'Microsoft.Authorization/denyAssignments';
  scope: string;
  denyAssignmentName: string;
  description: string;
  permissions: { actions: string[]; notActions: string[]; dataActions: string[]; notDataActions: string[] }[];
  principals: DenyAssignmentPrincipal[];
  excludePrincipals: DenyAssignmentPrincipal[];
  doNotApplyToChildScopes: boolean;
  isSystemProtected: boolean;
  createdOn: string;
}

/** A VM's creation (provisioningState Creating) or an update (Updating). */
export type VmOperationKind = 'create' | 'update';

/** Who runs an operation the test handle starts: the VM's owner (Terraform, Bicep, the portal). */
export const VM_OWNER = 'vm-owner';

export interface AsyncOperationRecord {
  name: string;
  subscriptionId: string;
  location: string;
  resourceId: string;
  kind: VmOperationKind;
  /** The caller's object id for a PATCH, or VM_OWNER (or a name given) for one the handle started. */
  startedBy: string;
  startTime: string;
  endTime?: string;
  status: 'InProgress' | 'Succeeded' | 'Failed' | 'Canceled';
  /** ms since epoch: the operation ends then, polled or not, as real ones do. */
  deadlineMs: number;
  /** How long it runs (deadlineMs less its start). */
  durationMs: number;
  /** Status polls answered so far (the first InProgress one may carry Retry-After). */
  polls: number;
  /** Set by an `asyncFailed` fault: the operation ends Failed with this. */
  failure?: { code: string; message: string };
  /** Set when a newer PATCH preempted it: the operation ended Canceled with this. */
  canceled?: { code: string; message: string };
}

/** A running operation that a newer PATCH took over (Compute's OperationPreempted). */
export interface PreemptionRecord {
  vmId: string;
  operation: string;
  kind: VmOperationKind;
  startedBy: string;
  preemptedBy: string;
  at: string;
}

/**
 * Compute's answer to an operation a newer one preempted, as users report it (azure-sdk-for-java#1783,
 * osbuild/osbuild-composer#1447, cockroachdb/cockroach#77613; shared/reference/azure-rest.md §11).
 */
export const OPERATION_PREEMPTED = {
  code: 'OperationPreempted',
  message: 'Operation execution has been preempted by a more recent operation.',
};

export interface PrincipalRecord {
  principalId: string;
  type: string;
  /** ms since epoch; seeded principals use 0 (replicated long ago). */
  createdAtMs: number;
}

interface Named {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

/** Resources of one type, keyed case-insensitively by (subscription, resource group, name). */
class ResourceTable<T extends Named & { id: string }> {
  private readonly rows = new Map<string, T>();
  /** All rows ordered by lowercased id; rebuilt lazily after a put or delete. */
  private sorted: T[] | undefined;

  get(sub: string, rg: string, name: string): T | undefined {
    return this.rows.get(keyOf(sub, rg, name));
  }

  put(row: T): void {
    this.rows.set(keyOf(row.subscriptionId, row.resourceGroup, row.name), row);
    this.sorted = undefined;
  }

  delete(row: T): void {
    this.rows.delete(keyOf(row.subscriptionId, row.resourceGroup, row.name));
    this.sorted = undefined;
  }

  /** The live rows ordered by id (case-insensitively): a stable order for paging. Do not modify the array. */
  sortedById(): readonly T[] {
    if (!this.sorted) {
      const keyed = [...this.rows.values()].map((row) => ({ key: row.id.toLowerCase(), row }));
      keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      this.sorted = keyed.map((k) => k.row);
    }
    return this.sorted;
  }

  list(sub?: string, rg?: string): T[] {
    return [...this.rows.values()].filter(
      (r) => (!sub || sameId(r.subscriptionId, sub)) && (!rg || sameId(r.resourceGroup, rg)),
    );
  }

  /** Looks a row up by its full resource id, whatever the casing of the segments. */
  byId(id: string, type: string): T | undefined {
    const scope = parseScope(id);
    if (scope.unsupported || !scope.name || !scope.type || !sameId(scope.type, type)) return undefined;
    return this.get(scope.subscriptionId ?? '', scope.resourceGroup ?? '', scope.name);
  }
}

const nowIso = () => new Date().toISOString();

/** Finished async operations kept for late polls; older ones are forgotten (polls then answer 404). */
export const FINISHED_OPERATIONS_KEPT = 10_000;

interface ResourceInput {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  tags?: Record<string, string>;
}

export class Store {
  private readonly groups = new Map<string, ResourceGroupRecord>();
  /** Lowercased subscription id → the id as first seeded. */
  private readonly subscriptions = new Map<string, string>();
  readonly vms = new ResourceTable<VmRecord>();
  readonly scaleSets = new ResourceTable<VmRecord>();
  readonly identities = new ResourceTable<IdentityRecord>();
  readonly registries = new ResourceTable<RegistryRecord>();
  /** Microsoft.Network and Private DNS: read-only over ARM, seeded through the handle (network/model.ts). */
  readonly virtualNetworks = new ResourceTable<VirtualNetworkRecord>();
  readonly networkInterfaces = new ResourceTable<NetworkInterfaceRecord>();
  readonly publicIps = new ResourceTable<PublicIpRecord>();
  readonly privateEndpoints = new ResourceTable<PrivateEndpointRecord>();
  readonly privateDnsZones = new ResourceTable<PrivateDnsZoneRecord>();
  private readonly roleAssignments = new Map<string, RoleAssignmentRecord>();
  /** Management group (lower-cased name) → the subscriptions under it, at any depth (lower-cased). */
  private readonly managementGroups = new Map<string, Set<string>>();
  /** By lowercased name (a GUID). */
  private readonly denyAssignments = new Map<string, DenyAssignmentRecord>();
  private readonly systemTopics = new Map<string, SystemTopicRecord>();
  private readonly eventSubscriptions = new Map<string, EventSubscriptionRecord>();
  private readonly principals = new Map<string, PrincipalRecord>();
  /** By lowercased name, oldest first (Map insertion order). */
  private readonly operations = new Map<string, AsyncOperationRecord>();
  /** The InProgress operation of each VM, by lowercased VM id. */
  private readonly runningByVm = new Map<string, AsyncOperationRecord>();
  private finishedCount = 0;
  /** Every preemption, oldest first: a test asserts the app never causes one. */
  private readonly preemptionLog: PreemptionRecord[] = [];
  /** Set while Resource Graph is frozen: deep copies of the VMs and scale sets, ordered by id. */
  private graphSnapshot: readonly VmRecord[] | undefined;
  /**
   * Bumped whenever what Resource Graph sees may have changed: a VM created or deleted, an etag bumped
   * (every PATCH and out-of-band update does that), a freeze or thaw. Lets query results be reused
   * across the pages of one sweep.
   */
  private graphVersion = 0;

  constructor(readonly tenantId: string) {}

  // --- subscriptions and resource groups -------------------------------------------------------

  addResourceGroup(sub: string, name: string, location: string): ResourceGroupRecord {
    const existing = this.getResourceGroup(sub, name);
    if (existing) return existing;
    const group = { id: resourceGroupId(sub, name), name, subscriptionId: sub, location, tags: {} };
    this.groups.set(keyOf(sub, name), group);
    if (!this.subscriptions.has(sub.toLowerCase())) this.subscriptions.set(sub.toLowerCase(), sub);
    return group;
  }

  getResourceGroup(sub: string, name: string): ResourceGroupRecord | undefined {
    return this.groups.get(keyOf(sub, name));
  }

  /** The resource groups of a subscription, in creation order. */
  listResourceGroups(sub: string): ResourceGroupRecord[] {
    return [...this.groups.values()].filter((g) => sameId(g.subscriptionId, sub));
  }

  /** The fields every tracked resource shares; the resource group keeps the casing it was made with. */
  private tracked<T extends string>(r: ResourceInput, type: T, idOf: (sub: string, rg: string) => string) {
    const rg = this.getResourceGroup(r.subscriptionId, r.resourceGroup)?.name ?? r.resourceGroup;
    return {
      id: idOf(r.subscriptionId, rg),
      name: r.name,
      type,
      subscriptionId: r.subscriptionId,
      resourceGroup: rg,
      location: r.location,
      tags: { ...(r.tags ?? {}) },
    };
  }

  hasSubscription(sub: string): boolean {
    return this.subscriptions.has(sub.toLowerCase());
  }

  /** The subscription id as first seeded, if the subscription exists. */
  subscription(sub: string): string | undefined {
    return this.subscriptions.get(sub.toLowerCase());
  }

  /** Every subscription that has a resource group, in the order they appeared. */
  listSubscriptions(): string[] {
    return [...this.subscriptions.values()];
  }

  // --- principals (the directory, as far as role assignments can tell) --------------------------

  addPrincipal(principalId: string, type: string, createdAtMs: number): void {
    this.principals.set(principalId.toLowerCase(), { principalId, type, createdAtMs });
  }

  getPrincipal(principalId: string): PrincipalRecord | undefined {
    return this.principals.get(principalId.toLowerCase());
  }

  // --- user-assigned identities ------------------------------------------------------------------

  /**
   * `createdAtMs`: when its principal came to be (0: long enough ago to have replicated); `stampedAtMs`:
   * what systemData.createdAt says (by default the same, or now).
   */
  createIdentity(
    i: ResourceInput,
    createdAtMs: number,
    creator: SystemDataActor,
    stampedAtMs = createdAtMs,
  ): IdentityRecord {
    const record: IdentityRecord = {
      ...this.tracked(i, TYPES.identity, (sub, rg) => identityResourceId(sub, rg, i.name)),
      principalId: randomUUID(),
      clientId: randomUUID(),
      tenantId: this.tenantId,
      isolationScope: 'None',
      createdAt: new Date(stampedAtMs || Date.now()).toISOString(),
      systemData: createdSystemData(creator, stampedAtMs),
    };
    this.identities.put(record);
    this.addPrincipal(record.principalId, 'ServicePrincipal', createdAtMs);
    return record;
  }

  // --- virtual machines --------------------------------------------------------------------------

  createVm(v: ResourceInput & { virtualMachineScaleSet?: string }): VmRecord {
    const record: VmRecord = {
      ...this.tracked(v, TYPES.vm, (sub, rg) => resourceId(sub, rg, TYPES.vm, v.name)),
      etag: '"1"',
      provisioningState: 'Succeeded',
      vmId: randomUUID(),
      vmSize: 'Standard_B2s',
      timeCreated: nowIso(),
      ...(v.virtualMachineScaleSet ? { virtualMachineScaleSet: v.virtualMachineScaleSet } : {}),
    };
    this.vms.put(record);
    this.graphVersion += 1;
    return record;
  }

  createScaleSet(
    v: ResourceInput & { orchestrationMode: OrchestrationMode; upgradeMode?: UpgradeMode; capacity: number },
  ): VmRecord {
    const record: VmRecord = {
      ...this.tracked(v, TYPES.scaleSet, (sub, rg) => resourceId(sub, rg, TYPES.scaleSet, v.name)),
      etag: '"1"',
      provisioningState: 'Succeeded',
      vmId: randomUUID(),
      vmSize: 'Standard_B2s',
      timeCreated: nowIso(),
      scaleSet: {
        orchestrationMode: v.orchestrationMode,
        ...(v.upgradeMode ? { upgradeMode: v.upgradeMode } : {}),
        capacity: v.capacity,
      },
    };
    this.scaleSets.put(record);
    this.graphVersion += 1;
    return record;
  }

  /** A VM or a scale set by id. */
  computeById(id: string): VmRecord | undefined {
    return this.vms.byId(id, TYPES.vm) ?? this.scaleSets.byId(id, TYPES.scaleSet);
  }

  deleteVm(vm: VmRecord): void {
    // An operation still running on the VM ends with it (its status URL then answers Canceled).
    const running = this.runningOperationFor(vm); // one past its time has simply finished
    if (running) {
      running.canceled = {
        code: 'Canceled',
        message: 'The operation was canceled: the virtual machine was deleted.',
      };
      this.finish(running);
    }
    (vm.type === TYPES.scaleSet ? this.scaleSets : this.vms).delete(vm);
    this.graphVersion += 1;
  }

  // --- Resource Graph's view of the VMs ----------------------------------------------------------

  /**
   * What Resource Graph sees: the live VMs, or the snapshot taken by freezeResourceGraph(), ordered by
   * id; `version` changes whenever they may have.
   */
  resourceGraphView(): { vms: readonly VmRecord[]; version: number } {
    return { vms: this.graphSnapshot ?? this.computeSortedById(), version: this.graphVersion };
  }

  /** VMs and scale sets ordered by id; just the VMs (no copy) when there are no scale sets. */
  private computeSortedById(): readonly VmRecord[] {
    const scaleSets = this.scaleSets.sortedById();
    if (scaleSets.length === 0) return this.vms.sortedById();
    if (this.mergedFor?.version !== this.graphVersion) {
      const all = [...this.vms.sortedById(), ...scaleSets].map((r) => ({ key: r.id.toLowerCase(), r }));
      all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      this.mergedFor = { version: this.graphVersion, rows: all.map((a) => a.r) };
    }
    return this.mergedFor.rows;
  }

  private mergedFor: { version: number; rows: readonly VmRecord[] } | undefined;

  /** Resource Graph answers from a copy of the VMs as they are now, until thawed (a new freeze re-takes it). */
  freezeResourceGraph(): void {
    this.graphSnapshot = structuredClone(this.computeSortedById());
    this.graphVersion += 1;
  }

  thawResourceGraph(): void {
    this.graphSnapshot = undefined;
    this.graphVersion += 1;
  }

  bumpEtag(vm: VmRecord): void {
    const current = Number.parseInt(vm.etag.replace(/"/g, ''), 10) || 0;
    vm.etag = `"${current + 1}"`;
    this.graphVersion += 1;
  }

  /** A new system-assigned identity for a VM: a principal in the directory from now on. */
  newSystemIdentityPrincipal(createdAtMs: number): string {
    const principalId = randomUUID();
    this.addPrincipal(principalId, 'ServicePrincipal', createdAtMs);
    return principalId;
  }

  // --- registries --------------------------------------------------------------------------------

  createRegistry(
    r: ResourceInput & {
      sku: string;
      roleAssignmentMode: RoleAssignmentMode;
      access?: Partial<RegistryAccessSettings>;
    },
  ): RegistryRecord {
    const record: RegistryRecord = {
      ...this.tracked(r, TYPES.registry, (sub, rg) => resourceId(sub, rg, TYPES.registry, r.name)),
      sku: { name: r.sku, tier: r.sku },
      loginServer: `${r.name.toLowerCase()}.azurecr.io`,
      creationDate: nowIso(),
      roleAssignmentMode: r.roleAssignmentMode,
      access: { ...structuredClone(DEFAULT_REGISTRY_ACCESS), ...structuredClone(r.access ?? {}) },
    };
    this.registries.put(record);
    return record;
  }

  // --- role assignments (names are GUIDs, unique across the tenant) ------------------------------

  createRoleAssignment(a: {
    scope: string;
    name: string;
    roleGuid: string;
    principalId: string;
    principalType: string;
    createdBy: string;
    condition?: string | null;
    conditionVersion?: string | null;
    description?: string | null;
    /** When it was made (default now). */
    createdOn?: string;
  }): RoleAssignmentRecord {
    const now = a.createdOn ?? nowIso();
    const record: RoleAssignmentRecord = {
      id: `${a.scope}/providers/${TYPES.roleAssignment}/${a.name}`,
      name: a.name,
      type: TYPES.roleAssignment,
      scope: a.scope,
      roleDefinitionId: roleDefinitionIdFor(parseScope(a.scope).subscriptionId, a.roleGuid),
      principalId: a.principalId,
      principalType: a.principalType,
      condition: a.condition ?? null,
      conditionVersion: a.conditionVersion ?? null,
      description: a.description ?? null,
      createdOn: now,
      updatedOn: now,
      createdBy: a.createdBy,
      updatedBy: a.createdBy,
    };
    this.roleAssignments.set(record.name.toLowerCase(), record);
    return record;
  }

  getRoleAssignment(name: string): RoleAssignmentRecord | undefined {
    return this.roleAssignments.get(name.toLowerCase());
  }

  deleteRoleAssignment(name: string): RoleAssignmentRecord | undefined {
    const record = this.getRoleAssignment(name);
    this.roleAssignments.delete(name.toLowerCase());
    return record;
  }

  listRoleAssignments(): RoleAssignmentRecord[] {
    return [...this.roleAssignments.values()];
  }

  // --- management groups (only as scopes above subscriptions, for inherited role assignments) -------

  addManagementGroup(name: string, subscriptionIds: readonly string[]): void {
    this.managementGroups.set(name.toLowerCase(), new Set(subscriptionIds.map((s) => s.toLowerCase())));
  }

  /** Whether the management group was seeded. */
  hasManagementGroup(name: string): boolean {
    return this.managementGroups.has(name.toLowerCase());
  }

  /** Whether the subscription lies under the management group (at any depth). */
  isUnderManagementGroup(name: string, subscriptionId: string): boolean {
    return this.managementGroups.get(name.toLowerCase())?.has(subscriptionId.toLowerCase()) ?? false;
  }

  // --- deny assignments (read-only through ARM; seeded by the test handle) -----------------------

  addDenyAssignment(record: DenyAssignmentRecord): DenyAssignmentRecord {
    this.denyAssignments.set(record.name.toLowerCase(), record);
    return record;
  }

  getDenyAssignment(name: string): DenyAssignmentRecord | undefined {
    return this.denyAssignments.get(name.toLowerCase());
  }

  listDenyAssignments(): DenyAssignmentRecord[] {
    return [...this.denyAssignments.values()];
  }

  // --- Event Grid system topics and their event subscriptions (read-only; seeded) -------------------

  addSystemTopic(record: SystemTopicRecord): SystemTopicRecord {
    this.systemTopics.set(record.id.toLowerCase(), record);
    return record;
  }

  listSystemTopics(): SystemTopicRecord[] {
    return [...this.systemTopics.values()];
  }

  addEventSubscription(record: EventSubscriptionRecord): EventSubscriptionRecord {
    this.eventSubscriptions.set(record.id.toLowerCase(), record);
    return record;
  }

  removeEventSubscription(id: string): boolean {
    return this.eventSubscriptions.delete(id.toLowerCase());
  }

  listEventSubscriptions(): EventSubscriptionRecord[] {
    return [...this.eventSubscriptions.values()];
  }

  // --- async operations --------------------------------------------------------------------------

  /**
   * Starts an operation on the VM (Creating or Updating until it ends). The caller has dealt with an
   * operation already running (refused the request, or preempted it).
   */
  startOperation(
    vm: VmRecord,
    op: { kind: VmOperationKind; startedBy: string; durationMs: number },
    failure?: { code: string; message: string },
  ): AsyncOperationRecord {
    const record: AsyncOperationRecord = {
      name: randomUUID(),
      subscriptionId: vm.subscriptionId,
      location: vm.location,
      resourceId: vm.id,
      kind: op.kind,
      startedBy: op.startedBy,
      startTime: nowIso(),
      status: 'InProgress',
      deadlineMs: Date.now() + op.durationMs,
      durationMs: op.durationMs,
      polls: 0,
      ...(failure ? { failure } : {}),
    };
    this.operations.set(record.name.toLowerCase(), record);
    this.runningByVm.set(vm.id.toLowerCase(), record);
    vm.provisioningState = op.kind === 'create' ? 'Creating' : 'Updating';
    return record;
  }

  /** A newer PATCH takes over: the running operation ends Canceled / OperationPreempted. */
  preempt(op: AsyncOperationRecord, by: string): void {
    op.canceled = { ...OPERATION_PREEMPTED };
    this.preemptionLog.push({
      vmId: op.resourceId,
      operation: op.name,
      kind: op.kind,
      startedBy: op.startedBy,
      preemptedBy: by,
      at: nowIso(),
    });
    this.finish(op);
  }

  preemptions(): readonly PreemptionRecord[] {
    return this.preemptionLog;
  }

  /** Every operation still remembered (for one VM, or all), oldest first; overdue ones finished first. */
  operationsFor(vmId?: string): AsyncOperationRecord[] {
    for (const op of [...this.runningByVm.values()]) if (Date.now() >= op.deadlineMs) this.finish(op);
    return [...this.operations.values()].filter((op) => vmId === undefined || sameId(op.resourceId, vmId));
  }

  getOperation(name: string): AsyncOperationRecord | undefined {
    return this.operations.get(name.toLowerCase());
  }

  /** The VM as it reads now: an update past its deadline has finished, polled or not. */
  currentVm(vm: VmRecord): VmRecord {
    this.runningOperationFor(vm);
    return vm;
  }

  /** The VM's operation still running, if any (one past its deadline is finished first). */
  runningOperationFor(vm: VmRecord): AsyncOperationRecord | undefined {
    const op = this.runningByVm.get(vm.id.toLowerCase());
    if (op && Date.now() >= op.deadlineMs) this.finish(op);
    return op?.status === 'InProgress' ? op : undefined;
  }

  /** One status poll: InProgress until the operation's time is up, then its outcome. */
  pollOperation(op: AsyncOperationRecord): AsyncOperationRecord {
    op.polls += 1;
    if (op.status === 'InProgress' && Date.now() >= op.deadlineMs) this.finish(op);
    return op;
  }

  /**
   * Ends the operation. Only the VM's current operation sets its provisioningState: a preempted one
   * leaves it to the operation that took over.
   */
  private finish(op: AsyncOperationRecord): void {
    op.status = op.canceled ? 'Canceled' : op.failure ? 'Failed' : 'Succeeded';
    op.endTime = nowIso();
    const key = op.resourceId.toLowerCase();
    if (this.runningByVm.get(key) === op) {
      this.runningByVm.delete(key);
      const vm = this.computeById(op.resourceId);
      if (vm && !op.canceled) vm.provisioningState = op.status;
    }
    this.finishedCount += 1;
    if (this.finishedCount > FINISHED_OPERATIONS_KEPT) this.forgetOldestFinished();
  }

  /** Drops the oldest finished operations, a tenth of the limit at a time (amortized O(1) per operation). */
  private forgetOldestFinished(): void {
    let toDrop = Math.ceil(FINISHED_OPERATIONS_KEPT / 10);
    for (const [name, op] of this.operations) {
      if (toDrop === 0) break;
      if (op.status === 'InProgress') continue;
      this.operations.delete(name);
      this.finishedCount -= 1;
      toDrop -= 1;
    }
  }
}

// --- Microsoft.Network and Private DNS (read-only over ARM; seeded, see network/model.ts) --------

/** The fields every seeded network resource shares (tracked resources: location, tags). */
interface NetworkResourceFields {
  id: string;
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  /** Network RP resources carry a resourceGuid; Private DNS zones an internalId in its place. */
  resourceGuid: string;
}

/**
 * A peering's state as the local side reports it (Learn: virtual-network-manage-peering): Initiated
 * while only this side exists, Connected once the remote side peers back, Disconnected when the remote
 * side was deleted.
 */
export type PeeringState = 'Initiated' | 'Connected' | 'Disconnected';

export interface SubnetRecord {
  name: string;
  addressPrefix: string;
}

export interface PeeringRecord {
  name: string;
  remoteVirtualNetworkId: string;
  state: PeeringState;
}

export interface VirtualNetworkRecord extends NetworkResourceFields {
  type: 'Microsoft.Network/virtualNetworks';
  addressPrefixes: string[];
  subnets: SubnetRecord[];
  peerings: PeeringRecord[];
}

/** A private endpoint NIC's IP serves one member of the private link resource (`registry`, `registry_data_<region>`). */
export interface PrivateLinkConnectionRecord {
  groupId: string;
  requiredMemberName: string;
  fqdns: string[];
}

export interface NicIpConfigurationRecord {
  name: string;
  subnetId: string;
  privateIp: string;
  primary: boolean;
  publicIpId?: string;
  privateLinkConnection?: PrivateLinkConnectionRecord;
}

export interface NetworkInterfaceRecord extends NetworkResourceFields {
  type: 'Microsoft.Network/networkInterfaces';
  ipConfigurations: NicIpConfigurationRecord[];
  macAddress: string;
  /** The VM it is attached to (properties.virtualMachine.id). */
  virtualMachineId?: string;
  /** A private endpoint's NIC: that endpoint (properties.privateEndpoint.id). */
  privateEndpointId?: string;
}

export interface PublicIpRecord extends NetworkResourceFields {
  type: 'Microsoft.Network/publicIPAddresses';
  ipAddress: string;
  /** The NIC IP configuration it is associated with, once a NIC is seeded with it. */
  ipConfigurationId?: string;
}

export interface PrivateEndpointConnectionSeed {
  name: string;
  /** The target resource: here a registry's id. */
  privateLinkServiceId: string;
  groupIds: string[];
  /** Where Network lists it: automatic (privateLinkServiceConnections) or manual approval requested. */
  manual: boolean;
  /** The connection's name on the registry's side (registry.properties.privateEndpointConnections). */
  registryConnectionName: string;
}

export interface PrivateEndpointRecord extends NetworkResourceFields {
  type: 'Microsoft.Network/privateEndpoints';
  subnetId: string;
  networkInterfaceId: string;
  connection: PrivateEndpointConnectionSeed;
}

export interface VirtualNetworkLinkRecord {
  name: string;
  virtualNetworkId: string;
  registrationEnabled: boolean;
  /** virtualNetworkLinkState: only a Completed link answers for the zone in that VNet. */
  state: 'InProgress' | 'Completed';
}

export interface ARecordSetRecord {
  /** Relative to the zone: `contosoapps`, `contosoapps.westeurope.data`. */
  name: string;
  ttl: number;
  ipv4Addresses: string[];
}

export interface PrivateDnsZoneRecord extends NetworkResourceFields {
  type: 'Microsoft.Network/privateDnsZones';
  links: VirtualNetworkLinkRecord[];
  aRecordSets: ARecordSetRecord[];
}
