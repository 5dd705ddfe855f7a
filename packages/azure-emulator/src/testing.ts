// Real SDK clients pointed at the emulator, trusting its CA (no TLS checks disabled), plus a raw
// HTTPS request for what the SDKs would never send (no token, wrong api-version).
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { ComputeManagementClient } from '@azure/arm-compute';
import { ContainerRegistryManagementClient } from '@azure/arm-containerregistry';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { ResourceGraphClient } from '@azure/arm-resourcegraph';
import { SubscriptionClient } from '@azure/arm-resources-subscriptions';
import type { TokenCredential } from '@azure/core-auth';
import type { Emulator, TokenSubject } from './index';

export const SUB = '00000000-0000-0000-0000-0000000000aa';
export const ACR_PULL = '7f951dda-4ed3-4680-a7ca-43fe172d538d';
export const REPOSITORY_READER = 'b93aa761-3e63-49ed-ac28-beffa264f7ac';
const ARM_SCOPE = 'https://management.azure.com/.default';

/** Where a seeded resource lives: `{ subscriptionId, resourceGroup, name, location }`. */
export const placed = (
  resourceGroup: string,
  name: string,
  location = 'westeurope',
  subscriptionId = SUB,
) => ({
  subscriptionId,
  resourceGroup,
  name,
  location,
});

export const roleDefinitionId = (guid: string, sub = SUB) =>
  `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;

/**
 * A credential that hands out tokens the emulator minted directly (no token endpoint involved): the
 * app's identity's, or another principal's (`as`).
 */
export function staticCredential(emu: Emulator, as?: TokenSubject): TokenCredential {
  return {
    getToken: async () => ({ token: emu.issueToken(as), expiresOnTimestamp: Date.now() + 3600_000 }),
  };
}

export interface Clients {
  compute: ComputeManagementClient;
  msi: ManagedServiceIdentityClient;
  authorization: AuthorizationManagementClient;
  registries: ContainerRegistryManagementClient;
}

export interface ClientOptions {
  credential?: TokenCredential;
  retryOptions?: { maxRetries: number; retryDelayInMs?: number };
  subscriptionId?: string;
}

export function clientsFor(emu: Emulator, options: ClientOptions = {}): Clients {
  const credential = options.credential ?? staticCredential(emu);
  const sub = options.subscriptionId ?? SUB;
  const retryOptions = options.retryOptions ?? { maxRetries: 0 };
  const common = { endpoint: emu.armEndpoint, tlsOptions: { ca: emu.caCertPem }, retryOptions };
  // Modular clients take `credentials.scopes`; classic ones `credentialScopes` (else both derive the
  // audience from the endpoint, which ARM rejects).
  const modular = { ...common, credentials: { scopes: [ARM_SCOPE] } };
  const classic = { ...common, credentialScopes: [ARM_SCOPE] };
  return {
    compute: new ComputeManagementClient(credential, sub, modular),
    msi: new ManagedServiceIdentityClient(credential, sub, classic),
    authorization: new AuthorizationManagementClient(credential, sub, classic),
    registries: new ContainerRegistryManagementClient(credential, sub, modular),
  };
}

/** The tenant-level clients (modular; no subscription): Resource Graph and Subscriptions. */
export function tenantClientsFor(
  emu: Emulator,
  options: Omit<ClientOptions, 'subscriptionId'> = {},
): { graph: ResourceGraphClient; subscriptions: SubscriptionClient } {
  const credential = options.credential ?? staticCredential(emu);
  const modular = {
    endpoint: emu.armEndpoint,
    tlsOptions: { ca: emu.caCertPem },
    credentials: { scopes: [ARM_SCOPE] },
    retryOptions: options.retryOptions ?? { maxRetries: 0 },
  };
  return {
    graph: new ResourceGraphClient(credential, modular),
    subscriptions: new SubscriptionClient(credential, modular),
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
}

/** One HTTPS request to the emulator's ARM endpoint; `token: false` sends no Authorization header. */
export function rawArm(
  emu: Emulator,
  method: string,
  pathAndQuery: string,
  options: { token?: string | false; body?: unknown; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  const token = options.token === undefined ? emu.issueToken() : options.token;
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const url = new URL(emu.armEndpoint);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path: pathAndQuery,
        ca: emu.caCertPem,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(payload ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : {} }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The RestError (or plain Error) a promise rejects with; fails the test when it resolves. */
export async function failure(
  promise: Promise<unknown>,
): Promise<{ statusCode?: number; code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { statusCode?: number; code?: string; message: string };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

export interface RawIngestionResponse {
  status: number;
  statusMessage: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, or undefined for an empty body. */
  body: unknown;
}

/** One HTTPS request to the emulator's ingestion endpoint (no token: Breeze takes none). */
export function rawIngestion(
  emu: Emulator,
  method: string,
  path: string,
  options: { body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<RawIngestionResponse> {
  const url = new URL(emu.ingestionEndpoint);
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: url.hostname, port: url.port, method, path, ca: emu.caCertPem, headers: options.headers },
      (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            statusMessage: res.statusMessage ?? '',
            headers: res.headers,
            body: text ? JSON.parse(text) : undefined,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

export interface PullAsVmOptions {
  /** The VM or scale set whose IMDS the workload asks. */
  targetId: string;
  registryId: string;
  /** Default `hello-world`. */
  repository?: string;
  /** A tag or digest (default `latest`). */
  reference?: string;
  /** Selects a user-assigned identity at IMDS (client_id); default none (IMDS's default identity). */
  clientId?: string;
  /** The Entra audience asked of IMDS (default ACR's, https://containerregistry.azure.net). */
  audience?: string;
}

export type PullAsVmResult =
  | { ok: true; digest: string }
  | { ok: false; step: 'imds' | 'exchange' | 'token' | 'manifest'; status: number; message: string };

interface PlainResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function plainRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; ca?: string },
): Promise<PlainResponse> {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      target,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        ...(options.ca ? { ca: options.ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The error text of an IMDS answer (`error_description`) or a registry one (`errors[0].message`). */
function errorText(body: Buffer): string {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as {
      error_description?: string;
      errors?: { message?: string }[];
    };
    return parsed.error_description ?? parsed.errors?.[0]?.message ?? body.toString('utf8');
  } catch {
    return body.toString('utf8');
  }
}

/**
 * A VM workload's whole pull over real HTTP on loopback, as `az acr login` + docker would do it:
 * IMDS token (for ACR's audience by default) → POST /oauth2/exchange → POST /oauth2/token
 * (scope repository:<repo>:pull) → GET /v2/<repo>/manifests/<reference>, whose body must hash to the
 * Docker-Content-Digest it came with. Reports the first step that failed.
 */
export async function pullAsVm(emu: Emulator, options: PullAsVmOptions): Promise<PullAsVmResult> {
  const repository = options.repository ?? 'hello-world';
  const reference = options.reference ?? 'latest';
  const audience = options.audience ?? 'https://containerregistry.azure.net';
  const query = new URLSearchParams({ 'api-version': '2018-02-01', resource: audience });
  if (options.clientId) query.set('client_id', options.clientId);
  const imds = await plainRequest(
    `${emu.vmImdsEndpoint(options.targetId)}/metadata/identity/oauth2/token?${query}`,
    {
      headers: { Metadata: 'true' },
    },
  );
  if (imds.status !== 200)
    return { ok: false, step: 'imds', status: imds.status, message: errorText(imds.body) };
  const aadToken = (JSON.parse(imds.body.toString('utf8')) as { access_token: string }).access_token;

  const registry = await emu.registryEndpoint(options.registryId);
  const challenge = await plainRequest(`${registry.url}/v2/`, { ca: emu.caCertPem });
  const service =
    /service="([^"]+)"/.exec(String(challenge.headers['www-authenticate'] ?? ''))?.[1] ?? registry.host;
  const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
  const exchange = await plainRequest(`${registry.url}/oauth2/exchange`, {
    method: 'POST',
    ca: emu.caCertPem,
    headers: form,
    body: new URLSearchParams({
      grant_type: 'access_token',
      service,
      tenant: emu.tenantId,
      access_token: aadToken,
    }).toString(),
  });
  if (exchange.status !== 200)
    return { ok: false, step: 'exchange', status: exchange.status, message: errorText(exchange.body) };
  const refreshToken = (JSON.parse(exchange.body.toString('utf8')) as { refresh_token: string })
    .refresh_token;

  const token = await plainRequest(`${registry.url}/oauth2/token`, {
    method: 'POST',
    ca: emu.caCertPem,
    headers: form,
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      service,
      scope: `repository:${repository}:pull`,
      refresh_token: refreshToken,
    }).toString(),
  });
  if (token.status !== 200)
    return { ok: false, step: 'token', status: token.status, message: errorText(token.body) };
  const accessToken = (JSON.parse(token.body.toString('utf8')) as { access_token: string }).access_token;

  const manifest = await plainRequest(`${registry.url}/v2/${repository}/manifests/${reference}`, {
    ca: emu.caCertPem,
    headers: {
      Authorization: `Bearer ${accessToken}`,
      Accept:
        'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
    },
  });
  if (manifest.status !== 200)
    return { ok: false, step: 'manifest', status: manifest.status, message: errorText(manifest.body) };
  const digest = String(manifest.headers['docker-content-digest'] ?? '');
  const actual = `sha256:${createHash('sha256').update(manifest.body).digest('hex')}`;
  if (digest !== actual)
    return {
      ok: false,
      step: 'manifest',
      status: manifest.status,
      message: `digest ${digest} does not match the body (${actual})`,
    };
  return { ok: true, digest };
}
