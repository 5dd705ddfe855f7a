// The test handle: seeding, direct state access for simulating other actors, and the controls.
// Seeds describe state that existed before the test, so their principals count as replicated.
import { randomUUID } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Emulator, SeedVm, VmOperationView } from './api';
import type { EmulatorSettings } from './armHttp';
import type { Controls } from './controls';
import { durationSource, RECORDED_CREATE_MS } from './durations';
import { operationUrl } from './handlers/operations';
import type { IngestionAuth } from './ingestion/server';
import type { TelemetryStore } from './ingestion/telemetryStore';
import * as networkModel from './network/model';
import type { RequestLimiter } from './rateLimit';
import { ALL_PRINCIPALS } from './registry/authorization';
import type { RegistryDataPlane } from './registry/dataPlane';
import { isGuid, managementGroupId, managementGroupOf, parseScope, sameId, TYPES } from './resourceIds';
import { roleGuidOf } from './roleDefinitions';
import { API_VERSIONS } from './routes';
import { type AsyncOperationRecord, type Store, VM_OWNER, type VmRecord } from './store';
import { actorOf, type SystemDataActor } from './systemData';
import type { TokenAuthority } from './tokens';

/** Who made a seeded identity unless the seed says: a person, before the test began. */
const SEED_CREATOR: SystemDataActor = { by: 'operator@contoso.example', type: 'User' };
/** How long before seeding a seeded identity was made, unless the seed says (SeedIdentity.createdAtMs). */
const SEEDED_AGE_MS = 60 * 60_000;

export interface HandleDeps {
  armEndpoint: string;
  identityEndpoint: string;
  identityHeader: string;
  caCertPem: string;
  appIdentity: { principalId: string; clientId: string; resourceId: string };
  store: Store;
  controls: Controls;
  authority: TokenAuthority;
  settings: EmulatorSettings;
  limiter: RequestLimiter;
  /** `https://127.0.0.1:PORT/`, with the trailing slash Azure's connection strings carry. */
  ingestionEndpoint: string;
  instrumentationKey: string;
  telemetry: TelemetryStore;
  ingestionAuth: { mode: IngestionAuth };
  servers: (HttpServer | HttpsServer)[];
  /** `http://127.0.0.1:PORT`: the VMs' IMDS (a VM's base URL adds its resource id). */
  imdsEndpoint: string;
  /** The registries' data plane (listeners, content, network overrides, settings). */
  registry: RegistryDataPlane;
}

/** A deny assignment's principal: `{ id, type }` with the type ARM reports (default ServicePrincipal, SystemDefined for everyone). */
function denyPrincipal(p: { id: string; type?: string }) {
  return { id: p.id, type: p.type ?? (p.id === ALL_PRINCIPALS ? 'SystemDefined' : 'ServicePrincipal') };
}

const DEFAULT_LOCATION = 'westeurope';
const clone = <T>(value: T): T => structuredClone(value);

function closeServer(server: HttpServer | HttpsServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export function createHandle(deps: HandleDeps): Emulator {
  const { store, controls, settings } = deps;
  // A creation seeded without its length runs as long as recorded ones (durations.ts).
  const creationMs = durationSource(RECORDED_CREATE_MS, 2);

  const appCreator = (): SystemDataActor =>
    actorOf(
      {
        objectId: deps.appIdentity.principalId,
        clientId: deps.appIdentity.clientId,
        tenantId: store.tenantId,
        managedIdentity: true,
      },
      settings.systemDataCreatedBy,
    );

  /** A VM or a scale set. */
  function liveVm(id: string): VmRecord {
    const vm = store.computeById(id);
    if (!vm) throw new Error(`emulator: no VM or scale set '${id}'`);
    return vm;
  }

  function ensureGroup(sub: string, rg: string, location?: string): void {
    store.addResourceGroup(sub, rg, location ?? DEFAULT_LOCATION);
  }

  /** A seed's identities on a new VM or scale set, and its owner's creation still running if it says so. */
  function seedIdentities(vm: VmRecord, v: SeedVm): VmRecord {
    const identities = (v.userAssignedIdentityIds ?? []).map((id) => {
      const found = store.identities.byId(id, TYPES.identity);
      if (!found) throw new Error(`emulator: seed: no identity '${id}' (seed it first)`);
      return found;
    });
    if (v.systemAssigned || identities.length > 0) {
      const type = [v.systemAssigned ? 'SystemAssigned' : '', identities.length ? 'UserAssigned' : '']
        .filter(Boolean)
        .join(', ') as NonNullable<VmRecord['identity']>['type'];
      vm.identity = {
        type,
        ...(v.systemAssigned
          ? { principalId: store.newSystemIdentityPrincipal(0), tenantId: store.tenantId }
          : {}),
        userAssignedIdentities: Object.fromEntries(
          identities.map((i) => [i.id, { principalId: i.principalId, clientId: i.clientId }]),
        ),
      };
    }
    if (v.provisioning) startOwnerOperation(vm, 'create', v.provisioning.forMs ?? creationMs());
    return vm;
  }

  function refuseDuplicate(existing: unknown, what: string): void {
    if (existing) throw new Error(`emulator: ${what} is already seeded`);
  }

  /** Attached identities report the identity's principal and client ids, like Compute does. */
  function fillAttached(vm: VmRecord): void {
    const attached = vm.identity?.userAssignedIdentities ?? {};
    for (const [id, entry] of Object.entries(attached)) {
      // An entry already bound keeps its principal, stale or not (see vmIdentityPatch.ts).
      if (entry.principalId) continue;
      const identity = store.identities.byId(id, TYPES.identity);
      if (identity)
        attached[id] = { ...entry, principalId: identity.principalId, clientId: identity.clientId };
    }
  }

  /** Another writer's operation: it runs for `forMs`, like every operation. */
  function startOwnerOperation(vm: VmRecord, kind: 'create' | 'update', forMs: number, by = VM_OWNER) {
    if (!Number.isFinite(forMs) || forMs < 0)
      throw new Error(`emulator: an operation must run for a finite forMs >= 0, not ${forMs}`);
    return store.startOperation(vm, { kind, startedBy: by, durationMs: forMs });
  }

  function view(op: AsyncOperationRecord): VmOperationView {
    const error = op.status === 'Canceled' ? op.canceled : op.status === 'Failed' ? op.failure : undefined;
    return clone({
      name: op.name,
      vmId: op.resourceId,
      kind: op.kind,
      startedBy: op.startedBy,
      status: op.status,
      ...(error ? { error } : {}),
      startTime: op.startTime,
      ...(op.endTime ? { endTime: op.endTime } : {}),
      runsForMs: op.durationMs,
      statusUrl: operationUrl(deps.armEndpoint, op, API_VERSIONS.compute[0]),
    });
  }

  return {
    armEndpoint: deps.armEndpoint,
    identityEndpoint: deps.identityEndpoint,
    identityHeader: deps.identityHeader,
    caCertPem: deps.caCertPem,
    tenantId: store.tenantId,
    appIdentity: deps.appIdentity,
    ingestionEndpoint: deps.ingestionEndpoint,
    instrumentationKey: deps.instrumentationKey,
    connectionString: [
      `InstrumentationKey=${deps.instrumentationKey}`,
      `IngestionEndpoint=${deps.ingestionEndpoint}`,
      `LiveEndpoint=${deps.ingestionEndpoint}`,
    ].join(';'),

    issueToken: (as) =>
      deps.authority.issue(
        as
          ? {
              audience: as.audience ?? 'https://management.azure.com',
              objectId: as.objectId,
              clientId: as.clientId,
              // A managed identity's token names its resource (xms_mirid); an application's does not.
              ...((as.kind ?? 'ManagedIdentity') === 'ManagedIdentity'
                ? {
                    resourceId: `/subscriptions/${randomUUID()}/resourceGroups/rg/providers/Microsoft.Web/sites/caller`,
                  }
                : {}),
            }
          : {
              audience: 'https://management.azure.com',
              objectId: deps.appIdentity.principalId,
              clientId: deps.appIdentity.clientId,
              resourceId: deps.appIdentity.resourceId,
            },
      ).token,

    appCreator: () => appCreator(),

    seedResourceGroup: (sub, name, location, options) => {
      const group = store.addResourceGroup(sub, name, location ?? DEFAULT_LOCATION);
      if (options?.managedBy) group.managedBy = options.managedBy;
      return group.id;
    },

    seedRegistry(r) {
      ensureGroup(r.subscriptionId, r.resourceGroup, r.location);
      refuseDuplicate(
        store.registries.get(r.subscriptionId, r.resourceGroup, r.name),
        `registry '${r.name}'`,
      );
      return clone(
        store.createRegistry({
          ...r,
          location:
            r.location ??
            store.getResourceGroup(r.subscriptionId, r.resourceGroup)?.location ??
            DEFAULT_LOCATION,
          sku: r.sku ?? 'Standard',
          roleAssignmentMode: r.roleAssignmentMode ?? 'LegacyRegistryPermissions',
        }),
      );
    },

    updateRegistry(id, change) {
      const registry = store.registries.byId(id, TYPES.registry);
      if (!registry) throw new Error(`emulator: updateRegistry: no registry '${id}'`);
      registry.access = { ...registry.access, ...structuredClone(change) };
      return clone(registry);
    },

    seedIdentity(i) {
      ensureGroup(i.subscriptionId, i.resourceGroup, i.location);
      refuseDuplicate(
        store.identities.get(i.subscriptionId, i.resourceGroup, i.name),
        `identity '${i.name}'`,
      );
      const creator = i.createdBy === 'app' ? appCreator() : (i.createdBy ?? SEED_CREATOR);
      return clone(store.createIdentity(i, 0, creator, i.createdAtMs ?? Date.now() - SEEDED_AGE_MS));
    },

    seedVm(v) {
      ensureGroup(v.subscriptionId, v.resourceGroup, v.location);
      refuseDuplicate(store.vms.get(v.subscriptionId, v.resourceGroup, v.name), `VM '${v.name}'`);
      const scaleSet = v.virtualMachineScaleSet
        ? store.scaleSets.byId(v.virtualMachineScaleSet, TYPES.scaleSet)
        : undefined;
      if (v.virtualMachineScaleSet && scaleSet?.scaleSet?.orchestrationMode !== 'Flexible')
        throw new Error(`emulator: seedVm: '${v.virtualMachineScaleSet}' is not a seeded Flexible scale set`);
      return clone(seedIdentities(store.createVm({ ...v, virtualMachineScaleSet: scaleSet?.id }), v));
    },

    seedScaleSet(s) {
      ensureGroup(s.subscriptionId, s.resourceGroup, s.location);
      refuseDuplicate(
        store.scaleSets.get(s.subscriptionId, s.resourceGroup, s.name),
        `scale set '${s.name}'`,
      );
      const vmss = store.createScaleSet({
        ...s,
        orchestrationMode: s.orchestrationMode ?? 'Uniform',
        ...((s.orchestrationMode ?? 'Uniform') === 'Uniform'
          ? { upgradeMode: s.upgradeMode ?? 'Manual' }
          : {}),
        capacity: s.capacity ?? 2,
      });
      return clone(seedIdentities(vmss, s));
    },

    getScaleSet: (id) => {
      const vmss = store.scaleSets.byId(id, TYPES.scaleSet);
      return vmss ? clone(store.currentVm(vmss)) : undefined;
    },
    listScaleSets: () => store.scaleSets.list().map((vmss) => clone(store.currentVm(vmss))),

    seedRoleAssignment(a) {
      const roleGuid = isGuid(a.roleDefinitionId)
        ? a.roleDefinitionId.toLowerCase()
        : roleGuidOf(a.roleDefinitionId);
      if (!roleGuid)
        throw new Error(`emulator: seedRoleAssignment: bad roleDefinitionId '${a.roleDefinitionId}'`);
      const group = managementGroupOf(a.scope);
      if (group !== undefined ? !store.hasManagementGroup(group) : parseScope(a.scope).unsupported)
        throw new Error(`emulator: seedRoleAssignment: unsupported scope '${a.scope}'`);
      const name = a.name ?? randomUUID();
      refuseDuplicate(store.getRoleAssignment(name), `role assignment '${name}'`);
      return clone(
        store.createRoleAssignment({
          scope: a.scope.replace(/\/+$/, ''),
          name,
          roleGuid,
          principalId: a.principalId,
          principalType: a.principalType ?? store.getPrincipal(a.principalId)?.type ?? 'ServicePrincipal',
          createdBy: deps.appIdentity.principalId,
          ...(a.condition ? { condition: a.condition, conditionVersion: '2.0' } : {}),
          ...(a.createdOn ? { createdOn: a.createdOn } : {}),
        }),
      );
    },

    seedManagementGroup: (name, subscriptionIds) => {
      store.addManagementGroup(name, subscriptionIds);
      return managementGroupId(name);
    },

    seedPrincipal: (principalId, type = 'User') => store.addPrincipal(principalId, type, 0),

    seedVirtualNetwork: (v) => clone(networkModel.seedVirtualNetwork(store, v)),
    seedPeering: (from, to, state) => networkModel.seedPeering(store, from, to, state),
    seedPublicIp: (p) => clone(networkModel.seedPublicIp(store, p)),
    seedNic: (n) => clone(networkModel.seedNic(store, n)),
    attachScaleSetSubnet: (scaleSetId, subnetId) =>
      networkModel.attachScaleSetSubnet(store, scaleSetId, subnetId),
    seedPrivateEndpoint: (p) => clone(networkModel.seedPrivateEndpoint(store, p)),
    seedPrivateDnsZone: (z) => clone(networkModel.seedPrivateDnsZone(store, z)),
    linkPrivateDnsZone: (zoneId, vnetId, options) =>
      networkModel.linkPrivateDnsZone(store, zoneId, vnetId, options),
    seedARecord: (zoneId, name, ips) => networkModel.seedARecord(store, zoneId, name, ips),

    getVm: (id) => {
      const vm = store.vms.byId(id, TYPES.vm);
      return vm ? clone(store.currentVm(vm)) : undefined;
    },
    listVms: () => store.vms.list().map((vm) => clone(store.currentVm(vm))),
    updateVmOutOfBand(id, change) {
      const vm = liveVm(id);
      change(vm);
      fillAttached(vm);
      store.bumpEtag(vm);
    },
    startVmOperation(id, op) {
      const vm = store.currentVm(liveVm(id));
      const running = store.runningOperationFor(vm);
      if (running) throw new Error(`emulator: '${id}' already has an operation running (${running.kind})`);
      op.change?.(vm);
      fillAttached(vm);
      if (op.keepEtag !== true) store.bumpEtag(vm);
      return view(startOwnerOperation(vm, op.kind ?? 'update', op.forMs, op.by));
    },
    vmOperations: (id) => store.operationsFor(id).map(view),
    preemptions: () => store.preemptions().map(clone),
    setConcurrentWrites(mode) {
      settings.concurrentWrites = mode;
    },
    assignModifyPolicy(policy) {
      settings.modifyPolicies.push({
        ...policy,
        removeUserAssignedIdentities: [...policy.removeUserAssignedIdentities],
      });
    },
    setIngestionAuth(mode) {
      deps.ingestionAuth.mode = mode;
    },
    deleteVm: (id) => store.deleteVm(liveVm(id)),
    listIdentities: () => store.identities.list().map(clone),
    deleteIdentity(id, options) {
      const identity = store.identities.byId(id, TYPES.identity);
      if (!identity) throw new Error(`emulator: deleteIdentity: no identity '${id}'`);
      store.identities.delete(identity);
      if (options?.vmEntries !== 'null') return;
      for (const target of [...store.vms.list(), ...store.scaleSets.list()])
        for (const [key, entry] of Object.entries(target.identity?.userAssignedIdentities ?? {}))
          if (sameId(key, identity.id)) {
            entry.principalId = null;
            entry.clientId = null;
          }
    },
    listRoleAssignments: () => store.listRoleAssignments().map(clone),
    deleteRoleAssignment(id) {
      const found = store.listRoleAssignments().find((a) => sameId(a.id, id));
      if (!found) throw new Error(`emulator: no role assignment '${id}'`);
      store.deleteRoleAssignment(found.name);
    },

    injectFault: (f) => controls.injectFault(f),
    clearFaults: () => controls.clearFaults(),
    onBeforeOperation: (operation, hook, once) => controls.onBeforeOperation(operation, hook, once),
    setLatency(ms) {
      settings.latencyMs = ms;
    },
    freezeResourceGraph: () => store.freezeResourceGraph(),
    thawResourceGraph: () => store.thawResourceGraph(),
    setThrottle: (throttle) => deps.limiter.configure(throttle),
    throttled: () => controls.throttled(),
    counts: () => controls.counts(),
    totals: () => controls.totals(),
    resetCounts: () => controls.resetCounts(),
    telemetry: () => deps.telemetry.all(),
    customEvents: () => deps.telemetry.customEvents(),
    clearTelemetry: () => deps.telemetry.clear(),
    vmImdsEndpoint(targetId) {
      const target = store.computeById(targetId);
      if (!target) throw new Error(`emulator: vmImdsEndpoint: no VM or scale set '${targetId}'`);
      return `${deps.imdsEndpoint}${target.id}`;
    },
    registryEndpoint: (idOrName) => deps.registry.endpoint(idOrName),
    seedImage(idOrName, repository, tag) {
      const registry = deps.registry.resolve(idOrName);
      return { digest: deps.registry.contentOf(registry).put(repository, tag) };
    },
    imageDigest(idOrName, repository, reference = 'latest') {
      const registry = deps.registry.resolve(idOrName);
      return deps.registry.contentOf(registry).manifest(repository, reference)?.digest;
    },
    seedDenyAssignment(d) {
      if (parseScope(d.scope).unsupported)
        throw new Error(`emulator: seedDenyAssignment: unsupported scope '${d.scope}'`);
      const name = d.name ?? randomUUID();
      refuseDuplicate(store.getDenyAssignment(name), `deny assignment '${name}'`);
      const scope = d.scope.replace(/\/+$/, '');
      return clone(
        store.addDenyAssignment({
          id: `${scope}/providers/Microsoft.Authorization/denyAssignments/${name}`,
          name,
          type: 'Microsoft.Authorization/denyAssignments',
          scope,
          denyAssignmentName: d.denyAssignmentName ?? `Deny assignment ${name}`,
          description: d.description ?? '',
          permissions: d.permissions.map((p) => ({
            actions: [...(p.actions ?? [])],
            notActions: [...(p.notActions ?? [])],
            dataActions: [...(p.dataActions ?? [])],
            notDataActions: [...(p.notDataActions ?? [])],
          })),
          principals: d.principals.map(denyPrincipal),
          excludePrincipals: (d.excludePrincipals ?? []).map(denyPrincipal),
          doNotApplyToChildScopes: d.doNotApplyToChildScopes ?? false,
          isSystemProtected: true,
          createdOn: new Date().toISOString(),
        }),
      );
    },
    seedSubscriptionSystemTopic(t) {
      if (!store.getResourceGroup(t.subscriptionId, t.resourceGroup))
        throw new Error(`emulator: seedSubscriptionSystemTopic: no resource group '${t.resourceGroup}'`);
      const id = `/subscriptions/${t.subscriptionId}/resourceGroups/${t.resourceGroup}/providers/Microsoft.EventGrid/systemTopics/${t.name}`;
      return clone(
        store.addSystemTopic({
          id,
          name: t.name,
          subscriptionId: t.subscriptionId,
          resourceGroup: t.resourceGroup,
          location: 'global',
          source: `/subscriptions/${t.subscriptionId}`,
          topicType: 'Microsoft.Resources.Subscriptions',
          metricResourceId: randomUUID(),
          provisioningState: 'Succeeded',
        }),
      );
    },
    seedEventSubscription(e) {
      const topic = store.listSystemTopics().find((t) => t.id.toLowerCase() === e.topicId.toLowerCase());
      if (!topic) throw new Error(`emulator: seedEventSubscription: no system topic '${e.topicId}'`);
      return clone(
        store.addEventSubscription({
          id: `${topic.id}/eventSubscriptions/${e.name}`,
          name: e.name,
          topicId: topic.id,
          topic: topic.source,
          provisioningState: e.provisioningState ?? 'Succeeded',
          destination: {
            endpointType: 'AzureFunction',
            properties: { resourceId: e.functionId, maxEventsPerBatch: 1, preferredBatchSizeInKilobytes: 64 },
          },
          filter: {
            includedEventTypes: e.includedEventTypes ?? ['Microsoft.Resources.ResourceWriteSuccess'],
            enableAdvancedFilteringOnArrays: true,
            advancedFilters: [],
          },
        }),
      );
    },
    deleteEventSubscription: (id) => store.removeEventSubscription(id),
    setVmNetworkPosition(targetId, position) {
      const target = store.computeById(targetId);
      if (!target) throw new Error(`emulator: setVmNetworkPosition: no VM or scale set '${targetId}'`);
      if (position === undefined) deps.registry.vmPositions.delete(target.id.toLowerCase());
      else deps.registry.vmPositions.set(target.id.toLowerCase(), { ...position });
    },
    setRbacPropagationDelay(ms) {
      if (!Number.isFinite(ms) || ms < 0)
        throw new Error(`emulator: setRbacPropagationDelay: ${ms} is not a finite number >= 0`);
      deps.registry.settings.rbacPropagationDelayMs = ms;
    },
    setRegistryRefusal(refusal) {
      deps.registry.settings.refusal = refusal;
    },
    close: async () => {
      await Promise.all([...deps.servers.map(closeServer), deps.registry.close()]);
    },
  };
}
