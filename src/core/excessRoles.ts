// Which role assignments of a pull identity go beyond pulling from its registries. Whoever can write
// role assignments can give a pull identity more (Contributor on a subscription, say), and every
// workload on every VM it is attached to then has it. The app never grants anything but the pull
// roles at a registry, so anything else was granted by someone else. Pure.
import { idKey, parseRegistryId, sameId } from './resourceId';
import { ACR_PULL_ROLE, REPOSITORY_READER_ROLE, roleLabel } from './roles';

export interface Assignment {
  readonly id: string;
  readonly scope: string;
  readonly roleGuid: string;
}

/**
 * The registries an identity pulls from: by id (the registries of the pairs at hand), or by name (an
 * override named for several registries; a registry's name is unique in its cloud, its login server
 * being `<name>.azurecr.io`).
 */
export interface PullRegistries {
  readonly registryIds?: readonly string[];
  readonly registryNames?: readonly string[];
}

const PULL_ROLES = new Set([ACR_PULL_ROLE, REPOSITORY_READER_ROLE]);

/** A pull role exactly at one of the registries (not above it: a resource group's reaches them all). */
function isPullGrant(a: Assignment, registries: PullRegistries): boolean {
  if (!PULL_ROLES.has(a.roleGuid.toLowerCase())) return false;
  if ((registries.registryIds ?? []).some((r) => sameId(r, a.scope))) return true;
  const name = parseRegistryId(a.scope)?.name.toLowerCase();
  return name !== undefined && (registries.registryNames ?? []).some((n) => n.toLowerCase() === name);
}

/**
 * The assignments that are not a pull role exactly at one of the identity's registries, each once
 * (an assignment inherited from a management group shows in every subscription's list).
 */
export function excessAssignments(held: readonly Assignment[], registries: PullRegistries): Assignment[] {
  const seen = new Set<string>();
  return held.filter((a) => {
    const key = idKey(a.id);
    if (seen.has(key)) return false;
    seen.add(key);
    return !isPullGrant(a, registries);
  });
}

/** `Owner at /subscriptions/… (<assignment id>)`, one per assignment. */
export function listExcess(excess: readonly Assignment[]): string {
  return excess.map((a) => `${roleLabel(a.roleGuid)} at ${a.scope} (${a.id})`).join('; ');
}

/** The sweep's finding about an identity that holds more than pull. */
export function describeExcess(excess: readonly Assignment[]): string {
  return (
    `holds role assignments beyond its pull grants, which every workload on the VMs it is attached to ` +
    `can use: ${listExcess(excess)}. The app never makes these: remove them, or give that access to another identity`
  );
}

/**
 * Why a pull identity (or an override) is neither granted nor attached: what it holds beyond pull. An
 * override must be an identity dedicated to pulling; the app's own must hold nothing but its grants.
 */
export function excessRolesRefusal(
  identityId: string,
  excess: readonly Assignment[],
  override: boolean,
): string {
  const what = override ? 'the override identity' : 'the pull identity';
  const fix = override
    ? 'name an identity that only pulls in ACRPULL_IDENTITY_OVERRIDES, or remove these assignments'
    : 'remove these assignments (the app grants only the pull role at the registry)';
  return (
    `${what} ${identityId} holds role assignments beyond pull: ${listExcess(excess)}. Every workload on a ` +
    `VM it is attached to could use them, so it is neither granted nor attached: ${fix}`
  );
}
