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
  /** Reads in flight are shared too, so targets of one group reconciled side by side cost one read. */
  private readonly cache = new Map<string, { group: Promise<ResourceGroupState | undefined>; at: number }>();

  constructor(
    private readonly clients: ArmClients,
    private readonly now: () => number = Date.now,
    private readonly ttlMs = RESOURCE_GROUP_CACHE_TTL_MS,
  ) {}

  /**
   * undefined when ARM says the group does not exist: not remembered, since a target was just read in
   * it (the caller treats it as unknown, never as unmanaged).
   */
  get(
    subscriptionId: string,
    name: string,
    abortSignal?: AbortSignal,
  ): Promise<ResourceGroupState | undefined> {
    const key = idKey(resourceGroupId(subscriptionId, name));
    const hit = this.cache.get(key);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.group;
    const group = this.read(subscriptionId, name, abortSignal);
    this.cache.set(key, { group, at: this.now() });
    group.then(
      (found) => {
        if (!found) this.cache.delete(key);
      },
      () => this.cache.delete(key),
    );
    return group;
  }

  private async read(
    subscriptionId: string,
    name: string,
    abortSignal?: AbortSignal,
  ): Promise<ResourceGroupState | undefined> {
    try {
      const found = await this.clients
        .resources(subscriptionId)
        .resourceGroups.get(name, abortSignal ? { abortSignal } : {});
      return {
        id: found.id ?? resourceGroupId(subscriptionId, name),
        ...(found.managedBy ? { managedBy: found.managedBy } : {}),
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }
}
