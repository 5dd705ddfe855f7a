// Resource groups (Microsoft.Resources/resourceGroups): GET, PUT and list, the calls every client
// makes around a runbook (`az group show|create|list`). Shapes from the REST specs
// (specification/resources/resource-manager/Microsoft.Resources/resources/stable/{version}/resources.json:
// ResourceGroup {id, name, type, properties.provisioningState, location, managedBy, tags}; PUT
// answers 201 when it creates the group, 200 when it updates it; examples/CreateResourceGroup.json).
// A resource group keeps its location: a PUT naming another answers 409 InvalidResourceGroupLocation.
// `managedBy` (the managing resource's id: an AKS cluster for its node resource group, a managed
// application for its managed resource group; shared/reference/azure-rest.md §12) is shown when set,
// and taken from a PUT's body as the spec's ResourceGroup allows.
import { type Handler, ok, pageOf, parseTags, requireObject } from '../armHttp';
import {
  invalidResourceGroupLocation,
  invalidResourceGroupName,
  invalidResourceGroupShape,
  locationRequired,
  notImplemented,
} from '../errors';
import { normalizeLocation, sameLocation } from '../resourceIds';
import type { ResourceGroupRecord } from '../store';
import { requireResourceGroup, requireSubscription } from './lookup';

export function renderResourceGroup(group: ResourceGroupRecord): unknown {
  return {
    id: group.id,
    name: group.name,
    type: 'Microsoft.Resources/resourceGroups',
    location: group.location,
    ...(Object.keys(group.tags).length > 0 ? { tags: group.tags } : {}),
    ...(group.managedBy ? { managedBy: group.managedBy } : {}),
    properties: { provisioningState: 'Succeeded' },
  };
}

/**
 * 1-90 characters: letters, digits, '-', '_', '.', '(' and ')', not ending in '.' (the REST spec's
 * resourceGroupName pattern and length). Invalid characters get ARM's reported message; a name too
 * long or ending in '.' gets the same code with the emulator's own message (ARM's is not on record).
 */
function checkName(name: string): void {
  const invalid = [...new Set(name.replace(/[\p{L}\p{Nd}\-_.()]/gu, ''))].join('');
  if (invalid !== '') throw invalidResourceGroupName(name, invalid);
  if (name.length > 90 || name.endsWith('.')) throw invalidResourceGroupShape(name);
}

export const getResourceGroup: Handler = (req, ctx) =>
  ok(
    renderResourceGroup(
      requireResourceGroup(ctx.store, req.params.subscriptionId ?? '', req.params.resourceGroup ?? ''),
    ),
  );

export const listResourceGroups: Handler = (req, ctx) => {
  const sub = req.params.subscriptionId ?? '';
  requireSubscription(ctx.store, sub);
  // `az group list --tag` filters by tag (tagName/tagValue): not modelled, and not silently ignored.
  if (req.query.$filter) throw notImplemented(`$filter on the resource group list ('${req.query.$filter}')`);
  return pageOf(ctx.store.listResourceGroups(sub), req, ctx, renderResourceGroup);
};

export const putResourceGroup: Handler = (req, ctx) => {
  const sub = req.params.subscriptionId ?? '';
  const name = req.params.resourceGroup ?? '';
  requireSubscription(ctx.store, sub);
  checkName(name);
  const body = requireObject(req.body);
  const location = typeof body.location === 'string' ? body.location : '';
  if (location === '') throw locationRequired();
  const tags = body.tags === undefined || body.tags === null ? {} : parseTags(body.tags);
  const managedBy = typeof body.managedBy === 'string' && body.managedBy !== '' ? body.managedBy : undefined;
  const existing = ctx.store.getResourceGroup(sub, name);
  if (existing) {
    if (!sameLocation(existing.location, location)) {
      throw invalidResourceGroupLocation(location, existing.location);
    }
    existing.tags = tags;
    if (managedBy) existing.managedBy = managedBy;
    return ok(renderResourceGroup(existing));
  }
  const group = ctx.store.addResourceGroup(sub, name, normalizeLocation(location));
  group.tags = tags;
  if (managedBy) group.managedBy = managedBy;
  return { status: 201, body: renderResourceGroup(group) };
};
