// Whether the app can prove it owns a pull identity. Names and tags prove nothing: anyone with write
// on the identity resource group can create `id-acrpull-<registry>-<region>` with our marker tags
// before we do. ARM's `systemData.createdBy` is set by ARM from the creator's token and cannot be
// written by the caller (shared/reference/azure-rest.md §11), so it is the proof. Pure.

import { sameId } from './resourceId';

/** Who the app runs as: from its ARM token's claims (oid, appid/azp, xms_mirid). */
export interface SelfPrincipal {
  readonly objectId?: string;
  readonly clientId?: string;
  /** The managed identity's resource id (`xms_mirid`), when the token names one. */
  readonly resourceId?: string;
  /**
   * A user's sign-in name (`upn`, else `unique_name`), which ARM writes as createdBy for a user (the
   * CLI run as the operator); absent for an application or managed identity.
   */
  readonly signInName?: string;
}

export interface CreatedIdentity {
  readonly id: string;
  readonly createdBy?: string;
  readonly createdByType?: string;
}

export type Ownership =
  | { readonly owned: true; readonly by: 'self' | 'trusted' }
  | { readonly owned: false; readonly creator: string; readonly reason: string };

const same = (a: string | undefined, b: string | undefined) =>
  a !== undefined && b !== undefined && a !== '' && sameId(a, b);

/** `createdBy (createdByType)`, or what is missing. */
export function describeCreator(identity: Pick<CreatedIdentity, 'createdBy' | 'createdByType'>): string {
  if (!identity.createdBy) return 'an unknown creator (ARM returned no systemData)';
  return identity.createdByType ? `${identity.createdBy} (${identity.createdByType})` : identity.createdBy;
}

function describeSelf(self: SelfPrincipal): string {
  const ids = [
    self.signInName,
    self.clientId && `client id ${self.clientId}`,
    self.objectId && `object id ${self.objectId}`,
  ];
  return ids.filter(Boolean).join(', ') || 'an identity the app could not determine';
}

/**
 * Owned when ARM says the app's own identity created it — ARM writes a managed identity's client id
 * or object id (which one is not documented, so both count) — or one of the operator's trusted
 * creators (ACRPULL_TRUSTED_CREATORS) did.
 */
export function ownershipOf(
  identity: CreatedIdentity,
  self: SelfPrincipal,
  trustedCreators: readonly string[],
): Ownership {
  const by = identity.createdBy;
  if (same(by, self.clientId) || same(by, self.objectId) || same(by, self.signInName))
    return { owned: true, by: 'self' };
  if (trustedCreators.some((t) => same(by, t))) return { owned: true, by: 'trusted' };
  const creator = describeCreator(identity);
  return {
    owned: false,
    creator,
    reason:
      `${identity.id} was created by ${creator}, not by this app (${describeSelf(self)}): its name and ` +
      "tags can be copied, ARM's systemData cannot, so it is neither granted nor attached. Delete it " +
      '(the app then creates its own) or, if you trust its creator, add them to ACRPULL_TRUSTED_CREATORS',
  };
}

/** How far ahead of this instance's clock ARM's systemData.createdAt may be and still be believed. */
export const CREATED_AT_SKEW_MS = 60_000;

/**
 * When the identity's principal came to be, if the app itself made it: ARM's systemData.createdAt of an
 * identity whose systemData.createdBy is the app's client or object id (a trusted creator's, or an
 * operator's sign-in name when the CLI runs as them, does not count: they may have granted roles). A
 * principal held no role assignment before it existed, so this is what a role listing made at that
 * moment would have shown: nothing (roleCheckCache.ts). Undefined when the app did not create it, ARM
 * gave no time, or the time is further ahead of `now` than clocks drift; never later than `now`.
 */
export function selfCreatedAt(
  identity: CreatedIdentity & { readonly createdAt?: string },
  self: SelfPrincipal,
  now: number,
): number | undefined {
  // The app's own ids only: not a sign-in name (the CLI run as an operator, whose hand-made identity
  // may have been granted roles in the same script).
  const by = identity.createdBy;
  if (!by || !identity.createdAt || !(same(by, self.clientId) || same(by, self.objectId))) return undefined;
  const at = Date.parse(identity.createdAt);
  if (Number.isNaN(at) || at > now + CREATED_AT_SKEW_MS) return undefined;
  return Math.min(at, now);
}

/** Whether an identity (an operator override, say) is the app's own identity. */
export function isSelf(
  identity: { readonly id: string; readonly principalId?: string; readonly clientId?: string },
  self: SelfPrincipal,
): boolean {
  return (
    same(identity.principalId, self.objectId) ||
    same(identity.clientId, self.clientId) ||
    same(identity.id, self.resourceId)
  );
}

/**
 * The principal an ARM access token was issued to. The token is the app's own, just obtained from its
 * managed-identity endpoint; its claims are read, not verified (ARM verifies it). Entra v1 tokens carry
 * `appid`, v2 tokens `azp`.
 */
export function principalFromToken(token: string): SelfPrincipal {
  const payload = token.split('.')[1];
  if (!payload) return {};
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const objectId = text(claims.oid);
  const clientId = text(claims.appid) ?? text(claims.azp);
  const resourceId = text(claims.xms_mirid);
  // Only a user's token carries a sign-in name (idtyp 'user', or no idtyp with a upn).
  const signInName = claims.idtyp === 'app' ? undefined : (text(claims.upn) ?? text(claims.unique_name));
  return {
    ...(objectId ? { objectId } : {}),
    ...(clientId ? { clientId } : {}),
    ...(resourceId ? { resourceId } : {}),
    ...(signInName ? { signInName } : {}),
  };
}
