// What the identity resource group holds, judged from one list of it: the app's own pull identities
// (`id-acrpull-<registry>-<region>` that ARM's systemData says the app or a trusted creator made),
// which count against ACRPULL_MAX_PULL_IDENTITIES, and identities the app did not make that are not
// overrides either (identity-foreign): the group is meant to be the app's alone. Pure.
import { parseIdentityName } from './names';
import { type CreatedIdentity, ownershipOf, type SelfPrincipal } from './ownership';
import { type IdentityOverride, isOverrideId } from './pullIdentity';

export interface ListedIdentity extends CreatedIdentity {
  readonly name: string;
}

/** An app-made pull identity: its name parses, and systemData names the app or a trusted creator. */
export function isAppPullIdentity(
  identity: ListedIdentity,
  self: SelfPrincipal,
  trustedCreators: readonly string[],
): boolean {
  return parseIdentityName(identity.name) !== undefined && ownershipOf(identity, self, trustedCreators).owned;
}

/** How many of the app's pull identities the list holds. */
export function appPullIdentityCount(
  identities: readonly ListedIdentity[],
  self: SelfPrincipal,
  trustedCreators: readonly string[],
): number {
  return identities.filter((i) => isAppPullIdentity(i, self, trustedCreators)).length;
}

/** Why a new (registry, region) pair is refused once the app has `count` pull identities. */
export function identityLimitReason(count: number, max: number, name: string, groupId: string): string {
  return (
    `${groupId} already holds ${count} pull identities of the app's (ACRPULL_MAX_PULL_IDENTITIES=${max}): ` +
    `${name} is not created and the pair gets no grant. Remove pull identities nothing uses ` +
    '(identity-unused) or raise ACRPULL_MAX_PULL_IDENTITIES'
  );
}

/**
 * The identities the app did not make (by systemData; a trusted creator counts as the app) and the
 * operator did not name as an override, each with who ARM says created it.
 */
export function foreignIdentities<T extends ListedIdentity>(
  identities: readonly T[],
  self: SelfPrincipal,
  settings: {
    readonly trustedCreators: readonly string[];
    readonly identityOverrides: ReadonlyMap<string, IdentityOverride>;
  },
): { identity: T; creator: string }[] {
  return identities.flatMap((identity) => {
    if (isOverrideId(settings, identity.id)) return [];
    const ownership = ownershipOf(identity, self, settings.trustedCreators);
    return ownership.owned ? [] : [{ identity, creator: ownership.creator }];
  });
}

/** The identity-foreign finding's reason. */
export function foreignReason(identityId: string, creator: string): string {
  return (
    `${identityId} sits in the identity resource group but was created by ${creator}, not by this app, ` +
    "and is not an override: the group should hold the app's pull identities only (whoever can assign " +
    'identities there and write a VM can attach it). The app never attaches it; move or delete it, or ' +
    'add its creator to ACRPULL_TRUSTED_CREATORS if it is a pull identity made for the app'
  );
}
