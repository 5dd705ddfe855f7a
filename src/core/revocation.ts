// Revocation (ACRPULL_REVOKE=on): which of a VM's attached identities the app would detach because
// its tag, or the allowlist, no longer asks for them. Only identities the app itself makes are
// candidates — `id-acrpull-<registry>-<region>` in the identity resource group — never an operator's
// override (the operator brought it, maybe for more than pulling) and never anything else; whether
// the app can prove it made a candidate (ARM's systemData) is checked by the caller. Pure.
import { parseIdentityName } from './names';
import type { IdentityOverride } from './pullIdentity';
import { parseUserAssignedIdentityId, type ResourceGroupRef, resourceGroupId, sameId } from './resourceId';

export interface RevocationCandidate {
  readonly identityId: string;
  /** The registry the identity pulls from, from its name. */
  readonly registry: string;
}

/**
 * Attached identities the app makes whose id is not in `keep` (the pull identities of the registries
 * the tag still names and the allowlist still allows, lower-cased ids).
 */
export function revocationCandidates(
  settings: {
    readonly identityResourceGroup: ResourceGroupRef;
    readonly identityOverrides: ReadonlyMap<string, IdentityOverride>;
  },
  attachedIds: readonly string[],
  keep: ReadonlySet<string>,
): RevocationCandidate[] {
  const candidates: RevocationCandidate[] = [];
  for (const id of attachedIds) {
    if (keep.has(id.toLowerCase())) continue;
    if ([...settings.identityOverrides.values()].some((o) => sameId(o.id, id))) continue;
    const ref = parseUserAssignedIdentityId(id);
    if (!ref) continue;
    if (!sameId(resourceGroupId(ref.subscriptionId, ref.resourceGroup), settings.identityResourceGroup.id))
      continue;
    const parsed = parseIdentityName(ref.name);
    if (parsed) candidates.push({ identityId: id, registry: parsed.registry });
  }
  return candidates;
}

/** Why a candidate is detached, for its audit record. */
export function revocationReason(
  tagKey: string,
  registry: string,
  cause: 'untagged' | 'not-named' | 'denied',
): string {
  switch (cause) {
    case 'untagged':
      return `the resource has no ${tagKey} tag any more; the pull identity for ${registry} the app attached is detached (ACRPULL_REVOKE=on)`;
    case 'not-named':
      return `the ${tagKey} tag no longer names ${registry}; the pull identity the app attached for it is detached (ACRPULL_REVOKE=on)`;
    case 'denied':
      return `${registry} is no longer allowed by ACRPULL_ALLOWED_REGISTRIES; the pull identity the app attached for it is detached (ACRPULL_REVOKE=on)`;
  }
}
