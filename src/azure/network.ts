// Network adapter (read only): the facts the network-path judgement (core/networkPath.ts) needs for one
// target and one registry, over the real compute, network, private DNS and registry clients. What it
// reads, per Learn container-registry-private-link:
// - the target's NICs: a VM's from networkProfile.networkInterfaces (NIC GET: subnet, private IPs,
//   public IP id → public IP GET); a scale set's from its model's NIC configurations (subnets only:
//   the instances' NICs, private and public IPs are not read — see ScaleSetLimits below);
// - each NIC's VNet (GET, with its peerings and its subnets' private endpoint references) and every
//   VNet peered with it (GET, for their subnets' private endpoints);
// - each of those private endpoints (GET) that connects to the registry, with its status, and its NIC
//   (GET) for the IPs of the `registry` and `registry_data_<region>` members;
// - the `privatelink.azurecr.io` zones of the subscriptions given (list), their VNet links (list),
//   and, for zones linked to the target's VNets, the A records `<registry>` and
//   `<registry>.<region>.data` (GET).
// A resource the caller may not read or that is gone is left out of the facts (not found → absent),
// so the judgement names it as missing; other errors propagate.
import {
  ACR_PRIVATE_DNS_ZONE,
  type DnsZoneFact,
  type NetworkFacts,
  type NicFact,
  type PrivateEndpointFact,
  type RegistryNetworkAccess,
  type VnetFact,
} from '../core/networkPath';
import { idKey } from '../core/resourceId';
import type { ArmClients } from './armClients';
import { isNotFound } from './armErrors';

/**
 * Scale sets are kept simple: the subnets of the model's NIC configurations only. Left out: the
 * instances' own NICs and IPs (Uniform: virtualMachineScaleSets/networkInterfaces; Flexible: the
 * member VMs, which are VMs of their own), public IP configurations, and NIC configurations that
 * differ per instance.
 */
export const SCALE_SET_LIMITS =
  'subnets of the NIC configurations only; instance NICs and public IPs not read';

/** A registry's private endpoint connection as the registry lists it. */
export interface RegistryConnection {
  readonly privateEndpointId: string;
  readonly name: string;
  readonly status: string;
}

export interface RegistryNetworkState {
  readonly access: RegistryNetworkAccess;
  readonly connections: readonly RegistryConnection[];
}

interface Parsed {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  /** The name segments after providers/<namespace>/<type>/ (name, then child type and name…). */
  readonly names: readonly string[];
}

/** `/subscriptions/s/resourceGroups/rg/providers/ns/type/name[/childType/childName…]`, loosely. */
function parseId(id: string): Parsed | undefined {
  const parts = id.split('/').filter(Boolean);
  if (parts[0]?.toLowerCase() !== 'subscriptions' || parts[2]?.toLowerCase() !== 'resourcegroups')
    return undefined;
  if (parts[4]?.toLowerCase() !== 'providers' || parts.length < 8) return undefined;
  return {
    subscriptionId: parts[1] as string,
    resourceGroup: parts[3] as string,
    names: [parts[7] as string, ...parts.slice(8)],
  };
}

const vnetIdOfSubnet = (subnetId: string) => subnetId.replace(/\/subnets\/[^/]+$/i, '');
const same = (a: string | undefined, b: string | undefined) => !!a && !!b && idKey(a) === idKey(b);

async function orUndefined<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

export class NetworkFactsReader {
  constructor(private readonly clients: ArmClients) {}

  /** The registry's network settings and private endpoint connections (Registry GET). */
  async registry(registryId: string, abortSignal?: AbortSignal): Promise<RegistryNetworkState | undefined> {
    const ref = parseId(registryId);
    if (!ref) throw new Error(`not a registry id: ${registryId}`);
    const found = await orUndefined(
      this.clients
        .registries(ref.subscriptionId)
        .registries.get(ref.resourceGroup, ref.names[0] as string, abortSignal ? { abortSignal } : {}),
    );
    if (!found) return undefined;
    return {
      access: {
        id: found.id ?? registryId,
        name: (found.name ?? (ref.names[0] as string)).toLowerCase(),
        region: (found.location ?? '').replace(/\s+/g, '').toLowerCase(),
        publicNetworkAccess: found.publicNetworkAccess === 'Disabled' ? 'Disabled' : 'Enabled',
        defaultAction: found.networkRuleSet?.defaultAction === 'Deny' ? 'Deny' : 'Allow',
        ipRules: (found.networkRuleSet?.ipRules ?? []).map((rule) => rule.iPAddressOrRange),
      },
      connections: (found.privateEndpointConnections ?? []).map((c) => ({
        privateEndpointId: c.privateEndpoint?.id ?? '',
        name: c.name ?? '',
        status: c.privateLinkServiceConnectionState?.status ?? '',
      })),
    };
  }

  /**
   * The facts for a VM or scale set and a registry. `subscriptions`: where to look for
   * `privatelink.azurecr.io` zones (the target's own is always searched).
   */
  async gather(
    targetId: string,
    registry: RegistryNetworkState,
    subscriptions: readonly string[],
    abortSignal?: AbortSignal,
  ): Promise<NetworkFacts> {
    const options = abortSignal ? { abortSignal } : {};
    const target = parseId(targetId);
    if (!target) throw new Error(`not a VM or scale set id: ${targetId}`);
    const isScaleSet = /\/providers\/Microsoft\.Compute\/virtualMachineScaleSets\//i.test(targetId);
    const nics = isScaleSet ? await this.scaleSetNics(target, options) : await this.vmNics(target, options);

    const vnetIds = [...new Map(nics.map((n) => [idKey(n.vnetId), n.vnetId])).values()];
    const vnets = (await Promise.all(vnetIds.map((id) => this.vnet(id, options)))).filter(
      (v): v is NonNullable<typeof v> => v !== undefined,
    );
    const peerIds = vnets
      .flatMap((v) => v.fact.peerings.map((p) => p.remoteVnetId))
      .filter((id) => !vnetIds.some((own) => same(own, id)));
    const peers = (await Promise.all([...new Set(peerIds)].map((id) => this.vnet(id, options)))).filter(
      (v): v is NonNullable<typeof v> => v !== undefined,
    );
    const endpointIds = [...new Set([...vnets, ...peers].flatMap((v) => v.endpointIds))];
    const privateEndpoints = (
      await Promise.all(endpointIds.map((id) => this.privateEndpoint(id, registry, options)))
    ).filter((pe): pe is PrivateEndpointFact => pe !== undefined);

    const zoneSubscriptions = [
      ...new Map([target.subscriptionId, ...subscriptions].map((s) => [idKey(s), s])).values(),
    ];
    const dnsZones = (
      await Promise.all(zoneSubscriptions.map((s) => this.zones(s, vnetIds, registry.access, options)))
    ).flat();

    return {
      targetId,
      targetKind: isScaleSet ? 'scaleSet' : 'virtualMachine',
      nics,
      vnets: vnets.map((v) => v.fact),
      privateEndpoints,
      dnsZones,
    };
  }

  private async vmNics(target: Parsed, options: { abortSignal?: AbortSignal }): Promise<NicFact[]> {
    const vm = await this.clients
      .compute(target.subscriptionId)
      .virtualMachines.get(target.resourceGroup, target.names[0] as string, options);
    const refs = vm.networkProfile?.networkInterfaces ?? [];
    const nics = await Promise.all(
      refs.map(async (ref) => {
        const parsed = ref.id ? parseId(ref.id) : undefined;
        if (!parsed) return undefined;
        const nic = await orUndefined(
          this.clients
            .network(parsed.subscriptionId)
            .networkInterfaces.get(parsed.resourceGroup, parsed.names[0] as string, options),
        );
        if (!nic) return undefined;
        const configs = nic.ipConfigurations ?? [];
        const main = configs.find((c) => c.primary) ?? configs[0];
        const subnetId = main?.subnet?.id;
        if (!subnetId) return undefined;
        const publicIp = main?.publicIPAddress?.id
          ? await this.publicIp(main.publicIPAddress.id, options)
          : undefined;
        const fact: NicFact = {
          id: nic.id ?? (ref.id as string),
          subnetId,
          vnetId: vnetIdOfSubnet(subnetId),
          privateIps: configs.map((c) => c.privateIPAddress).filter((ip): ip is string => !!ip),
          ...(publicIp ? { publicIp } : {}),
          primary: ref.primary ?? refs.length === 1,
        };
        return fact;
      }),
    );
    return nics.filter((n): n is NicFact => n !== undefined);
  }

  private async scaleSetNics(target: Parsed, options: { abortSignal?: AbortSignal }): Promise<NicFact[]> {
    const vmss = await this.clients
      .compute(target.subscriptionId)
      .virtualMachineScaleSets.get(target.resourceGroup, target.names[0] as string, options);
    const configs = vmss.virtualMachineProfile?.networkProfile?.networkInterfaceConfigurations ?? [];
    return configs.flatMap((config) => {
      const subnetId = (config.ipConfigurations ?? []).map((c) => c.subnet?.id).find((id) => !!id);
      return subnetId
        ? [
            {
              subnetId,
              vnetId: vnetIdOfSubnet(subnetId),
              privateIps: [],
              primary: config.primary ?? configs.length === 1,
            },
          ]
        : [];
    });
  }

  private async publicIp(id: string, options: { abortSignal?: AbortSignal }): Promise<string | undefined> {
    const parsed = parseId(id);
    if (!parsed) return undefined;
    const ip = await orUndefined(
      this.clients
        .network(parsed.subscriptionId)
        .publicIPAddresses.get(parsed.resourceGroup, parsed.names[0] as string, options),
    );
    return ip?.ipAddress;
  }

  private async vnet(
    id: string,
    options: { abortSignal?: AbortSignal },
  ): Promise<{ fact: VnetFact; endpointIds: string[] } | undefined> {
    const parsed = parseId(id);
    if (!parsed) return undefined;
    const vnet = await orUndefined(
      this.clients
        .network(parsed.subscriptionId)
        .virtualNetworks.get(parsed.resourceGroup, parsed.names[0] as string, options),
    );
    if (!vnet) return undefined;
    return {
      fact: {
        id: vnet.id ?? id,
        peerings: (vnet.virtualNetworkPeerings ?? [])
          .filter((p) => p.remoteVirtualNetwork?.id)
          .map((p) => ({
            remoteVnetId: p.remoteVirtualNetwork?.id as string,
            state: p.peeringState ?? 'Unknown',
          })),
      },
      endpointIds: (vnet.subnets ?? [])
        .flatMap((s) => (s.privateEndpoints ?? []).map((pe) => pe.id ?? ''))
        .filter(Boolean),
    };
  }

  private async privateEndpoint(
    id: string,
    registry: RegistryNetworkState,
    options: { abortSignal?: AbortSignal },
  ): Promise<PrivateEndpointFact | undefined> {
    const parsed = parseId(id);
    if (!parsed) return undefined;
    const network = this.clients.network(parsed.subscriptionId);
    const pe = await orUndefined(
      network.privateEndpoints.get(parsed.resourceGroup, parsed.names[0] as string, options),
    );
    const connection = [
      ...(pe?.privateLinkServiceConnections ?? []),
      ...(pe?.manualPrivateLinkServiceConnections ?? []),
    ].find((c) => same(c.privateLinkServiceId, registry.access.id));
    if (!pe || !connection || !pe.subnet?.id) return undefined;
    const dataMember = `registry_data_${registry.access.region}`;
    const loginServerIps: string[] = [];
    const dataEndpointIps: string[] = [];
    const nicRef = pe.networkInterfaces?.[0]?.id ? parseId(pe.networkInterfaces[0].id) : undefined;
    const nic = nicRef
      ? await orUndefined(
          this.clients
            .network(nicRef.subscriptionId)
            .networkInterfaces.get(nicRef.resourceGroup, nicRef.names[0] as string, options),
        )
      : undefined;
    for (const c of nic?.ipConfigurations ?? []) {
      const member = c.privateLinkConnectionProperties?.requiredMemberName;
      if (!c.privateIPAddress) continue;
      if (member === 'registry') loginServerIps.push(c.privateIPAddress);
      else if (member === dataMember) dataEndpointIps.push(c.privateIPAddress);
    }
    const registryConnection = registry.connections.find((c) => same(c.privateEndpointId, pe.id ?? id));
    return {
      id: pe.id ?? id,
      vnetId: vnetIdOfSubnet(pe.subnet.id),
      status: connection.privateLinkServiceConnectionState?.status ?? registryConnection?.status ?? 'Unknown',
      ...(registryConnection?.name ? { registryConnectionName: registryConnection.name } : {}),
      loginServerIps,
      dataEndpointIps,
    };
  }

  private async zones(
    subscriptionId: string,
    vnetIds: readonly string[],
    registry: RegistryNetworkAccess,
    options: { abortSignal?: AbortSignal },
  ): Promise<DnsZoneFact[]> {
    const dns = this.clients.privateDns(subscriptionId);
    const zones = (await collect(dns.privateZones.list(options))).filter(
      (z) => z.name?.toLowerCase() === ACR_PRIVATE_DNS_ZONE && z.id,
    );
    const names = [registry.name, `${registry.name}.${registry.region}.data`];
    return Promise.all(
      zones.map(async (zone) => {
        const parsed = parseId(zone.id as string) as Parsed;
        const links = await collect(
          dns.virtualNetworkLinks.list(parsed.resourceGroup, zone.name as string, options),
        );
        const linkedVnetIds = links
          .filter((l) => l.virtualNetworkLinkState === 'Completed' && l.virtualNetwork?.id)
          .map((l) => l.virtualNetwork?.id as string);
        const linkedToTarget = linkedVnetIds.some((v) => vnetIds.some((own) => same(own, v)));
        const records = linkedToTarget
          ? await Promise.all(
              names.map(async (name) => {
                const set = await orUndefined(
                  dns.recordSets.get(parsed.resourceGroup, zone.name as string, 'A', name, options),
                );
                return set
                  ? [
                      {
                        name,
                        ips: (set.aRecords ?? [])
                          .map((a) => a.ipv4Address)
                          .filter((ip): ip is string => !!ip),
                      },
                    ]
                  : [];
              }),
            )
          : [];
        return { id: zone.id as string, linkedVnetIds, aRecords: records.flat() };
      }),
    );
  }
}
