// ARM resource ids: building them the way each resource provider spells them, and comparing them the
// way ARM does (case-insensitively).

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const TYPES = {
  vm: 'Microsoft.Compute/virtualMachines',
  scaleSet: 'Microsoft.Compute/virtualMachineScaleSets',
  identity: 'Microsoft.ManagedIdentity/userAssignedIdentities',
  registry: 'Microsoft.ContainerRegistry/registries',
  roleAssignment: 'Microsoft.Authorization/roleAssignments',
  virtualNetwork: 'Microsoft.Network/virtualNetworks',
  networkInterface: 'Microsoft.Network/networkInterfaces',
  publicIp: 'Microsoft.Network/publicIPAddresses',
  privateEndpoint: 'Microsoft.Network/privateEndpoints',
  privateDnsZone: 'Microsoft.Network/privateDnsZones',
} as const;

export function isGuid(value: unknown): value is string {
  return typeof value === 'string' && GUID.test(value);
}

/** ARM's case-insensitive key for names and ids. */
export function keyOf(...parts: string[]): string {
  return parts.join('/').toLowerCase();
}

export function sameId(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** 32 hex digits without dashes, the form ARM uses for ids inside some error messages. */
export function compactGuid(id: string): string {
  return id.replace(/-/g, '').toLowerCase();
}

export function subscriptionId(sub: string): string {
  return `/subscriptions/${sub}`;
}

export function resourceGroupId(sub: string, rg: string): string {
  return `/subscriptions/${sub}/resourceGroups/${rg}`;
}

/** Compute and Container Registry spell the segment `resourceGroups`. */
export function resourceId(sub: string, rg: string, type: string, name: string): string {
  return `${resourceGroupId(sub, rg)}/providers/${type}/${name}`;
}

/** Microsoft.ManagedIdentity returns ids with a lowercase `resourcegroups` segment. */
export function identityResourceId(sub: string, rg: string, name: string): string {
  return `/subscriptions/${sub}/resourcegroups/${rg}/providers/${TYPES.identity}/${name}`;
}

export interface ParsedScope {
  subscriptionId?: string;
  resourceGroup?: string;
  /** e.g. Microsoft.Compute/virtualMachines */
  type?: string;
  name?: string;
  /** true when the path has a shape this emulator does not model (management groups, child resources…). */
  unsupported: boolean;
}

/**
 * Splits a scope (`/subscriptions/s[/resourceGroups/rg[/providers/ns/type/name]]`) into its parts.
 * Anything deeper or different is reported as unsupported rather than guessed.
 */
export function parseScope(scope: string): ParsedScope {
  const segs = scope.split('/').filter(Boolean);
  const lower = segs.map((s) => s.toLowerCase());
  if (lower[0] !== 'subscriptions' || segs.length < 2) return { unsupported: true };
  const parsed: ParsedScope = { subscriptionId: segs[1], unsupported: false };
  if (segs.length === 2) return parsed;
  if (lower[2] !== 'resourcegroups' || segs.length < 4) return { unsupported: true };
  parsed.resourceGroup = segs[3];
  if (segs.length === 4) return parsed;
  if (lower[4] !== 'providers' || segs.length !== 8) return { unsupported: true };
  return { ...parsed, type: `${segs[5]}/${segs[6]}`, name: segs[7] };
}

/**
 * A management group's id, `/providers/Microsoft.Management/managementGroups/{groupId}`: a scope role
 * assignments can be made at, above every subscription under it (Learn:
 * role-based-access-control/scope-overview, "management group, subscription, resource group,
 * resource"; role-assignments-list-rest lists the same form among the scopes).
 */
export function managementGroupId(name: string): string {
  return `/providers/Microsoft.Management/managementGroups/${name}`;
}

/** The management group a scope names, or undefined for any other scope. */
export function managementGroupOf(scope: string): string | undefined {
  return /^\/providers\/Microsoft\.Management\/managementGroups\/([^/]+)\/?$/i.exec(scope)?.[1];
}

/** ARM compares locations ignoring case and spaces ("West Europe" = "westeurope"): its short name. */
export function normalizeLocation(location: string): string {
  return location.replace(/\s+/g, '').toLowerCase();
}

export const sameLocation = (a: string, b: string) => normalizeLocation(a) === normalizeLocation(b);
