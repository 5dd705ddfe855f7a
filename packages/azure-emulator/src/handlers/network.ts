// Microsoft.Network, read-only (the api-versions of Network; the pinned @azure/arm-network sends
// 2026-01-01): networkInterfaces, virtualNetworks (+ subnets, virtualNetworkPeerings),
// privateEndpoints, publicIPAddresses — GET and the resource-group and subscription lists (the
// children list per VNet). Shapes per the REST spec (specification/network/resource-manager/
// Microsoft.Network/Network/stable/{version}: networkInterface.json, virtualNetwork.json,
// privateEndpoint.json, publicIpAddress.json; from 2025-07-01 the TypeSpec-generated
// virtualNetwork.json holds them all) and its examples NetworkInterfaceGet, VirtualNetworkGet,
// SubnetGet, VirtualNetworkPeeringGet, PrivateEndpointGet, PublicIpAddressGet. Every resource is
// provisioningState Succeeded; the etag is a constant W/"…" per resource (Network sends weak etags).
import { type Handler, ok, pageOf } from '../armHttp';
import { childResourceNotFound } from '../errors';
import { ipConfigurationId, registryConnectionOf, subnetIdOf, vnetOf } from '../network/model';
import { sameId, TYPES } from '../resourceIds';
import type {
  NetworkInterfaceRecord,
  NicIpConfigurationRecord,
  PeeringRecord,
  PrivateEndpointRecord,
  PublicIpRecord,
  Store,
  SubnetRecord,
  VirtualNetworkRecord,
} from '../store';
import { listScope, requireResource, trackedReads } from './lookup';

const SUCCEEDED = 'Succeeded';
const etagOf = (guid: string) => `W/"${guid}"`;

function tracked(r: {
  id: string;
  name: string;
  type: string;
  location: string;
  tags: Record<string, string>;
  resourceGuid: string;
}) {
  return {
    name: r.name,
    id: r.id,
    etag: etagOf(r.resourceGuid),
    type: r.type,
    location: r.location,
    ...(Object.keys(r.tags).length > 0 ? { tags: r.tags } : {}),
  };
}

// --- networkInterfaces ---------------------------------------------------------------------------

function renderIpConfiguration(nic: NetworkInterfaceRecord, ipc: NicIpConfigurationRecord): unknown {
  return {
    name: ipc.name,
    id: ipConfigurationId(nic, ipc),
    etag: etagOf(nic.resourceGuid),
    type: 'Microsoft.Network/networkInterfaces/ipConfigurations',
    properties: {
      provisioningState: SUCCEEDED,
      privateIPAddress: ipc.privateIp,
      privateIPAllocationMethod: 'Dynamic',
      privateIPAddressVersion: 'IPv4',
      subnet: { id: ipc.subnetId },
      primary: ipc.primary,
      ...(ipc.publicIpId ? { publicIPAddress: { id: ipc.publicIpId } } : {}),
      ...(ipc.privateLinkConnection
        ? {
            privateLinkConnectionProperties: {
              groupId: ipc.privateLinkConnection.groupId,
              requiredMemberName: ipc.privateLinkConnection.requiredMemberName,
              fqdns: ipc.privateLinkConnection.fqdns,
            },
          }
        : {}),
    },
  };
}

export function renderNic(store: Store, nic: NetworkInterfaceRecord): unknown {
  const vm = nic.virtualMachineId ? store.vms.byId(nic.virtualMachineId, TYPES.vm) : undefined;
  const primary = vm?.networkInterfaces?.find((ref) => sameId(ref.id, nic.id))?.primary;
  return {
    ...tracked(nic),
    properties: {
      provisioningState: SUCCEEDED,
      resourceGuid: nic.resourceGuid,
      ipConfigurations: nic.ipConfigurations.map((ipc) => renderIpConfiguration(nic, ipc)),
      dnsSettings: {
        dnsServers: [],
        appliedDnsServers: [],
        internalDomainNameSuffix: 'emulated.internal.cloudapp.net',
      },
      macAddress: nic.macAddress,
      enableAcceleratedNetworking: false,
      vnetEncryptionSupported: false,
      enableIPForwarding: false,
      disableTcpStateTracking: false,
      hostedWorkloads: [],
      tapConfigurations: [],
      nicType: 'Standard',
      auxiliaryMode: 'None',
      auxiliarySku: 'None',
      ...(primary !== undefined ? { primary } : {}),
      ...(nic.virtualMachineId ? { virtualMachine: { id: nic.virtualMachineId } } : {}),
      ...(nic.privateEndpointId ? { privateEndpoint: { id: nic.privateEndpointId } } : {}),
    },
  };
}

const nicReads = trackedReads((store) => store.networkInterfaces, TYPES.networkInterface, renderNic);
export const getNic = nicReads.get;
export const listNics = nicReads.list;

// --- virtualNetworks, subnets, peerings ------------------------------------------------------------

function renderSubnet(store: Store, vnet: VirtualNetworkRecord, subnet: SubnetRecord): unknown {
  const id = subnetIdOf(vnet, subnet);
  const ipConfigurations = store.networkInterfaces
    .list()
    .flatMap((nic) =>
      nic.ipConfigurations
        .filter((c) => sameId(c.subnetId, id))
        .map((c) => ({ id: ipConfigurationId(nic, c) })),
    );
  const privateEndpoints = store.privateEndpoints
    .list()
    .filter((pe) => sameId(pe.subnetId, id))
    .map((pe) => ({ id: pe.id }));
  return {
    name: subnet.name,
    id,
    etag: etagOf(vnet.resourceGuid),
    type: 'Microsoft.Network/virtualNetworks/subnets',
    properties: {
      provisioningState: SUCCEEDED,
      addressPrefix: subnet.addressPrefix,
      ...(ipConfigurations.length > 0 ? { ipConfigurations } : {}),
      ...(privateEndpoints.length > 0 ? { privateEndpoints } : {}),
      delegations: [],
      privateEndpointNetworkPolicies: 'Disabled',
      privateLinkServiceNetworkPolicies: 'Enabled',
    },
  };
}

function renderPeering(store: Store, vnet: VirtualNetworkRecord, peering: PeeringRecord): unknown {
  const remote = vnetOf(store, peering.remoteVirtualNetworkId);
  const remoteSpace = { addressPrefixes: remote?.addressPrefixes ?? [] };
  return {
    name: peering.name,
    id: `${vnet.id}/virtualNetworkPeerings/${peering.name}`,
    etag: etagOf(vnet.resourceGuid),
    type: 'Microsoft.Network/virtualNetworks/virtualNetworkPeerings',
    properties: {
      provisioningState: SUCCEEDED,
      resourceGuid: vnet.resourceGuid,
      peeringState: peering.state,
      // FullyInSync while Connected; a peering whose remote side is missing is not in sync.
      peeringSyncLevel: peering.state === 'Connected' ? 'FullyInSync' : 'RemoteNotInSync',
      remoteVirtualNetwork: { id: peering.remoteVirtualNetworkId },
      allowVirtualNetworkAccess: true,
      allowForwardedTraffic: false,
      allowGatewayTransit: false,
      useRemoteGateways: false,
      doNotVerifyRemoteGateways: false,
      remoteAddressSpace: remoteSpace,
      remoteVirtualNetworkAddressSpace: remoteSpace,
    },
  };
}

export function renderVnet(store: Store, vnet: VirtualNetworkRecord): unknown {
  return {
    ...tracked(vnet),
    properties: {
      provisioningState: SUCCEEDED,
      resourceGuid: vnet.resourceGuid,
      addressSpace: { addressPrefixes: vnet.addressPrefixes },
      subnets: vnet.subnets.map((s) => renderSubnet(store, vnet, s)),
      virtualNetworkPeerings: vnet.peerings.map((p) => renderPeering(store, vnet, p)),
      enableDdosProtection: false,
    },
  };
}

const requireVnet = (req: Parameters<Handler>[0], ctx: Parameters<Handler>[1]) =>
  requireResource(ctx.store, ctx.store.virtualNetworks, TYPES.virtualNetwork, req.params);

export const getVnet: Handler = (req, ctx) => ok(renderVnet(ctx.store, requireVnet(req, ctx)));

export const listVnets: Handler = (req, ctx) =>
  pageOf(listScope(ctx.store, ctx.store.virtualNetworks, req.params), req, ctx, (v: VirtualNetworkRecord) =>
    renderVnet(ctx.store, v),
  );

export const getSubnet: Handler = (req, ctx) => {
  const vnet = requireVnet(req, ctx);
  const subnet = vnet.subnets.find((s) => sameId(s.name, req.params.child ?? ''));
  if (!subnet) throw childResourceNotFound(`${vnet.id}/subnets/${req.params.child}`);
  return ok(renderSubnet(ctx.store, vnet, subnet));
};

export const listSubnets: Handler = (req, ctx) => {
  const vnet = requireVnet(req, ctx);
  return pageOf(vnet.subnets, req, ctx, (s: SubnetRecord) => renderSubnet(ctx.store, vnet, s));
};

export const getPeering: Handler = (req, ctx) => {
  const vnet = requireVnet(req, ctx);
  const peering = vnet.peerings.find((p) => sameId(p.name, req.params.child ?? ''));
  if (!peering) throw childResourceNotFound(`${vnet.id}/virtualNetworkPeerings/${req.params.child}`);
  return ok(renderPeering(ctx.store, vnet, peering));
};

export const listPeerings: Handler = (req, ctx) => {
  const vnet = requireVnet(req, ctx);
  return pageOf(vnet.peerings, req, ctx, (p: PeeringRecord) => renderPeering(ctx.store, vnet, p));
};

// --- privateEndpoints ------------------------------------------------------------------------------

/**
 * A private endpoint to a registry. Its connection's state is the registry's (the two sides of one
 * connection: Registry.properties.privateEndpointConnections); customDnsConfigs lists the FQDNs and IPs
 * the endpoint's NIC serves (Learn container-registry-private-link shows both for `az network
 * private-endpoint show`).
 */
export function renderPrivateEndpoint(store: Store, pe: PrivateEndpointRecord): unknown {
  const registry = store.registries.byId(pe.connection.privateLinkServiceId, TYPES.registry);
  const status = registryConnectionOf(registry, pe.id)?.status ?? 'Disconnected';
  const kind = pe.connection.manual ? 'manualPrivateLinkServiceConnections' : 'privateLinkServiceConnections';
  const connection = {
    name: pe.connection.name,
    id: `${pe.id}/${kind}/${pe.connection.name}`,
    etag: etagOf(pe.resourceGuid),
    type: 'Microsoft.Network/privateEndpoints/privateLinkServiceConnections',
    properties: {
      provisioningState: SUCCEEDED,
      privateLinkServiceId: pe.connection.privateLinkServiceId,
      groupIds: pe.connection.groupIds,
      ...(pe.connection.manual ? { requestMessage: 'Please approve my connection.' } : {}),
      privateLinkServiceConnectionState: {
        status,
        description: status === 'Approved' && !pe.connection.manual ? 'Auto-Approved' : '',
        actionsRequired: 'None',
      },
    },
  };
  const nic = store.networkInterfaces.byId(pe.networkInterfaceId, TYPES.networkInterface);
  return {
    ...tracked(pe),
    properties: {
      provisioningState: SUCCEEDED,
      resourceGuid: pe.resourceGuid,
      subnet: { id: pe.subnetId },
      networkInterfaces: [{ id: pe.networkInterfaceId }],
      privateLinkServiceConnections: pe.connection.manual ? [] : [connection],
      manualPrivateLinkServiceConnections: pe.connection.manual ? [connection] : [],
      customNetworkInterfaceName: '',
      ipConfigurations: [],
      customDnsConfigs: (nic?.ipConfigurations ?? []).flatMap((c) =>
        (c.privateLinkConnection?.fqdns ?? []).map((fqdn) => ({ fqdn, ipAddresses: [c.privateIp] })),
      ),
    },
  };
}

const privateEndpointReads = trackedReads(
  (store) => store.privateEndpoints,
  TYPES.privateEndpoint,
  renderPrivateEndpoint,
);
export const getPrivateEndpoint = privateEndpointReads.get;
export const listPrivateEndpoints = privateEndpointReads.list;

// --- publicIPAddresses -----------------------------------------------------------------------------

/** A Standard, static IPv4 address (the kind `az network public-ip create` makes today). */
export function renderPublicIp(ip: PublicIpRecord): unknown {
  return {
    ...tracked(ip),
    sku: { name: 'Standard', tier: 'Regional' },
    properties: {
      provisioningState: SUCCEEDED,
      resourceGuid: ip.resourceGuid,
      ipAddress: ip.ipAddress,
      publicIPAddressVersion: 'IPv4',
      publicIPAllocationMethod: 'Static',
      idleTimeoutInMinutes: 4,
      ipTags: [],
      ...(ip.ipConfigurationId ? { ipConfiguration: { id: ip.ipConfigurationId } } : {}),
    },
  };
}

const publicIpReads = trackedReads(
  (store) => store.publicIps,
  TYPES.publicIp,
  (_store, ip) => renderPublicIp(ip),
);
export const getPublicIp = publicIpReads.get;
export const listPublicIps = publicIpReads.list;
