// The App Service / Functions managed-identity endpoint, plain http on loopback like the real one
// inside the sandbox, in both of its protocols:
// - current (IDENTITY_ENDPOINT + IDENTITY_HEADER): GET /msi/token?api-version=2019-08-01&resource=…
//   [&client_id=|object_id=|principal_id=|mi_res_id=…], header X-IDENTITY-HEADER; expires_on in
//   epoch seconds;
// - legacy (MSI_ENDPOINT + MSI_SECRET, the same endpoint and secret): GET /msi/token/?resource=…
//   &api-version=2017-09-01[&clientid=…], header `secret`; expires_on as a date,
//   "11/05/2021 15:18:31 +00:00", and only a client id selects a user-assigned identity. Sources:
//   MicrosoftDocs/azure-docs articles/app-service/app-service-managed-service-identity.md (the 2017
//   protocol: `secret` header, `clientid`), azure-cli's adal_authentication.py (a 2017-09-01 answer:
//   "11/05/2021 15:18:31 +00:00", with client_id), microsoft/mssql-jdbc#1135 (the Linux format; Windows
//   writes "1/10/2020 8:01:28 AM +00:00", Azure/azure-sdk-for-python#9393: the emulator answers as
//   Linux) and msrestazure's get_msi_token_webapp (the request azure-cli 2.45 sends).
// A token is issued only for an audience something here accepts (ARM's, Azure Monitor's, compared
// ignoring case and a trailing slash); a well-known Azure resource nothing here serves (Key Vault,
// Storage, Graph…) gets 501 (not modelled); any other resource gets App Service's answer for a resource Entra ID does not know: 500, "An unexpected error
// occured while fetching the AAD Token." (its spelling; MSAL for Python's managed_identity.py:
// "Empirically, wrong resource ends up with a vague statusCode=500", and MSAL.NET's integration test
// asking for https://managements.azure.com asserts that message). (VM IMDS answers 400
// invalid_resource AADSTS500011 instead; this is not IMDS.)
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Controls } from './controls';
import { ALLOWED_AUDIENCES } from './errors';
import { parseTarget, sendJson } from './httpUtil';
import { MONITOR_AUDIENCE } from './ingestion/server';
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
const LEGACY_API_VERSION = '2017-09-01';
const SELECTORS = ['client_id', 'object_id', 'principal_id', 'mi_res_id'] as const;

const normalize = (resource: string) => resource.toLowerCase().replace(/\/+$/, '');

/** The resources a token may be for: ARM's audiences and Azure Monitor's (the audit trail's ingestion). */
const SERVED_AUDIENCES = new Set([...ALLOWED_AUDIENCES, MONITOR_AUDIENCE].map(normalize));

/**
 * Real Azure resources Entra ID issues tokens for but nothing here serves: App Service would hand out
 * a token, the emulator says it does not model them (501) rather than pretend either way.
 */
const UNSERVED_AZURE_RESOURCES = new Set(
  [
    'https://vault.azure.net',
    'https://storage.azure.com',
    'https://graph.microsoft.com',
    'https://graph.windows.net',
    'https://database.windows.net',
    'https://ossrdbms-aad.database.windows.net',
    'https://cognitiveservices.azure.com',
    'https://servicebus.azure.net',
    'https://eventhubs.azure.net',
    'https://api.loganalytics.io',
  ].map(normalize),
);

/** The 2017-09-01 protocol's expires_on: "MM/DD/YYYY HH:MM:SS +00:00" in UTC. */
export function legacyExpiresOn(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())}/${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +00:00`;
}

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
  // App Service's wording for an identity it does not have (Azure/azure-sdk-for-net#43691).
  if (!identity) throw new TokenEndpointError(400, 'Unable to load the proper Managed Identity.');
  return { principalId: identity.principalId, clientId: identity.clientId, resourceId: identity.id };
}

/** App Service's answer when Entra ID refuses the resource (see the top of this file). */
function unknownResource(): TokenEndpointError {
  return new TokenEndpointError(500, 'An unexpected error occured while fetching the AAD Token.');
}

function issue(deps: TokenServerDeps, req: http.IncomingMessage): unknown {
  const { path, query } = parseTarget(req.url ?? '/');
  if (path.toLowerCase() !== '/msi/token') throw new TokenEndpointError(404, `No endpoint at '${path}'.`);
  if (req.method !== 'GET') throw new TokenEndpointError(405, `Method ${req.method} is not allowed.`);
  deps.controls.record('token');
  const legacy = query['api-version'] === LEGACY_API_VERSION;
  const secretHeader = legacy ? 'secret' : 'x-identity-header';
  const secret = req.headers[secretHeader];
  if (secret === undefined || secret === '')
    throw new TokenEndpointError(400, `The ${legacy ? 'secret' : 'X-IDENTITY-HEADER'} header is missing.`);
  if (secret !== deps.identityHeader)
    throw new TokenEndpointError(401, `The ${legacy ? 'secret' : 'X-IDENTITY-HEADER'} header is not valid.`);
  if (!legacy && query['api-version'] !== API_VERSION) {
    throw new TokenEndpointError(
      400,
      `The api-version '${query['api-version'] ?? ''}' is not supported; use ${API_VERSION} or ${LEGACY_API_VERSION}.`,
    );
  }
  const resource = query.resource;
  if (!resource) throw new TokenEndpointError(400, "The 'resource' query parameter is required.");
  if (UNSERVED_AZURE_RESOURCES.has(normalize(resource))) {
    throw new TokenEndpointError(
      501,
      `The local Azure emulator issues no tokens for '${resource}': nothing here serves it.`,
    );
  }
  if (!SERVED_AUDIENCES.has(normalize(resource))) throw unknownResource();
  // 2017-09-01 knows `clientid` only (msrestazure's get_msi_token_webapp: '"client_id" is the only
  // supported explicit identity option on WebApp'). What App Service does with the newer selectors
  // there is not on record; the emulator refuses them rather than quietly issue the app's own token.
  if (legacy) {
    const other = SELECTORS.filter((s) => query[s] !== undefined);
    if (other.length > 0) {
      throw new TokenEndpointError(
        400,
        `api-version ${LEGACY_API_VERSION} selects an identity by 'clientid' only (got '${other.join("', '")}').`,
      );
    }
  }

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

  const identity = selectIdentity(
    deps,
    legacy && query.clientid !== undefined ? { client_id: query.clientid } : legacy ? {} : query,
  );
  const { token, expiresOn } = deps.authority.issue({
    audience: resource,
    objectId: identity.principalId,
    clientId: identity.clientId,
    ...(identity.resourceId ? { resourceId: identity.resourceId } : {}),
  });
  return {
    access_token: token,
    expires_on: legacy ? legacyExpiresOn(expiresOn) : String(expiresOn),
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
