// The subscriptions API through the real @azure/arm-resources-subscriptions client: every
// subscription with a seeded resource group is listed (paged like any ARM list), and can be read.
import type { SubscriptionClient } from '@azure/arm-resources-subscriptions';
import { type Emulator, startEmulator } from '../src';
import { failure, rawArm, SUB, tenantClientsFor } from '../src/testing';

const OTHERS = ['00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000b2'];

let emu: Emulator;
let client: SubscriptionClient;

beforeAll(async () => {
  emu = await startEmulator({ pageSize: 2 });
  client = tenantClientsFor(emu).subscriptions;
  emu.seedResourceGroup(SUB, 'rg-apps');
  emu.seedResourceGroup(SUB, 'rg-more');
  for (const sub of OTHERS) emu.seedResourceGroup(sub, 'rg-x');
});

afterAll(() => emu.close());

describe('subscriptions', () => {
  it('lists every subscription that has a resource group, following nextLink across pages', async () => {
    emu.resetCounts();
    const listed = [];
    for await (const s of client.subscriptions.list()) listed.push(s);

    expect(listed.map((s) => s.subscriptionId)).toEqual([SUB, ...OTHERS]);
    expect(listed[0]).toEqual({
      id: `/subscriptions/${SUB}`,
      subscriptionId: SUB,
      tenantId: emu.tenantId,
      displayName: expect.any(String),
      state: 'Enabled',
      subscriptionPolicies: {
        locationPlacementId: expect.any(String),
        quotaId: expect.any(String),
        spendingLimit: 'Off',
      },
      authorizationSource: 'RoleBased',
      managedByTenants: [],
      tags: undefined,
    });
    expect(emu.counts()['subscription.list']).toBe(2);
    expect(emu.totals()).toMatchObject({ reads: 2, writes: 0 });
  });

  it('reads one subscription, and answers ARM 404 / 400 for unknown or malformed ids', async () => {
    const one = await client.subscriptions.get(OTHERS[0] ?? '');
    const unknown = await failure(client.subscriptions.get('00000000-0000-0000-0000-0000000000ff'));
    const malformed = await failure(client.subscriptions.get('nope'));

    expect(one).toMatchObject({ subscriptionId: OTHERS[0], state: 'Enabled', tenantId: emu.tenantId });
    expect([unknown.statusCode, unknown.code]).toEqual([404, 'SubscriptionNotFound']);
    expect([malformed.statusCode, malformed.code]).toEqual([400, 'InvalidSubscriptionId']);
  });

  it('counts the list against the tenant bucket and the get against the subscription bucket', async () => {
    const list = await rawArm(emu, 'GET', '/subscriptions?api-version=2022-12-01');
    const get = await rawArm(emu, 'GET', `/subscriptions/${SUB}?api-version=2022-12-01`);
    const published = await rawArm(emu, 'GET', '/subscriptions?api-version=2020-01-01');
    const otherVersion = await rawArm(emu, 'GET', '/subscriptions?api-version=2020-01-02');

    expect(list.headers['x-ms-ratelimit-remaining-tenant-reads']).toEqual(expect.any(String));
    expect(list.body.count).toEqual({ type: 'Total', value: 3 });
    expect(get.headers['x-ms-ratelimit-remaining-subscription-reads']).toEqual(expect.any(String));
    expect(published.status).toBe(200);
    // ARM's own type: InvalidApiVersionParameter, the versions newest first.
    expect([otherVersion.status, otherVersion.body.error?.code]).toEqual([400, 'InvalidApiVersionParameter']);
    expect(otherVersion.body.error?.message).toBe(
      "The api-version '2020-01-02' is invalid. The supported versions are '2022-12-01,2021-01-01,2020-01-01,2019-11-01,2019-06-01,2018-06-01,2016-06-01,2015-11-01'.",
    );
  });
});
