// The optional throttle: ARM's token buckets per subscription (or tenant) × caller × kind, and
// Resource Graph's per-caller quota window. Off by default; when on, an empty bucket answers 429 with
// Retry-After and ARM's wording, and the x-ms-ratelimit-remaining-* headers report the same bucket.
import http from 'node:http';
import { type Emulator, startEmulator } from '../src';
import { clientsFor, failure, placed, rawArm, SUB, tenantClientsFor } from '../src/testing';

const SUB2 = '00000000-0000-0000-0000-0000000000bb';
const VM = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Compute/virtualMachines/vm-1`;
const GET_VM = `${VM}?api-version=2026-04-01`;
const ARG = '/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01';
const ALL_VMS = "resources | where type =~ 'microsoft.compute/virtualmachines' | project id";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let emu: Emulator;

/** PATCHes go to a fresh VM each time: a VM whose update still runs would answer 409. */
let patched = 0;
const nextPatchPath = () => {
  patched += 1;
  emu.seedVm(placed('rg-apps', `vm-patch-${patched}`));
  return GET_VM.replace('vm-1', `vm-patch-${patched}`);
};

beforeAll(async () => {
  emu = await startEmulator();
  emu.seedVm(placed('rg-apps', 'vm-1'));
  emu.seedVm(placed('rg-apps', 'vm-2', 'westeurope', SUB2));
});

beforeEach(() => {
  emu.setThrottle(false);
  emu.resetCounts();
});

afterAll(() => emu.close());

const remaining = (res: { headers: Record<string, unknown> }, name: string) => res.headers[name];

/** A token for another caller: a user-assigned identity's, from the managed-identity endpoint. */
function tokenFor(clientId: string): Promise<string> {
  const url = `${emu.identityEndpoint}?api-version=2019-08-01&resource=https%3A%2F%2Fmanagement.azure.com&client_id=${clientId}`;
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { 'X-IDENTITY-HEADER': emu.identityHeader } }, (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => resolve(JSON.parse(text).access_token));
      })
      .on('error', reject);
  });
}

describe('ARM token buckets', () => {
  it('uses ARM’s numbers: 250 reads, 200 writes, 200 deletes, 15 graph queries', async () => {
    emu.setThrottle(true);
    const read = await rawArm(emu, 'GET', GET_VM);
    const write = await rawArm(emu, 'PATCH', nextPatchPath(), { body: { tags: { a: 'b' } } });
    const del = await rawArm(
      emu,
      'DELETE',
      `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleAssignments/${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}?api-version=2022-04-01`,
    );
    const graph = await rawArm(emu, 'POST', ARG, { body: { query: ALL_VMS } });

    expect(remaining(read, 'x-ms-ratelimit-remaining-subscription-reads')).toBe('249');
    expect(remaining(write, 'x-ms-ratelimit-remaining-subscription-writes')).toBe('199');
    expect(remaining(del, 'x-ms-ratelimit-remaining-subscription-deletes')).toBe('199');
    expect(remaining(graph, 'x-ms-user-quota-remaining')).toBe('14');
  });

  it('answers 429 SubscriptionRequestsThrottled with Retry-After when the read bucket is empty', async () => {
    emu.setThrottle({ reads: { burst: 3, perSecond: 0.5 } });
    const ok = [];
    for (let i = 0; i < 3; i += 1) ok.push(await rawArm(emu, 'GET', GET_VM));
    const throttled = await rawArm(emu, 'GET', GET_VM);

    expect(ok.map((r) => [r.status, remaining(r, 'x-ms-ratelimit-remaining-subscription-reads')])).toEqual([
      [200, '2'],
      [200, '1'],
      [200, '0'],
    ]);
    expect(throttled.status).toBe(429);
    expect(throttled.headers['retry-after']).toBe('2');
    expect(remaining(throttled, 'x-ms-ratelimit-remaining-subscription-reads')).toBe('0');
    expect(throttled.body).toEqual({
      error: {
        code: 'SubscriptionRequestsThrottled',
        message: `Number of 'read' requests for subscription '${SUB}' actor '${emu.appIdentity.principalId}' exceeded. Please try again after '2' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information.`,
      },
    });
    expect(emu.counts()['vm.get']).toBe(4);
    expect(emu.throttled()).toMatchObject({ total: 1, byOperation: { 'vm.get': 1, 'vm.patch': 0 } });
  });

  it('refills the bucket over time', async () => {
    emu.setThrottle({ reads: { burst: 1, perSecond: 20 } });
    const first = await rawArm(emu, 'GET', GET_VM);
    const refused = await rawArm(emu, 'GET', GET_VM);
    await sleep(120);
    const refilled = await rawArm(emu, 'GET', GET_VM);

    expect([first.status, refused.status, refilled.status]).toEqual([200, 429, 200]);
    expect(refused.headers['retry-after']).toBe('1');
  });

  it('keeps separate buckets per kind, per subscription and per caller', async () => {
    emu.setThrottle({ reads: { burst: 1, perSecond: 0.01 } });
    const identity = emu.seedIdentity(placed('rg-ids', 'id-other'));
    await rawArm(emu, 'GET', GET_VM);

    const sameBucket = await rawArm(emu, 'GET', GET_VM);
    const write = await rawArm(emu, 'PATCH', nextPatchPath(), { body: { tags: { k: 'v' } } });
    const otherSubscription = await rawArm(
      emu,
      'GET',
      `/subscriptions/${SUB2}/resourceGroups/rg-apps/providers/Microsoft.Compute/virtualMachines/vm-2?api-version=2026-04-01`,
    );
    const otherCaller = await rawArm(emu, 'GET', GET_VM, { token: await tokenFor(identity.clientId) });

    expect(sameBucket.status).toBe(429);
    expect([write.status, otherSubscription.status, otherCaller.status]).toEqual([200, 200, 200]);
  });

  it('counts async-operation polls as reads, and throttles tenant-level reads per tenant', async () => {
    emu.setThrottle({ reads: { burst: 1, perSecond: 0.01 } });
    const patch = await rawArm(emu, 'PATCH', nextPatchPath(), { body: { tags: { poll: '1' } } });
    const pollUrl = new URL(String(patch.headers['azure-asyncoperation']));
    const poll = await rawArm(emu, 'GET', `${pollUrl.pathname}${pollUrl.search}`);
    const pollAgain = await rawArm(emu, 'GET', `${pollUrl.pathname}${pollUrl.search}`);
    await rawArm(emu, 'GET', '/subscriptions?api-version=2022-12-01');
    const list = await rawArm(emu, 'GET', '/subscriptions?api-version=2022-12-01');

    expect([poll.status, pollAgain.status]).toEqual([200, 429]);
    expect(remaining(poll, 'x-ms-ratelimit-remaining-subscription-reads')).toBe('0');
    expect([list.status, list.body.error?.code]).toEqual([429, 'TenantRequestsThrottled']);
    expect(list.body.error?.message).toContain(`for tenant '${emu.tenantId}'`);
    expect(emu.throttled().byOperation).toMatchObject({ 'vm.operationStatus': 1, 'subscription.list': 1 });
  });

  it('surfaces the 429 through the SDK, whose retry policy waits Retry-After and succeeds', async () => {
    emu.setThrottle({ reads: { burst: 1, perSecond: 1 } });
    const once = clientsFor(emu);
    const retrying = clientsFor(emu, { retryOptions: { maxRetries: 1 } });
    await once.compute.virtualMachines.get('rg-apps', 'vm-1');

    const error = await failure(once.compute.virtualMachines.get('rg-apps', 'vm-1'));
    const started = Date.now();
    const vm = await retrying.compute.virtualMachines.get('rg-apps', 'vm-1');

    expect([error.statusCode, error.code]).toEqual([429, 'SubscriptionRequestsThrottled']);
    expect(vm.name).toBe('vm-1');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('never refuses while off, and validates its settings', async () => {
    for (let i = 0; i < 20; i += 1) await rawArm(emu, 'POST', ARG, { body: { query: ALL_VMS } });
    const last = await rawArm(emu, 'POST', ARG, { body: { query: ALL_VMS } });

    expect(last.status).toBe(200);
    expect(last.headers['x-ms-user-quota-remaining']).toBe('0');
    expect(emu.throttled().total).toBe(0);
    expect(() => emu.setThrottle({ reads: { burst: 0 } })).toThrow(/reads\.burst/);
    expect(() => emu.setThrottle({ resourceGraph: { windowMs: -1 } })).toThrow(/windowMs/);
  });

  it('does not charge unauthenticated requests (ARM refuses them first)', async () => {
    emu.setThrottle({ reads: { burst: 1, perSecond: 0.01 } });
    const anonymous = await rawArm(emu, 'GET', GET_VM, { token: false });
    const first = await rawArm(emu, 'GET', GET_VM);

    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['x-ms-ratelimit-remaining-subscription-reads']).toBeUndefined();
    expect(first.status).toBe(200);
  });
});

describe('Resource Graph quota', () => {
  it('answers 429 RateLimiting with Retry-After once the window’s queries are used, then a new window opens', async () => {
    emu.setThrottle({ resourceGraph: { queries: 2, windowMs: 300 } });
    const { graph } = tenantClientsFor(emu);
    const query = () => graph.resources({ query: ALL_VMS, subscriptions: [SUB] });
    await query();
    const second = await rawArm(emu, 'POST', ARG, { body: { query: ALL_VMS, subscriptions: [SUB] } });

    const limited = await rawArm(emu, 'POST', ARG, { body: { query: ALL_VMS } });
    const viaSdk = (await failure(query())) as { statusCode?: number; code?: string };
    await sleep(320);
    const next = await query();

    expect(second.headers['x-ms-user-quota-remaining']).toBe('0');
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('1');
    expect(limited.headers['x-ms-user-quota-remaining']).toBe('0');
    expect(limited.headers['x-ms-user-quota-resets-after']).toMatch(/^00:00:0[01]$/);
    expect(limited.body.error?.code).toBe('RateLimiting');
    expect(JSON.stringify(limited.body)).toContain('https://aka.ms/resourcegraph-throttling');
    expect([viaSdk.statusCode, viaSdk.code]).toEqual([429, 'RateLimiting']);
    expect(next.count).toBe(emu.listVms().filter((v) => v.subscriptionId === SUB).length);
    expect(emu.throttled()).toMatchObject({ total: 2, byOperation: { 'graph.query': 2 } });
    expect(emu.counts()['graph.query']).toBe(5);
  });

  it('is enforced from startEmulator({ throttle }) too', async () => {
    const throttled = await startEmulator({ throttle: { resourceGraph: { queries: 1 } } });
    try {
      const first = await rawArm(throttled, 'POST', ARG, { body: { query: ALL_VMS } });
      const second = await rawArm(throttled, 'POST', ARG, { body: { query: ALL_VMS } });
      expect([first.status, second.status]).toEqual([200, 429]);
      expect(Number(second.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    } finally {
      await throttled.close();
    }
  });
});
