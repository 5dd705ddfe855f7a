// The generic resource list (Microsoft.Resources, "Resources_List" / "Resources_ListByResourceGroup"):
// GET /subscriptions/{s}[/resourceGroups/{rg}]/resources[?$filter=resourceType eq '…' | name eq '…'],
// what `az resource list --resource-type …` calls. Every tracked resource the emulator holds (VMs,
// scale sets, identities, registries) as a GenericResourceExpanded {id, name, type, location, tags,
// identity} (specification/resources/resource-manager/Microsoft.Resources/resources/stable/{version}/
// resources.json); the filter is documented there ("filter by resource type: $filter=resourceType eq
// 'Microsoft.Network/virtualNetworks'"; name eq; tagName/tagValue, which the emulator leaves out),
// and $expand (below); $top is not modelled (501).
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
  createdTime: string;
  provisioningState: string;
}

function everything(store: Store, sub: string, rg: string | undefined): Generic[] {
  const compute = [...store.vms.list(sub, rg), ...store.scaleSets.list(sub, rg)].map((r) => ({
    ...r,
    identity: r.identity ? renderIdentity(r.identity) : undefined,
    createdTime: r.timeCreated,
  }));
  // A user-assigned identity is itself an identity resource: it has no `identity` of its own.
  const identities = store.identities.list(sub, rg).map((i) => ({
    ...i,
    createdTime: i.createdAt,
    provisioningState: 'Succeeded',
  }));
  const registries = store.registries
    .list(sub, rg)
    .map((r) => ({ ...r, createdTime: r.creationDate, provisioningState: 'Succeeded' }));
  return [...compute, ...identities, ...registries];
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

/**
 * `$expand`: a comma-separated list of createdTime, changedTime, provisioningState (the spec's
 * documented values; `az resource list` asks for all three). changedTime is not tracked here: it is
 * left out rather than invented.
 */
function parseExpand(expand: string | undefined): Set<string> {
  const asked = new Set(
    (expand ?? '')
      .split(',')
      .map((v) => v.trim().toLowerCase())
      .filter(Boolean),
  );
  const other = [...asked].filter((v) => !['createdtime', 'changedtime', 'provisioningstate'].includes(v));
  if (other.length > 0) throw notImplemented(`$expand=${other.join(',')} on the resource list`);
  return asked;
}

export const listResources: Handler = (req, ctx) => {
  const sub = req.params.subscriptionId ?? '';
  const rg = req.params.resourceGroup;
  if (rg === undefined) requireSubscription(ctx.store, sub);
  else requireResourceGroup(ctx.store, sub, rg);
  if (req.query.$top !== undefined) throw notImplemented('$top on the resource list');
  const expand = parseExpand(req.query.$expand);
  const keep = parseFilter(req.query.$filter);
  const items = everything(ctx.store, sub, rg).filter(keep);
  return pageOf(items, req, ctx, (r) => ({
    id: r.id,
    name: r.name,
    type: r.type,
    location: r.location,
    ...(Object.keys(r.tags).length > 0 ? { tags: r.tags } : {}),
    ...(r.identity ? { identity: r.identity } : {}),
    ...(expand.has('createdtime') ? { createdTime: r.createdTime } : {}),
    ...(expand.has('provisioningstate') ? { provisioningState: r.provisioningState } : {}),
  }));
};
