// ARM resource ids: parsed strictly (fixed segment names matched case-insensitively, as ARM does),
// never by substring tricks, because ids arrive from events and tags that callers control.

const GUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
/** Resource group names: letters, digits, underscores, hyphens, periods (not at the end) and parentheses. */
const RG = '[-\\w.()]{0,89}[-\\w()]';
/** VM names: letters, digits, underscores, periods and hyphens (nothing a log line could be forged with). */
const VM_NAME = '[\\w.-]{1,64}';

export interface ResourceGroupRef {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly id: string;
}

export interface VmRef extends ResourceGroupRef {
  readonly name: string;
}

/** What the app gives pull access to: a VM, or a scale set (its model's identity). */
export type ComputeKind = 'vm' | 'scaleSet';

export interface ComputeRef extends VmRef {
  readonly kind: ComputeKind;
}

export interface RegistryIdRef extends ResourceGroupRef {
  readonly name: string;
}

const rgPattern = new RegExp(`^/subscriptions/(${GUID})/resourceGroups/(${RG})$`, 'i');
const vmPattern = new RegExp(
  `^/subscriptions/(${GUID})/resourceGroups/(${RG})/providers/Microsoft\\.Compute/virtualMachines/(${VM_NAME})$`,
  'i',
);
const scaleSetPattern = new RegExp(
  `^/subscriptions/(${GUID})/resourceGroups/(${RG})/providers/Microsoft\\.Compute/virtualMachineScaleSets/(${VM_NAME})$`,
  'i',
);
const tagsOnComputePattern = new RegExp(
  `^(/subscriptions/${GUID}/resourceGroups/${RG}/providers/Microsoft\\.Compute/(?:virtualMachines|virtualMachineScaleSets)/${VM_NAME})/providers/Microsoft\\.Resources/tags/default$`,
  'i',
);
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
function parseTypedId(id: string, pattern: RegExp, type: string): VmRef | undefined {
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

export function parseVmId(id: string): VmRef | undefined {
  return parseTypedId(id, vmPattern, 'Microsoft.Compute/virtualMachines');
}

/** A VM id or a scale set id, with which it is. */
export function parseComputeId(id: string): ComputeRef | undefined {
  const vm = parseVmId(id);
  if (vm) return { ...vm, kind: 'vm' };
  const scaleSet = parseTypedId(id, scaleSetPattern, 'Microsoft.Compute/virtualMachineScaleSets');
  return scaleSet ? { ...scaleSet, kind: 'scaleSet' } : undefined;
}

/**
 * A `Microsoft.Resources/tags/write` event carries `<id>/providers/Microsoft.Resources/tags/default`
 * for a VM or a scale set; the resource's id, else undefined.
 */
export function computeIdFromTagsScope(id: string): string | undefined {
  const m = tagsOnComputePattern.exec(id);
  return m ? m[1] : undefined;
}

export function parseRegistryId(id: string): RegistryIdRef | undefined {
  return parseTypedId(id, registryPattern, 'Microsoft.ContainerRegistry/registries');
}

const identityPattern = new RegExp(
  `^/subscriptions/(${GUID})/resourceGroups/(${RG})/providers/Microsoft\\.ManagedIdentity/userAssignedIdentities/([-\\w]{3,128})$`,
  'i',
);

export function parseUserAssignedIdentityId(id: string): VmRef | undefined {
  return parseTypedId(id, identityPattern, 'Microsoft.ManagedIdentity/userAssignedIdentities');
}

export function userAssignedIdentityId(rg: ResourceGroupRef, name: string): string {
  return `${rg.id}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
}

export function sameId(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** True when `id` is `scope` itself or lies below it (segment boundary, case-insensitive). */
export function isAtOrBelow(id: string, scope: string): boolean {
  const i = id.toLowerCase().replace(/\/+$/, '');
  const s = scope.toLowerCase().replace(/\/+$/, '');
  return i === s || i.startsWith(`${s}/`);
}
