// Which role assignments of a pull identity go beyond pulling from its registries. Whoever can write
// role assignments can give a pull identity more (Contributor on a subscription, say), and every
// workload on every VM it is attached to then has it. The app never grants anything but the pull
// roles at a registry, so anything else was granted by someone else. Pure.
import { idKey, sameId } from './resourceId';
import { ACR_PULL_ROLE, REPOSITORY_READER_ROLE } from './roles';

export interface Assignment {
  readonly id: string;
  readonly scope: string;
  readonly roleGuid: string;
}

const PULL_ROLES = new Set([ACR_PULL_ROLE, REPOSITORY_READER_ROLE]);

/**
 * The assignments that are not a pull role exactly at one of the identity's registries, each once
 * (an assignment inherited from a management group shows in every subscription's list).
 */
export function excessAssignments(held: readonly Assignment[], registryIds: readonly string[]): Assignment[] {
  const seen = new Set<string>();
  return held.filter((a) => {
    const key = idKey(a.id);
    if (seen.has(key)) return false;
    seen.add(key);
    const pull = PULL_ROLES.has(a.roleGuid.toLowerCase()) && registryIds.some((r) => sameId(r, a.scope));
    return !pull;
  });
}

export function describeExcess(excess: readonly Assignment[]): string {
  const list = excess.map((a) => `role ${a.roleGuid} at ${a.scope} (${a.id})`).join('; ');
  return (
    `holds role assignments beyond its pull grants, which every workload on the VMs it is attached to ` +
    `can use: ${list}. The app never makes these: remove them, or give that access to another identity`
  );
}
