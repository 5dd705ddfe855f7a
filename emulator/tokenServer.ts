// The App Service / Functions managed-identity endpoint (IDENTITY_ENDPOINT + IDENTITY_HEADER):
// GET /msi/token?api-version=2019-08-01&resource=…[&client_id=|object_id=|principal_id=|mi_res_id=…]
// with header X-IDENTITY-HEADER. Plain http on loopback, like the real one inside the sandbox.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Controls } from './controls';
import { parseTarget, sendJson } from './httpUtil';
import { sameId, TYPES } from './resourceIds';
import type { Store } from './store';
import type { TokenAuthority } from './tokens';

export interface AppIdentity {
  principalId: string;
  clientId: string;
  /** The hosting resource (the function app): a system-assigned identity's token names it in `xms_mirid`. */
  resourceId: string;
}

export interface TokenServerDeps {
  store: Store;
  controls: Controls;
  authority: TokenAuthority;
  identityHeader: string;
  /** The function app's own system-assigned identity, used when the request names none. */
  appIdentity: AppIdentity;
}

const API_VERSION = '2019-08-01';
const SELECTORS = ['client_id', 'object_id', 'principal_id', 'mi_res_id'] as const;

class TokenEndpointError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Which identity the request asks for: the app's own, or a user-assigned one the store holds. */
function selectIdentity(deps: TokenServerDeps, query: Record<string, string>) {
  const given = SELECTORS.filter((s) => query[s] !== undefined);
  if (given.length > 1)
    throw new TokenEndpointError(400, `Only one of ${SELECTORS.join(', ')} may be given.`);
  const selector = given[0];
  if (selector === undefined) return { ...deps.appIdentity };
  const value = query[selector] ?? '';
  const identity =
    selector === 'mi_res_id'
      ? deps.store.identities.byId(value, TYPES.identity)
      : deps.store.identities
          .list()
          .find((i) => sameId(selector === 'client_id' ? i.clientId : i.principalId, value));
  if (!identity)
    throw new TokenEndpointError(
      400,
      `Unable to load the requested managed identity (${selector}=${value}).`,
    );
  return { principalId: identity.principalId, clientId: identity.clientId, resourceId: identity.id };
}

function issue(deps: TokenServerDeps, req: http.IncomingMessage): unknown {
  const { path, query } = parseTarget(req.url ?? '/');
  if (path.toLowerCase() !== '/msi/token') throw new TokenEndpointError(404, `No endpoint at '${path}'.`);
  if (req.method !== 'GET') throw new TokenEndpointError(405, `Method ${req.method} is not allowed.`);
  deps.controls.record('token');
  const secret = req.headers['x-identity-header'];
  if (secret === undefined || secret === '')
    throw new TokenEndpointError(400, 'The X-IDENTITY-HEADER header is missing.');
  if (secret !== deps.identityHeader)
    throw new TokenEndpointError(401, 'The X-IDENTITY-HEADER header is not valid.');
  if (query['api-version'] !== API_VERSION) {
    throw new TokenEndpointError(
      400,
      `The api-version '${query['api-version'] ?? ''}' is not supported; use ${API_VERSION}.`,
    );
  }
  const resource = query.resource;
  if (!resource) throw new TokenEndpointError(400, "The 'resource' query parameter is required.");

  const fault = deps.controls.takeFault('token', { method: 'GET', path, body: undefined });
  if (fault?.kind === 'reset') {
    req.socket.destroy();
    return undefined;
  }
  if (fault) {
    const headers: Record<string, string> = {};
    if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
    if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
    throw new TokenEndpointError(fault.status, fault.message ?? `Injected fault '${fault.code}'.`, headers);
  }
  deps.controls.runHooks('token');

  const identity = selectIdentity(deps, query);
  const { token, expiresOn } = deps.authority.issue({
    audience: resource,
    objectId: identity.principalId,
    clientId: identity.clientId,
    ...(identity.resourceId ? { resourceId: identity.resourceId } : {}),
  });
  return {
    access_token: token,
    expires_on: String(expiresOn),
    resource,
    token_type: 'Bearer',
    client_id: identity.clientId,
  };
}

export function createTokenServer(deps: TokenServerDeps): http.Server {
  return http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      try {
        const body = issue(deps, req);
        if (body !== undefined) sendJson(res, 200, body);
      } catch (error) {
        const e = error instanceof TokenEndpointError ? error : new TokenEndpointError(500, String(error));
        sendJson(
          res,
          e.status,
          { statusCode: e.status, message: e.message, correlationId: randomUUID() },
          e.headers,
        );
      }
    });
  });
}
