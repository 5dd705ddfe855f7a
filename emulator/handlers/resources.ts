// The generic resource list (Microsoft.Resources, "Resources_List" / "Resources_ListByResourceGroup"):
// GET /subscriptions/{s}[/resourceGroups/{rg}]/resources[?$filter=resourceType eq '…' | name eq '…'],
// what `az resource list --resource-type …` calls. Every tracked resource the emulator holds (VMs,
// scale sets, identities, registries) as a GenericResourceExpanded {id, name, type, location, tags,
// identity} (specification/resources/resource-manager/Microsoft.Resources/resources/stable/{version}/
// resources.json); the filter is documented there ("filter by resource type: $filter=resourceType eq
// 'Microsoft.Network/virtualNetworks'"; name eq; tagName/tagValue, which the emulator leaves out).
import { type Handler, pageOf } from '../armHttp';
import { notImplemented } from '../errors';
import { sameId } from '../resourceIds';
import type { Store } from '../store';
import { requireResourceGroup, requireSubscription } from './lookup';
import { renderIdentity } from './virtualMachines';

interface Generic {
  id: string;
  name: string;
  type: string;
  location: string;
  tags: Record<string, string>;
  identity?: unknown;
}

function everything(store: Store, sub: string, rg: string | undefined): Generic[] {
  const compute = [...store.vms.list(sub, rg), ...store.scaleSets.list(sub, rg)].map((r) => ({
    ...r,
    identity: r.identity ? renderIdentity(r.identity) : undefined,
  }));
  // A user-assigned identity is itself an identity resource: it has no `identity` of its own.
  return [...compute, ...store.identities.list(sub, rg), ...store.registries.list(sub, rg)];
}

function parseFilter(filter: string | undefined): (r: Generic) => boolean {
  if (filter === undefined || filter.trim() === '') return () => true;
  const match = /^\s*(resourceType|name)\s+eq\s+'((?:[^']|'')*)'\s*$/i.exec(filter);
  if (!match) throw notImplemented(`the resource filter '${filter}' (supported: resourceType eq, name eq)`);
  const value = (match[2] ?? '').replace(/''/g, "'");
  return (match[1] ?? '').toLowerCase() === 'name'
    ? (r) => r.name.toLowerCase() === value.toLowerCase()
    : (r) => sameId(r.type, value);
}

export const listResources: Handler = (req, ctx) => {
  const sub = req.params.subscriptionId ?? '';
  const rg = req.params.resourceGroup;
  if (rg === undefined) requireSubscription(ctx.store, sub);
  else requireResourceGroup(ctx.store, sub, rg);
  const keep = parseFilter(req.query.$filter);
  const items = everything(ctx.store, sub, rg).filter(keep);
  return pageOf(items, req, ctx, (r) => ({
    id: r.id,
    name: r.name,
    type: r.type,
    location: r.location,
    ...(Object.keys(r.tags).length > 0 ? { tags: r.tags } : {}),
    ...(r.identity ? { identity: r.identity } : {}),
  }));
};
