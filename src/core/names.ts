// Deterministic names: the same inputs always give the same identity and role-assignment names, so a
// retry, a duplicate event or a second instance converges on one resource instead of creating two.
import { v5 as uuidv5 } from 'uuid';

/** Fixed namespace for this app's role-assignment names (a random v4, chosen once). */
const ROLE_ASSIGNMENT_NAMESPACE = '878e4531-67b9-4c46-b194-371a1e3d09ff';

/** Azure region as ARM writes it in `location`: lowercase, no spaces ("East US" → "eastus"). */
export function normalizeRegion(location: string): string {
  return location.toLowerCase().replace(/\s+/g, '');
}

export const IDENTITY_NAME_PREFIX = 'id-acrpull-';

/** `id-acrpull-<registry>-<region>`: one identity per registry and region, shared by every VM there. */
export function identityName(registryName: string, region: string): string {
  return `${IDENTITY_NAME_PREFIX}${registryName.toLowerCase()}-${normalizeRegion(region)}`;
}

/** The registry and region an `id-acrpull-<registry>-<region>` name stands for (registries have no `-`). */
export function parseIdentityName(name: string): { registry: string; region: string } | undefined {
  const m = /^id-acrpull-([a-z0-9]{5,50})-([a-z0-9]+)$/i.exec(name);
  return m ? { registry: (m[1] as string).toLowerCase(), region: (m[2] as string).toLowerCase() } : undefined;
}

/** GUID of (scope, principal, role), all case-normalised, so retries PUT the same assignment. */
export function roleAssignmentName(scope: string, principalId: string, roleDefinitionGuid: string): string {
  return uuidv5(
    `${scope.toLowerCase()}|${principalId.toLowerCase()}|${roleDefinitionGuid.toLowerCase()}`,
    ROLE_ASSIGNMENT_NAMESPACE,
  );
}
