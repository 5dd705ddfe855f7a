// Revocation (ACRPULL_REVOKE=on): which of a VM's attached identities the app would detach because
// its tag, or the allowlist, no longer asks for them. Only identities the app itself makes are
// candidates — `id-acrpull-<registry>-<region>` in the identity resource group — never an operator's
// override (the operator brought it, maybe for more than pulling) and never anything else; whether
// the app can prove it made a candidate (ARM's systemData) is checked by the caller. Pure.
import { parseIdentityName } from './names';
import { type IdentityOverride, isOverrideId } from './pullIdentity';
import { parseUserAssignedIdentityId, type ResourceGroupRef, resourceGroupId, sameId } from './resourceId';
import { findTagValue, parseRegistryTag } from './tag';

export interface RevocationCandidate {
  readonly identityId: string;
  /** The registry the identity pulls from, from its name. */
  readonly registry: string;
}

/**
 * Registries (lower-cased) whose pull identities stay: every one the tag names, less those the
 * allowlist now denies — unless the allowlist is unset (deny-all by mistake must not strip a fleet).
 */
export function registriesToKeep(
  named: readonly { readonly name: string }[],
  denied: ReadonlySet<string>,
  allowlistUnset: boolean,
): Set<string> {
  return new Set(
    named.map((r) => r.name.toLowerCase()).filter((name) => allowlistUnset || !denied.has(name)),
  );
}

/**
 * Attached identities the app makes for a registry not in `keep` (lower-cased names of the
 * registries the tag still names and the allowlist still allows). By registry, whatever the region or
 * an override configured since: an identity for a registry the tag names is never revoked.
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
    if (isOverrideId(settings, id)) continue;
    const ref = parseUserAssignedIdentityId(id);
    if (!ref) continue;
    if (!sameId(resourceGroupId(ref.subscriptionId, ref.resourceGroup), settings.identityResourceGroup.id))
      continue;
    const parsed = parseIdentityName(ref.name);
    if (parsed && !keep.has(parsed.registry)) candidates.push({ identityId: id, registry: parsed.registry });
  }
  return candidates;
}

export type RevocationCause = 'untagged' | 'not-named' | 'denied';

/** Whether an untagged resource holds any identity the app would revoke (by name; proof comes later). */
export function holdsRevocable(
  settings: Parameters<typeof revocationCandidates>[0],
  attachedIds: readonly string[],
): boolean {
  return revocationCandidates(settings, attachedIds, new Set()).length > 0;
}

/**
 * Whether a detach decided earlier still stands for the resource as it reads now (a retry re-reads
 * it): not if the tag names the registry again (unless it was the allowlist that denied it), and not
 * if the tag is now invalid (bad input never leads to a write).
 */
export function stillRevoked(
  tags: Readonly<Record<string, string>>,
  settings: { readonly tagKey: string; readonly maxRegistriesPerVm: number },
  registry: string,
  cause: RevocationCause,
): boolean {
  const value = findTagValue(tags, settings.tagKey);
  if (value === undefined) return true;
  const parsed = parseRegistryTag(value, settings.maxRegistriesPerVm);
  if (!parsed.ok) return false;
  return cause === 'denied' || !parsed.refs.some((ref) => ref.name.toLowerCase() === registry);
}

/** Why a candidate is detached, for its audit record. */
export function revocationReason(tagKey: string, registry: string, cause: RevocationCause): string {
  switch (cause) {
    case 'untagged':
      return `the resource has no ${tagKey} tag any more; the pull identity for ${registry} the app attached is detached (ACRPULL_REVOKE=on)`;
    case 'not-named':
      return `the ${tagKey} tag no longer names ${registry}; the pull identity the app attached for it is detached (ACRPULL_REVOKE=on)`;
    case 'denied':
      return `${registry} is no longer allowed by ACRPULL_ALLOWED_REGISTRIES; the pull identity the app attached for it is detached (ACRPULL_REVOKE=on)`;
  }
}
