// The network-path hook: whether the VM has a path to a registry that is not open to everyone (its
// NICs, VNets, peerings, private endpoints, private DNS). `networkPathFromArm` reads the facts with
// the network adapter (azure/network.ts) and judges them with core/networkPath.ts; a check that is
// not made (`networkPathNotChecked`) leaves the verdict for such a registry `unknown`.
import type { ArmClients } from '../../azure/armClients';
import type { RegistryState } from '../../azure/containerRegistries';
import { NetworkFactsReader } from '../../azure/network';
import type { TargetState } from '../../azure/targetResources';
import { judgeNetworkPath } from '../../core/networkPath';
import { idKey } from '../../core/resourceId';
import type { TargetRef } from '../../targets';
import type { CheckStatus } from './checks';

export interface NetworkPathInput {
  readonly targetRef: TargetRef;
  readonly target: TargetState;
  readonly registry: RegistryState;
  readonly abortSignal?: AbortSignal;
}

export interface NetworkPathOutcome {
  readonly status: CheckStatus;
  readonly detail: string;
  readonly evidence?: readonly string[];
  readonly fix?: string;
}

/** undefined: the path was not checked. */
export type NetworkPathCheck = (input: NetworkPathInput) => Promise<NetworkPathOutcome | undefined>;

export const networkPathNotChecked: NetworkPathCheck = async () => undefined;

/**
 * The network adapter's facts for the target and the registry, judged. `subscriptions`: where else
 * to look for `privatelink.azurecr.io` zones (the target's and the registry's are always searched).
 */
export function networkPathFromArm(
  clients: ArmClients,
  subscriptions: readonly string[] = [],
): NetworkPathCheck {
  const reader = new NetworkFactsReader(clients);
  return async ({ targetRef, registry, abortSignal }) => {
    const state = await reader.registry(registry.id, abortSignal);
    if (!state)
      return { status: 'warn', detail: `registry ${registry.name} was not found when its network was read` };
    const searched = [
      ...new Set([targetRef.subscriptionId, registry.subscriptionId, ...subscriptions].map(idKey)),
    ];
    const facts = await reader.gather(targetRef.id, state, searched, abortSignal);
    return judgeNetworkPath(facts, state.access);
  };
}
