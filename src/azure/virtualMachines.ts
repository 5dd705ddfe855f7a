// VM adapter: one ARM call per method, over the real compute client.
import type { AttachPatch } from '../core/attachPlan';
import type { VmRef } from '../core/resourceId';
import type { ArmClients } from './armClients';
import { isNotFound } from './armErrors';

export interface AttachedIdentity {
  readonly principalId?: string;
  readonly clientId?: string;
}

export interface VmState {
  readonly id: string;
  readonly location: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly etag?: string;
  readonly provisioningState?: string;
  readonly identity?: {
    readonly type?: string;
    readonly userAssignedIdentities?: Readonly<Record<string, AttachedIdentity>>;
  };
}

export class VirtualMachines {
  constructor(
    private readonly clients: ArmClients,
    /** Poll interval for the attach operation; ARM's Retry-After on polls overrides it. */
    private readonly pollIntervalMs = 2000,
  ) {}

  /** undefined when the VM (or its resource group) no longer exists. */
  async get(vm: VmRef): Promise<VmState | undefined> {
    try {
      const found = await this.clients
        .compute(vm.subscriptionId)
        .virtualMachines.get(vm.resourceGroup, vm.name);
      return toState(vm, found);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * PATCHes only the identities to add (ARM merges the dictionary) with the etag we planned from, so a
   * concurrent writer makes this fail with 412 instead of being overwritten. Waits for the async
   * operation and returns the VM as ARM reports it afterwards.
   */
  async attach(vm: VmRef, patch: AttachPatch, etag: string | undefined): Promise<VmState> {
    const userAssignedIdentities = Object.fromEntries(patch.add.map((id) => [id, {}]));
    const poller = this.clients
      .compute(vm.subscriptionId)
      .virtualMachines.update(
        vm.resourceGroup,
        vm.name,
        { identity: { type: patch.type, userAssignedIdentities } },
        { ...(etag ? { ifMatch: etag } : {}), updateIntervalInMs: this.pollIntervalMs },
      );
    const updated = await poller;
    return toState(vm, updated);
  }
}

function toState(
  vm: VmRef,
  found: {
    location?: string;
    tags?: Record<string, string>;
    etag?: string;
    provisioningState?: string;
    identity?: {
      type?: string;
      userAssignedIdentities?: Record<string, { principalId?: string; clientId?: string }>;
    };
  },
): VmState {
  return {
    id: vm.id,
    location: found.location ?? '',
    tags: found.tags ?? {},
    ...(found.etag ? { etag: found.etag } : {}),
    ...(found.provisioningState ? { provisioningState: found.provisioningState } : {}),
    ...(found.identity ? { identity: found.identity } : {}),
  };
}
