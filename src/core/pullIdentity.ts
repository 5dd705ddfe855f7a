// Which identity pulls from a registry in a region: the shared `id-acrpull-<registry>-<region>` in
// the operator's identity resource group, or the operator's own identity for that registry
// (ACRPULL_IDENTITY_OVERRIDES), which the app uses but never creates. Pure.
import { identityName } from './names';
import { type ResourceGroupRef, resourceGroupId, userAssignedIdentityId } from './resourceId';

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
