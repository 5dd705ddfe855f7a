// Microsoft.ManagedIdentity/userAssignedIdentities (2024-11-30): PUT (201 create / 200 update), GET,
// lists, each with ARM's systemData (who created it, from the caller's token: systemData.ts). Ids come back with a lowercase `resourcegroups` segment, as the real service returns them.
import { type Handler, ok, pageOf, parseTags, requireObject } from '../armHttp';
import { invalidParameter, invalidResourceLocation, invalidResourceName, locationRequired } from '../errors';
import { sameLocation, TYPES } from '../resourceIds';
import type { IdentityRecord } from '../store';
import { actorOf, modifiedSystemData } from '../systemData';
import { listScope, requireResource, requireResourceGroup } from './lookup';

const IDENTITY_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$/;
const ISOLATION_SCOPES = ['None', 'Regional'];

export function renderIdentity(i: IdentityRecord): unknown {
  return {
    id: i.id,
    name: i.name,
    type: i.type,
    location: i.location,
    tags: i.tags,
    properties: {
      tenantId: i.tenantId,
      principalId: i.principalId,
      clientId: i.clientId,
      isolationScope: i.isolationScope,
    },
    systemData: { ...i.systemData },
  };
}

function readIsolationScope(properties: unknown): string | undefined {
  if (properties === undefined || properties === null) return undefined;
  const scope = requireObject(properties, 'properties').isolationScope;
  if (scope === undefined || scope === null) return undefined;
  const known = ISOLATION_SCOPES.find(
    (s) => typeof scope === 'string' && s.toLowerCase() === scope.toLowerCase(),
  );
  if (!known) {
    throw invalidParameter(
      `The value '${String(scope)}' of property 'properties.isolationScope' is invalid.`,
      'properties.isolationScope',
    );
  }
  return known;
}

export const getIdentity: Handler = (req, ctx) =>
  ok(renderIdentity(requireResource(ctx.store, ctx.store.identities, TYPES.identity, req.params)));

export const listIdentities: Handler = (req, ctx) =>
  pageOf(listScope(ctx.store, ctx.store.identities, req.params), req, ctx, renderIdentity);

export const putIdentity: Handler = (req, ctx) => {
  const { subscriptionId = '', resourceGroup = '', name = '' } = req.params;
  const group = requireResourceGroup(ctx.store, subscriptionId, resourceGroup);
  if (!IDENTITY_NAME.test(name)) throw invalidResourceName(name, TYPES.identity);
  const body = requireObject(req.body);
  const location = body.location;
  if (typeof location !== 'string' || location.trim() === '') throw locationRequired();
  const tags = body.tags === undefined || body.tags === null ? {} : parseTags(body.tags);
  const isolationScope = readIsolationScope(body.properties);

  const actor = actorOf(req.caller, ctx.settings.systemDataCreatedBy);
  const existing = ctx.store.identities.get(subscriptionId, resourceGroup, name);
  if (existing) {
    if (!sameLocation(existing.location, location)) {
      throw invalidResourceLocation(existing.name, existing.location, group.name, location);
    }
    existing.tags = tags;
    if (isolationScope) existing.isolationScope = isolationScope;
    // Whoever updates it, ARM keeps the creator: only lastModified* changes.
    modifiedSystemData(existing.systemData, actor, Date.now());
    return ok(renderIdentity(existing));
  }
  const created = ctx.store.createIdentity(
    { subscriptionId, resourceGroup: group.name, name, location, tags },
    Date.now(),
    actor,
  );
  if (isolationScope) created.isolationScope = isolationScope;
  return { status: 201, body: renderIdentity(created) };
};
