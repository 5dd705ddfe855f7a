// Resource group adapter: whether another service manages the group a target lives in
// (ResourceGroup.managedBy: an AKS cluster for its node resource group, a managed application for its
// managed resource group; shared/reference/azure-rest.md §12), over the real resources client. A
// group's manager does not change while it lives, so one read per group serves every target in it for
// a while (the cache below); a group found unmanaged is read again after the same time.
import { idKey, resourceGroupId } from '../core/resourceId';
import type { ArmClients } from './armClients';
import { isNotFound } from './armErrors';

export interface ResourceGroupState {
  readonly id: string;
  /** The id of the resource that manages the group, when one does. */
  readonly managedBy?: string;
}

/** How long a group's manager (or its having none) is remembered. */
export const RESOURCE_GROUP_CACHE_TTL_MS = 10 * 60 * 1000;

export class ResourceGroups {
  private readonly cache = new Map<string, { group: ResourceGroupState | undefined; at: number }>();

  constructor(
    private readonly clients: ArmClients,
    private readonly now: () => number = Date.now,
    private readonly ttlMs = RESOURCE_GROUP_CACHE_TTL_MS,
  ) {}

  /** undefined when the group does not exist (then neither does anything in it). */
  async get(
    subscriptionId: string,
    name: string,
    abortSignal?: AbortSignal,
  ): Promise<ResourceGroupState | undefined> {
    const key = idKey(resourceGroupId(subscriptionId, name));
    const hit = this.cache.get(key);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.group;
    let group: ResourceGroupState | undefined;
    try {
      const found = await this.clients
        .resources(subscriptionId)
        .resourceGroups.get(name, abortSignal ? { abortSignal } : {});
      group = {
        id: found.id ?? resourceGroupId(subscriptionId, name),
        ...(found.managedBy ? { managedBy: found.managedBy } : {}),
      };
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    this.cache.set(key, { group, at: this.now() });
    return group;
  }
}
