// Event Grid resource events → "which VM (or scale set), who, which event". The event is only a hint:
// what to do comes from reading the resource. Accepts the Event Grid schema and the CloudEvents 1.0
// schema. Pure.

import { isAtOrBelow, sameId } from '../core/resourceId';
import { quote } from '../core/tag';
import { kindByWriteOperation, parseTargetId, targetIdFromTagsScope } from './index';
import { SCALE_SET } from './scaleSet';
import { VIRTUAL_MACHINE } from './virtualMachine';

export const WRITE_SUCCESS = 'Microsoft.Resources.ResourceWriteSuccess';
export const VM_WRITE = VIRTUAL_MACHINE.writeOperation;
export const SCALE_SET_WRITE = SCALE_SET.writeOperation;
export const TAGS_WRITE = 'Microsoft.Resources/tags/write';

export interface TargetWriteEvent {
  readonly kind: 'target-write';
  /** The VM's or the scale set's id. */
  readonly targetId: string;
  readonly eventId: string;
  readonly operationName: string;
  readonly correlationId?: string;
  /** When ARM accepted the write (ISO 8601), for measuring time to compliance. */
  readonly eventTime?: string;
  /**
   * The principal whose write raised the event (a VM or scale set write, or a tags write): UPN, else
   * app id, else object id from the event's claims. Not necessarily who set the tag: any write to a
   * tagged target raises an event; who set the tag is the Activity Log's to say (docs/audit-log.md).
   */
  readonly caller?: string;
  /** The writer's object id and application (client) id from the claims, when present. */
  readonly writer?: { readonly objectId?: string; readonly clientId?: string };
  /** Where the event says it comes from, checked by `originRefusal` before anything is read. */
  readonly origin: EventOrigin;
}

/**
 * An event's origin as it states it. A subscription's system topic stamps `topic` (Event Grid schema)
 * or `source` (CloudEvents) with `/subscriptions/<id>`, and `subject` / `data.resourceUri` with the
 * written resource's id (learn.microsoft.com/azure/event-grid/event-schema-subscriptions). Event Grid
 * stamps `topic` itself: an event published to a custom topic carries that topic's resource id
 * (`/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.EventGrid/topics/<name>`), whatever the
 * publisher wrote.
 */
export interface EventOrigin {
  /** `topic`, or `source` for a CloudEvents event; absent when the event has neither. */
  readonly topic?: string;
  /** `subject` and `data.resourceUri`, as given. */
  readonly resourceIds: readonly string[];
  /** `data.subscriptionId`, when given. */
  readonly subscriptionId?: string;
}

export type ParsedEvent =
  | TargetWriteEvent
  | { readonly kind: 'ignored'; readonly reason: string }
  | { readonly kind: 'malformed'; readonly reason: string };

type Json = Record<string, unknown>;

const CLAIM_UPN = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn';
const CLAIM_OID = 'http://schemas.microsoft.com/identity/claims/objectidentifier';

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= 2048 ? value : undefined;
}

export function callerFromClaims(claims: unknown): string | undefined {
  if (!isObject(claims)) return undefined;
  return (
    str(claims[CLAIM_UPN]) ??
    str(claims.upn) ??
    str(claims.appid) ??
    str(claims[CLAIM_OID]) ??
    str(claims.oid)
  );
}

export function parseWriteEvent(raw: unknown): ParsedEvent {
  if (!isObject(raw)) return { kind: 'malformed', reason: 'event is not a JSON object' };
  // Event Grid schema uses eventType; CloudEvents uses type.
  const eventType = str(raw.eventType) ?? str(raw.type);
  const eventId = str(raw.id);
  if (!eventType) return { kind: 'malformed', reason: 'event has no eventType' };
  if (!eventId) return { kind: 'malformed', reason: 'event has no id' };
  if (eventType !== WRITE_SUCCESS)
    return { kind: 'ignored', reason: `event type ${quote(eventType)} is not handled` };

  const data = raw.data;
  if (!isObject(data)) return { kind: 'malformed', reason: `event ${quote(eventId)} has no data object` };
  const operationName = str(data.operationName);
  if (!operationName)
    return { kind: 'malformed', reason: `event ${quote(eventId)} has no data.operationName` };

  const resourceUri = str(data.resourceUri) ?? str(raw.subject);
  if (!resourceUri)
    return { kind: 'malformed', reason: `event ${quote(eventId)} has no data.resourceUri or subject` };

  let targetId: string | undefined;
  const written = kindByWriteOperation(operationName);
  if (written) {
    targetId = parseTargetId(resourceUri, written.name)?.id;
    if (!targetId)
      return { kind: 'malformed', reason: `resource ${quote(resourceUri)} is not a ${written.label} id` };
  } else if (operationName.toLowerCase() === TAGS_WRITE.toLowerCase()) {
    // The subject is the tags scope `<id>/providers/Microsoft.Resources/tags/default`; Activity Log
    // records of tag writes name the resource itself, so that is accepted too.
    targetId = targetIdFromTagsScope(resourceUri) ?? parseTargetId(resourceUri)?.id;
    if (!targetId)
      return {
        kind: 'ignored',
        reason: `tags written on ${quote(resourceUri)}, which is not a virtual machine or scale set`,
      };
  } else {
    return { kind: 'ignored', reason: `operation ${quote(operationName)} is not handled` };
  }

  const correlationId = str(data.correlationId);
  const origin = originOf(raw, data);
  const caller = callerFromClaims(data.claims);
  const writer = writerFromClaims(data.claims);
  const time = str(raw.eventTime) ?? str(raw.time);
  const eventTime = time && !Number.isNaN(Date.parse(time)) ? new Date(time).toISOString() : undefined;
  return {
    kind: 'target-write',
    targetId,
    eventId,
    operationName,
    ...(correlationId ? { correlationId } : {}),
    ...(eventTime ? { eventTime } : {}),
    ...(caller ? { caller } : {}),
    ...(writer ? { writer } : {}),
    origin,
  };
}

function originOf(raw: Json, data: Json): EventOrigin {
  // CloudEvents 1.0 names its origin `source` (and has `specversion`); the Event Grid schema `topic`.
  const topic = raw.specversion !== undefined ? str(raw.source) : str(raw.topic);
  const resourceIds = [str(raw.subject), str(data.resourceUri)].filter((s): s is string => s !== undefined);
  const subscriptionId = str(data.subscriptionId);
  return { ...(topic ? { topic } : {}), resourceIds, ...(subscriptionId ? { subscriptionId } : {}) };
}

const SUBSCRIPTION_TOPIC =
  /^\/subscriptions\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

/**
 * Why an event is refused for its origin, before any request is made for it; undefined when it may be
 * acted on. Its topic must be exactly `/subscriptions/<id>` (a subscription's system topic, never a
 * custom topic anyone may publish to) of a swept subscription, and everything it names must lie in
 * that subscription. `swept` empty (ACRPULL_SUBSCRIPTIONS unset: every subscription the app can see)
 * accepts any subscription's system topic: only the event's consistency is checked then, which a
 * publisher that can deliver to the function can still forge (docs/how-it-works.md#event-origin).
 */
export function originRefusal(event: TargetWriteEvent, swept: readonly string[]): string | undefined {
  const { topic, resourceIds, subscriptionId: claimed } = event.origin;
  if (!topic) return 'the event has no topic (or CloudEvents source), so its origin cannot be checked';
  const subscriptionId = SUBSCRIPTION_TOPIC.exec(topic)?.[1]?.toLowerCase();
  if (!subscriptionId)
    return `the event's topic ${quote(topic, 200)} is not a subscription's system topic (/subscriptions/<id>)`;
  if (swept.length > 0 && !swept.some((s) => sameId(s, subscriptionId)))
    return `the event's topic is subscription ${subscriptionId}, which is not swept (ACRPULL_SUBSCRIPTIONS)`;
  const scope = `/subscriptions/${subscriptionId}`;
  const outside = [event.targetId, ...resourceIds].find((id) => !isAtOrBelow(id, scope));
  if (outside !== undefined)
    return `the event names ${quote(outside, 200)}, outside its topic's subscription ${subscriptionId}`;
  if (claimed !== undefined && !sameId(claimed, subscriptionId))
    return `the event's data names subscription ${quote(claimed)}, not its topic's ${subscriptionId}`;
  return undefined;
}

function writerFromClaims(claims: unknown): TargetWriteEvent['writer'] {
  if (!isObject(claims)) return undefined;
  const objectId = str(claims[CLAIM_OID]) ?? str(claims.oid);
  const clientId = str(claims.appid) ?? str(claims.azp);
  if (!objectId && !clientId) return undefined;
  return { ...(objectId ? { objectId } : {}), ...(clientId ? { clientId } : {}) };
}

/**
 * The echo of the app's own write: a `virtualMachines/write` (or scale set write) whose claims name the
 * app's identity (its object id, or its client id with no other object id). The app made that VM what
 * it is, so there is nothing to read. Tag writes are never the app's.
 */
export function isOwnWrite(
  event: TargetWriteEvent,
  self: { readonly objectId?: string; readonly clientId?: string },
): boolean {
  const op = event.operationName.toLowerCase();
  if ((op !== VM_WRITE.toLowerCase() && op !== SCALE_SET_WRITE.toLowerCase()) || !event.writer) return false;
  const same = (a?: string, b?: string) => !!a && !!b && sameId(a, b);
  const { objectId, clientId } = event.writer;
  if (objectId) return same(objectId, self.objectId);
  return same(clientId, self.clientId);
}
