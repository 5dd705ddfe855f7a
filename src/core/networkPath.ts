// Can this VM's traffic reach this registry? The pure judgement of the network path, from facts the
// network adapter gathered (azure/network.ts) and the registry's network settings. What each piece
// is for, from Learn:
// - container-registry-access-selected-networks: a registry with public network access Disabled, or
//   Enabled with the firewall's default action Deny, refuses clients that come neither through a
//   private endpoint nor from an IP in its rules (`az acr network-rule add --ip-address`).
// - container-registry-private-link ("Set up private endpoint", "DNS configuration"): the private path
//   takes a private endpoint (group `registry`) whose connection is Approved, and a private DNS zone
//   `privatelink.azurecr.io` linked to the client's VNet with A records for `<registry>` and
//   `<registry>.<region>.data` pointing at the endpoint's IPs for the login server and the data
//   endpoint; without the data record, pulls fail when the client fetches layers.
// - virtual-network-manage-peering: an endpoint in another VNet is reachable through a peering only
//   when the peering is Connected (both sides made).

/** The registry's side: its network settings (Registry.properties in the REST spec). */
export interface RegistryNetworkAccess {
  readonly id: string;
  /** Lowercase, as in the login server. */
  readonly name: string;
  /** The registry's home region (`westeurope`): the data endpoint's record is `<name>.<region>.data`. */
  readonly region: string;
  readonly publicNetworkAccess: 'Enabled' | 'Disabled';
  /** networkRuleSet.defaultAction; Basic and Standard registries have no rule set: Allow. */
  readonly defaultAction: 'Allow' | 'Deny';
  /** networkRuleSet.ipRules[].value: IPv4 addresses or CIDR ranges. */
  readonly ipRules: readonly string[];
}

/** One NIC of the target (for a scale set: its NIC configuration, with no id and no public IP). */
export interface NicFact {
  readonly id?: string;
  readonly subnetId: string;
  readonly vnetId: string;
  readonly privateIps: readonly string[];
  readonly publicIp?: string;
  readonly primary: boolean;
}

export interface PeeringFact {
  readonly remoteVnetId: string;
  /** peeringState as this side reports it: Connected, Initiated, Disconnected. */
  readonly state: string;
}

export interface VnetFact {
  readonly id: string;
  readonly peerings: readonly PeeringFact[];
}

/** A private endpoint that connects to the registry (its VNet is the target's, or a peer of it). */
export interface PrivateEndpointFact {
  readonly id: string;
  readonly vnetId: string;
  /** privateLinkServiceConnectionState.status: Approved, Pending, Rejected, Disconnected. */
  readonly status: string;
  /** The registry's name for the connection (for `az acr private-endpoint-connection approve`). */
  readonly registryConnectionName?: string;
  /** Its NIC's IPs for the `registry` member and the `registry_data_<region>` member. */
  readonly loginServerIps: readonly string[];
  readonly dataEndpointIps: readonly string[];
}

export interface DnsZoneFact {
  readonly id: string;
  /** VNets with a Completed link to the zone. */
  readonly linkedVnetIds: readonly string[];
  /** A record sets by relative name (`contosoapps`, `contosoapps.westeurope.data`). */
  readonly aRecords: readonly { readonly name: string; readonly ips: readonly string[] }[];
}

/** What the network adapter found for one target and one registry. */
export interface NetworkFacts {
  readonly targetId: string;
  readonly targetKind: 'virtualMachine' | 'scaleSet';
  /** Empty: the target has no NIC ARM could show. */
  readonly nics: readonly NicFact[];
  /** The target's VNets, with their peerings. */
  readonly vnets: readonly VnetFact[];
  readonly privateEndpoints: readonly PrivateEndpointFact[];
  /** Every `privatelink.azurecr.io` zone found in the subscriptions searched, linked or not. */
  readonly dnsZones: readonly DnsZoneFact[];
}

export type CheckStatus = 'pass' | 'fail' | 'warn' | 'skipped';

export interface NetworkPathJudgement {
  readonly status: CheckStatus;
  readonly detail: string;
  /** Ids and values the judgement rests on. */
  readonly evidence: readonly string[];
  /** An Azure CLI command that supplies the missing piece, where one exists. */
  readonly fix?: string;
}

export const ACR_PRIVATE_DNS_ZONE = 'privatelink.azurecr.io';

const sameId = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** `{segment}` after `name` in an ARM id (resourceGroups → the group, virtualNetworks → the VNet). */
function segmentAfter(id: string, name: string): string {
  const parts = id.split('/');
  const at = parts.findIndex((p) => p.toLowerCase() === name.toLowerCase());
  return at >= 0 ? (parts[at + 1] ?? '') : '';
}

function ipv4ToInt(ip: string): number | undefined {
  const parts = ip.trim().split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

/** An IP rule (an address or a CIDR range) admits the address. */
export function ipRuleAdmits(rule: string, ip: string): boolean {
  const [base, bits] = rule.trim().split('/');
  const address = ipv4ToInt(ip);
  const start = ipv4ToInt(base ?? '');
  if (address === undefined || start === undefined) return false;
  const length = bits === undefined ? 32 : Number(bits);
  if (!Number.isInteger(length) || length < 0 || length > 32) return false;
  const size = 2 ** (32 - length);
  const low = start - (start % size);
  return address >= low && address < low + size;
}

/** The VNet itself and the VNets it is peered with, Connected. */
function reachableFrom(vnet: VnetFact): string[] {
  return [vnet.id, ...vnet.peerings.filter((p) => p.state === 'Connected').map((p) => p.remoteVnetId)];
}

interface PrivatePathProgress {
  /** The first piece missing, or undefined when the path is complete. */
  readonly missing?: { detail: string; fix?: string };
  readonly evidence: string[];
  /** How far the path got (to pick the most complete one among the target's VNets). */
  readonly score: number;
}

function privatePathFrom(
  facts: NetworkFacts,
  registry: RegistryNetworkAccess,
  vnet: VnetFact,
  nic: NicFact,
): PrivatePathProgress {
  const evidence = [`vnet ${vnet.id}`];
  const reachable = reachableFrom(vnet);
  const notConnected = vnet.peerings.filter((p) => p.state !== 'Connected');
  for (const p of vnet.peerings) evidence.push(`peering to ${p.remoteVnetId}: ${p.state}`);
  const endpoints = facts.privateEndpoints.filter((pe) => reachable.some((v) => sameId(v, pe.vnetId)));
  if (endpoints.length === 0) {
    const behindPeering = facts.privateEndpoints.find((pe) =>
      notConnected.some((p) => sameId(p.remoteVnetId, pe.vnetId)),
    );
    return {
      evidence,
      score: 0,
      missing: behindPeering
        ? {
            detail: `private endpoint ${behindPeering.id} is in a VNet whose peering with ${vnet.id} is not Connected`,
            fix: `az network vnet peering create --resource-group ${segmentAfter(behindPeering.vnetId, 'resourceGroups')} --vnet-name ${segmentAfter(behindPeering.vnetId, 'virtualNetworks')} --name to-${segmentAfter(vnet.id, 'virtualNetworks')} --remote-vnet ${vnet.id} --allow-vnet-access`,
          }
        : {
            detail: `no private endpoint to registry ${registry.name} in ${vnet.id} or a VNet peered with it`,
            fix: `az network private-endpoint create --name pe-${registry.name} --resource-group ${segmentAfter(vnet.id, 'resourceGroups')} --vnet-name ${segmentAfter(vnet.id, 'virtualNetworks')} --subnet ${segmentAfter(nic.subnetId, 'subnets')} --private-connection-resource-id ${registry.id} --group-ids registry --connection-name ${registry.name}-connection`,
          },
    };
  }
  for (const pe of endpoints) evidence.push(`private endpoint ${pe.id}: ${pe.status}`);
  const approved = endpoints.filter((pe) => pe.status === 'Approved');
  if (approved.length === 0) {
    const pe = endpoints[0] as PrivateEndpointFact;
    return {
      evidence,
      score: 1,
      missing: {
        detail: `private endpoint ${pe.id} is ${pe.status}, not Approved`,
        ...(pe.status === 'Pending'
          ? {
              fix: `az acr private-endpoint-connection approve --registry-name ${registry.name} --name ${pe.registryConnectionName ?? '<connection name>'}`,
            }
          : {
              fix: `az network private-endpoint delete --ids ${pe.id} && az network private-endpoint create --name pe-${registry.name} --resource-group ${segmentAfter(pe.id, 'resourceGroups')} --vnet-name ${segmentAfter(pe.vnetId, 'virtualNetworks')} --subnet <subnet> --private-connection-resource-id ${registry.id} --group-ids registry --connection-name ${registry.name}-connection`,
            }),
      },
    };
  }
  const zones = facts.dnsZones.filter((z) => z.linkedVnetIds.some((v) => sameId(v, vnet.id)));
  if (zones.length === 0) {
    const zone = facts.dnsZones[0];
    return {
      evidence,
      score: 2,
      missing: zone
        ? {
            detail: `private DNS zone ${zone.id} is not linked to ${vnet.id}`,
            fix: `az network private-dns link vnet create --resource-group ${segmentAfter(zone.id, 'resourceGroups')} --zone-name ${ACR_PRIVATE_DNS_ZONE} --name ${segmentAfter(vnet.id, 'virtualNetworks')}-link --virtual-network ${vnet.id} --registration-enabled false`,
          }
        : {
            detail: `no private DNS zone ${ACR_PRIVATE_DNS_ZONE} is linked to ${vnet.id}`,
            fix: `az network private-dns zone create --resource-group ${segmentAfter(vnet.id, 'resourceGroups')} --name ${ACR_PRIVATE_DNS_ZONE} && az network private-dns link vnet create --resource-group ${segmentAfter(vnet.id, 'resourceGroups')} --zone-name ${ACR_PRIVATE_DNS_ZONE} --name ${segmentAfter(vnet.id, 'virtualNetworks')}-link --virtual-network ${vnet.id} --registration-enabled false`,
          },
    };
  }
  const loginName = registry.name.toLowerCase();
  const dataName = `${loginName}.${registry.region.toLowerCase()}.data`;
  let best: PrivatePathProgress | undefined;
  for (const zone of zones) {
    evidence.push(`zone ${zone.id} linked`);
    for (const pe of approved) {
      const record = (name: string) => zone.aRecords.find((r) => r.name.toLowerCase() === name);
      const login = record(loginName);
      const data = record(dataName);
      const loginOk = login?.ips.some((ip) => pe.loginServerIps.includes(ip)) ?? false;
      const dataOk = data?.ips.some((ip) => pe.dataEndpointIps.includes(ip)) ?? false;
      const recordEvidence = [
        `A ${loginName}: ${login?.ips.join(',') || 'missing'} (endpoint ${pe.loginServerIps.join(',')})`,
        `A ${dataName}: ${data?.ips.join(',') || 'missing'} (endpoint ${pe.dataEndpointIps.join(',')})`,
      ];
      const addRecord = (name: string, ips: readonly string[]) =>
        `az network private-dns record-set a add-record --resource-group ${segmentAfter(zone.id, 'resourceGroups')} --zone-name ${ACR_PRIVATE_DNS_ZONE} --record-set-name ${name} --ipv4-address ${ips[0] ?? '<endpoint IP>'}`;
      const progress: PrivatePathProgress = !loginOk
        ? {
            evidence: recordEvidence,
            score: 3,
            missing: {
              detail: `zone ${zone.id} has no A record ${loginName} pointing at ${pe.id} (login server ${registry.name}.azurecr.io)`,
              fix: addRecord(loginName, pe.loginServerIps),
            },
          }
        : !dataOk
          ? {
              evidence: recordEvidence,
              score: 4,
              missing: {
                detail: `zone ${zone.id} has no A record ${dataName} pointing at ${pe.id} (data endpoint ${dataName}.azurecr.io)`,
                fix: addRecord(dataName, pe.dataEndpointIps),
              },
            }
          : { evidence: recordEvidence, score: 5 };
      if (!best || progress.score > best.score) best = progress;
    }
  }
  const found = best as PrivatePathProgress;
  return { ...found, evidence: [...evidence, ...found.evidence] };
}

/**
 * Whether the target reaches the registry over the network: skipped when the registry takes public
 * traffic from anywhere; pass over a complete private path, or from a public IP the firewall admits
 * (public access Enabled only); warn when the answer depends on what the facts cannot show (a scale
 * set's or a NIC-less outbound address); else fail naming the first missing piece, with its fix.
 */
export function judgeNetworkPath(facts: NetworkFacts, registry: RegistryNetworkAccess): NetworkPathJudgement {
  const publicOpen = registry.publicNetworkAccess === 'Enabled';
  if (publicOpen && registry.defaultAction === 'Allow')
    return {
      status: 'skipped',
      detail: `registry ${registry.name} takes public traffic from anywhere (public network access Enabled, default action Allow)`,
      evidence: [registry.id],
    };
  const settings = `public network access ${registry.publicNetworkAccess}, default action ${registry.defaultAction}`;
  if (facts.nics.length === 0)
    return {
      status: 'fail',
      detail: `${facts.targetId} has no network interface ARM shows, so no path to registry ${registry.name} (${settings})`,
      evidence: [facts.targetId, registry.id],
    };

  const primary = facts.nics.find((n) => n.primary) ?? (facts.nics[0] as NicFact);
  const nicEvidence = facts.nics.map(
    (n) =>
      `nic ${n.id ?? '(scale set configuration)'}: subnet ${n.subnetId}, private ${n.privateIps.join(',') || '-'}, public ${n.publicIp ?? '-'}`,
  );
  const paths = facts.vnets.map((vnet) => {
    const nic = facts.nics.find((n) => sameId(n.vnetId, vnet.id)) ?? primary;
    return privatePathFrom(facts, registry, vnet, nic);
  });
  const complete = paths.find((p) => !p.missing);
  if (complete)
    return {
      status: 'pass',
      detail: `private path to registry ${registry.name}: approved private endpoint, linked ${ACR_PRIVATE_DNS_ZONE} zone, A records for the login server and the data endpoint`,
      evidence: [...nicEvidence, ...complete.evidence],
    };

  const best = paths.reduce<PrivatePathProgress | undefined>(
    (a, p) => (!a || p.score > a.score ? p : a),
    undefined,
  );
  const evidence = [...nicEvidence, ...(best?.evidence ?? []), `registry ${registry.id}: ${settings}`];
  if (publicOpen) {
    const ip = primary.publicIp;
    if (ip && registry.ipRules.some((rule) => ipRuleAdmits(rule, ip)))
      return {
        status: 'pass',
        detail: `public IP ${ip} is in registry ${registry.name}'s firewall rules`,
        evidence: [...evidence, `ip rules: ${registry.ipRules.join(',')}`],
      };
    // A private path not even begun: the public IP is the nearer fix.
    if ((best?.score ?? 0) === 0) {
      if (ip)
        return {
          status: 'fail',
          detail: `public IP ${ip} is not in registry ${registry.name}'s firewall rules, and there is no private path (${best?.missing?.detail ?? 'no VNet'})`,
          evidence: [...evidence, `ip rules: ${registry.ipRules.join(',') || '(none)'}`],
          fix: `az acr network-rule add --name ${registry.name} --ip-address ${ip}`,
        };
      return {
        status: 'warn',
        detail:
          facts.targetKind === 'scaleSet'
            ? `scale set instances' public IPs are not known, and there is no private path (${best?.missing?.detail ?? 'no VNet'}); check their outbound addresses against the firewall`
            : `the NIC has no public IP: traffic leaves through an outbound address not checked here (NAT gateway, load balancer), and there is no private path (${best?.missing?.detail ?? 'no VNet'})`,
        evidence,
        fix: `az acr network-rule add --name ${registry.name} --ip-address <outbound IP>`,
      };
    }
  }
  return {
    status: 'fail',
    detail: `no private path to registry ${registry.name} (${settings}): ${best?.missing?.detail ?? 'the target is in no VNet'}`,
    evidence,
    ...(best?.missing?.fix ? { fix: best.missing.fix } : {}),
  };
}
