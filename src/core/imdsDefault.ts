// The IMDS default identity is the owner's (shared/reference/azure-rest.md §11): a target with no
// system-assigned identity and exactly one user-assigned identity gives that identity to every token
// request without a client id; a second one makes those requests fail, and taking one of several
// away can make the one left the default. The app changes neither without the operator's consent
// (ACRPULL_SINGLE_IDENTITY_VMS=attach). Every decision about it is made here. Pure.
import { type AllowRule, decideByName } from './allowlist';
import { type IdentityFacts, type IdentityView, identityFacts, isAttached, soleOf } from './identityView';
import { type IdentityOverride, pullIdentityFor } from './pullIdentity';
import type { ResourceGroupRef } from './resourceId';
import { sameId } from './resourceId';
import type { RegistryRef } from './tag';

/** ACRPULL_SINGLE_IDENTITY_VMS: leave single-identity VMs alone (keep), or attach with a warning. */
export type SingleIdentityVms = 'keep' | 'attach';

export interface ImdsDefault {
  /** The identity IMDS gives token requests without a client id today. */
  readonly identityId: string;
  /** Whether it is one of the app's own pull identities (a tag going from `a` to `a,b`). */
  readonly isPullIdentity: boolean;
}

/**
 * The user-assigned identity that is the target's IMDS default and that adding `add` would take away;
 * undefined when nothing changes for a caller without a client id (a system-assigned identity stays
 * the default; a target with none or several user-assigned identities has no user-assigned default).
 */
export function imdsDefaultAtRisk(
  identity: IdentityView | undefined,
  add: readonly string[],
  isPullIdentity: (identityId: string) => boolean,
): ImdsDefault | undefined {
  return atRisk(identityFacts(identity), add, isPullIdentity);
}

function atRisk(
  facts: IdentityFacts,
  add: readonly string[],
  isPullIdentity: (identityId: string) => boolean,
): ImdsDefault | undefined {
  const only = soleOf(facts);
  if (only === undefined) return undefined;
  const adds = add.some((id) => !sameId(id, only.id));
  return adds ? { identityId: only.id, isPullIdentity: isPullIdentity(only.id) } : undefined;
}

/**
 * The owner's user-assigned identity that removing `remove` would leave as the only identity (no
 * system-assigned one) where the target had several: it would become the IMDS default. Undefined when
 * no default appears, or when the one left is the app's own pull identity.
 */
function defaultAfterRemoval(
  facts: IdentityFacts,
  remove: readonly string[],
  isPullIdentity: (identityId: string) => boolean,
): string | undefined {
  if (facts.systemAssigned) return undefined;
  const left = facts.userAssigned.filter((held) => !remove.some((r) => sameId(r, held.id)));
  const only = left[0];
  if (left.length !== 1 || only === undefined || facts.userAssigned.length === 1) return undefined;
  return isPullIdentity(only.id) ? undefined : only.id;
}

export interface ImdsPolicy {
  readonly singleIdentityVms: SingleIdentityVms;
  /** Whether an attached identity is provably the app's own pull identity. */
  readonly isPullIdentity: (identityId: string) => boolean;
}

export type ImdsVerdict =
  | { readonly kind: 'allow'; readonly warning?: string }
  | { readonly kind: 'refuse'; readonly reason: string; readonly imdsDefault: ImdsDefault };

/**
 * The rule for a PATCH that adds `add` and removes `remove` on a target with these identities. Adding
 * a second identity takes the owner's default away; taking the app's identity away can leave the
 * owner's single user-assigned identity as the default where there was none. Either needs the
 * operator's consent (ACRPULL_SINGLE_IDENTITY_VMS=attach), and is then made with a warning. A default
 * that is the app's own pull identity (a tag going from `a` to `a,b`) is not the owner's to lose.
 */
export function imdsVerdict(
  facts: IdentityFacts,
  change: { readonly add: readonly string[]; readonly remove: readonly string[] },
  policy: ImdsPolicy,
): ImdsVerdict {
  if (change.add.length === 0) {
    const becomes = defaultAfterRemoval(facts, change.remove, policy.isPullIdentity);
    if (!becomes) return { kind: 'allow' };
    if (policy.singleIdentityVms === 'keep')
      return {
        kind: 'refuse',
        reason: detachDefaultReason(becomes),
        imdsDefault: { identityId: becomes, isPullIdentity: false },
      };
    return { kind: 'allow', warning: detachDefaultWarning(becomes) };
  }
  const imdsDefault = atRisk(facts, change.add, policy.isPullIdentity);
  if (!imdsDefault) return { kind: 'allow' };
  // Refusing the attach refuses the whole PATCH: removals wait until the target can take it.
  if (!imdsDefault.isPullIdentity && policy.singleIdentityVms === 'keep')
    return { kind: 'refuse', reason: singleIdentityReason(imdsDefault.identityId), imdsDefault };
  return { kind: 'allow', warning: imdsDefaultWarning(imdsDefault.identityId) };
}

export interface ImdsRefusal {
  readonly ref: RegistryRef;
  readonly identityId: string;
  readonly reason: string;
}

/**
 * Registries the tag asks for that would be a second identity on a target whose only identity is a
 * user-assigned one of its owner's, under ACRPULL_SINGLE_IDENTITY_VMS=keep. Decided from the first
 * read (or the sweep's snapshot), before any identity or grant is made, so such a target costs one
 * read and no write; the attach decides again from its own read. A registry the allowlist denies by
 * name is left to the allowlist, which says so more usefully.
 */
export function refuseForImdsDefault(
  settings: {
    readonly singleIdentityVms: SingleIdentityVms;
    readonly allowedRegistries: readonly AllowRule[];
    readonly identityResourceGroup: ResourceGroupRef;
    readonly identityOverrides: ReadonlyMap<string, IdentityOverride>;
  },
  identity: IdentityView | undefined | null,
  refs: readonly RegistryRef[],
  region: string,
  /** Whether the target's single identity is the app's pull identity (then no default is at risk). */
  isPullIdentity: (identityId: string) => boolean,
): ImdsRefusal[] {
  if (settings.singleIdentityVms !== 'keep') return [];
  const candidates = refs
    .filter((ref) => decideByName(ref.name, settings.allowedRegistries) !== 'denied')
    .map((ref) => ({ ref, identityId: pullIdentityFor(settings, ref.name, region).id }))
    .filter(({ identityId }) => !isAttached(identity ?? undefined, identityId));
  const atRisk = imdsDefaultAtRisk(
    identity ?? undefined,
    candidates.map((c) => c.identityId),
    isPullIdentity,
  );
  if (!atRisk || atRisk.isPullIdentity) return [];
  const reason = singleIdentityReason(atRisk.identityId);
  return candidates.map((c) => ({ ...c, reason }));
}

const nameOf = (identityId: string) => identityId.split('/').pop() ?? identityId;

export function singleIdentityReason(identityId: string): string {
  return (
    `the VM has no system-assigned identity and exactly one user-assigned identity (${nameOf(identityId)}), ` +
    'which IMDS gives to every token request without a client id; attaching another identity would make ' +
    'those requests fail. Once its workloads name their identity (client_id, az login --identity ' +
    '--client-id), set ACRPULL_SINGLE_IDENTITY_VMS=attach to attach pull identities to such VMs'
  );
}

export function imdsDefaultWarning(identityId: string): string {
  return (
    `IMDS token requests without a client id now fail on this VM: its only identity was ${nameOf(identityId)} ` +
    '(user-assigned, no system-assigned identity), and it now has several; workloads must name the identity ' +
    'they use (client_id, az login --identity --client-id)'
  );
}

export function detachDefaultReason(identityId: string): string {
  return (
    `detaching the app's pull identity would leave ${nameOf(identityId)} as the VM's only identity, and IMDS ` +
    'would then give it to every token request without a client id (today such requests fail); left ' +
    'attached. Set ACRPULL_SINGLE_IDENTITY_VMS=attach to let the app change IMDS defaults, or detach it by hand'
  );
}

export function detachDefaultWarning(identityId: string): string {
  return `IMDS token requests without a client id now get ${nameOf(identityId)} on this VM: it is its only identity`;
}
