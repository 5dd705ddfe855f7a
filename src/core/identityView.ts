// What a target's `identity` block says: which user-assigned identities it holds (ARM ids compared
// case-insensitively), whether it has a system-assigned one, and the ids ARM reports for each. Pure.
import { sameId } from './resourceId';

export interface AttachedIdentityIds {
  readonly principalId?: string;
  readonly clientId?: string;
}

export interface IdentityView {
  readonly type?: string;
  readonly userAssignedIdentities?: Readonly<Record<string, AttachedIdentityIds | unknown>>;
}

export function hasSystemAssigned(type: string | undefined): boolean {
  return (type ?? '')
    .toLowerCase()
    .split(',')
    .map((t) => t.trim())
    .includes('systemassigned');
}

export function attachedIdentityIds(identity: IdentityView | undefined | null): string[] {
  return Object.keys(identity?.userAssignedIdentities ?? {});
}

export function isAttached(identity: IdentityView | undefined | null, identityId: string): boolean {
  return attachedIdentityIds(identity).some((id) => sameId(id, identityId));
}

/** clientId/principalId as the target reports them for an attached identity (the owner needs the client id). */
export function attachedIds(
  identity: IdentityView | undefined | null,
  identityId: string,
): AttachedIdentityIds {
  const map = identity?.userAssignedIdentities ?? {};
  const key = Object.keys(map).find((k) => sameId(k, identityId));
  const entry = (key ? map[key] : undefined) as AttachedIdentityIds | undefined;
  return {
    ...(entry?.clientId ? { clientId: entry.clientId } : {}),
    ...(entry?.principalId ? { principalId: entry.principalId } : {}),
  };
}

/**
 * The one user-assigned identity of a target with no system-assigned one (its IMDS default), with the
 * principal id the target reports for it; undefined otherwise.
 */
export function soleUserAssigned(identity: IdentityView | undefined | null): HeldIdentity | undefined {
  return soleOf(identityFacts(identity));
}

/** The target's IMDS default when it is a user-assigned identity: its only one, with no system-assigned one. */
export function soleOf(facts: IdentityFacts): HeldIdentity | undefined {
  const only = facts.userAssigned[0];
  return facts.systemAssigned || facts.userAssigned.length !== 1 ? undefined : only;
}

/** One user-assigned identity a target holds, with the ids ARM reports for it. */
export interface HeldIdentity extends AttachedIdentityIds {
  readonly id: string;
}

/**
 * A target's identity block read once into plain facts: the decisions (attachPlan.ts, imdsDefault.ts)
 * and the records made after a PATCH work from these, not from the raw block.
 */
export interface IdentityFacts {
  readonly systemAssigned: boolean;
  readonly userAssigned: readonly HeldIdentity[];
}

export function identityFacts(identity: IdentityView | undefined | null): IdentityFacts {
  return {
    systemAssigned: hasSystemAssigned(identity?.type),
    userAssigned: attachedIdentityIds(identity).map((id) => ({ id, ...attachedIds(identity, id) })),
  };
}

/**
 * Whether the target's entry for an identity is bound to another principal than the identity's
 * current one, or to none: the identity was deleted and re-created under the same name (a new
 * principal), and IMDS keeps handing out tokens for the old one until the identity is removed and
 * assigned again (Learn: how-manage-user-assigned-managed-identities; Azure/aad-pod-identity known
 * issues). Only asked of targets whose GET reports bound principals.
 */
export function isStaleBinding(held: HeldIdentity | undefined, currentPrincipalId: string): boolean {
  return held !== undefined && !sameId(held.principalId ?? '', currentPrincipalId);
}
