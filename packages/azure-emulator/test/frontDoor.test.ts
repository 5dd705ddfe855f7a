// What every ARM request goes through: authentication (with tokens from the managed-identity
// endpoint, fetched by the real @azure/identity credentials), api-version checks, routing, ARM
// headers, injected faults, latency and request counting.
import http from 'node:http';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { type Emulator, OPERATIONS, startEmulator } from '../src';
import { type Clients, clientsFor, failure, placed, rawArm, SUB } from '../src/testing';

const RG = 'rg-apps';
const VM_PATH = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/vm-web-01`;
const FAST = { updateIntervalInMs: 60 };

let emu: Emulator;
let clients: Clients;

beforeAll(async () => {
  emu = await startEmulator({ operationDurationMs: 50 });
  clients = clientsFor(emu);
  emu.seedVm({ ...placed(RG, 'vm-web-01'), tags: { acrPull: 'x' } });
  emu.seedVm(placed(RG, 'vm-web-02'));
  emu.seedVm(placed(RG, 'vm-headers'));
});

afterEach(() => {
  emu.clearFaults();
  emu.setLatency(0);
});

afterAll(() => emu.close());

function tokenEndpoint(
  query: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${emu.identityEndpoint}?${query}`, { headers }, (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      })
      .on('error', reject);
  });
}

describe('authentication', () => {
  it('answers a request without a token with 401 AuthenticationFailed and a Bearer challenge', async () => {
    const res = await rawArm(emu, 'GET', `${VM_PATH}?api-version=2026-04-01`, { token: false });

    expect(res.status).toBe(401);
    expect(res.body.error?.code).toBe('AuthenticationFailed');
    expect(String(res.headers['www-authenticate'])).toMatch(/^Bearer /);
  });

  it('answers a token it did not issue with 401 InvalidAuthenticationToken', async () => {
    const forged = emu.issueToken().replace(/\.[^.]+$/, '.c2lnbmF0dXJl');
    const res = await rawArm(emu, 'GET', `${VM_PATH}?api-version=2026-04-01`, { token: forged });

    expect(res.status).toBe(401);
    expect(res.body.error?.code).toBe('InvalidAuthenticationToken');
  });

  describe('with tokens from the managed-identity endpoint', () => {
    const saved = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };

    beforeAll(() => {
      process.env.IDENTITY_ENDPOINT = emu.identityEndpoint;
      process.env.IDENTITY_HEADER = emu.identityHeader;
    });

    afterAll(() => {
      for (const [name, value] of [
        ['IDENTITY_ENDPOINT', saved.endpoint],
        ['IDENTITY_HEADER', saved.header],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    });

    it('lets ManagedIdentityCredential and DefaultAzureCredential fetch tokens ARM accepts', async () => {
      emu.resetCounts();

      const viaManagedIdentity = await clientsFor(emu, {
        credential: new ManagedIdentityCredential(),
      }).compute.virtualMachines.get(RG, 'vm-web-01');
      const viaDefault = await clientsFor(emu, {
        credential: new DefaultAzureCredential(),
      }).compute.virtualMachines.get(RG, 'vm-web-02');

      expect(viaManagedIdentity.name).toBe('vm-web-01');
      expect(viaDefault.name).toBe('vm-web-02');
      // MSAL caches managed-identity tokens process-wide, so the second credential may not ask again.
      expect(emu.totals().tokens).toBeGreaterThanOrEqual(1);
    });

    it('issues a user-assigned identity its own token when asked by client id', async () => {
      const own = emu.seedIdentity(placed('rg-ids', 'id-app'));
      const credential = new ManagedIdentityCredential({ clientId: own.clientId });

      const token = await credential.getToken('https://management.azure.com/.default');
      const claims = JSON.parse(Buffer.from(token.token.split('.')[1] ?? '', 'base64url').toString());

      expect(claims).toMatchObject({ oid: own.principalId, appid: own.clientId, tid: emu.tenantId });
    });

    it('issues no token for an audience nothing accepts: a classic client without credentialScopes asks for its endpoint', async () => {
      const msi = new ManagedServiceIdentityClient(new ManagedIdentityCredential(), SUB, {
        endpoint: emu.armEndpoint,
        tlsOptions: { ca: emu.caCertPem },
        retryOptions: { maxRetries: 0 },
      });
      const before = emu.totals().reads;

      const error = await failure(msi.userAssignedIdentities.get('rg-ids', 'id-app'));

      // App Service's answer for a resource Entra ID does not know, relayed by the credential.
      expect(error.message).toContain('An unexpected error occured while fetching the AAD Token.');
      expect(emu.totals().reads).toBe(before);
    });

    it("refuses a token minted for another audience with ARM's 401 InvalidAuthenticationTokenAudience", async () => {
      const { principalId: objectId, clientId } = emu.appIdentity;
      const token = emu.issueToken({ objectId, clientId, audience: emu.armEndpoint });

      const res = await rawArm(emu, 'GET', `${VM_PATH}?api-version=2026-04-01`, { token });

      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ error: { code: 'InvalidAuthenticationTokenAudience' } });
      expect(JSON.stringify(res.body)).toContain(`'${emu.armEndpoint}'`);
    });
  });

  it('guards the token endpoint with X-IDENTITY-HEADER and api-version 2019-08-01', async () => {
    const query = 'api-version=2019-08-01&resource=https%3A%2F%2Fmanagement.azure.com';

    const good = await tokenEndpoint(query, { 'X-IDENTITY-HEADER': emu.identityHeader });
    const wrong = await tokenEndpoint(query, { 'X-IDENTITY-HEADER': 'guess' });
    const missing = await tokenEndpoint(query, {});
    const oldApi = await tokenEndpoint('api-version=2017-09-01&resource=x', {
      'X-IDENTITY-HEADER': emu.identityHeader,
    });
    const unknownClient = await tokenEndpoint(`${query}&client_id=${SUB}`, {
      'X-IDENTITY-HEADER': emu.identityHeader,
    });

    expect(good).toMatchObject({
      status: 200,
      body: {
        token_type: 'Bearer',
        resource: 'https://management.azure.com',
        client_id: emu.appIdentity.clientId,
      },
    });
    expect(good.body.expires_on).toMatch(/^\d{10}$/);
    expect([wrong.status, missing.status, oldApi.status, unknownClient.status]).toEqual([401, 400, 400, 400]);
  });
});

describe('api-versions and routes', () => {
  it('requires an api-version (400 MissingApiVersionParameter)', async () => {
    const res = await rawArm(emu, 'GET', VM_PATH);
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('MissingApiVersionParameter');
  });

  it('accepts every published api-version of a type, with the same answer', async () => {
    const answers = await Promise.all(
      ['2015-06-15', '2019-07-01', '2023-03-01', '2026-04-01'].map((v) =>
        rawArm(emu, 'GET', `${VM_PATH}?api-version=${v}`),
      ),
    );
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(new Set(answers.map((r) => JSON.stringify(r.body))).size).toBe(1);
  });

  it('answers an unpublished api-version of a provider type as ARM does (400 NoRegisteredProviderFound)', async () => {
    const res = await rawArm(emu, 'GET', `${VM_PATH}?api-version=2024-11-30`);
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('NoRegisteredProviderFound');
    expect(res.body.error?.message).toMatch(
      /^No registered resource provider found for location '\w+' and API version '2024-11-30' for type 'virtualMachines'\. The supported api-versions are '2015-06-15, 2016-03-30, .*, 2026-03-01, 2026-04-01'\. The supported locations are ''\.$/,
    );
  });

  it('matches path segments case-insensitively', async () => {
    const res = await rawArm(
      emu,
      'GET',
      `/SUBSCRIPTIONS/${SUB}/resourcegroups/${RG.toUpperCase()}/providers/microsoft.compute/VIRTUALMACHINES/VM-WEB-01?api-version=2026-04-01`,
    );
    expect(res.status).toBe(200);
    expect(res.body.name).toBe('vm-web-01');
  });

  it('answers unknown types with 404 InvalidResourceType, unknown namespaces with 404 InvalidResourceNamespace, and unemulated methods with 501', async () => {
    const disks = await rawArm(
      emu,
      'GET',
      `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/disks/d1?api-version=2026-04-01`,
    );
    const storage = await rawArm(
      emu,
      'GET',
      `/subscriptions/${SUB}/providers/Microsoft.Storage/storageAccounts?api-version=2025-01-01`,
    );
    const deleteVm = await rawArm(emu, 'DELETE', `${VM_PATH}?api-version=2026-04-01`);

    expect([disks.status, disks.body.error?.code]).toEqual([404, 'InvalidResourceType']);
    expect([storage.status, storage.body.error?.code]).toEqual([404, 'InvalidResourceNamespace']);
    expect([deleteVm.status, deleteVm.body.error?.code]).toEqual([501, 'NotImplemented']);
  });

  it('answers an unknown subscription with 404 SubscriptionNotFound', async () => {
    const res = await rawArm(
      emu,
      'GET',
      '/subscriptions/00000000-0000-0000-0000-00000000dead/providers/Microsoft.Compute/virtualMachines?api-version=2026-04-01',
    );
    expect([res.status, res.body.error?.code]).toEqual([404, 'SubscriptionNotFound']);
  });
});

describe('ARM response headers', () => {
  afterEach(() => emu.setThrottle(false));

  it('sends request ids, echoes the correlation id, and counts down the rate-limit headers', async () => {
    // A refill too slow to land between two requests keeps the countdown exact (ARM refills 25/s).
    emu.setThrottle({ reads: { perSecond: 0.001 } });
    const first = await rawArm(emu, 'GET', `${VM_PATH}?api-version=2026-04-01`, {
      headers: { 'x-ms-correlation-request-id': 'corr-123' },
    });
    const second = await rawArm(emu, 'GET', `${VM_PATH}?api-version=2026-04-01`);
    const write = await rawArm(
      emu,
      'PATCH',
      `${VM_PATH.replace('vm-web-01', 'vm-headers')}?api-version=2026-04-01`,
      {
        body: { tags: { acrPull: 'x' } },
      },
    );

    expect(first.headers['x-ms-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.headers['x-ms-correlation-request-id']).toBe('corr-123');
    expect(first.headers['x-ms-routing-request-id']).toMatch(/^[A-Z]+:\d{8}T\d{6}Z:[0-9a-f-]{36}$/);
    const reads = (r: typeof first) => Number(r.headers['x-ms-ratelimit-remaining-subscription-reads']);
    expect([reads(first), reads(second)]).toEqual([249, 248]);
    expect(Number(write.headers['x-ms-ratelimit-remaining-subscription-writes'])).toBeLessThan(200);
    expect(write.headers['x-ms-ratelimit-remaining-subscription-reads']).toBeUndefined();
  });
});

describe('faults', () => {
  it('answers 429 with Retry-After and retry-after-ms and an ARM throttling body', async () => {
    emu.injectFault({
      operation: 'vm.get',
      status: 429,
      code: 'SubscriptionRequestsThrottled',
      retryAfterSeconds: 3,
      retryAfterMs: 20,
    });

    const throttled = await rawArm(emu, 'GET', `${VM_PATH}?api-version=2026-04-01`);
    const next = await rawArm(emu, 'GET', `${VM_PATH}?api-version=2026-04-01`);

    expect(throttled.status).toBe(429);
    expect(throttled.headers['retry-after']).toBe('3');
    expect(throttled.headers['retry-after-ms']).toBe('20');
    expect(throttled.body.error?.message).toMatch(
      /^Number of 'read' requests for subscription '.*' exceeded\. Please try again after '3' seconds/,
    );
    expect(next.status).toBe(200);
  });

  it('surfaces a 429 as a RestError without retries, and is retried by the pipeline when it may', async () => {
    emu.injectFault({
      operation: 'vm.get',
      status: 429,
      code: 'SubscriptionRequestsThrottled',
      retryAfterMs: 10,
      count: 2,
    });
    const retrying = clientsFor(emu, { retryOptions: { maxRetries: 2, retryDelayInMs: 10 } });

    const error = await failure(clients.compute.virtualMachines.get(RG, 'vm-web-01'));
    emu.resetCounts();
    const vm = await retrying.compute.virtualMachines.get(RG, 'vm-web-01');

    expect([error.statusCode, error.code]).toEqual([429, 'SubscriptionRequestsThrottled']);
    expect(vm.name).toBe('vm-web-01');
    expect(emu.counts()['vm.get']).toBe(2);
  });

  it('applies a fault only to requests its predicate matches', async () => {
    emu.injectFault({
      operation: 'vm.patch',
      status: 409,
      code: 'Conflict',
      match: (req) => req.path.endsWith('/vm-web-02') && JSON.stringify(req.body).includes('blocked'),
    });

    await expect(
      clients.compute.virtualMachines.update(RG, 'vm-web-01', { tags: { v: 'blocked' } }, FAST),
    ).resolves.toBeDefined();
    const error = await failure(
      clients.compute.virtualMachines.update(RG, 'vm-web-02', { tags: { v: 'blocked' } }, FAST),
    );

    expect([error.statusCode, error.code]).toEqual([409, 'Conflict']);
    expect(error.message).toContain('conflict with a concurrent request');
  });

  it('resets the connection, then serves the next request', async () => {
    emu.injectFault({ operation: 'vm.get', kind: 'reset', status: 0, code: 'reset' });

    const error = await failure(clients.compute.virtualMachines.get(RG, 'vm-web-01'));
    const next = await clients.compute.virtualMachines.get(RG, 'vm-web-01');

    expect(error.statusCode).toBeUndefined();
    expect(error.message).toMatch(/socket hang up|ECONNRESET/i);
    expect(next.name).toBe('vm-web-01');
  });

  it('validates fault specs', () => {
    expect(() =>
      emu.injectFault({ operation: 'vm.get', kind: 'asyncFailed', status: 200, code: 'X' }),
    ).toThrow(/vm\.patch/);
    expect(() => emu.injectFault({ operation: 'vm.get', status: 429, code: 'X', count: 0 })).toThrow(/count/);
  });
});

describe('latency and counting', () => {
  it('adds the configured latency to ARM responses', async () => {
    emu.setLatency(150);
    const started = Date.now();
    await clients.compute.virtualMachines.get(RG, 'vm-web-01');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('counts requests per operation (faulted ones included) with every key present', async () => {
    emu.resetCounts();
    emu.injectFault({ operation: 'registry.list', status: 503, code: 'ServiceUnavailable' });

    await clients.compute.virtualMachines.get(RG, 'vm-web-01');
    await clients.compute.virtualMachines.update(RG, 'vm-web-01', { tags: { n: '1' } }, FAST);
    await failure(clients.registries.registries.list().next());
    for await (const _ of clients.compute.virtualMachines.list(RG)) {
      // drain
    }

    expect(Object.keys(emu.counts()).sort()).toEqual([...OPERATIONS].sort());
    expect(emu.counts()).toMatchObject({
      'vm.get': 2,
      'vm.patch': 1,
      'vm.operationStatus': 2,
      'vm.list': 1,
      'registry.list': 1,
    });
    expect(emu.totals()).toEqual({ reads: 4, writes: 1, polls: 2, tokens: 0, telemetry: 0 });
  });
});
