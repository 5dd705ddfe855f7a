// What the Application Insights ingestion service ("Breeze") answers when it refuses something: the
// whole request (status + `{itemsReceived, itemsAccepted, errors}`) or one item (an `errors` entry).
// Messages marked "(not verbatim)" in README.md follow Breeze's style but were not confirmed.

/** One refused item, as Breeze lists it in `errors`. */
export interface ItemError {
  index: number;
  statusCode: number;
  message: string;
}

/** Breeze's answer body. `appId` is present on 200/206 only (null: the emulator has no app id). */
export interface TrackResponseBody {
  itemsReceived: number;
  itemsAccepted: number;
  appId?: null;
  errors: ItemError[];
}

export class IngestionError extends Error {
  constructor(
    readonly status: number,
    readonly body: TrackResponseBody,
    readonly headers: Record<string, string> = {},
    readonly statusMessage?: string,
  ) {
    super(body.errors[0]?.message ?? `ingestion error ${status}`);
    this.name = 'IngestionError';
  }
}

/** The request as a whole is refused: nothing received, one error at index 0. */
const refused = (status: number, message: string, headers: Record<string, string> = {}) =>
  new IngestionError(
    status,
    { itemsReceived: 0, itemsAccepted: 0, errors: [{ index: 0, statusCode: status, message }] },
    headers,
  );

// --- the whole request --------------------------------------------------------------------------

export const invalidJson = (detail: string) =>
  refused(
    400,
    `Invalid telemetry payload: the body is not valid JSON or newline-delimited JSON (${detail}).`,
  );

/**
 * A component with local authentication disabled (DisableLocalAuth) takes only telemetry that carries
 * a Microsoft Entra token for https://monitor.azure.com (learn.microsoft.com/azure/azure-monitor/app/
 * azure-ad-authentication); the instrumentation key alone is refused. Message not verbatim.
 */
export const unauthorized = () =>
  refused(401, 'Unauthorized: local authentication is disabled; send a valid Microsoft Entra token.');

export const emptyPayload = () => refused(400, 'Invalid telemetry payload: it contains no telemetry items.');

export const undecodableBody = (encoding: string) =>
  refused(400, `Invalid telemetry payload: it could not be decoded as '${encoding}'.`);

export const unsupportedEncoding = (encoding: string) =>
  refused(400, `Content-Encoding '${encoding}' is not supported; send gzip or uncompressed JSON.`);

export const noSuchEndpoint = (path: string) => refused(404, `No ingestion endpoint at '${path}'.`);

export const methodNotAllowed = (method: string) =>
  refused(405, `The ${method} method is not allowed here; telemetry is POSTed.`, { Allow: 'POST' });

export const internalError = (detail: string) =>
  refused(500, `Internal error of the local ingestion emulator: ${detail}`);

/**
 * An injected fault: every item of the request refused with this status (as Breeze lists them when it
 * throttles or is unavailable), with `Retry-After` when the fault gives one.
 */
export function injectedFault(
  status: number,
  code: string,
  itemCount: number,
  message: string | undefined,
  retryAfterSeconds: number | undefined,
): IngestionError {
  const text = message ?? `The request failed with '${code}' (fault injected by the local Azure emulator).`;
  const count = Math.max(itemCount, 1);
  const errors = Array.from({ length: count }, (_, index) => ({ index, statusCode: status, message: text }));
  const headers: Record<string, string> =
    retryAfterSeconds === undefined ? {} : { 'Retry-After': String(retryAfterSeconds) };
  return new IngestionError(status, { itemsReceived: itemCount, itemsAccepted: 0, errors }, headers);
}

// --- one item -----------------------------------------------------------------------------------

/** Verbatim: Breeze's message, also its HTTP reason phrase when every item carries a foreign key. */
export const INVALID_INSTRUMENTATION_KEY = 'Invalid instrumentation key';

const kindOf = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;

/** Verbatim format (Breeze's code 109), e.g. for an envelope without `time`. */
export const requiredField = (field: string, type: string, expected: string, actual: unknown) =>
  `109: Field '${field}' on type '${type}' is required but missing or empty. Expected: ${expected}, Actual: ${kindOf(actual)}`;

export const notAnObject = (actual: unknown) =>
  `The telemetry item must be a JSON object, not ${kindOf(actual)}.`;

export const wrongMapValues = (field: string, type: string, expected: string) =>
  `Field '${field}' on type '${type}' must map names to ${expected} values.`;
