// Microsoft.ManagedIdentity/userAssignedIdentities through the real @azure/arm-msi client.
import type { FullOperationResponse } from '@azure/core-client';
import { type Emulator, startEmulator } from '../src';
import { type Clients, clientsFor, failure, placed, rawArm, SUB, staticCredential } from '../src/testing';

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

describe('systemData: who created an identity, from the caller’s token', () => {
  const attacker = {
    objectId: 'a77ac4e0-0000-4000-8000-000000000001',
    clientId: 'a77ac4e0-0000-4000-8000-0000000000c1',
  };

  it('names a managed-identity creator by its client id (default), keeps it on updates by others, and tracks the last writer', async () => {
    const created = await clients.msi.userAssignedIdentities.createOrUpdate(RG, 'id-sd-1', {
      location: 'westeurope',
    });
    expect(created.systemData).toMatchObject({
      createdBy: emu.appIdentity.clientId,
      createdByType: 'ManagedIdentity',
      lastModifiedBy: emu.appIdentity.clientId,
    });
    expect(emu.appCreator()).toEqual({ by: emu.appIdentity.clientId, type: 'ManagedIdentity' });

    const theirs = clientsFor(emu, { credential: staticCredential(emu, attacker) });
    const updated = await theirs.msi.userAssignedIdentities.createOrUpdate(RG, 'id-sd-1', {
      location: 'westeurope',
      tags: { 'managed-by': 'acrpull-autopilot' },
    });
    expect(updated.systemData).toMatchObject({
      createdBy: emu.appIdentity.clientId,
      createdByType: 'ManagedIdentity',
      lastModifiedBy: attacker.clientId,
      lastModifiedByType: 'ManagedIdentity',
    });
    expect(updated.principalId).toBe(created.principalId);
  });

  it('names an application (service principal) creator by its client id, type Application', async () => {
    const app = clientsFor(emu, { credential: staticCredential(emu, { ...attacker, kind: 'Application' }) });
    const created = await app.msi.userAssignedIdentities.createOrUpdate(RG, 'id-sd-2', {
      location: 'westeurope',
    });
    expect(created.systemData).toMatchObject({ createdBy: attacker.clientId, createdByType: 'Application' });
  });

  it('can name a managed identity by its object id instead (Azure does not document which)', async () => {
    const other = await startEmulator({ systemDataCreatedBy: 'objectId' });
    try {
      other.seedResourceGroup(SUB, RG, 'westeurope');
      const created = await clientsFor(other).msi.userAssignedIdentities.createOrUpdate(RG, 'id-sd-3', {
        location: 'westeurope',
      });
      expect(created.systemData).toMatchObject({
        createdBy: other.appIdentity.principalId,
        createdByType: 'ManagedIdentity',
      });
      expect(other.appCreator()).toEqual({ by: other.appIdentity.principalId, type: 'ManagedIdentity' });
    } finally {
      await other.close();
    }
  });

  it('gives seeds a person as creator unless the seed says the app made it', async () => {
    const byPerson = emu.seedIdentity({ ...placed(RG, 'id-sd-seed-1') });
    const byApp = emu.seedIdentity({ ...placed(RG, 'id-sd-seed-2'), createdBy: 'app' });
    const read = (name: string) => clients.msi.userAssignedIdentities.get(RG, name);
    expect((await read(byPerson.name)).systemData).toMatchObject({
      createdBy: 'operator@contoso.example',
      createdByType: 'User',
    });
    expect((await read(byApp.name)).systemData).toMatchObject({
      createdBy: emu.appIdentity.clientId,
      createdByType: 'ManagedIdentity',
    });
  });

  it('dates a seed an hour before seeding (it existed before the scene) unless the seed says when', async () => {
    const before = Date.now();
    const old = emu.seedIdentity({ ...placed(RG, 'id-sd-seed-3'), createdBy: 'app' });
    const at = Date.parse('2026-12-07T11:59:00Z');
    const dated = emu.seedIdentity({ ...placed(RG, 'id-sd-seed-4'), createdBy: 'app', createdAtMs: at });
    const read = async (name: string) => (await clients.msi.userAssignedIdentities.get(RG, name)).systemData;
    const oldAt = (await read(old.name))?.createdAt?.getTime() ?? 0;
    expect(oldAt).toBeLessThanOrEqual(before - 60 * 60_000 + 1_000);
    expect(oldAt).toBeGreaterThan(before - 61 * 60_000);
    expect((await read(dated.name))?.createdAt?.toISOString()).toBe('2026-12-07T11:59:00.000Z');
    expect((await read(dated.name))?.lastModifiedAt?.toISOString()).toBe('2026-12-07T11:59:00.000Z');
  });
});
