// Whether a caller may reach the registry over the network, as ACR's firewall decides it.
// - publicNetworkAccess Disabled: only clients with a private path (an approved private endpoint and
//   the privatelink zone answering for the registry; Learn container-registry-private-link).
// - Premium with networkRuleSet.defaultAction Deny: a private path, or a public IP inside one of the
//   ipRules (single address or CIDR); "IP network rules do not apply to private endpoints" (Learn
//   container-registry-access-selected-networks).
// - Otherwise anyone.
// A refused client gets 403 DENIED "client with IP '<ip>' is not allowed access. Refer
// https://aka.ms/acr/firewall to grant access." (Learn troubleshoot container-registry push errors,
// "Error 3"; seen on GET /v2/ in docker/build-push-action#1214 and on a manifest HEAD in Azure/acr#633;
// `az acr login` reports the token exchange refused with 403, Learn container-registry-troubleshoot-login).
//
// Emulator device: loopback has no VNets and every client is 127.0.0.1, so the caller's position is
// the VM named in its token (claim xms_emu_vm, set by the VM's IMDS): a position a test set through the
// handle, else what network/reach.ts derives from the seeded network model. A caller whose position is
// unknown (no VM, or a VM without either) is the public internet from its socket address, which no
// rule lists.
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { type NetworkPosition, networkPositionOf } from '../network/reach';
import type { RegistryRecord, Store } from '../store';

export interface NetworkVerdict {
  allowed: boolean;
  /** The IP the registry sees (for the refusal message). */
  ip: string;
}

/** Node's BlockList does the address arithmetic (CIDR or single address, v4 or v6). */
function ruleList(registry: RegistryRecord): BlockList {
  const list = new BlockList();
  for (const rule of registry.access.networkRuleSet.ipRules) {
    const [address, prefix] = rule.value.split('/');
    const family = address && isIPv6(address) ? 'ipv6' : 'ipv4';
    if (!address || !(isIPv4(address) || isIPv6(address))) continue;
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  return list;
}

export function positionOf(
  store: Store,
  overrides: ReadonlyMap<string, NetworkPosition>,
  vmId: string | undefined,
  registry: RegistryRecord,
): NetworkPosition | undefined {
  if (!vmId) return undefined;
  return overrides.get(vmId.toLowerCase()) ?? networkPositionOf(store, vmId, registry);
}

export function networkVerdict(
  registry: RegistryRecord,
  position: NetworkPosition | undefined,
  socketIp: string,
): NetworkVerdict {
  if (position?.privatePath) return { allowed: true, ip: position.publicIp ?? socketIp };
  const ip = position?.publicIp ?? socketIp;
  if (registry.access.publicNetworkAccess === 'Disabled') return { allowed: false, ip };
  const premium = registry.sku.tier.toLowerCase() === 'premium';
  if (premium && registry.access.networkRuleSet.defaultAction === 'Deny') {
    const known = position?.publicIp;
    const family = known && isIPv6(known) ? 'ipv6' : 'ipv4';
    return { allowed: known !== undefined && ruleList(registry).check(known, family), ip };
  }
  return { allowed: true, ip };
}

export const firewallMessage = (ip: string) =>
  `client with IP '${ip}' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.`;
