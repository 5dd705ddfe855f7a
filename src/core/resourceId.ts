// ARM resource ids: parsed strictly (fixed segment names matched case-insensitively, as ARM does),
// never by substring tricks, because ids arrive from events and tags that callers control.

const GUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
/** Resource group names: letters, digits, underscores, hyphens, periods (not at the end) and parentheses. */
const RG = '[-\\w.()]{0,89}[-\\w()]';
/**
 * Compute resource names (VMs, scale sets): letters, digits, underscores, periods and hyphens (nothing
 * a log line could be forged with).
 */
const COMPUTE_NAME = '[\\w.-]{1,64}';

export interface ResourceGroupRef {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly id: string;
}

/** A resource in a resource group: its subscription, group, name and normalised id. */
export interface ResourceRef extends ResourceGroupRef {
  readonly name: string;
}

export interface RegistryIdRef extends ResourceGroupRef {
  readonly name: string;
}

const rgPattern = new RegExp(`^/subscriptions/(${GUID})/resourceGroups/(${RG})$`, 'i');
const registryPattern = new RegExp(
  `^/subscriptions/(${GUID})/resourceGroups/(${RG})/providers/Microsoft\\.ContainerRegistry/registries/([a-zA-Z0-9]{5,50})$`,
  'i',
);

function hasDotSegment(id: string): boolean {
  return id.split('/').some((segment) => segment === '.' || segment === '..');
}

export function parseResourceGroupId(id: string): ResourceGroupRef | undefined {
  const m = rgPattern.exec(id.trim());
  if (!m || hasDotSegment(id)) return undefined;
  const [, subscriptionId, resourceGroup] = m as unknown as [string, string, string];
  return {
    subscriptionId: subscriptionId.toLowerCase(),
    resourceGroup,
    id: resourceGroupId(subscriptionId, resourceGroup),
  };
}

export function resourceGroupId(subscriptionId: string, resourceGroup: string): string {
  return `/subscriptions/${subscriptionId.toLowerCase()}/resourceGroups/${resourceGroup}`;
}

/** Parses `/subscriptions/{guid}/resourceGroups/{rg}/providers/{type}/{name}` into a normalised ref. */
function parseTypedId(id: string, pattern: RegExp, type: string): ResourceRef | undefined {
  const m = pattern.exec(id);
  if (!m || hasDotSegment(id)) return undefined;
  const [, subscriptionId, resourceGroup, name] = m as unknown as [string, string, string, string];
  return {
    subscriptionId: subscriptionId.toLowerCase(),
    resourceGroup,
    name,
    id: `${resourceGroupId(subscriptionId, resourceGroup)}/providers/${type}/${name}`,
  };
}

const typedPatterns = new Map<string, RegExp>();

/**
 * `/subscriptions/{guid}/resourceGroups/{rg}/providers/{armType}/{name}` for a compute resource type
 * (the targets' types), matched case-insensitively as ARM does.
 */
export function parseTypedResourceId(id: string, armType: string): ResourceRef | undefined {
  let pattern = typedPatterns.get(armType);
  if (!pattern) {
    const escaped = armType.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    pattern = new RegExp(
      `^/subscriptions/(${GUID})/resourceGroups/(${RG})/providers/${escaped}/(${COMPUTE_NAME})$`,
      'i',
    );
    typedPatterns.set(armType, pattern);
  }
  return parseTypedId(id, pattern, armType);
}

export function parseRegistryId(id: string): RegistryIdRef | undefined {
  return parseTypedId(id, registryPattern, 'Microsoft.ContainerRegistry/registries');
}

const identityPattern = new RegExp(
  `^/subscriptions/(${GUID})/resourceGroups/(${RG})/providers/Microsoft\\.ManagedIdentity/userAssignedIdentities/([-\\w]{3,128})$`,
  'i',
);

export function parseUserAssignedIdentityId(id: string): ResourceRef | undefined {
  return parseTypedId(id, identityPattern, 'Microsoft.ManagedIdentity/userAssignedIdentities');
}

export function userAssignedIdentityId(rg: ResourceGroupRef, name: string): string {
  return `${rg.id}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
}

/**
 * ARM ids (and the names in them) are case-insensitive: every comparison of two ids goes through here
 * or through idKey, never through a case-sensitive === on ids.
 */
export function sameId(a: string, b: string): boolean {
  return idKey(a) === idKey(b);
}

/** The key an id is stored under in a Map or Set, so that two spellings of one id meet. */
export function idKey(id: string): string {
  return id.toLowerCase();
}

/** True when `id` is `scope` itself or lies below it (segment boundary, case-insensitive). */
export function isAtOrBelow(id: string, scope: string): boolean {
  const i = id.toLowerCase().replace(/\/+$/, '');
  const s = scope.toLowerCase().replace(/\/+$/, '');
  return i === s || i.startsWith(`${s}/`);
}
