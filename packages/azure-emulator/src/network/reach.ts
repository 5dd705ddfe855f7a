// Where a VM's traffic to a registry comes from, as the registry's network rules see it. Loopback has
// no virtual networks: the position is derived from the seeded network model (NIC → subnet → VNet,
// private endpoints, private DNS zones, public IPs) when the VM has one.
//
// The private path follows Learn's container-registry-private-link ("Set up private endpoint" and
// "DNS configuration"): traffic stays private only when the client's name lookups of the login server
// and of the regional data endpoint both resolve to the private endpoint's IPs, which takes
//   - a private endpoint whose connection to the registry is Approved (a Pending or Rejected one
//     carries nothing), in the client's VNet or in a VNet peered with it (peering Connected on both
//     sides, Learn virtual-network-manage-peering: only Connected peerings carry traffic);
//   - a private DNS zone `privatelink.azurecr.io` linked to the client's VNet (the zone answers only
//     in linked VNets, Learn private-dns-virtual-network-links), with A records for `<registry>` and
//     `<registry>.<region>.data` pointing at that endpoint's IPs for those two members.
import { sameId, TYPES } from '../resourceIds';
import type { PrivateDnsZoneRecord, RegistryRecord, Store, VirtualNetworkRecord } from '../store';
import {
  ACR_PRIVATE_ZONE,
  dataEndpointRecordName,
  dataMemberName,
  REGISTRY_GROUP_ID,
  registryConnectionOf,
  splitSubnetId,
  vnetOf,
} from './model';

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
  store: Store,
  vmId: string,
  registry: RegistryRecord,
): NetworkPosition | undefined {
  const placement = placementOf(store, vmId);
  if (!placement) return undefined;
  const privatePath = placement.vnetIds.some((vnetId) => privatePathFrom(store, vnetId, registry));
  return { privatePath, ...(placement.publicIp ? { publicIp: placement.publicIp } : {}) };
}

/**
 * The VNets a VM's (or a scale set's) NICs sit in, and the primary NIC's public IP. A scale set's
 * instances get their own public IPs, which the model does not hold: none is reported.
 */
function placementOf(store: Store, id: string): { vnetIds: string[]; publicIp?: string } | undefined {
  const vm = store.vms.byId(id, TYPES.vm);
  if (vm) {
    const nics = (vm.networkInterfaces ?? [])
      .map((ref) => ({ ref, nic: store.networkInterfaces.byId(ref.id, TYPES.networkInterface) }))
      .filter((n) => n.nic !== undefined);
    if (nics.length === 0) return undefined;
    const vnetIds = nics.flatMap((n) =>
      (n.nic?.ipConfigurations ?? []).map((ipc) => splitSubnetId(ipc.subnetId)?.vnetId ?? ''),
    );
    const primary = nics.find((n) => n.ref.primary) ?? nics[0];
    const ipc = primary?.nic?.ipConfigurations.find((c) => c.primary) ?? primary?.nic?.ipConfigurations[0];
    const publicIp = ipc?.publicIpId ? store.publicIps.byId(ipc.publicIpId, TYPES.publicIp) : undefined;
    return { vnetIds: vnetIds.filter(Boolean), ...(publicIp ? { publicIp: publicIp.ipAddress } : {}) };
  }
  const vmss = store.scaleSets.byId(id, TYPES.scaleSet);
  const vnetId = vmss?.scaleSetSubnetId ? splitSubnetId(vmss.scaleSetSubnetId)?.vnetId : undefined;
  return vnetId ? { vnetIds: [vnetId] } : undefined;
}

/** The VNet itself and every VNet peered with it, Connected on both sides. */
function reachableVnets(store: Store, vnet: VirtualNetworkRecord): VirtualNetworkRecord[] {
  const peers = vnet.peerings
    .filter((p) => p.state === 'Connected')
    .map((p) => vnetOf(store, p.remoteVirtualNetworkId))
    .filter((remote): remote is VirtualNetworkRecord => remote !== undefined)
    .filter((remote) =>
      remote.peerings.some(
        (back) => sameId(back.remoteVirtualNetworkId, vnet.id) && back.state === 'Connected',
      ),
    );
  return [vnet, ...peers];
}

function privatePathFrom(store: Store, vnetId: string, registry: RegistryRecord): boolean {
  const vnet = vnetOf(store, vnetId);
  if (!vnet) return false;
  const reachable = reachableVnets(store, vnet);
  const zones = store.privateDnsZones
    .list()
    .filter((z) => z.name.toLowerCase() === ACR_PRIVATE_ZONE)
    .filter((z) => z.links.some((l) => sameId(l.virtualNetworkId, vnet.id) && l.state === 'Completed'));
  if (zones.length === 0) return false;
  return store.privateEndpoints.list().some((pe) => {
    const peVnet = splitSubnetId(pe.subnetId)?.vnetId ?? '';
    if (!reachable.some((v) => sameId(v.id, peVnet))) return false;
    if (!sameId(pe.connection.privateLinkServiceId, registry.id)) return false;
    if (registryConnectionOf(registry, pe.id)?.status !== 'Approved') return false;
    const nic = store.networkInterfaces.byId(pe.networkInterfaceId, TYPES.networkInterface);
    const ipOf = (member: string) =>
      nic?.ipConfigurations.find(
        (c) =>
          c.privateLinkConnection?.groupId === REGISTRY_GROUP_ID &&
          c.privateLinkConnection.requiredMemberName === member,
      )?.privateIp;
    const loginIp = ipOf(REGISTRY_GROUP_ID);
    const dataIp = ipOf(dataMemberName(registry));
    return zones.some(
      (zone) =>
        answers(zone, registry.name.toLowerCase(), loginIp) &&
        answers(zone, dataEndpointRecordName(registry), dataIp),
    );
  });
}

function answers(zone: PrivateDnsZoneRecord, name: string, ip: string | undefined): boolean {
  if (!ip) return false;
  return zone.aRecordSets.some((r) => r.name.toLowerCase() === name && r.ipv4Addresses.includes(ip));
}
