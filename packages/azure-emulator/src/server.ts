// The ARM front door: HTTPS, routing, authentication, api-version checks, latency, faults, hooks,
// counting and ARM's response headers. Resource behaviour lives in handlers/.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { Caller, EmulatorSettings, HandlerContext } from './armHttp';
import type { Certificate } from './certificate';
import type { Controls, FaultSpec } from './controls';
import {
  ArmError,
  concurrentRequestConflict,
  graphRateLimited,
  internalServerError,
  invalidApiVersion,
  invalidRequestContent,
  missingApiVersion,
  noRegisteredProviderFound,
  subscriptionThrottled,
  tenantThrottled,
} from './errors';
import { parseTarget, readBody, sendJson, sleep } from './httpUtil';
import { kindOf, type RequestLimiter } from './rateLimit';
import { parseScope } from './resourceIds';
import { type Route, resolveRoute } from './routes';
import type { Store } from './store';
import type { TokenAuthority } from './tokens';

export interface ArmServerDeps {
  store: Store;
  controls: Controls;
  authority: TokenAuthority;
  settings: EmulatorSettings;
  limiter: RequestLimiter;
  certificate: Certificate;
  /** Known once the server listens. */
  baseUrl: () => string;
}

const STANDARD_HEADERS = {
  'Cache-Control': 'no-cache',
  Pragma: 'no-cache',
  Expires: '-1',
  'X-Content-Type-Options': 'nosniff',
  'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
};

/** The caller of an anonymous route: no principal, no tenant. */
const ANONYMOUS: Caller = { objectId: '', tenantId: '', clientId: '', managedIdentity: false };

function requestIds(req: IncomingMessage): Record<string, string> {
  const requestId = randomUUID();
  const correlation = req.headers['x-ms-correlation-request-id'];
  const stamp = new Date().toISOString().replace(/[-:]|\.\d+/g, '');
  return {
    'x-ms-request-id': requestId,
    'x-ms-correlation-request-id':
      typeof correlation === 'string' && correlation ? correlation : randomUUID(),
    'x-ms-routing-request-id': `LOCALEMULATOR:${stamp}:${requestId}`,
  };
}

/**
 * ARM accepts every published api-version of a type. Otherwise: for a resource provider's type
 * (`Namespace/type`) 400 NoRegisteredProviderFound naming the location (the resource group's, when
 * the path has a known one); for ARM's own (subscriptions) 400 InvalidApiVersionParameter
 * (shared/reference/azure-rest.md §11).
 */
function checkApiVersion(given: string | undefined, route: Route, location: () => string): string {
  if (given === undefined || given === '') throw missingApiVersion();
  if (route.apiVersions.includes(given)) return given;
  const slash = route.resourceType.indexOf('/');
  if (slash < 0) throw invalidApiVersion(given, route.apiVersions);
  throw noRegisteredProviderFound(location(), given, route.resourceType.slice(slash + 1), route.apiVersions);
}

function parseJson(raw: string, method: string): unknown {
  if (method === 'GET' || method === 'DELETE' || raw.trim() === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw invalidRequestContent();
  }
}

/** An injected fault's message when the test gave none: ARM's own wording where one fits. */
function defaultFaultMessage(
  fault: FaultSpec,
  subscriptionId: string | undefined,
  method: string,
  actor: string,
) {
  if (fault.status === 429) {
    const kind = kindOf(method).replace(/s$/, '');
    return subscriptionThrottled(subscriptionId ?? '', kind, actor, fault.retryAfterSeconds ?? 1).message;
  }
  if (fault.code === 'Conflict') return concurrentRequestConflict().message;
  if (fault.code === 'InternalServerError') return internalServerError('injected fault').message;
  return `The request failed with '${fault.code}' (fault injected by the local Azure emulator).`;
}

/** The error an injected fault answers with, with Retry-After / retry-after-ms when given. */
function faultError(
  fault: FaultSpec,
  subscriptionId: string | undefined,
  method: string,
  actor: string,
): ArmError {
  const headers: Record<string, string> = {};
  if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
  if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
  const message = fault.message ?? defaultFaultMessage(fault, subscriptionId, method, actor);
  return new ArmError(fault.status, fault.code, message, headers);
}

function subscriptionOf(params: Record<string, string>): string | undefined {
  return params.subscriptionId ?? (params.scope ? parseScope(params.scope).subscriptionId : undefined);
}

export function createArmServer(deps: ArmServerDeps): https.Server {
  /**
   * Takes this request's token from the caller's bucket (Resource Graph: its quota window) and adds
   * the headers that report it; throws the 429 when the throttle is on and the bucket is empty.
   */
  function admit(
    route: Route | undefined,
    sub: string | undefined,
    method: string,
    caller: Caller,
    headers: Record<string, string>,
  ): void {
    const graph = route?.operation === 'graph.query';
    const admission = graph
      ? deps.limiter.admitGraph(caller.objectId)
      : deps.limiter.admitArm(sub, caller.objectId, method);
    Object.assign(headers, admission.headers);
    const wait = admission.refusedForSeconds;
    if (wait === undefined) return;
    deps.controls.recordThrottled(route?.operation);
    const correlationId = headers['x-ms-correlation-request-id'] ?? '';
    const retry = { 'Retry-After': String(wait) };
    const kind = kindOf(method).replace(/s$/, '');
    if (graph) throw graphRateLimited(correlationId, wait, admission.headers, deps.limiter.graphRetryAfter);
    if (sub) throw subscriptionThrottled(sub, kind, caller.objectId, wait, retry);
    throw tenantThrottled(caller.tenantId, kind, caller.objectId, wait, retry);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const method = (req.method ?? 'GET').toUpperCase();
    const { path, query } = parseTarget(req.url ?? '/');
    const resolved = resolveRoute(method, path, query['api-version'] ?? '');
    const params = 'route' in resolved ? resolved.params : {};
    if ('route' in resolved) deps.controls.record(resolved.route.operation);
    const headers: Record<string, string> = { ...STANDARD_HEADERS, ...requestIds(req) };
    // setTimeout(0) still waits a timer tick (~1 ms): only sleep when latency was asked for.
    if (deps.settings.latencyMs > 0) await sleep(deps.settings.latencyMs);

    try {
      if ('error' in resolved && resolved.anonymous) throw resolved.error;
      // ARM's cloud metadata needs no token: no caller, and no caller's bucket to take from. The rest
      // (faults, hooks, the handler) is as for any route.
      const anonymous = 'route' in resolved && resolved.route.anonymous === true;
      const caller = anonymous ? ANONYMOUS : deps.authority.authenticate(req.headers.authorization);
      if (!anonymous) {
        admit(
          'route' in resolved ? resolved.route : undefined,
          subscriptionOf(params),
          method,
          caller,
          headers,
        );
      }
      if ('error' in resolved) throw resolved.error;
      const { route } = resolved;
      const apiVersion = checkApiVersion(query['api-version'], route, () =>
        params.subscriptionId && params.resourceGroup
          ? (deps.store.getResourceGroup(params.subscriptionId, params.resourceGroup)?.location ?? '')
          : '',
      );
      const body = parseJson(raw, method);
      const fault = deps.controls.takeFault(route.operation, { method, path, body, headers: req.headers });
      if (fault?.kind === 'reset') {
        req.socket.destroy();
        return;
      }
      if (fault && fault.kind !== 'asyncFailed') {
        throw faultError(fault, subscriptionOf(params), method, caller.objectId);
      }
      deps.controls.runHooks(route.operation);
      const ctx: HandlerContext = {
        store: deps.store,
        settings: deps.settings,
        baseUrl: deps.baseUrl(),
        correlationId: headers['x-ms-correlation-request-id'] ?? '',
        // Only an asyncFailed fault gets this far: the request succeeds, its operation will fail.
        asyncFailure: fault && {
          code: fault.code,
          message: fault.message ?? `The operation failed with '${fault.code}'.`,
        },
      };
      const response = route.handler(
        { method, path, query, headers: req.headers, body, params, apiVersion, caller },
        ctx,
      );
      sendJson(res, response.status, response.body, { ...headers, ...response.headers });
    } catch (error) {
      const armError = error instanceof ArmError ? error : internalServerError(String(error));
      sendJson(res, armError.status, armError.toBody(), { ...headers, ...armError.headers });
    }
  }

  return https.createServer({ key: deps.certificate.key, cert: deps.certificate.cert }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, internalServerError(String(error)).toBody());
    });
  });
}
