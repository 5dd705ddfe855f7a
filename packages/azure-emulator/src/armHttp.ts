// The contract between the ARM server and its handlers: what a handler receives and returns, plus
// the helpers every handler shares (paging, body checks).
import type { IncomingHttpHeaders } from 'node:http';
import type { Caller } from './caller';
import { invalidRequestContent, invalidSkipToken } from './errors';
import type { Store } from './store';
import type { SystemDataCreatedBy } from './systemData';

/** Runtime knobs, shared by reference so the test handle can change them. */
export interface EmulatorSettings {
  latencyMs: number;
  principalReplicationDelayMs: number;
  /**
   * How long the app's VM update (a PATCH) runs, drawn for each one: its status answers InProgress
   * until then, however often it is polled, as Compute's do (identity updates took 3.3-7.0 s in
   * recorded traffic, see durations.ts).
   */
  operationDurationMs: () => number;
  /**
   * Retry-After (seconds) on an operation's first InProgress poll, or undefined to send none. Compute
   * sent 50 and 70 on the first InProgress poll of VM creations in recorded traffic; for updates no
   * recording shows the header (see handlers/operations.ts).
   */
  pollRetryAfterSeconds: number | undefined;
  pageSize: number;
  tenantId: string;
  /**
   * What Compute does with a VM PATCH while another operation runs on that VM: accept it and preempt
   * the running one (Canceled / OperationPreempted), or refuse it with 409. Azure does both
   * (shared/reference/azure-rest.md §11); preempt is the default because it is the harmful one.
   */
  concurrentWrites: ConcurrentWrites;
  /** Which id of a managed-identity caller ARM writes into systemData.createdBy (see systemData.ts). */
  systemDataCreatedBy: SystemDataCreatedBy;
  /** Azure Policy modify assignments applied to compute writes (see ModifyPolicy). */
  modifyPolicies: ModifyPolicy[];
}

/**
 * An Azure Policy assignment with the modify effect that removes user-assigned identities from VM and
 * scale set writes under `scope`. Modify is evaluated by Azure Resource Manager before the request
 * reaches the resource provider and changes the request itself (Learn: governance/policy/concepts/
 * effect-modify, "Modify evaluation"): the write succeeds, without the identity.
 */
export interface ModifyPolicy {
  /** A resource id prefix: a subscription, a resource group or one resource. */
  scope: string;
  /** Identity ids (case-insensitive) removed from the request's userAssignedIdentities. */
  removeUserAssignedIdentities: string[];
}

export type { Caller } from './caller';

export type ConcurrentWrites = 'preempt' | 'conflict';

export interface ArmRequest {
  method: string;
  /** Normalized path, no query. */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** Values captured by the route pattern, e.g. subscriptionId, resourceGroup, name, scope. */
  params: Record<string, string>;
  apiVersion: string;
  caller: Caller;
}

export interface ArmResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface HandlerContext {
  store: Store;
  settings: EmulatorSettings;
  /** https://127.0.0.1:PORT, for absolute nextLink and operation URLs. */
  baseUrl: string;
  /** The response's x-ms-correlation-request-id (Resource Graph quotes it in its error messages). */
  correlationId: string;
  /** Set by an `asyncFailed` fault: the long-running operation this request starts must fail so. */
  asyncFailure?: { code: string; message: string };
}

export type Handler = (req: ArmRequest, ctx: HandlerContext) => ArmResponse;

export const ok = (body: unknown, headers?: Record<string, string>): ArmResponse => ({
  status: 200,
  body,
  headers,
});

export function requireObject(value: unknown, what = 'request body'): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidRequestContent(`${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** ARM tags: an object of string values. */
export function parseTags(value: unknown): Record<string, string> {
  const tags = requireObject(value, 'tags');
  for (const [name, tagValue] of Object.entries(tags)) {
    if (typeof tagValue !== 'string') throw invalidRequestContent(`tag '${name}' must have a string value`);
  }
  return { ...(tags as Record<string, string>) };
}

/**
 * One page of a list: `{ value, nextLink }` with an absolute nextLink carrying the original query
 * (api-version, $filter…) plus `$skiptoken`, as ARM lists do.
 */
export function pageOf<T>(
  items: T[],
  req: ArmRequest,
  ctx: HandlerContext,
  render: (item: T) => unknown,
): ArmResponse {
  const token = req.query.$skiptoken;
  const start = token === undefined ? 0 : Number(token);
  if (!Number.isInteger(start) || start < 0) throw invalidSkipToken(token ?? '');
  const end = start + ctx.settings.pageSize;
  const body: { value: unknown[]; nextLink?: string } = { value: items.slice(start, end).map(render) };
  if (end < items.length) {
    const query = Object.entries({ ...req.query, $skiptoken: String(end) })
      .map(([name, value]) => `${name}=${encodeURIComponent(value)}`)
      .join('&');
    body.nextLink = `${ctx.baseUrl}${req.path}?${query}`;
  }
  return ok(body);
}
