// Microsoft.Network/privateDnsZones, read-only (api-versions 2018-09-01 … 2024-06-01; the pinned
// @azure/arm-privatedns sends 2024-06-01): zones (GET, resource-group and subscription lists), their
// virtualNetworkLinks (GET, list) and A record sets (GET `…/A/{name}`, list `…/A`; `…/ALL` lists every
// record set the model holds). Shapes per specification/privatedns/resource-manager/Microsoft.Network/
// PrivateDns/stable/2024-06-01/privatedns.json (PrivateZone, VirtualNetworkLink, RecordSet) and its
// examples. Only A records are modelled (what ACR's private endpoints need, Learn
// container-registry-private-link "DNS configuration"); a zone's SOA record is left out, so
// numberOfRecordSets counts the A record sets only.
import { type Handler, ok, pageOf } from '../armHttp';
import { childResourceNotFound, notImplemented } from '../errors';
import { sameId, TYPES } from '../resourceIds';
import type { ARecordSetRecord, PrivateDnsZoneRecord, VirtualNetworkLinkRecord } from '../store';
import { listScope, requireResource } from './lookup';

const etagOf = (guid: string) => guid;

export function renderZone(zone: PrivateDnsZoneRecord): unknown {
  return {
    id: zone.id,
    name: zone.name,
    type: zone.type,
    etag: etagOf(zone.resourceGuid),
    location: 'global',
    ...(Object.keys(zone.tags).length > 0 ? { tags: zone.tags } : {}),
    properties: {
      maxNumberOfRecordSets: 25000,
      numberOfRecordSets: zone.aRecordSets.length,
      maxNumberOfVirtualNetworkLinks: 1000,
      numberOfVirtualNetworkLinks: zone.links.length,
      maxNumberOfVirtualNetworkLinksWithRegistration: 100,
      numberOfVirtualNetworkLinksWithRegistration: zone.links.filter((l) => l.registrationEnabled).length,
      provisioningState: 'Succeeded',
      internalId: zone.resourceGuid,
    },
  };
}

function renderLink(zone: PrivateDnsZoneRecord, link: VirtualNetworkLinkRecord): unknown {
  return {
    id: `${zone.id}/virtualNetworkLinks/${link.name}`,
    name: link.name,
    type: 'Microsoft.Network/privateDnsZones/virtualNetworkLinks',
    etag: etagOf(zone.resourceGuid),
    location: 'global',
    properties: {
      virtualNetwork: { id: link.virtualNetworkId },
      registrationEnabled: link.registrationEnabled,
      resolutionPolicy: 'Default',
      virtualNetworkLinkState: link.state,
      provisioningState: 'Succeeded',
    },
  };
}

function renderARecordSet(zone: PrivateDnsZoneRecord, set: ARecordSetRecord): unknown {
  return {
    id: `${zone.id}/A/${set.name}`,
    name: set.name,
    type: 'Microsoft.Network/privateDnsZones/A',
    etag: etagOf(zone.resourceGuid),
    properties: {
      ttl: set.ttl,
      fqdn: `${set.name}.${zone.name}.`,
      isAutoRegistered: false,
      aRecords: set.ipv4Addresses.map((ipv4Address) => ({ ipv4Address })),
    },
  };
}

const requireZone = (req: Parameters<Handler>[0], ctx: Parameters<Handler>[1]) =>
  requireResource(ctx.store, ctx.store.privateDnsZones, TYPES.privateDnsZone, req.params);

export const getZone: Handler = (req, ctx) => ok(renderZone(requireZone(req, ctx)));

export const listZones: Handler = (req, ctx) =>
  pageOf(listScope(ctx.store, ctx.store.privateDnsZones, req.params), req, ctx, renderZone);

export const getLink: Handler = (req, ctx) => {
  const zone = requireZone(req, ctx);
  const link = zone.links.find((l) => sameId(l.name, req.params.child ?? ''));
  if (!link) throw childResourceNotFound(`${zone.id}/virtualNetworkLinks/${req.params.child}`);
  return ok(renderLink(zone, link));
};

export const listLinks: Handler = (req, ctx) => {
  const zone = requireZone(req, ctx);
  return pageOf(zone.links, req, ctx, (l: VirtualNetworkLinkRecord) => renderLink(zone, l));
};

/** `A` (the modelled type) or `ALL` (list only); other record types are not modelled. */
function recordType(req: Parameters<Handler>[0], allowAll: boolean): void {
  const type = (req.params.recordType ?? '').toUpperCase();
  if (type === 'A' || (allowAll && type === 'ALL')) return;
  throw notImplemented(`private DNS record type '${req.params.recordType}' (only A records are modelled)`);
}

export const listRecordSets: Handler = (req, ctx) => {
  recordType(req, true);
  const zone = requireZone(req, ctx);
  const suffix = req.query.$recordsetnamesuffix?.toLowerCase();
  const sets = suffix
    ? zone.aRecordSets.filter((s) => s.name.toLowerCase().endsWith(suffix))
    : zone.aRecordSets;
  return pageOf(sets, req, ctx, (s: ARecordSetRecord) => renderARecordSet(zone, s));
};

export const getRecordSet: Handler = (req, ctx) => {
  recordType(req, false);
  const zone = requireZone(req, ctx);
  const set = zone.aRecordSets.find((s) => s.name.toLowerCase() === (req.params.child ?? '').toLowerCase());
  if (!set) throw childResourceNotFound(`${zone.id}/A/${req.params.child}`);
  return ok(renderARecordSet(zone, set));
};
