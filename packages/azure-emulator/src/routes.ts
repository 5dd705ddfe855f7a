// The route table: which ARM paths exist, their operation names, api-versions and handlers. Literal
// segments match case-insensitively (resourceGroups / resourcegroups, provider names), as in ARM.
import * as versions from './apiVersions';
import type { Handler } from './armHttp';
import type { OperationName } from './controls';
import {
  type ArmError,
  invalidResourceNamespace,
  invalidResourceType,
  notImplemented,
  pathNotFound,
} from './errors';
import { getDenyAssignment, listDenyAssignments } from './handlers/denyAssignments';
import { listSystemTopicEventSubscriptions, listSystemTopicsBySubscription } from './handlers/eventGrid';
import { getIdentity, listIdentities, putIdentity } from './handlers/identities';
import { getMetadataEndpoints } from './handlers/metadata';
import {
  getNic,
  getPeering,
  getPrivateEndpoint,
  getPublicIp,
  getSubnet,
  getVnet,
  listNics,
  listPeerings,
  listPrivateEndpoints,
  listPublicIps,
  listSubnets,
  listVnets,
} from './handlers/network';
import { getOperationStatus } from './handlers/operations';
import { getLink, getRecordSet, getZone, listLinks, listRecordSets, listZones } from './handlers/privateDns';
import { getRegistry, listRegistries } from './handlers/registries';
import { queryResources } from './handlers/resourceGraph';
import { getResourceGroup, listResourceGroups, putResourceGroup } from './handlers/resourceGroups';
import { listResources } from './handlers/resources';
import {
  deleteRoleAssignment,
  getRoleAssignment,
  listRoleAssignments,
  putRoleAssignment,
} from './handlers/roleAssignments';
import { getRoleDefinition, listRoleDefinitions } from './handlers/roleDefinitions';
import { getScaleSet, listScaleSets, patchScaleSet } from './handlers/scaleSets';
import { getSubscription, listSubscriptions } from './handlers/subscriptions';
import { getVm, listVms, patchVm } from './handlers/virtualMachines';

/**
 * Every published api-version of each type (see apiVersions.ts for the sources); the first of each
 * list is the one the pinned SDK sends (checked in node_modules).
 */
export const API_VERSIONS = {
  compute: withFirst('2026-04-01', versions.COMPUTE),
  identity: withFirst('2024-11-30', versions.MANAGED_IDENTITY),
  authorization: withFirst('2022-04-01', versions.ROLE_ASSIGNMENTS),
  registry: withFirst('2025-11-01', versions.CONTAINER_REGISTRY),
  resourceGraph: withFirst('2024-04-01', versions.RESOURCE_GRAPH),
  subscriptions: withFirst('2022-12-01', versions.SUBSCRIPTIONS),
  resources: withFirst('2025-04-01', versions.RESOURCES),
  roleDefinitions: withFirst('2022-04-01', versions.ROLE_DEFINITIONS),
  metadata: withFirst('2022-09-01', versions.METADATA),
  denyAssignments: withFirst('2022-04-01', versions.DENY_ASSIGNMENTS),
  eventGrid: withFirst('2022-06-15', versions.EVENT_GRID),
  network: withFirst('2026-01-01', versions.NETWORK),
  networkPeerings: withFirst('2026-01-01', versions.NETWORK_PEERINGS),
  networkPrivateEndpoints: withFirst('2026-01-01', versions.NETWORK_PRIVATE_ENDPOINTS),
  privateDns: withFirst('2024-06-01', versions.PRIVATE_DNS),
} as const;

function withFirst(sdk: string, all: readonly string[]): readonly string[] {
  if (!all.includes(sdk)) throw new Error(`emulator: ${sdk} is not a published api-version`);
  return [sdk, ...all.filter((v) => v !== sdk)];
}

export interface Route {
  operation: OperationName;
  method: string;
  pattern: string;
  resourceType: string;
  apiVersions: readonly string[];
  handler: Handler;
  /** Answered without a token (ARM's cloud metadata endpoint). */
  anonymous?: boolean;
}

const SUB = '/subscriptions/{subscriptionId}';
const RG = `${SUB}/resourceGroups/{resourceGroup}`;
const VMS = 'providers/Microsoft.Compute/virtualMachines';
const VMSS = 'providers/Microsoft.Compute/virtualMachineScaleSets';
const IDS = 'providers/Microsoft.ManagedIdentity/userAssignedIdentities';
const ACRS = 'providers/Microsoft.ContainerRegistry/registries';
const ROLES = '{*scope}/providers/Microsoft.Authorization/roleAssignments';
const ROLE_DEFS = '{*scope}/providers/Microsoft.Authorization/roleDefinitions';
const DENY = '{*scope}/providers/Microsoft.Authorization/denyAssignments';
const NICS = 'providers/Microsoft.Network/networkInterfaces';
const VNETS = 'providers/Microsoft.Network/virtualNetworks';
const PES = 'providers/Microsoft.Network/privateEndpoints';
const PIPS = 'providers/Microsoft.Network/publicIPAddresses';
const ZONES = 'providers/Microsoft.Network/privateDnsZones';

function routesFor(
  resourceType: string,
  apiVersions: readonly string[],
  list: [OperationName, string, string, Handler][],
): Route[] {
  return list.map(([operation, method, pattern, handler]) => ({
    operation,
    method,
    pattern,
    resourceType,
    apiVersions,
    handler,
  }));
}

export const ROUTES: Route[] = [
  ...routesFor('Microsoft.Compute/virtualMachines', API_VERSIONS.compute, [
    ['vm.get', 'GET', `${RG}/${VMS}/{name}`, getVm],
    ['vm.patch', 'PATCH', `${RG}/${VMS}/{name}`, patchVm],
    ['vm.list', 'GET', `${RG}/${VMS}`, listVms],
    ['vm.list', 'GET', `${SUB}/${VMS}`, listVms],
  ]),
  ...routesFor('Microsoft.Compute/virtualMachineScaleSets', API_VERSIONS.compute, [
    ['vmss.get', 'GET', `${RG}/${VMSS}/{name}`, getScaleSet],
    ['vmss.patch', 'PATCH', `${RG}/${VMSS}/{name}`, patchScaleSet],
    ['vmss.list', 'GET', `${RG}/${VMSS}`, listScaleSets],
    ['vmss.list', 'GET', `${SUB}/${VMSS}`, listScaleSets],
  ]),
  ...routesFor('Microsoft.Compute/locations/operations', API_VERSIONS.compute, [
    [
      'vm.operationStatus',
      'GET',
      `${SUB}/providers/Microsoft.Compute/locations/{location}/operations/{operationId}`,
      getOperationStatus,
    ],
  ]),
  ...routesFor('Microsoft.ManagedIdentity/userAssignedIdentities', API_VERSIONS.identity, [
    ['identity.get', 'GET', `${RG}/${IDS}/{name}`, getIdentity],
    ['identity.put', 'PUT', `${RG}/${IDS}/{name}`, putIdentity],
    ['identity.list', 'GET', `${RG}/${IDS}`, listIdentities],
    ['identity.list', 'GET', `${SUB}/${IDS}`, listIdentities],
  ]),
  ...routesFor('Microsoft.Authorization/roleAssignments', API_VERSIONS.authorization, [
    ['roleAssignment.get', 'GET', `${ROLES}/{name}`, getRoleAssignment],
    ['roleAssignment.put', 'PUT', `${ROLES}/{name}`, putRoleAssignment],
    ['roleAssignment.delete', 'DELETE', `${ROLES}/{name}`, deleteRoleAssignment],
    ['roleAssignment.list', 'GET', ROLES, listRoleAssignments],
  ]),
  ...routesFor('Microsoft.ContainerRegistry/registries', API_VERSIONS.registry, [
    ['registry.get', 'GET', `${RG}/${ACRS}/{name}`, getRegistry],
    ['registry.list', 'GET', `${RG}/${ACRS}`, listRegistries],
    ['registry.list', 'GET', `${SUB}/${ACRS}`, listRegistries],
  ]),
  // Microsoft.Network and Private DNS: read-only (handlers/network.ts, handlers/privateDns.ts).
  ...routesFor('Microsoft.Network/networkInterfaces', API_VERSIONS.network, [
    ['nic.get', 'GET', `${RG}/${NICS}/{name}`, getNic],
    ['nic.list', 'GET', `${RG}/${NICS}`, listNics],
    ['nic.list', 'GET', `${SUB}/${NICS}`, listNics],
  ]),
  ...routesFor('Microsoft.Network/virtualNetworks', API_VERSIONS.network, [
    ['vnet.get', 'GET', `${RG}/${VNETS}/{name}`, getVnet],
    ['vnet.list', 'GET', `${RG}/${VNETS}`, listVnets],
    ['vnet.list', 'GET', `${SUB}/${VNETS}`, listVnets],
    ['subnet.get', 'GET', `${RG}/${VNETS}/{name}/subnets/{child}`, getSubnet],
    ['subnet.list', 'GET', `${RG}/${VNETS}/{name}/subnets`, listSubnets],
  ]),
  ...routesFor('Microsoft.Network/virtualNetworks/virtualNetworkPeerings', API_VERSIONS.networkPeerings, [
    ['peering.get', 'GET', `${RG}/${VNETS}/{name}/virtualNetworkPeerings/{child}`, getPeering],
    ['peering.list', 'GET', `${RG}/${VNETS}/{name}/virtualNetworkPeerings`, listPeerings],
  ]),
  ...routesFor('Microsoft.Network/privateEndpoints', API_VERSIONS.networkPrivateEndpoints, [
    ['privateEndpoint.get', 'GET', `${RG}/${PES}/{name}`, getPrivateEndpoint],
    ['privateEndpoint.list', 'GET', `${RG}/${PES}`, listPrivateEndpoints],
    ['privateEndpoint.list', 'GET', `${SUB}/${PES}`, listPrivateEndpoints],
  ]),
  ...routesFor('Microsoft.Network/publicIPAddresses', API_VERSIONS.network, [
    ['publicIp.get', 'GET', `${RG}/${PIPS}/{name}`, getPublicIp],
    ['publicIp.list', 'GET', `${RG}/${PIPS}`, listPublicIps],
    ['publicIp.list', 'GET', `${SUB}/${PIPS}`, listPublicIps],
  ]),
  // Links before record sets: `…/{zone}/{recordType}` would also match `…/{zone}/virtualNetworkLinks`.
  ...routesFor('Microsoft.Network/privateDnsZones', API_VERSIONS.privateDns, [
    ['privateDnsZone.get', 'GET', `${RG}/${ZONES}/{name}`, getZone],
    ['privateDnsZone.list', 'GET', `${RG}/${ZONES}`, listZones],
    ['privateDnsZone.list', 'GET', `${SUB}/${ZONES}`, listZones],
    ['privateDnsLink.get', 'GET', `${RG}/${ZONES}/{name}/virtualNetworkLinks/{child}`, getLink],
    ['privateDnsLink.list', 'GET', `${RG}/${ZONES}/{name}/virtualNetworkLinks`, listLinks],
    ['recordSet.get', 'GET', `${RG}/${ZONES}/{name}/{recordType}/{child}`, getRecordSet],
    ['recordSet.list', 'GET', `${RG}/${ZONES}/{name}/{recordType}`, listRecordSets],
  ]),
  ...routesFor('Microsoft.ResourceGraph/resources', API_VERSIONS.resourceGraph, [
    ['graph.query', 'POST', '/providers/Microsoft.ResourceGraph/resources', queryResources],
  ]),
  ...routesFor('subscriptions', API_VERSIONS.subscriptions, [
    ['subscription.list', 'GET', '/subscriptions', listSubscriptions],
    ['subscription.get', 'GET', SUB, getSubscription],
  ]),
  ...routesFor('Microsoft.Authorization/roleDefinitions', API_VERSIONS.roleDefinitions, [
    ['roleDefinition.get', 'GET', `${ROLE_DEFS}/{name}`, getRoleDefinition],
    ['roleDefinition.list', 'GET', ROLE_DEFS, listRoleDefinitions],
  ]),
  ...routesFor('Microsoft.EventGrid/systemTopics', API_VERSIONS.eventGrid, [
    [
      'systemTopic.list',
      'GET',
      '/subscriptions/{subscriptionId}/providers/Microsoft.EventGrid/systemTopics',
      listSystemTopicsBySubscription,
    ],
    [
      'eventSubscription.list',
      'GET',
      '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.EventGrid/systemTopics/{name}/eventSubscriptions',
      listSystemTopicEventSubscriptions,
    ],
  ]),
  ...routesFor('Microsoft.Authorization/denyAssignments', API_VERSIONS.denyAssignments, [
    ['denyAssignment.get', 'GET', `${DENY}/{name}`, getDenyAssignment],
    ['denyAssignment.list', 'GET', DENY, listDenyAssignments],
  ]),
  // ARM's own types (no provider namespace): an unknown api-version is InvalidApiVersionParameter.
  ...routesFor('resourceGroups', API_VERSIONS.resources, [
    ['resourceGroup.get', 'GET', RG, getResourceGroup],
    ['resourceGroup.put', 'PUT', RG, putResourceGroup],
    ['resourceGroup.list', 'GET', `${SUB}/resourceGroups`, listResourceGroups],
  ]),
  ...routesFor('resources', API_VERSIONS.resources, [
    ['resource.list', 'GET', `${SUB}/resources`, listResources],
    ['resource.list', 'GET', `${RG}/resources`, listResources],
  ]),
  ...routesFor('metadata', API_VERSIONS.metadata, [
    ['metadata.get', 'GET', '/metadata/endpoints', getMetadataEndpoints],
  ]).map((route) => ({ ...route, anonymous: true })),
];

/** Resource types per emulated namespace; other types there are unknown (404 InvalidResourceType). */
const NAMESPACES: Record<string, string[]> = {
  'microsoft.compute': ['virtualmachines', 'virtualmachinescalesets', 'locations'],
  'microsoft.managedidentity': ['userassignedidentities'],
  'microsoft.authorization': ['roleassignments', 'roledefinitions', 'denyassignments'],
  'microsoft.containerregistry': ['registries'],
  'microsoft.network': [
    'networkinterfaces',
    'virtualnetworks',
    'privateendpoints',
    'publicipaddresses',
    'privatednszones',
  ],
  'microsoft.resourcegraph': [
    'resources',
    'resourceshistory',
    'resourcechanges',
    'resourcechangedetails',
    'queries',
    'operations',
  ],
};

/** Pattern segments, split once per pattern rather than once per request. */
const PATTERN_PARTS = new Map<string, string[]>();

function partsOf(pattern: string): string[] {
  let parts = PATTERN_PARTS.get(pattern);
  if (!parts) {
    parts = pattern.split('/').filter(Boolean);
    PATTERN_PARTS.set(pattern, parts);
  }
  return parts;
}

/**
 * Matches path segments against a pattern. `{x}` captures one segment; a leading `{*scope}` captures
 * everything before the rest of the pattern (the scope of an extension resource).
 */
function matchPattern(pattern: string, segs: string[]): Record<string, string> | undefined {
  const all = partsOf(pattern);
  const scoped = all[0] === '{*scope}';
  const parts = scoped ? all.slice(1) : all;
  const params: Record<string, string> = {};
  let offset = 0;
  if (scoped) {
    offset = segs.length - parts.length;
    if (offset < 0) return undefined;
    params.scope = `/${segs.slice(0, offset).join('/')}`;
  } else if (parts.length !== segs.length) {
    return undefined;
  }
  for (const [i, part] of parts.entries()) {
    const seg = segs[offset + i] ?? '';
    const capture = /^\{(\w+)\}$/.exec(part)?.[1];
    if (capture) params[capture] = seg;
    else if (part.toLowerCase() !== seg.toLowerCase()) return undefined;
  }
  return params;
}

/** Why no route matched, as the error ARM (or, for what the emulator leaves out, the emulator) gives. */
function explainMiss(method: string, path: string, segs: string[], apiVersion: string): ArmError {
  const lower = segs.map((s) => s.toLowerCase());
  const at = lower.lastIndexOf('providers');
  const namespace = at >= 0 ? segs[at + 1] : undefined;
  const type = at >= 0 ? segs[at + 2] : undefined;
  if (namespace && type) {
    const known = NAMESPACES[namespace.toLowerCase()];
    if (!known) return invalidResourceNamespace(namespace);
    if (!known.includes(type.toLowerCase())) return invalidResourceType(type, namespace, apiVersion);
    return notImplemented(`${method} ${path}`);
  }
  if (lower[0] === 'subscriptions')
    return notImplemented(`${method} ${path} (resource group and other subscription-level endpoints)`);
  return pathNotFound(path);
}

export type RouteResult =
  | { route: Route; params: Record<string, string> }
  /** `anonymous`: the path is a token-less route's (another method): answered without a token too. */
  | { error: ArmError; anonymous?: boolean };

export function resolveRoute(method: string, path: string, apiVersion: string): RouteResult {
  const segs = path.split('/').filter(Boolean);
  let methodMismatch: Route | undefined;
  for (const route of ROUTES) {
    const params = matchPattern(route.pattern, segs);
    if (!params) continue;
    if (route.method === method) return { route, params };
    methodMismatch ??= route;
  }
  if (methodMismatch) {
    return {
      error: notImplemented(`${method} on ${methodMismatch.resourceType}`),
      ...(methodMismatch.anonymous ? { anonymous: true } : {}),
    };
  }
  return { error: explainMiss(method, path, segs, apiVersion) };
}
