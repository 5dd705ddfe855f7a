// The emulated ACR data plane over real HTTPS on loopback: the token flow, each decision ACR makes
// (audience policy, permissions mode, conditions, deny assignments, propagation, network, anonymous
// pull) and the OCI pull endpoints.
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { type Emulator, type RegistryRecord, startEmulator } from '../src';
import { ACR_PULL, clientsFor, placed, pullAsVm, REPOSITORY_READER, SUB } from '../src/testing';

const RG = 'rg-acr';
const OWNER = '8e3af657-a8ff-443c-a75c-2fe8c4bcb635';
const ACR_PUSH = '8311e382-0749-4cb8-b61a-304f252e45ec';
const READ_CONDITION = (op: string, value: string) =>
  `((!(ActionMatches{'Microsoft.ContainerRegistry/registries/repositories/content/read'}) AND !(ActionMatches{'Microsoft.ContainerRegistry/registries/repositories/metadata/read'})) OR (@Request[Microsoft.ContainerRegistry/registries/repositories:name] ${op} ${value}))`;
const FIREWALL = (ip: string) =>
  `client with IP '${ip}' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.`;
const AUTH_REQUIRED = 'authentication required, visit https://aka.ms/acr/authorization for more information.';

let emu: Emulator;
let n = 0;
const fresh = (prefix: string) => `${prefix}${++n}`;

beforeAll(async () => {
  emu = await startEmulator();
});

afterAll(() => emu.close());

/** A registry and a VM whose only (user-assigned) identity holds `role` on it (none when undefined). */
function world(
  options: {
    role?: string;
    condition?: string;
    mode?: RegistryRecord['roleAssignmentMode'];
    sku?: string;
    access?: Partial<RegistryRecord['access']>;
  } = {},
) {
  const registry = emu.seedRegistry({
    subscriptionId: SUB,
    resourceGroup: RG,
    name: fresh('acr'),
    sku: options.sku ?? 'Standard',
    roleAssignmentMode: options.mode ?? 'LegacyRegistryPermissions',
    ...(options.access ? { access: options.access } : {}),
  });
  const identity = emu.seedIdentity(placed(RG, fresh('id-')));
  const vm = emu.seedVm({ ...placed(RG, fresh('vm-')), userAssignedIdentityIds: [identity.id] });
  if (options.role)
    emu.seedRoleAssignment({
      scope: registry.id,
      roleDefinitionId: options.role,
      principalId: identity.principalId,
      ...(options.condition ? { condition: options.condition } : {}),
    });
  return {
    registry,
    identity,
    vm,
    pull: (o: { repository?: string; reference?: string; audience?: string } = {}) =>
      pullAsVm(emu, { targetId: vm.id, registryId: registry.id, ...o }),
  };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json: () => { errors?: { code: string; message: string }[]; access_token?: string; refresh_token?: string };
}

async function request(
  registry: RegistryRecord,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const endpoint = await emu.registryEndpoint(registry.id);
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${endpoint.url}${path}`,
      { method: options.method ?? 'GET', headers: options.headers, ca: emu.caCertPem },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: () => JSON.parse(body.toString()),
          });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** An ACR access token for the VM's identity and this scope, through IMDS, exchange and token. */
async function accessToken(w: ReturnType<typeof world>, scope: string): Promise<string> {
  const imds = await new Promise<string>((resolve, reject) => {
    const url = `${emu.vmImdsEndpoint(w.vm.id)}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://containerregistry.azure.net`;
    http
      .get(url, { headers: { Metadata: 'true' } }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve(JSON.parse(text).access_token));
      })
      .on('error', reject);
  });
  const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
  const exchange = await request(w.registry, '/oauth2/exchange', {
    method: 'POST',
    headers: form,
    body: new URLSearchParams({
      grant_type: 'access_token',
      service: w.registry.loginServer,
      access_token: imds,
    }).toString(),
  });
  const refresh = exchange.json().refresh_token ?? '';
  const token = await request(
    w.registry,
    `/oauth2/token?${new URLSearchParams({ service: w.registry.loginServer, scope })}`,
    {
      headers: {
        Authorization: `Basic ${Buffer.from(`00000000-0000-0000-0000-000000000000:${refresh}`).toString('base64')}`,
      },
    },
  );
  expect(token.status).toBe(200);
  return token.json().access_token ?? '';
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('the token flow and the OCI endpoints', () => {
  it("GET /v2/ answers 401 with ACR's challenge (realm on this listener, service = the login server)", async () => {
    const { registry } = world();
    const endpoint = await emu.registryEndpoint(registry.id);
    const answer = await request(registry, '/v2/');
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toBe(
      `Bearer realm="https://${endpoint.host}/oauth2/token",service="${registry.loginServer}"`,
    );
    expect(answer.headers['docker-distribution-api-version']).toBe('registry/2.0');
  });

  it('serves the seeded manifest and blobs with their real sha256 digests, HEAD and GET alike', async () => {
    const w = world({ role: ACR_PULL });
    const token = await accessToken(w, 'repository:hello-world:pull');
    const auth = { Authorization: `Bearer ${token}` };
    const manifest = await request(w.registry, '/v2/hello-world/manifests/latest', { headers: auth });
    expect(manifest.status).toBe(200);
    expect(manifest.headers['content-type']).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(manifest.headers['docker-content-digest']).toBe(sha256(manifest.body));
    expect(manifest.headers['docker-content-digest']).toBe(emu.imageDigest(w.registry.id, 'hello-world'));
    expect(Number(manifest.headers['content-length'])).toBe(manifest.body.length);
    const parsed = JSON.parse(manifest.body.toString()) as {
      config: { digest: string };
      layers: { digest: string; size: number }[];
    };
    for (const digest of [parsed.config.digest, ...parsed.layers.map((l) => l.digest)]) {
      const blob = await request(w.registry, `/v2/hello-world/blobs/${digest}`, { headers: auth });
      expect(blob.status).toBe(200);
      expect(sha256(blob.body)).toBe(digest);
      expect(blob.headers['docker-content-digest']).toBe(digest);
    }
    const head = await request(
      w.registry,
      `/v2/hello-world/manifests/${manifest.headers['docker-content-digest']}`,
      {
        method: 'HEAD',
        headers: auth,
      },
    );
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(manifest.headers['content-length']);
  });

  it('answers MANIFEST_UNKNOWN, NAME_UNKNOWN and BLOB_UNKNOWN in the spec’s error format', async () => {
    const w = world({ role: ACR_PULL });
    const auth = (token: string) => ({ Authorization: `Bearer ${token}` });
    const hello = await accessToken(w, 'repository:hello-world:pull');
    const missingTag = await request(w.registry, '/v2/hello-world/manifests/nope', { headers: auth(hello) });
    expect(missingTag.status).toBe(404);
    expect(missingTag.json().errors?.[0]?.code).toBe('MANIFEST_UNKNOWN');
    const missingBlob = await request(w.registry, `/v2/hello-world/blobs/sha256:${'0'.repeat(64)}`, {
      headers: auth(hello),
    });
    expect(missingBlob.json().errors?.[0]?.code).toBe('BLOB_UNKNOWN');
    const ghost = await accessToken(w, 'repository:ghost:pull');
    const missingRepo = await request(w.registry, '/v2/ghost/manifests/latest', { headers: auth(ghost) });
    expect(missingRepo.status).toBe(404);
    expect(missingRepo.json().errors?.[0]?.code).toBe('NAME_UNKNOWN');
  });

  it('answers a token without the scope with 401 and a challenge naming the scope and insufficient_scope', async () => {
    const w = world({ role: ACR_PULL });
    emu.seedImage(w.registry.id, 'team/app', 'v1');
    const token = await accessToken(w, 'repository:hello-world:pull');
    const answer = await request(w.registry, '/v2/team/app/manifests/v1', {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toMatch(
      /scope="repository:team\/app:pull",error="insufficient_scope"$/,
    );
    expect(answer.json().errors?.[0]).toMatchObject({ code: 'UNAUTHORIZED', message: AUTH_REQUIRED });
  });

  it('seedImage adds a pullable image with its own digest', async () => {
    const w = world({ role: ACR_PULL });
    const { digest } = emu.seedImage(w.registry.id, 'team/app', 'v2');
    expect(digest).not.toBe(emu.imageDigest(w.registry.id, 'hello-world'));
    expect(await w.pull({ repository: 'team/app', reference: 'v2' })).toEqual({ ok: true, digest });
  });
});

describe('audience: azureADAuthenticationAsArmPolicy', () => {
  it("accepts ARM-audience tokens while enabled, refuses them at the exchange once disabled; ACR's audience always works", async () => {
    const w = world({ role: ACR_PULL });
    expect(await w.pull({ audience: 'https://management.azure.com/' })).toMatchObject({ ok: true });
    emu.updateRegistry(w.registry.id, { azureADAuthenticationAsArmPolicy: 'disabled' });
    expect(await w.pull({ audience: 'https://management.azure.com/' })).toMatchObject({
      ok: false,
      step: 'exchange',
      status: 401,
    });
    expect(await w.pull({ audience: 'https://management.core.windows.net/' })).toMatchObject({
      ok: false,
      step: 'exchange',
    });
    expect(await w.pull()).toMatchObject({ ok: true });
  });
});

describe('roles by permissions mode', () => {
  const refused = { ok: false, step: 'manifest', status: 401, message: AUTH_REQUIRED };

  it('legacy mode honours AcrPull, AcrPush and Owner (pull/read through *)', async () => {
    for (const role of [ACR_PULL, ACR_PUSH, OWNER])
      expect(await world({ role }).pull()).toMatchObject({ ok: true });
    expect(await world({ role: REPOSITORY_READER }).pull()).toEqual(refused);
  });

  it('ABAC mode honours Container Registry Repository Reader only: AcrPull, AcrPush and Owner grant no pull', async () => {
    const mode = 'AbacRepositoryPermissions';
    for (const role of [ACR_PULL, ACR_PUSH, OWNER])
      expect(await world({ role, mode }).pull()).toEqual(refused);
    expect(await world({ role: REPOSITORY_READER, mode }).pull()).toMatchObject({ ok: true });
  });

  it('a principal with no role gets a token with empty access, then 401 on the manifest', async () => {
    expect(await world().pull()).toEqual(refused);
  });

  it("with registryRefusal 'tokenEndpoint', the token endpoint itself answers 401", async () => {
    emu.setRegistryRefusal('tokenEndpoint');
    try {
      expect(await world().pull()).toMatchObject({ ok: false, step: 'token', status: 401 });
    } finally {
      emu.setRegistryRefusal('emptyAccess');
    }
  });
});

describe('ABAC conditions', () => {
  const mode = 'AbacRepositoryPermissions';

  it('a condition that matches the repository grants the pull; one that does not, refuses it', async () => {
    const w = world({
      role: REPOSITORY_READER,
      mode,
      condition: READ_CONDITION('StringStartsWithIgnoreCase', "'HELLO-'"),
    });
    emu.seedImage(w.registry.id, 'team/app', 'v1');
    expect(await w.pull()).toMatchObject({ ok: true });
    expect(await w.pull({ repository: 'team/app', reference: 'v1' })).toMatchObject({
      ok: false,
      step: 'manifest',
      status: 401,
    });
  });

  it('evaluates StringEquals (case-sensitive), StringLike and ForAnyOfAnyValues lists', async () => {
    const cases: [string, boolean][] = [
      [READ_CONDITION('StringEquals', "'hello-world'"), true],
      [READ_CONDITION('StringEquals', "'Hello-World'"), false],
      [READ_CONDITION('StringEqualsIgnoreCase', "'Hello-World'"), true],
      [READ_CONDITION('StringLike', "'hel*-w?rld'"), true],
      [READ_CONDITION('StringStartsWith', "'team/'"), false],
      [READ_CONDITION('ForAnyOfAnyValues:StringEquals', "{'other', 'hello-world'}"), true],
    ];
    for (const [condition, ok] of cases)
      expect(await world({ role: REPOSITORY_READER, mode, condition }).pull()).toMatchObject({ ok });
  });

  it('a condition the emulator cannot evaluate grants nothing (fail closed)', async () => {
    const unparseable = `(${READ_CONDITION('StringStartsWith', "'hello'")}`;
    const unknownAttribute =
      "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals 'x'";
    for (const condition of [unparseable, unknownAttribute])
      expect(await world({ role: REPOSITORY_READER, mode, condition }).pull()).toMatchObject({
        ok: false,
        status: 401,
      });
  });
});

describe('deny assignments', () => {
  it('a deny covering pull/read for the principal beats its AcrPull; excludePrincipals exempts it', async () => {
    const w = world({ role: ACR_PULL });
    const group = `/subscriptions/${SUB}/resourceGroups/${RG}`;
    const deny = emu.seedDenyAssignment({
      scope: group,
      permissions: [{ actions: ['Microsoft.ContainerRegistry/registries/*/read'] }],
      principals: [{ id: w.identity.principalId }],
    });
    expect(await w.pull()).toMatchObject({ ok: false, step: 'manifest', status: 401 });

    const everyone = world({ role: ACR_PULL });
    emu.seedDenyAssignment({
      scope: everyone.registry.id,
      permissions: [{ actions: ['*'], notActions: ['Microsoft.ContainerRegistry/registries/read'] }],
      principals: [{ id: '00000000-0000-0000-0000-000000000000' }],
      excludePrincipals: [{ id: everyone.identity.principalId }],
    });
    expect(await everyone.pull()).toMatchObject({ ok: true });

    // Read through ARM, as @azure/arm-authorization sends it (2022-04-01).
    const { authorization } = clientsFor(emu);
    const listed = [];
    for await (const d of authorization.denyAssignments.listForScope(w.registry.id, { filter: 'atScope()' }))
      listed.push(d);
    expect(listed.map((d) => d.id)).toEqual([deny.id]);
    const got = await authorization.denyAssignments.get(group, deny.name);
    expect(got).toMatchObject({
      principals: [{ id: w.identity.principalId, type: 'ServicePrincipal' }],
      doNotApplyToChildScopes: false,
    });
    const byPrincipal = [];
    for await (const d of authorization.denyAssignments.listForScope(`/subscriptions/${SUB}`, {
      filter: `principalId eq '${everyone.identity.principalId}'`,
    }))
      byPrincipal.push(d.id);
    expect(byPrincipal).toHaveLength(1);
  });

  it('doNotApplyToChildScopes keeps a deny at a resource group from reaching its registries', async () => {
    const w = world({ role: ACR_PULL });
    emu.seedDenyAssignment({
      scope: `/subscriptions/${SUB}/resourceGroups/${RG}`,
      permissions: [{ actions: ['*'] }],
      principals: [{ id: w.identity.principalId }],
      doNotApplyToChildScopes: true,
    });
    expect(await w.pull()).toMatchObject({ ok: true });
  });
});

describe('propagation delay', () => {
  it('an assignment younger than rbacPropagationDelayMs does not count yet', async () => {
    const w = world({ role: ACR_PULL });
    emu.setRbacPropagationDelay(24 * 3600_000);
    try {
      expect(await w.pull()).toMatchObject({ ok: false, step: 'manifest', status: 401 });
    } finally {
      emu.setRbacPropagationDelay(0);
    }
    expect(await w.pull()).toMatchObject({ ok: true });
  });
});

describe('network', () => {
  it('public network access Disabled: refused (403 DENIED) without a private path, allowed with one', async () => {
    const w = world({ role: ACR_PULL, sku: 'Premium', access: { publicNetworkAccess: 'Disabled' } });
    expect(await w.pull()).toEqual({
      ok: false,
      step: 'exchange',
      status: 403,
      message: FIREWALL('127.0.0.1'),
    });
    emu.setVmNetworkPosition(w.vm.id, { privatePath: false, publicIp: '20.1.2.3' });
    expect(await w.pull()).toEqual({
      ok: false,
      step: 'exchange',
      status: 403,
      message: FIREWALL('20.1.2.3'),
    });
    emu.setVmNetworkPosition(w.vm.id, { privatePath: true });
    expect(await w.pull()).toMatchObject({ ok: true });
  });

  it('firewall Deny: an IP inside an ipRule (CIDR or single) passes, one outside gets 403', async () => {
    const w = world({
      role: ACR_PULL,
      sku: 'Premium',
      access: {
        networkRuleSet: {
          defaultAction: 'Deny',
          ipRules: [
            { action: 'Allow', value: '20.1.2.0/24' },
            { action: 'Allow', value: '52.0.0.7' },
          ],
        },
      },
    });
    for (const ip of ['20.1.2.77', '52.0.0.7']) {
      emu.setVmNetworkPosition(w.vm.id, { privatePath: false, publicIp: ip });
      expect(await w.pull()).toMatchObject({ ok: true });
    }
    emu.setVmNetworkPosition(w.vm.id, { privatePath: false, publicIp: '20.1.3.1' });
    expect(await w.pull()).toEqual({
      ok: false,
      step: 'exchange',
      status: 403,
      message: FIREWALL('20.1.3.1'),
    });
    emu.setVmNetworkPosition(w.vm.id, undefined);
    expect(await w.pull()).toMatchObject({ ok: false, status: 403 });
  });

  it('a token obtained while allowed is refused on the manifest once the firewall closes', async () => {
    const w = world({ role: ACR_PULL, sku: 'Premium' });
    const token = await accessToken(w, 'repository:hello-world:pull');
    emu.updateRegistry(w.registry.id, { publicNetworkAccess: 'Disabled' });
    const answer = await request(w.registry, '/v2/hello-world/manifests/latest', {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(answer.status).toBe(403);
    expect(answer.json().errors?.[0]).toEqual({ code: 'DENIED', message: FIREWALL('127.0.0.1') });
  });
});

describe('anonymous pull', () => {
  it('without anonymousPullEnabled a token request without credentials gets 401; with it, a pull token', async () => {
    const { registry } = world();
    const query = `/oauth2/token?${new URLSearchParams({ service: registry.loginServer, scope: 'repository:hello-world:pull' })}`;
    expect((await request(registry, query)).status).toBe(401);
    emu.updateRegistry(registry.id, { anonymousPullEnabled: true });
    const token = await request(registry, query);
    expect(token.status).toBe(200);
    const manifest = await request(registry, '/v2/hello-world/manifests/latest', {
      headers: { Authorization: `Bearer ${token.json().access_token}` },
    });
    expect(manifest.status).toBe(200);
    expect(manifest.headers['docker-content-digest']).toBe(emu.imageDigest(registry.id, 'hello-world'));
  });
});
