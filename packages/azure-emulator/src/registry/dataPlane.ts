// The registries' data plane: for each seeded registry, an HTTPS listener on 127.0.0.1 (the ARM
// certificate) that serves ACR's token flow and the OCI distribution endpoints a pull needs.
//
// One listener per registry because a real client (skopeo, docker) addresses a registry as host:port
// and sends nothing else that names it; the login server (`<name>.azurecr.io`) is the `service` of the
// challenge, as ACR's is. Listeners start on first use (registryEndpoint), so a test that seeds 10,000
// registries opens no sockets for them.
//
// The token flow (Azure/acr docs/AAD-OAuth.md):
//   GET /v2/ → 401 + `WWW-Authenticate: Bearer realm="https://<host>/oauth2/token",service="<login server>"`
//   POST /oauth2/exchange (grant_type=access_token, service, tenant, access_token) → {refresh_token}
//   POST /oauth2/token (grant_type=refresh_token, service, scope, refresh_token) → {access_token}, and the
//   docker-style GET /oauth2/token?service=&scope= with Basic `00000000-0000-0000-0000-000000000000:<refresh
//   token>` ("The null GUID tells the container registry that this is an ACR refresh token"), or without
//   credentials for anonymous pull (Learn anonymous-pull-access; without it, 401: Azure/AKS#4459 "failed to
//   fetch anonymous token: unexpected status from GET request to …/oauth2/token?scope=…: 401 Unauthorized").
// Then GET/HEAD /v2/<name>/manifests/<reference> and /v2/<name>/blobs/<digest> with the access token
// (OCI distribution-spec "Pulling manifests" / "Pulling blobs"; error codes from its error table).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Certificate } from '../certificate';
import { readBody } from '../httpUtil';
import type { NetworkPosition } from '../network/reach';
import { sameId, TYPES } from '../resourceIds';
import type { RegistryRecord, Store } from '../store';
import type { TokenAuthority } from '../tokens';
import { decidePull } from './authorization';
import { OCI_MANIFEST, RegistryContent } from './content';
import { firewallMessage, networkVerdict, positionOf } from './network';

/** The audience Entra issues for ACR (Learn container-registry-authentication, az acr login --expose-token). */
export const ACR_AUDIENCE = 'https://containerregistry.azure.net';
/** ARM's audiences: accepted while azureADAuthenticationAsArmPolicy is enabled (Learn container-registry-disable-authentication-as-arm). */
const ARM_AUDIENCES = ['https://management.azure.com', 'https://management.core.windows.net'];
/** The username that marks an ACR refresh token as the password (AAD-OAuth.md). */
export const NULL_GUID = '00000000-0000-0000-0000-000000000000';
/** ACR refresh tokens live 3 hours (Azure/acr#191, #798); access tokens 75 minutes (AAD-OAuth.md's sample: exp − iat = 4500 s). */
const REFRESH_LIFETIME_S = 3 * 3600;
const ACCESS_LIFETIME_S = 75 * 60;
/** ACR's words for a missing or insufficient credential (Azure SDK recordings, e.g. azure-sdk-for-js container-registry). */
const AUTH_REQUIRED = 'authentication required, visit https://aka.ms/acr/authorization for more information.';

/**
 * Where ACR says no to a principal without the pull right. 'emptyAccess' (default): the token endpoint
 * answers 200 with a token whose `access` is empty and the manifest request gets 401 UNAUTHORIZED
 * ("unauthorized: authentication required, visit https://aka.ms/acr/authorization…" on the manifest
 * HEAD, dotnet/tye#1185, MicrosoftDocs/azure-docs#35411). 'tokenEndpoint': the token endpoint itself
 * answers 401 (as reported for anonymous token requests, Azure/AKS#4459, and by AKS's check-acr when the
 * exchange is refused). Both are on record; the emulator makes it a setting.
 */
export type RegistryRefusal = 'emptyAccess' | 'tokenEndpoint';

export interface RegistrySettings {
  rbacPropagationDelayMs: number;
  refusal: RegistryRefusal;
}

interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

class RegistryHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly detail?: unknown,
  ) {
    super(message);
  }
}

export interface RegistryEndpoint {
  url: string;
  host: string;
}

export interface RegistryDataPlaneDeps {
  store: Store;
  authority: TokenAuthority;
  certificate: Certificate;
  settings: RegistrySettings;
}

const normalizeAudience = (aud: string) => aud.toLowerCase().replace(/\/+$/, '');

function parseScopes(scopes: string[]): { repository: string; actions: string[] }[] {
  return scopes.flatMap((scope) =>
    scope.split(' ').flatMap((one) => {
      const m = /^repository(?:\([^)]*\))?:(.+):([^:]*)$/.exec(one);
      return m?.[1] ? [{ repository: m[1], actions: (m[2] ?? '').split(',').filter(Boolean) }] : [];
    }),
  );
}

export class RegistryDataPlane {
  private readonly contents = new Map<string, RegistryContent>();
  private readonly servers = new Map<string, { server: https.Server; endpoint: Promise<RegistryEndpoint> }>();
  /** Positions a test set, by lowercased VM (or scale set) id. */
  readonly vmPositions = new Map<string, NetworkPosition>();

  constructor(private readonly deps: RegistryDataPlaneDeps) {}

  get settings(): RegistrySettings {
    return this.deps.settings;
  }

  /** The registry by resource id or (unique, case-insensitive) name. */
  resolve(idOrName: string): RegistryRecord {
    const byId = idOrName.includes('/')
      ? this.deps.store.registries.byId(idOrName, TYPES.registry)
      : undefined;
    if (byId) return byId;
    const named = this.deps.store.registries.list().filter((r) => sameId(r.name, idOrName));
    if (named.length === 1 && named[0]) return named[0];
    throw new Error(
      named.length > 1
        ? `emulator: several registries are named '${idOrName}': give the resource id`
        : `emulator: no registry '${idOrName}'`,
    );
  }

  contentOf(registry: RegistryRecord): RegistryContent {
    const key = registry.id.toLowerCase();
    let content = this.contents.get(key);
    if (!content) {
      content = new RegistryContent();
      this.contents.set(key, content);
    }
    return content;
  }

  endpoint(idOrName: string): Promise<RegistryEndpoint> {
    const registry = this.resolve(idOrName);
    const key = registry.id.toLowerCase();
    const existing = this.servers.get(key);
    if (existing) return existing.endpoint;
    const server = https.createServer(
      { key: this.deps.certificate.key, cert: this.deps.certificate.cert },
      (req, res) => {
        this.handle(registry.id, req, res).catch((error: unknown) => {
          if (!res.headersSent) this.sendError(res, new RegistryHttpError(500, 'UNKNOWN', String(error)));
        });
      },
    );
    const endpoint = new Promise<RegistryEndpoint>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        resolve({ url: `https://127.0.0.1:${port}`, host: `127.0.0.1:${port}` });
      });
    });
    this.servers.set(key, { server, endpoint });
    return endpoint;
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.servers.values()].map(
        ({ server }) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
    this.servers.clear();
  }

  // --- HTTP ---------------------------------------------------------------------------------------

  private async handle(registryId: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'https://registry.invalid');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const host = req.headers.host ?? '';
    try {
      // The registry may have been changed (updateRegistry) or deleted since the listener started.
      const registry = this.deps.store.registries.byId(registryId, TYPES.registry);
      if (!registry) throw new RegistryHttpError(404, 'NAME_UNKNOWN', 'registry not found');
      const ctx = {
        registry,
        host,
        socketIp: req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
      };
      if (path === '/oauth2/exchange') {
        if (method !== 'POST')
          throw new RegistryHttpError(405, 'UNSUPPORTED', 'The operation is unsupported.');
        return this.sendJson(res, 200, this.exchange(ctx, new URLSearchParams(raw)));
      }
      if (path === '/oauth2/token') {
        const params = method === 'POST' ? new URLSearchParams(raw) : url.searchParams;
        if (method !== 'POST' && method !== 'GET')
          throw new RegistryHttpError(405, 'UNSUPPORTED', 'The operation is unsupported.');
        return this.sendJson(res, 200, this.token(ctx, params, method, req.headers.authorization));
      }
      if (path === '/v2') return this.base(ctx, req, res, method);
      // The OCI distribution spec's pull endpoints: /v2/<name>/manifests/<reference>,
      // /v2/<name>/blobs/<digest>, /v2/<name>/tags/list.
      const content = /^\/v2\/(.+)\/(?:(manifests|blobs)\/([^/]+)|tags\/list)$/.exec(path);
      if (content?.[1]) {
        if (method !== 'GET' && method !== 'HEAD')
          throw new RegistryHttpError(405, 'UNSUPPORTED', 'The operation is unsupported.');
        const kind = content[2] === 'manifests' ? 'manifest' : content[2] === 'blobs' ? 'blob' : 'tags';
        const reference = decodeURIComponent(content[3] ?? '');
        return this.content(ctx, req, res, method, decodeURIComponent(content[1]), reference, kind);
      }
      throw new RegistryHttpError(
        404,
        'UNSUPPORTED',
        `The local Azure emulator does not serve ${method} ${path}.`,
      );
    } catch (error) {
      const e =
        error instanceof RegistryHttpError ? error : new RegistryHttpError(500, 'UNKNOWN', String(error));
      this.sendError(res, e, method === 'HEAD');
    }
  }

  private challenge(
    host: string,
    registry: RegistryRecord,
    scope?: string,
    error?: string,
  ): Record<string, string> {
    const parts = [`realm="https://${host}/oauth2/token"`, `service="${registry.loginServer}"`];
    if (scope) parts.push(`scope="${scope}"`);
    if (error) parts.push(`error="${error}"`);
    return { 'WWW-Authenticate': `Bearer ${parts.join(',')}` };
  }

  /** `service` must name this registry: its login server or, for clients that use the address, host:port. */
  private checkService(ctx: Ctx, service: string | null): void {
    if (service === null || service === '') return;
    if (sameId(service, ctx.registry.loginServer) || sameId(service, ctx.host)) return;
    throw new RegistryHttpError(
      401,
      'UNAUTHORIZED',
      `${AUTH_REQUIRED} (service '${service}' is not this registry, '${ctx.registry.loginServer}')`,
    );
  }

  private checkNetwork(ctx: Ctx, vmId: string | undefined): void {
    const position = positionOf(this.deps.store, this.vmPositions, vmId, ctx.registry);
    const verdict = networkVerdict(ctx.registry, position, ctx.socketIp);
    if (!verdict.allowed) throw new RegistryHttpError(403, 'DENIED', firewallMessage(verdict.ip));
  }

  private exchange(ctx: Ctx, form: URLSearchParams): unknown {
    const grantType = form.get('grant_type');
    if (grantType !== 'access_token')
      throw new RegistryHttpError(
        400,
        'UNSUPPORTED',
        `grant_type '${grantType ?? ''}' is not modelled by the local Azure emulator (only access_token; the AAD refresh-token grants are deprecated, AAD-OAuth.md).`,
      );
    this.checkService(ctx, form.get('service'));
    const claims = this.deps.authority.verify(form.get('access_token') ?? '');
    if (!claims || claims.exp * 1000 <= Date.now())
      throw new RegistryHttpError(401, 'UNAUTHORIZED', AUTH_REQUIRED);
    const audience = normalizeAudience(claims.aud);
    const armAllowed = ctx.registry.access.azureADAuthenticationAsArmPolicy === 'enabled';
    const accepted = audience === ACR_AUDIENCE || (armAllowed && ARM_AUDIENCES.includes(audience));
    if (!accepted)
      throw new RegistryHttpError(
        401,
        'UNAUTHORIZED',
        `${AUTH_REQUIRED} (token audience '${claims.aud}' is not accepted: ${armAllowed ? `expected ${ACR_AUDIENCE} or ARM's` : `azureADAuthenticationAsArmPolicy is disabled, only ${ACR_AUDIENCE} is`})`,
      );
    const tenant = form.get('tenant');
    if (tenant && !sameId(tenant, claims.tid))
      throw new RegistryHttpError(401, 'UNAUTHORIZED', AUTH_REQUIRED);
    this.checkNetwork(ctx, claims.xms_emu_vm);
    const now = Math.floor(Date.now() / 1000);
    // The claim set AAD-OAuth.md shows for a refresh token, plus what the emulator needs later.
    const refresh = this.deps.authority.signClaims({
      jti: randomUUID(),
      sub: claims.oid,
      nbf: now,
      exp: now + REFRESH_LIFETIME_S,
      iat: now,
      iss: 'Azure Container Registry',
      aud: ctx.registry.loginServer,
      version: '1.0',
      grant_type: 'refresh_token',
      tenant: claims.tid,
      permissions: { actions: ['*'], notActions: [] },
      roles: [],
      xms_emu_typ: 'acr_refresh',
      ...(claims.xms_emu_vm ? { xms_emu_vm: claims.xms_emu_vm } : {}),
    });
    return { refresh_token: refresh };
  }

  /** A valid ACR refresh token of this registry, or undefined. */
  private refreshClaims(ctx: Ctx, token: string): { sub: string; vm?: string } | undefined {
    const claims = this.deps.authority.verifyClaims(token);
    if (claims?.xms_emu_typ !== 'acr_refresh') return undefined;
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now()) return undefined;
    if (typeof claims.aud !== 'string' || !sameId(claims.aud, ctx.registry.loginServer)) return undefined;
    const vm = typeof claims.xms_emu_vm === 'string' ? claims.xms_emu_vm : undefined;
    return { sub: String(claims.sub), ...(vm ? { vm } : {}) };
  }

  private token(
    ctx: Ctx,
    params: URLSearchParams,
    method: string,
    authorization: string | undefined,
  ): unknown {
    this.checkService(ctx, params.get('service'));
    let principal: { sub: string; vm?: string } | undefined;
    if (method === 'POST' && params.get('grant_type') !== null) {
      if (params.get('grant_type') !== 'refresh_token')
        throw new RegistryHttpError(
          400,
          'UNSUPPORTED',
          `grant_type '${params.get('grant_type')}' is not modelled by the local Azure emulator (only refresh_token).`,
        );
      principal = this.refreshClaims(ctx, params.get('refresh_token') ?? '');
      if (!principal) throw new RegistryHttpError(401, 'UNAUTHORIZED', AUTH_REQUIRED);
    } else if (authorization) {
      const basic = /^Basic\s+(\S+)$/i.exec(authorization);
      const decoded = basic?.[1] ? Buffer.from(basic[1], 'base64').toString('utf8') : '';
      const colon = decoded.indexOf(':');
      // Admin user and repository-scoped tokens are not modelled: only the null GUID + refresh token.
      if (colon < 0 || decoded.slice(0, colon) !== NULL_GUID)
        throw new RegistryHttpError(401, 'UNAUTHORIZED', AUTH_REQUIRED);
      principal = this.refreshClaims(ctx, decoded.slice(colon + 1));
      if (!principal) throw new RegistryHttpError(401, 'UNAUTHORIZED', AUTH_REQUIRED);
    }
    this.checkNetwork(ctx, principal?.vm);
    const requested = parseScopes(params.getAll('scope'));
    const access: AccessEntry[] = [];
    if (!principal) {
      if (!ctx.registry.access.anonymousPullEnabled)
        throw new RegistryHttpError(401, 'UNAUTHORIZED', AUTH_REQUIRED);
      // Anonymous pull: "read (pull) operations" for every repository, nothing else (Learn anonymous-pull-access).
      for (const scope of requested)
        if (scope.actions.includes('pull'))
          access.push({ type: 'repository', name: scope.repository, actions: ['pull'] });
    } else {
      for (const scope of requested) {
        if (!scope.actions.includes('pull')) continue;
        const decision = decidePull(
          { store: this.deps.store, rbacPropagationDelayMs: this.settings.rbacPropagationDelayMs },
          principal.sub,
          ctx.registry,
          scope.repository,
        );
        if (decision.allowed) access.push({ type: 'repository', name: scope.repository, actions: ['pull'] });
        else if (this.settings.refusal === 'tokenEndpoint')
          throw new RegistryHttpError(401, 'UNAUTHORIZED', AUTH_REQUIRED, {}, [
            { Type: 'repository', Name: scope.repository, Action: 'pull' },
          ]);
      }
    }
    const now = Math.floor(Date.now() / 1000);
    const token = this.deps.authority.signClaims({
      jti: randomUUID(),
      sub: principal?.sub ?? '',
      nbf: now,
      exp: now + ACCESS_LIFETIME_S,
      iat: now,
      iss: 'Azure Container Registry',
      aud: ctx.registry.loginServer,
      version: '1.0',
      access,
      roles: [],
      grant_type: principal ? 'refresh_token' : 'anonymous',
      xms_emu_typ: 'acr_access',
      ...(principal?.vm ? { xms_emu_vm: principal.vm } : {}),
    });
    return { access_token: token };
  }

  /** The access token on a data request, or undefined when there is none or it is not valid here. */
  private accessClaims(
    ctx: Ctx,
    authorization: string | undefined,
  ): { access: AccessEntry[]; vm?: string } | undefined {
    const bearer = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    const claims = bearer?.[1] ? this.deps.authority.verifyClaims(bearer[1]) : undefined;
    if (claims?.xms_emu_typ !== 'acr_access') return undefined;
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now()) return undefined;
    if (typeof claims.aud !== 'string' || !sameId(claims.aud, ctx.registry.loginServer)) return undefined;
    const vm = typeof claims.xms_emu_vm === 'string' ? claims.xms_emu_vm : undefined;
    return {
      access: Array.isArray(claims.access) ? (claims.access as AccessEntry[]) : [],
      ...(vm ? { vm } : {}),
    };
  }

  /** GET /v2/: the API version check; 401 + the challenge without a valid token (AAD-OAuth.md). */
  private base(ctx: Ctx, req: IncomingMessage, res: ServerResponse, method: string): void {
    const claims = this.accessClaims(ctx, req.headers.authorization);
    if (!claims)
      throw new RegistryHttpError(401, 'UNAUTHORIZED', AUTH_REQUIRED, this.challenge(ctx.host, ctx.registry));
    this.checkNetwork(ctx, claims.vm);
    this.sendJson(res, 200, {}, {}, method === 'HEAD');
  }

  private content(
    ctx: Ctx,
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    repository: string,
    reference: string,
    kind: 'manifest' | 'blob' | 'tags',
  ): void {
    const scope = `repository:${repository}:pull`;
    const claims = this.accessClaims(ctx, req.headers.authorization);
    const detail = [{ Type: 'repository', Name: repository, Action: 'pull' }];
    if (!claims)
      throw new RegistryHttpError(
        401,
        'UNAUTHORIZED',
        AUTH_REQUIRED,
        this.challenge(ctx.host, ctx.registry, scope),
        detail,
      );
    this.checkNetwork(ctx, claims.vm);
    const granted = claims.access.some(
      (a) =>
        a.type === 'repository' &&
        a.name === repository &&
        Array.isArray(a.actions) &&
        a.actions.includes('pull'),
    );
    // The distribution token spec: a token without the scope → 401 with the challenge naming the
    // scope and error="insufficient_scope".
    if (!granted)
      throw new RegistryHttpError(
        401,
        'UNAUTHORIZED',
        AUTH_REQUIRED,
        this.challenge(ctx.host, ctx.registry, scope, 'insufficient_scope'),
        detail,
      );
    const content = this.contentOf(ctx.registry);
    if (!content.hasRepository(repository))
      throw new RegistryHttpError(
        404,
        'NAME_UNKNOWN',
        'repository name not known to registry',
        {},
        { name: repository },
      );
    if (kind === 'tags') {
      // OCI distribution-spec "Listing Tags": {"name": <repository>, "tags": [...]}, same pull scope.
      this.sendJson(
        res,
        200,
        { name: repository, tags: content.tags(repository) ?? [] },
        {},
        method === 'HEAD',
      );
      return;
    }
    if (kind === 'manifest') {
      const found = content.manifest(repository, reference);
      if (!found)
        throw new RegistryHttpError(404, 'MANIFEST_UNKNOWN', 'manifest unknown', {}, { Tag: reference });
      this.sendBytes(res, found.bytes, OCI_MANIFEST, found.digest, method === 'HEAD');
      return;
    }
    const bytes = content.blob(repository, reference);
    if (!bytes)
      throw new RegistryHttpError(404, 'BLOB_UNKNOWN', 'blob unknown to registry', {}, { digest: reference });
    this.sendBytes(res, bytes, 'application/octet-stream', reference, method === 'HEAD');
  }

  private sendBytes(res: ServerResponse, bytes: Buffer, type: string, digest: string, head: boolean): void {
    res.writeHead(200, {
      'Docker-Distribution-Api-Version': 'registry/2.0',
      'Content-Type': type,
      'Content-Length': String(bytes.length),
      'Docker-Content-Digest': digest,
      ETag: `"${digest}"`,
    });
    res.end(head ? undefined : bytes);
  }

  private sendJson(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
    head = false,
  ): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Docker-Distribution-Api-Version': 'registry/2.0',
      ...headers,
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(text)),
    });
    res.end(head ? undefined : text);
  }

  /** The distribution spec's error body: `{"errors":[{"code","message","detail"}]}`. */
  private sendError(res: ServerResponse, e: RegistryHttpError, head = false): void {
    const error = {
      code: e.code,
      message: e.message,
      ...(e.detail === undefined ? {} : { detail: e.detail }),
    };
    this.sendJson(res, e.status, { errors: [error] }, e.headers, head);
  }
}

interface Ctx {
  registry: RegistryRecord;
  host: string;
  socketIp: string;
}
