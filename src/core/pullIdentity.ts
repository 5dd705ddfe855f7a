// Which identity pulls from a registry in a region: the shared `id-acrpull-<registry>-<region>` in
// the operator's identity resource group, or the operator's own identity for that registry
// (ACRPULL_IDENTITY_OVERRIDES), which the app uses but never creates. Pure.
import { IDENTITY_NAME_PREFIX, identityName } from './names';
import {
  parseUserAssignedIdentityId,
  type ResourceGroupRef,
  resourceGroupId,
  sameId,
  userAssignedIdentityId,
} from './resourceId';

export interface IdentityOverride {
  readonly resourceGroup: ResourceGroupRef;
  readonly name: string;
  readonly id: string;
}

export interface PullIdentity extends IdentityOverride {
  /** True for an operator-supplied identity: it must exist; the app never creates it. */
  readonly broughtByOperator: boolean;
}

export function pullIdentityFor(
  settings: {
    identityResourceGroup: ResourceGroupRef;
    identityOverrides: ReadonlyMap<string, IdentityOverride>;
  },
  registryName: string,
  region: string,
): PullIdentity {
  const own = settings.identityOverrides.get(registryName.toLowerCase());
  if (own) return { ...own, broughtByOperator: true };
  const name = identityName(registryName, region);
  const rg = settings.identityResourceGroup;
  return { resourceGroup: rg, name, id: userAssignedIdentityId(rg, name), broughtByOperator: false };
}

export function identityOverride(ref: {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}): IdentityOverride {
  const resourceGroup = {
    subscriptionId: ref.subscriptionId,
    resourceGroup: ref.resourceGroup,
    id: resourceGroupId(ref.subscriptionId, ref.resourceGroup),
  };
  return { resourceGroup, name: ref.name, id: userAssignedIdentityId(resourceGroup, ref.name) };
}

/**
 * Whether an attached identity is one of the app's pull identities: an `id-acrpull-…` identity in the
 * identity resource group, or an operator override. By id only; whether the app can prove it made the
 * identity is a separate question (ARM's systemData).
 */
export function isPullIdentityId(
  settings: {
    identityResourceGroup: ResourceGroupRef;
    identityOverrides: ReadonlyMap<string, IdentityOverride>;
  },
  identityId: string,
): boolean {
  if (isOverrideId(settings, identityId)) return true;
  const ref = parseUserAssignedIdentityId(identityId);
  return (
    ref !== undefined &&
    sameId(resourceGroupId(ref.subscriptionId, ref.resourceGroup), settings.identityResourceGroup.id) &&
    ref.name.toLowerCase().startsWith(IDENTITY_NAME_PREFIX)
  );
}

/** Whether the operator named this identity in ACRPULL_IDENTITY_OVERRIDES (for any registry). */
export function isOverrideId(
  settings: { identityOverrides: ReadonlyMap<string, IdentityOverride> },
  identityId: string,
): boolean {
  for (const override of settings.identityOverrides.values())
    if (sameId(override.id, identityId)) return true;
  return false;
}

/** The registries (lower-cased names) ACRPULL_IDENTITY_OVERRIDES names this identity for. */
export function overrideRegistries(
  settings: { identityOverrides: ReadonlyMap<string, IdentityOverride> },
  identityId: string,
): string[] {
  return [...settings.identityOverrides]
    .filter(([, override]) => sameId(override.id, identityId))
    .map(([registry]) => registry);
}
