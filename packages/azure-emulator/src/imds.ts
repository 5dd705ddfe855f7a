// The VM-side managed-identity endpoint (IMDS), as a VM's or scale set's workload sees it (Learn
// managed-identities-azure-resources/how-to-use-vm-token, "Get a token using HTTP"):
//   GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=<aud>
//       [&client_id=|&object_id=|&msi_res_id=]   with header `Metadata: true`
// Loopback has one address for every VM, so the VM is chosen by a path prefix: the base URL of a VM
// (emulator.vmImdsEndpoint(id)) is `http://127.0.0.1:PORT<VM or scale set resource id>`, and the client
// appends `/metadata/identity/oauth2/token?…`. (Real IMDS is plain http on 169.254.169.254; so is this.)
//
// Modelled answers (all IMDS's JSON shape `{"error","error_description"}`):
// - no `Metadata: true` → 400 "Required metadata header not specified" (Learn instance-metadata-service FAQ);
// - no selector: the system-assigned identity if there is one, else the only user-assigned one; several
//   user-assigned and no system-assigned → 400 invalid_request "Multiple user assigned identities exist,
//   please specify the clientId / resourceId of the identity in the token request" (IMDS's words as
//   captured in Hexadite/acs-keyvault-agent#43 and Azure/aad-pod-identity#1152; Learn how-to-use-vm-token);
// - a selector naming no identity of this VM, or a VM without identities → 400 invalid_request "Identity
//   not found" (IMDS's answer, quoted in Azure/azure-sdk-for-go's IMDS error tests and Learn's AKS
//   secrets-store troubleshooting);
// - an entry whose identity was deleted (the VM still lists it, principalId the old one or null) →
//   400 "Identity not found": "Token request for this identity will fail with `identity not found`"
//   (Azure/aad-pod-identity docs, Known Issues). Option imdsStaleIdentity: 'stalePrincipal' instead
//   issues a token for the entry's old principal (which no longer holds, nor can be given, anything the
//   re-created identity holds);
// - a resource Entra ID does not know → 400 invalid_resource AADSTS500011 (the token endpoint forwards
//   Entra's error; see tokenServer.ts's note); a real resource nothing here serves → 501.
//
// The token is a JWT from the emulator's TokenAuthority: oid = the identity's principal, appid = its
// client id, xms_mirid = the identity's resource id (the VM's for a system-assigned identity, as Entra
// does), and the emulator-only claim xms_emu_vm naming the VM whose IMDS issued it (see tokens.ts).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { parseTarget, sendJson } from './httpUtil';
import { sameId, TYPES } from './resourceIds';
import type { Store, VmRecord } from './store';
import type { TokenAuthority } from './tokens';

/** What IMDS does with a VM entry whose identity was deleted (see the top of this file). */
export type ImdsStaleIdentity = 'identityNotFound' | 'stalePrincipal';

export interface ImdsServerDeps {
  store: Store;
  authority: TokenAuthority;
  settings: { staleIdentity: ImdsStaleIdentity };
}

/** Published api-versions of the IMDS identity endpoint that take these parameters (Learn how-to-use-vm-token, instance-metadata-service "Versions"). */
const API_VERSIONS = ['2018-02-01', '2019-08-01', '2019-11-01', '2020-06-01', '2021-02-01', '2021-05-01'];

const normalize = (resource: string) => resource.toLowerCase().replace(/\/+$/, '');

/** Audiences Entra issues tokens for that something in the emulator serves: ACR's and ARM's. */
const SERVED = new Set(
  [
    'https://containerregistry.azure.net',
    'https://management.azure.com',
    'https://management.core.windows.net',
  ].map(normalize),
);

const UNSERVED = new Set(
  [
    'https://vault.azure.net',
    'https://storage.azure.com',
    'https://graph.microsoft.com',
    'https://database.windows.net',
  ].map(normalize),
);

const TOKEN_PATH = '/metadata/identity/oauth2/token';

class ImdsError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
  ) {
    super(message);
  }
}

const identityNotFound = () => new ImdsError(400, 'invalid_request', 'Identity not found');

interface Chosen {
  principalId: string;
  clientId: string;
  resourceId: string;
}

/** System-assigned identities have a client id too; Compute does not report it, so the emulator makes one per principal. */
const systemClientIds = new Map<string, string>();
function systemClientId(principalId: string): string {
  let id = systemClientIds.get(principalId);
  if (!id) {
    id = randomUUID();
    systemClientIds.set(principalId, id);
  }
  return id;
}

function chooseIdentity(deps: ImdsServerDeps, vm: VmRecord, query: Record<string, string>): Chosen {
  const identity = vm.identity;
  const attached = Object.entries(identity?.userAssignedIdentities ?? {});
  const selectors = (['client_id', 'object_id', 'msi_res_id', 'mi_res_id'] as const).filter(
    (s) => query[s] !== undefined && query[s] !== '',
  );
  if (selectors.length > 1)
    throw new ImdsError(
      400,
      'invalid_request',
      'Only one of client_id, object_id and msi_res_id may be given',
    );
  const selector = selectors[0];
  let entry: [string, { principalId: string | null; clientId: string | null }] | undefined;
  if (selector === undefined) {
    if (identity?.principalId)
      return {
        principalId: identity.principalId,
        clientId: systemClientId(identity.principalId),
        resourceId: vm.id,
      };
    if (attached.length > 1)
      throw new ImdsError(
        400,
        'invalid_request',
        'Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request',
      );
    entry = attached[0];
  } else {
    const value = query[selector] ?? '';
    entry = attached.find(([id, e]) =>
      selector === 'client_id'
        ? e.clientId !== null && sameId(e.clientId, value)
        : selector === 'object_id'
          ? e.principalId !== null && sameId(e.principalId, value)
          : sameId(id, value),
    );
    if (!entry && selector === 'object_id' && identity?.principalId && sameId(identity.principalId, value))
      return {
        principalId: identity.principalId,
        clientId: systemClientId(identity.principalId),
        resourceId: vm.id,
      };
  }
  if (!entry) throw identityNotFound();
  const [resourceId, { principalId, clientId }] = entry;
  const live = deps.store.identities.byId(resourceId, TYPES.identity);
  const current = live !== undefined && principalId !== null && sameId(live.principalId, principalId);
  if (current && clientId !== null) return { principalId, clientId, resourceId: live.id };
  // The entry is stale: its identity was deleted (and maybe re-created under the same name).
  if (deps.settings.staleIdentity === 'stalePrincipal' && principalId !== null)
    return { principalId, clientId: clientId ?? randomUUID(), resourceId };
  throw identityNotFound();
}

function issue(deps: ImdsServerDeps, req: http.IncomingMessage): unknown {
  const { path, query } = parseTarget(req.url ?? '/');
  if (!path.toLowerCase().endsWith(TOKEN_PATH))
    throw new ImdsError(
      404,
      'not_found',
      `No IMDS endpoint at '${path}' (the emulator serves ${TOKEN_PATH} only).`,
    );
  const targetId = path.slice(0, path.length - TOKEN_PATH.length);
  if (req.method !== 'GET')
    throw new ImdsError(405, 'invalid_request', `Method ${req.method} is not allowed.`);
  if (String(req.headers.metadata ?? '').toLowerCase() !== 'true')
    throw new ImdsError(400, 'invalid_request', 'Required metadata header not specified');
  const vm = deps.store.computeById(targetId);
  if (!vm) throw new ImdsError(404, 'not_found', `The emulator has no VM or scale set '${targetId}'.`);
  const apiVersion = query['api-version'];
  if (!apiVersion || !API_VERSIONS.includes(apiVersion))
    throw new ImdsError(400, 'invalid_request', `Invalid or missing api-version '${apiVersion ?? ''}'.`);
  const resource = query.resource;
  if (!resource) throw new ImdsError(400, 'invalid_request', 'Required query variable resource is missing');
  if (UNSERVED.has(normalize(resource)))
    throw new ImdsError(
      501,
      'not_implemented',
      `The local Azure emulator issues no tokens for '${resource}'.`,
    );
  if (!SERVED.has(normalize(resource)))
    throw new ImdsError(
      400,
      'invalid_resource',
      `AADSTS500011: The resource principal named ${resource} was not found in the tenant named ${deps.store.tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
    );
  const chosen = chooseIdentity(deps, deps.store.currentVm(vm), query);
  const { token, expiresOn } = deps.authority.issue({
    audience: resource,
    objectId: chosen.principalId,
    clientId: chosen.clientId,
    resourceId: chosen.resourceId,
    vmId: vm.id,
  });
  const now = Math.floor(Date.now() / 1000);
  // IMDS's answer shape (how-to-use-vm-token "Sample response"): strings, epoch seconds.
  return {
    access_token: token,
    refresh_token: '',
    expires_in: String(expiresOn - now),
    expires_on: String(expiresOn),
    not_before: String(now),
    resource,
    token_type: 'Bearer',
    client_id: chosen.clientId,
  };
}

export function createImdsServer(deps: ImdsServerDeps): http.Server {
  return http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      try {
        sendJson(res, 200, issue(deps, req));
      } catch (error) {
        const e = error instanceof ImdsError ? error : new ImdsError(500, 'server_error', String(error));
        sendJson(res, e.status, { error: e.error, error_description: e.message });
      }
    });
  });
}
