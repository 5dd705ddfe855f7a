// POST /v2/track and /v2.1/track without the HTTP: decode the body, split it into items, check each
// item the way Breeze does at the door (instrumentation key, required fields), and build its answer.
// Pure except for zlib.
import { gunzipSync } from 'node:zlib';
import {
  emptyPayload,
  INVALID_INSTRUMENTATION_KEY,
  type ItemError,
  invalidJson,
  notAnObject,
  requiredField,
  type TrackResponseBody,
  undecodableBody,
  unsupportedEncoding,
  wrongMapValues,
} from './errors';
import { EVENT_BASE_TYPE, type TelemetryEnvelope } from './telemetryStore';

export interface TrackResult {
  status: 200 | 206 | 400;
  body: TrackResponseBody;
  /** Breeze's reason phrase when every item carries a foreign instrumentation key. */
  statusMessage?: string;
  accepted: TelemetryEnvelope[];
}

/** The body as text: `Content-Encoding: gzip` is inflated; no encoding (or `identity`) is taken as is. */
export function decodeBody(raw: Buffer, contentEncoding: string | undefined): string {
  const encoding = (contentEncoding ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return raw.toString('utf8');
  if (encoding !== 'gzip') throw unsupportedEncoding(encoding);
  try {
    return gunzipSync(raw).toString('utf8');
  } catch {
    throw undecodableBody(encoding);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw invalidJson(error instanceof Error ? error.message : String(error));
  }
}

/**
 * The telemetry items of a body: a JSON array (what applicationinsights 3.x sends), or one JSON value
 * per line (newline-delimited, what the classic 2.x SDK sends; a single object is one such line).
 */
export function parseItems(text: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed === '') throw emptyPayload();
  const items = trimmed.startsWith('[')
    ? parseJson(trimmed)
    : trimmed
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map(parseJson);
  if (!Array.isArray(items)) throw invalidJson('the top-level value is not an array');
  if (items.length === 0) throw emptyPayload();
  return items;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const nonEmptyString = (value: unknown): value is string => typeof value === 'string' && value !== '';

function mapOf(value: unknown, valueOk: (v: unknown) => boolean): boolean {
  return value === undefined || (isObject(value) && Object.values(value).every(valueOk));
}

/** Why Breeze would refuse this item, or undefined when it is accepted. */
export function checkItem(item: unknown, instrumentationKey: string): string | undefined {
  if (!isObject(item)) return notAnObject(item);
  if (!nonEmptyString(item.iKey) || item.iKey.toLowerCase() !== instrumentationKey.toLowerCase())
    return INVALID_INSTRUMENTATION_KEY;
  if (!nonEmptyString(item.name)) return requiredField('name', 'Envelope', 'string', item.name);
  if (!nonEmptyString(item.time)) return requiredField('time', 'Envelope', 'string', item.time);
  if (!isObject(item.data)) return requiredField('data', 'Envelope', 'object', item.data);
  const { baseType, baseData } = item.data;
  if (!nonEmptyString(baseType)) return requiredField('baseType', 'Data', 'string', baseType);
  if (baseType !== EVENT_BASE_TYPE) return undefined;
  if (!isObject(baseData)) return requiredField('baseData', 'Data', 'object', baseData);
  if (!nonEmptyString(baseData.name)) return requiredField('name', baseType, 'string', baseData.name);
  if (!mapOf(baseData.properties, (v) => typeof v === 'string'))
    return wrongMapValues('properties', baseType, 'string');
  if (!mapOf(baseData.measurements, (v) => typeof v === 'number' && Number.isFinite(v)))
    return wrongMapValues('measurements', baseType, 'number');
  return undefined;
}

/**
 * Breeze's answer: 200 when every item is accepted, 206 (partial success) when some are, 400 when
 * none is. Refused items are listed in `errors` with their index and are not stored.
 */
export function track(items: readonly unknown[], instrumentationKey: string): TrackResult {
  const errors: ItemError[] = [];
  const accepted: TelemetryEnvelope[] = [];
  items.forEach((item, index) => {
    const problem = checkItem(item, instrumentationKey);
    if (problem) errors.push({ index, statusCode: 400, message: problem });
    else accepted.push(item as TelemetryEnvelope);
  });
  const counts = { itemsReceived: items.length, itemsAccepted: accepted.length };
  if (accepted.length === 0) {
    const foreignKeys = errors.every((e) => e.message === INVALID_INSTRUMENTATION_KEY);
    return {
      status: 400,
      body: { ...counts, errors },
      ...(foreignKeys ? { statusMessage: INVALID_INSTRUMENTATION_KEY } : {}),
      accepted,
    };
  }
  return { status: errors.length === 0 ? 200 : 206, body: { ...counts, appId: null, errors }, accepted };
}
