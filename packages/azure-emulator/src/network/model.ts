// The network model behind Microsoft.Network and Private DNS: seeding (the handle's seed* methods) and
// the lookups the handlers and networkPositionOf share. ARM serves it read-only; nothing here speaks
// HTTP. What each piece means for a registry is Learn's container-registry-private-link: a private
// endpoint in the client's VNet (group `registry`) gets one private IP for the login server and one per
// region for the data endpoint (NIC ipConfigurations' privateLinkConnectionProperties.requiredMemberName
// `registry` and `registry_data_<region>`), and a private DNS zone `privatelink.azurecr.io` linked to
// the VNet answers `<registry>` and `<registry>.<region>.data` with those IPs.
import { randomUUID } from 'node:crypto';
import { normalizeLocation, resourceId, sameId, TYPES } from '../resourceIds';
import type {
  NetworkInterfaceRecord,
  NicIpConfigurationRecord,
  PeeringState,
  PrivateDnsZoneRecord,
  PrivateEndpointRecord,
  PublicIpRecord,
  RegistryPrivateEndpointConnection,
  RegistryRecord,
  Store,
  SubnetRecord,
  VirtualNetworkRecord,
} from '../store';

const DEFAULT_LOCATION = 'westeurope';
/** The private DNS zone of ACR's private endpoints in Azure's public cloud (Learn: private-endpoint-dns). */
export const ACR_PRIVATE_ZONE = 'privatelink.azurecr.io';
/** A registry's private link sub-resource (group id), Learn: container-registry-private-link. */
export const REGISTRY_GROUP_ID = 'registry';

interface Placed {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location?: string;
  tags?: Record<string, string>;
}

export interface SeedVirtualNetwork extends Placed {
  /** The address space (default 10.0.0.0/16). */
  addressPrefix?: string;
  subnets: { name: string; addressPrefix: string }[];
}

export interface SeedPublicIp extends Placed {
  ipAddress: string;
}

export interface SeedNic extends Placed {
  /** `<vnet id>/subnets/<name>` of a seeded VNet. */
  subnetId: string;
  /** Default: the next free address of the subnet (Azure keeps the first four: Learn virtual-networks-faq). */
  privateIp?: string;
  publicIpId?: string;
  /** Attaches the NIC to this VM (seeded with seedVm), primary if it is the VM's first NIC. */
  vmId?: string;
}

export interface SeedPrivateEndpoint extends Placed {
  subnetId: string;
  registryId: string;
  /**
   * The connection's state on the registry's side. Approved: the endpoint carries traffic; Pending: it
   * waits for the registry owner's approval; Rejected: refused.
   */
  status: RegistryPrivateEndpointConnection['status'];
  /** The endpoint NIC's IPs for the login server and the data endpoint (default: the subnet's next free ones). */
  ips?: { loginServer?: string; dataEndpoint?: string };
  /** Listed under manualPrivateLinkServiceConnections (default: when status is not Approved). */
  manual?: boolean;
}

export interface SeedPrivateDnsZone {
  subscriptionId: string;
  resourceGroup: string;
  /** Default privatelink.azurecr.io. */
  name?: string;
  tags?: Record<string, string>;
}

export interface LinkPrivateDnsZoneOptions {
  name?: string;
  registrationEnabled?: boolean;
  /** Default 'Completed'. */
  state?: 'InProgress' | 'Completed';
}

// --- ids ----------------------------------------------------------------------------------------

/** `<vnet id>/subnets/<name>` → the VNet's id and the subnet's name. */
export function splitSubnetId(subnetId: string): { vnetId: string; subnet: string } | undefined {
  const m = /^(.*\/providers\/Microsoft\.Network\/virtualNetworks\/[^/]+)\/subnets\/([^/]+)$/i.exec(subnetId);
  return m ? { vnetId: m[1] as string, subnet: m[2] as string } : undefined;
}

export function subnetIdOf(vnet: VirtualNetworkRecord, subnet: SubnetRecord): string {
  return `${vnet.id}/subnets/${subnet.name}`;
}

export function ipConfigurationId(nic: NetworkInterfaceRecord, ipc: NicIpConfigurationRecord): string {
  return `${nic.id}/ipConfigurations/${ipc.name}`;
}

export function vnetOf(store: Store, vnetId: string): VirtualNetworkRecord | undefined {
  return store.virtualNetworks.byId(vnetId, TYPES.virtualNetwork);
}

export function subnetOf(
  store: Store,
  subnetId: string,
): { vnet: VirtualNetworkRecord; subnet: SubnetRecord } | undefined {
  const split = splitSubnetId(subnetId);
  const vnet = split ? vnetOf(store, split.vnetId) : undefined;
  const subnet = vnet?.subnets.find((s) => sameId(s.name, split?.subnet ?? ''));
  return vnet && subnet ? { vnet, subnet } : undefined;
}

/** The registry's data endpoint member for its home region (geo-replicas are not modelled). */
export function dataMemberName(registry: RegistryRecord): string {
  return `registry_data_${normalizeLocation(registry.location)}`;
}

export function dataEndpointRecordName(registry: RegistryRecord): string {
  return `${registry.name.toLowerCase()}.${normalizeLocation(registry.location)}.data`;
}

/** The registry's side of a private endpoint's connection, if the registry records one. */
export function registryConnectionOf(
  registry: RegistryRecord | undefined,
  endpointId: string,
): RegistryPrivateEndpointConnection | undefined {
  return registry?.access.privateEndpointConnections.find((c) => sameId(c.privateEndpointId, endpointId));
}

/** The subnet's id spelled as its VNet's id is (the seed may differ in case). */
function canonicalSubnetId(store: Store, subnetId: string): string {
  const found = subnetOf(store, subnetId);
  if (!found) throw new Error(`emulator: no subnet '${subnetId}' (seed its VNet first)`);
  return subnetIdOf(found.vnet, found.subnet);
}

// --- IP allocation -------------------------------------------------------------------------------

function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
    throw new Error(`emulator: '${ip}' is not an IPv4 address`);
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

const intToIp = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');

function parsePrefix(prefix: string): { base: number; size: number } {
  const [ip, bits] = prefix.split('/');
  const length = Number(bits);
  if (!ip || !Number.isInteger(length) || length < 0 || length > 32)
    throw new Error(`emulator: '${prefix}' is not an IPv4 prefix`);
  const size = 2 ** (32 - length);
  return { base: ipToInt(ip) - (ipToInt(ip) % size), size };
}

function usedIps(store: Store, subnetId: string): Set<string> {
  const used = new Set<string>();
  for (const nic of store.networkInterfaces.list())
    for (const ipc of nic.ipConfigurations) if (sameId(ipc.subnetId, subnetId)) used.add(ipc.privateIp);
  return used;
}

/**
 * The subnet's next free address: Azure reserves the first four and the last of every subnet (Learn:
 * virtual-networks-faq, "Are there any restrictions on using IP addresses within these subnets?").
 */
function nextFreeIp(store: Store, subnetId: string, taken: Set<string> = new Set()): string {
  const found = subnetOf(store, subnetId);
  if (!found) throw new Error(`emulator: no subnet '${subnetId}' (seed its VNet first)`);
  const { base, size } = parsePrefix(found.subnet.addressPrefix);
  const used = usedIps(store, subnetId);
  for (let offset = 4; offset < size - 1; offset++) {
    const ip = intToIp(base + offset);
    if (!used.has(ip) && !taken.has(ip)) return ip;
  }
  throw new Error(`emulator: subnet '${subnetId}' has no free address`);
}

// --- seeding -------------------------------------------------------------------------------------

function placedFields(store: Store, p: Placed, type: string) {
  const location = p.location ?? store.getResourceGroup(p.subscriptionId, p.resourceGroup)?.location;
  const group = store.addResourceGroup(p.subscriptionId, p.resourceGroup, location ?? DEFAULT_LOCATION);
  return {
    id: resourceId(p.subscriptionId, group.name, type, p.name),
    name: p.name,
    subscriptionId: p.subscriptionId,
    resourceGroup: group.name,
    location: location ?? group.location,
    tags: { ...(p.tags ?? {}) },
    resourceGuid: randomUUID(),
  };
}

function refuseDuplicate(existing: unknown, what: string): void {
  if (existing) throw new Error(`emulator: ${what} is already seeded`);
}

export function seedVirtualNetwork(store: Store, v: SeedVirtualNetwork): VirtualNetworkRecord {
  refuseDuplicate(store.virtualNetworks.get(v.subscriptionId, v.resourceGroup, v.name), `VNet '${v.name}'`);
  for (const s of v.subnets) parsePrefix(s.addressPrefix);
  const record: VirtualNetworkRecord = {
    ...placedFields(store, v, TYPES.virtualNetwork),
    type: TYPES.virtualNetwork,
    addressPrefixes: [v.addressPrefix ?? '10.0.0.0/16'],
    subnets: v.subnets.map((s) => ({ name: s.name, addressPrefix: s.addressPrefix })),
    peerings: [],
  };
  store.virtualNetworks.put(record);
  return record;
}

/**
 * A peering from one VNet to another, as Learn's virtual-network-manage-peering describes its states:
 * Connected = both sides peered (both show Connected); Initiated = only this side exists (the remote
 * VNet shows none); Disconnected = the remote side was deleted (only this side, Disconnected).
 */
export function seedPeering(
  store: Store,
  fromVnetId: string,
  toVnetId: string,
  state: PeeringState = 'Connected',
): void {
  const from = vnetOf(store, fromVnetId);
  const to = vnetOf(store, toVnetId);
  if (!from || !to) throw new Error(`emulator: seedPeering: seed both VNets first`);
  const peer = (a: VirtualNetworkRecord, b: VirtualNetworkRecord, s: PeeringState) => {
    a.peerings = a.peerings.filter((p) => !sameId(p.remoteVirtualNetworkId, b.id));
    a.peerings.push({ name: `${a.name}-to-${b.name}`, remoteVirtualNetworkId: b.id, state: s });
  };
  peer(from, to, state);
  if (state === 'Connected') peer(to, from, 'Connected');
  else to.peerings = to.peerings.filter((p) => !sameId(p.remoteVirtualNetworkId, from.id));
}

export function seedPublicIp(store: Store, p: SeedPublicIp): PublicIpRecord {
  refuseDuplicate(store.publicIps.get(p.subscriptionId, p.resourceGroup, p.name), `public IP '${p.name}'`);
  ipToInt(p.ipAddress);
  const record: PublicIpRecord = {
    ...placedFields(store, p, TYPES.publicIp),
    type: TYPES.publicIp,
    ipAddress: p.ipAddress,
  };
  store.publicIps.put(record);
  return record;
}

export function seedNic(store: Store, n: SeedNic): NetworkInterfaceRecord {
  refuseDuplicate(store.networkInterfaces.get(n.subscriptionId, n.resourceGroup, n.name), `NIC '${n.name}'`);
  if (!subnetOf(store, n.subnetId)) throw new Error(`emulator: seedNic: no subnet '${n.subnetId}'`);
  const vm = n.vmId ? store.vms.byId(n.vmId, TYPES.vm) : undefined;
  if (n.vmId && !vm) throw new Error(`emulator: seedNic: no VM '${n.vmId}' (seed it first)`);
  const publicIp = n.publicIpId ? store.publicIps.byId(n.publicIpId, TYPES.publicIp) : undefined;
  if (n.publicIpId && !publicIp) throw new Error(`emulator: seedNic: no public IP '${n.publicIpId}'`);
  if (publicIp?.ipConfigurationId)
    throw new Error(`emulator: seedNic: '${n.publicIpId}' is already associated with a NIC`);
  const record: NetworkInterfaceRecord = {
    ...placedFields(store, { ...n, location: n.location ?? vm?.location }, TYPES.networkInterface),
    type: TYPES.networkInterface,
    ipConfigurations: [
      {
        name: 'ipconfig1',
        subnetId: canonicalSubnetId(store, n.subnetId),
        privateIp: n.privateIp ?? nextFreeIp(store, n.subnetId),
        primary: true,
        ...(publicIp ? { publicIpId: publicIp.id } : {}),
      },
    ],
    macAddress: macAddress(),
    ...(vm ? { virtualMachineId: vm.id } : {}),
  };
  store.networkInterfaces.put(record);
  if (publicIp)
    publicIp.ipConfigurationId = ipConfigurationId(
      record,
      record.ipConfigurations[0] as NicIpConfigurationRecord,
    );
  if (vm) {
    vm.networkInterfaces = [
      ...(vm.networkInterfaces ?? []),
      { id: record.id, primary: !vm.networkInterfaces?.length },
    ];
    store.bumpEtag(vm);
  }
  return record;
}

/** Network reports MAC addresses as 12 hex digits in dash-separated pairs (`00-0D-3A-…`). */
function macAddress(): string {
  const hex = randomUUID().replace(/-/g, '').slice(0, 6).toUpperCase();
  return `00-0D-3A-${hex.slice(0, 2)}-${hex.slice(2, 4)}-${hex.slice(4, 6)}`;
}

/**
 * A private endpoint to a registry: the endpoint, its NIC (Network names it `<endpoint>.nic.<guid>`)
 * with one IP for the login server and one for the home region's data endpoint, and the registry's
 * private endpoint connection with the given status.
 */
export function seedPrivateEndpoint(store: Store, p: SeedPrivateEndpoint): PrivateEndpointRecord {
  refuseDuplicate(
    store.privateEndpoints.get(p.subscriptionId, p.resourceGroup, p.name),
    `private endpoint '${p.name}'`,
  );
  const registry = store.registries.byId(p.registryId, TYPES.registry);
  if (!registry) throw new Error(`emulator: seedPrivateEndpoint: no registry '${p.registryId}'`);
  if (!subnetOf(store, p.subnetId))
    throw new Error(`emulator: seedPrivateEndpoint: no subnet '${p.subnetId}'`);
  const fields = placedFields(store, p, TYPES.privateEndpoint);
  const loginIp = p.ips?.loginServer ?? nextFreeIp(store, p.subnetId);
  const dataIp = p.ips?.dataEndpoint ?? nextFreeIp(store, p.subnetId, new Set([loginIp]));
  const nicName = `${p.name}.nic.${randomUUID()}`;
  const nic: NetworkInterfaceRecord = {
    ...placedFields(store, { ...p, name: nicName }, TYPES.networkInterface),
    type: TYPES.networkInterface,
    ipConfigurations: [
      {
        name: `privateEndpointIpConfig.${randomUUID()}`,
        subnetId: canonicalSubnetId(store, p.subnetId),
        privateIp: loginIp,
        primary: true,
        privateLinkConnection: {
          groupId: REGISTRY_GROUP_ID,
          requiredMemberName: REGISTRY_GROUP_ID,
          fqdns: [registry.loginServer],
        },
      },
      {
        name: `privateEndpointIpConfig.${randomUUID()}`,
        subnetId: canonicalSubnetId(store, p.subnetId),
        privateIp: dataIp,
        primary: false,
        privateLinkConnection: {
          groupId: REGISTRY_GROUP_ID,
          requiredMemberName: dataMemberName(registry),
          fqdns: [`${dataEndpointRecordName(registry)}.azurecr.io`],
        },
      },
    ],
    macAddress: macAddress(),
    privateEndpointId: fields.id,
  };
  const connectionName = `${p.name}-${randomUUID()}`;
  const record: PrivateEndpointRecord = {
    ...fields,
    type: TYPES.privateEndpoint,
    subnetId: canonicalSubnetId(store, p.subnetId),
    networkInterfaceId: nic.id,
    connection: {
      name: p.name,
      privateLinkServiceId: registry.id,
      groupIds: [REGISTRY_GROUP_ID],
      manual: p.manual ?? p.status !== 'Approved',
      registryConnectionName: connectionName,
    },
  };
  store.networkInterfaces.put(nic);
  store.privateEndpoints.put(record);
  registry.access.privateEndpointConnections.push({
    name: connectionName,
    privateEndpointId: record.id,
    status: p.status,
  });
  return record;
}

export function seedPrivateDnsZone(store: Store, z: SeedPrivateDnsZone): PrivateDnsZoneRecord {
  const name = z.name ?? ACR_PRIVATE_ZONE;
  refuseDuplicate(
    store.privateDnsZones.get(z.subscriptionId, z.resourceGroup, name),
    `private DNS zone '${name}'`,
  );
  const record: PrivateDnsZoneRecord = {
    // Private DNS zones are global resources (location "global" in the REST spec's examples).
    ...placedFields(store, { ...z, name, location: 'global' }, TYPES.privateDnsZone),
    type: TYPES.privateDnsZone,
    links: [],
    aRecordSets: [],
  };
  store.privateDnsZones.put(record);
  return record;
}

function zoneOf(store: Store, zoneId: string): PrivateDnsZoneRecord {
  const zone = store.privateDnsZones.byId(zoneId, TYPES.privateDnsZone);
  if (!zone) throw new Error(`emulator: no private DNS zone '${zoneId}'`);
  return zone;
}

export function linkPrivateDnsZone(
  store: Store,
  zoneId: string,
  vnetId: string,
  options: LinkPrivateDnsZoneOptions = {},
): void {
  const zone = zoneOf(store, zoneId);
  const vnet = vnetOf(store, vnetId);
  if (!vnet) throw new Error(`emulator: linkPrivateDnsZone: no VNet '${vnetId}'`);
  const name = options.name ?? `${vnet.name}-link`;
  zone.links = zone.links.filter((l) => !sameId(l.name, name));
  zone.links.push({
    name,
    virtualNetworkId: vnet.id,
    registrationEnabled: options.registrationEnabled ?? false,
    state: options.state ?? 'Completed',
  });
}

/** An A record set in the zone (replaced if it exists), e.g. `contosoapps` or `contosoapps.westeurope.data`. */
export function seedARecord(store: Store, zoneId: string, name: string, ips: string[]): void {
  const zone = zoneOf(store, zoneId);
  for (const ip of ips) ipToInt(ip);
  zone.aRecordSets = zone.aRecordSets.filter((r) => r.name.toLowerCase() !== name.toLowerCase());
  // 3600: the TTL `az network private-dns record-set a create` gives by default.
  zone.aRecordSets.push({ name, ttl: 3600, ipv4Addresses: [...ips] });
}

/** A scale set's primary NIC configuration puts its instances in this subnet. */
export function attachScaleSetSubnet(store: Store, scaleSetId: string, subnetId: string): void {
  const vmss = store.scaleSets.byId(scaleSetId, TYPES.scaleSet);
  if (!vmss) throw new Error(`emulator: no scale set '${scaleSetId}'`);
  if (!subnetOf(store, subnetId)) throw new Error(`emulator: no subnet '${subnetId}'`);
  vmss.scaleSetSubnetId = subnetId;
  store.bumpEtag(vmss);
}
