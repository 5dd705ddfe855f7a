// Microsoft.ManagedIdentity/userAssignedIdentities through the real @azure/arm-msi client.
import type { FullOperationResponse } from '@azure/core-client';
import { type Emulator, startEmulator } from '../../emulator';
import { type Clients, clientsFor, failure, placed, rawArm, SUB } from './helpers';

const RG = 'rg-identities';
let emu: Emulator;
let clients: Clients;

beforeAll(async () => {
  emu = await startEmulator();
  clients = clientsFor(emu);
  emu.seedResourceGroup(SUB, RG, 'westeurope');
});

afterAll(() => emu.close());

function recordStatus(): { status?: number; onResponse: (r: FullOperationResponse) => void } {
  const seen: { status?: number; onResponse: (r: FullOperationResponse) => void } = {
    onResponse: (r) => {
      seen.status = r.status;
    },
  };
  return seen;
}

describe('PUT userAssignedIdentities', () => {
  it('creates with 201, then updates with 200 keeping the same principal and client ids', async () => {
    const created = recordStatus();
    const first = await clients.msi.userAssignedIdentities.createOrUpdate(
      RG,
      'id-acrpull-demo',
      { location: 'westeurope', tags: { purpose: 'pull' } },
      { onResponse: created.onResponse },
    );
    const updated = recordStatus();
    const second = await clients.msi.userAssignedIdentities.createOrUpdate(
      RG,
      'id-acrpull-demo',
      { location: 'westeurope', tags: { purpose: 'pull', v: '2' } },
      { onResponse: updated.onResponse },
    );

    expect(created.status).toBe(201);
    expect(updated.status).toBe(200);
    expect(first.id).toBe(
      `/subscriptions/${SUB}/resourcegroups/${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-acrpull-demo`,
    );
    expect(first.principalId).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.tenantId).toBe(emu.tenantId);
    expect(second).toMatchObject({
      principalId: first.principalId,
      clientId: first.clientId,
      tags: { v: '2' },
    });
    expect(emu.listIdentities().map((i) => i.name)).toContain('id-acrpull-demo');
  });

  it('answers an unknown resource group with 404 ResourceGroupNotFound and x-ms-failure-cause: gateway', async () => {
    let failureCause: string | undefined;
    const error = await failure(
      clients.msi.userAssignedIdentities.createOrUpdate(
        'rg-missing',
        'id-x',
        { location: 'westeurope' },
        { onResponse: (r) => (failureCause = r.headers.get('x-ms-failure-cause')) },
      ),
    );

    expect(error.statusCode).toBe(404);
    expect(error.code).toBe('ResourceGroupNotFound');
    expect(error.message).toBe("Resource group 'rg-missing' could not be found.");
    expect(failureCause).toBe('gateway');
  });

  it('requires a location (400 LocationRequired) and keeps it on update (409 InvalidResourceLocation)', async () => {
    // The SDK refuses a missing location before sending, so this one goes raw.
    const missing = await rawArm(
      emu,
      'PUT',
      `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-noloc?api-version=2024-11-30`,
      { body: { tags: {} } },
    );
    expect(missing.status).toBe(400);
    expect(missing.body.error?.code).toBe('LocationRequired');

    await clients.msi.userAssignedIdentities.createOrUpdate(RG, 'id-moved', { location: 'westeurope' });
    const moved = await failure(
      clients.msi.userAssignedIdentities.createOrUpdate(RG, 'id-moved', { location: 'eastus' }),
    );
    expect(moved.statusCode).toBe(409);
    expect(moved.code).toBe('InvalidResourceLocation');
  });
});

describe('GET and list userAssignedIdentities', () => {
  it('gets a seeded identity and answers an unknown one with 404 ResourceNotFound', async () => {
    const seeded = emu.seedIdentity(placed(RG, 'id-seeded', 'northeurope'));

    const got = await clients.msi.userAssignedIdentities.get(RG, 'ID-SEEDED');
    const missing = await failure(clients.msi.userAssignedIdentities.get(RG, 'id-ghost'));

    expect(got).toMatchObject({ id: seeded.id, principalId: seeded.principalId, clientId: seeded.clientId });
    expect(missing.statusCode).toBe(404);
    expect(missing.code).toBe('ResourceNotFound');
  });

  it('lists per resource group and per subscription', async () => {
    emu.seedIdentity(placed('rg-other', 'id-elsewhere'));

    const inGroup: string[] = [];
    for await (const i of clients.msi.userAssignedIdentities.listByResourceGroup(RG))
      inGroup.push(i.name ?? '');
    const inSub: string[] = [];
    for await (const i of clients.msi.userAssignedIdentities.listBySubscription()) inSub.push(i.name ?? '');

    expect(inGroup).not.toContain('id-elsewhere');
    expect(inSub).toEqual(expect.arrayContaining([...inGroup, 'id-elsewhere']));
  });

  it('returns the isolationScope property as the 2024-11-30 api does', async () => {
    emu.seedIdentity(placed(RG, 'id-raw'));
    const res = await rawArm(
      emu,
      'GET',
      `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-raw?api-version=2024-11-30`,
    );
    expect(res.body.properties).toMatchObject({ isolationScope: 'None', tenantId: emu.tenantId });
  });
});
