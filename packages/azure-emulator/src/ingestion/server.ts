// The Application Insights ingestion front door: its own HTTPS server (Breeze takes the
// instrumentation key in each envelope, and, for a component with local auth disabled, only requests
// that carry an Entra token), routing, body decoding, faults, hooks and counting. What a
// track request means lives in track.ts; what was accepted, in telemetryStore.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { Certificate } from '../certificate';
import type { Controls, FaultSpec } from '../controls';
import { parseTarget, readRawBody, sendJson } from '../httpUtil';
import type { TokenAuthority } from '../tokens';
import {
  IngestionError,
  injectedFault,
  internalError,
  methodNotAllowed,
  noSuchEndpoint,
  unauthorized,
} from './errors';
import type { TelemetryStore } from './telemetryStore';
import { decodeBody, parseItems, track } from './track';

export interface IngestionServerDeps {
  controls: Controls;
  store: TelemetryStore;
  instrumentationKey: string;
  certificate: Certificate;
  authority: TokenAuthority;
  /** Shared by reference with the handle (setIngestionAuth). */
  auth: { mode: IngestionAuth };
}

/** 'key': the instrumentation key suffices (local auth on); 'entra': DisableLocalAuth, a token is required. */
export type IngestionAuth = 'key' | 'entra';

/** The audience Application Insights ingestion tokens are for. */
export const MONITOR_AUDIENCE = 'https://monitor.azure.com';

type IngestionOperation = 'ingestion.track' | 'ingestion.liveMetrics';

/** Paths, compared in lower case after parseTarget collapsed slashes and dropped a trailing one. */
const ROUTES: Record<string, IngestionOperation> = {
  '/v2/track': 'ingestion.track',
  '/v2.1/track': 'ingestion.track',
  // Live metrics (QuickPulse), when LiveEndpoint points here: answered "nobody is watching".
  '/quickpulseservice.svc/ping': 'ingestion.liveMetrics',
  '/quickpulseservice.svc/post': 'ingestion.liveMetrics',
};

/** Live metrics' answer while no portal session subscribes: the SDK keeps pinging every 5 s. */
const NOT_SUBSCRIBED = { 'x-ms-qps-subscribed': 'false' };

function resolve(method: string, path: string): IngestionOperation | IngestionError {
  const operation = ROUTES[path.toLowerCase()];
  if (!operation) return noSuchEndpoint(path);
  return method === 'POST' ? operation : methodNotAllowed(method);
}

function faultError(fault: FaultSpec, itemCount: number): IngestionError {
  return injectedFault(fault.status, fault.code, itemCount, fault.message, fault.retryAfterSeconds);
}

export function createIngestionServer(deps: IngestionServerDeps): https.Server {
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readRawBody(req);
    const method = (req.method ?? 'GET').toUpperCase();
    const { path } = parseTarget(req.url ?? '/');
    const operation = resolve(method, path);
    if (operation instanceof IngestionError) throw operation;
    deps.controls.record(operation);
    if (
      operation === 'ingestion.track' &&
      deps.auth.mode === 'entra' &&
      !deps.authority.verifyBearer(req.headers.authorization, MONITOR_AUDIENCE)
    ) {
      throw unauthorized();
    }

    const items =
      operation === 'ingestion.track'
        ? parseItems(decodeBody(raw, req.headers['content-encoding']))
        : undefined;
    const fault = deps.controls.takeFault(operation, { method, path, body: items });
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault) throw faultError(fault, items?.length ?? 0);
    deps.controls.runHooks(operation);

    if (!items) {
      sendJson(res, 200, undefined, NOT_SUBSCRIBED);
      return;
    }
    const result = track(items, deps.instrumentationKey);
    deps.store.add(result.accepted);
    sendJson(res, result.status, result.body, {}, result.statusMessage);
  }

  return https.createServer({ key: deps.certificate.key, cert: deps.certificate.cert }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) return;
      const e = error instanceof IngestionError ? error : internalError(String(error));
      sendJson(res, e.status, e.body, e.headers, e.statusMessage);
    });
  });
}
