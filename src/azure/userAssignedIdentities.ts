// User-assigned identity adapter: one ARM call per method, over the real msi client.

import type { ResourceGroupRef } from '../core/resourceId';
import type { ArmClients } from './armClients';
import { isNotFound } from './armErrors';

export interface IdentityState {
  readonly id: string;
  readonly name: string;
  readonly location: string;
  readonly principalId: string;
  readonly clientId: string;
  /** ARM's systemData: who created it (set by ARM from the creator's token, not by the caller). */
  readonly createdBy?: string;
  readonly createdByType?: string;
  /** ARM's systemData.createdAt (ISO time): when this principal came to be. */
  readonly createdAt?: string;
}

export class UserAssignedIdentities {
  constructor(private readonly clients: ArmClients) {}

  async get(
    rg: ResourceGroupRef,
    name: string,
    abortSignal?: AbortSignal,
  ): Promise<IdentityState | undefined> {
    try {
      const found = await this.clients
        .identities(rg.subscriptionId)
        .userAssignedIdentities.get(rg.resourceGroup, name, abortSignal ? { abortSignal } : {});
      return toState(found);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Every identity in the resource group (all pages), with its systemData. */
  async list(rg: ResourceGroupRef, abortSignal?: AbortSignal): Promise<IdentityState[]> {
    const all: IdentityState[] = [];
    const pages = this.clients
      .identities(rg.subscriptionId)
      .userAssignedIdentities.listByResourceGroup(rg.resourceGroup, abortSignal ? { abortSignal } : {});
    for await (const found of pages) all.push(toState(found));
    return all;
  }

  /**
   * PUT is create-or-update: a concurrent creator of the same name converges on one identity.
   * `created` is ARM's 201: this PUT made it (200: it already existed, someone else's or ours).
   */
  async createOrUpdate(
    rg: ResourceGroupRef,
    name: string,
    location: string,
    tags: Record<string, string>,
    abortSignal?: AbortSignal,
  ): Promise<IdentityState & { readonly created: boolean }> {
    let status: number | undefined;
    const result = await this.clients.identities(rg.subscriptionId).userAssignedIdentities.createOrUpdate(
      rg.resourceGroup,
      name,
      { location, tags },
      {
        ...(abortSignal ? { abortSignal } : {}),
        onResponse: (response) => {
          status = response.status;
        },
      },
    );
    return { ...toState(result), created: status === 201 };
  }
}

function toState(found: {
  id?: string;
  name?: string;
  location: string;
  principalId?: string;
  clientId?: string;
  systemData?: { createdBy?: string; createdByType?: string; createdAt?: Date };
}): IdentityState {
  if (!found.id || !found.principalId || !found.clientId) {
    throw new Error(`identity response is missing id, principalId or clientId: ${JSON.stringify(found)}`);
  }
  return {
    id: found.id,
    name: found.name ?? '',
    location: found.location,
    principalId: found.principalId,
    clientId: found.clientId,
    ...(found.systemData?.createdBy ? { createdBy: found.systemData.createdBy } : {}),
    ...(found.systemData?.createdByType ? { createdByType: found.systemData.createdByType } : {}),
    ...(found.systemData?.createdAt && !Number.isNaN(found.systemData.createdAt.getTime())
      ? { createdAt: found.systemData.createdAt.toISOString() }
      : {}),
  };
}
