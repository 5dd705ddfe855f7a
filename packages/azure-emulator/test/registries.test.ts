// Microsoft.ContainerRegistry/registries through the real (modular) @azure/arm-containerregistry
// client, whose deserializer needs complete bodies.
import { type Emulator, startEmulator } from '../src';
import { type Clients, clientsFor, failure, placed, SUB } from '../src/testing';

let emu: Emulator;
let clients: Clients;

beforeAll(async () => {
  emu = await startEmulator({ pageSize: 2 });
  clients = clientsFor(emu);
  emu.seedRegistry(placed('rg-acr', 'ContosoApps'));
  emu.seedRegistry({
    subscriptionId: SUB,
    resourceGroup: 'rg-acr',
    name: 'contosoabac',
    roleAssignmentMode: 'AbacRepositoryPermissions',
    sku: 'Premium',
  });
  emu.seedRegistry({ subscriptionId: SUB, resourceGroup: 'rg-acr-2', name: 'contosoother' });
});

afterAll(() => emu.close());

it('gets a registry with sku, login server and role assignment mode', async () => {
  const registry = await clients.registries.registries.get('rg-acr', 'contosoapps');

  expect(registry).toMatchObject({
    name: 'ContosoApps',
    sku: { name: 'Standard', tier: 'Standard' },
    loginServer: 'contosoapps.azurecr.io',
    provisioningState: 'Succeeded',
    adminUserEnabled: false,
    roleAssignmentMode: 'LegacyRegistryPermissions',
  });
  expect(registry.creationDate).toBeInstanceOf(Date);
});

it('lists across pages per subscription and per resource group, ABAC mode included', async () => {
  const all = [];
  for await (const r of clients.registries.registries.list()) all.push(r);
  const inGroup: string[] = [];
  for await (const r of clients.registries.registries.listByResourceGroup('rg-acr'))
    inGroup.push(r.name ?? '');

  expect(all.map((r) => r.name).sort()).toEqual(['ContosoApps', 'contosoabac', 'contosoother']);
  expect(all.find((r) => r.name === 'contosoabac')).toMatchObject({
    roleAssignmentMode: 'AbacRepositoryPermissions',
    sku: { name: 'Premium' },
  });
  expect(inGroup.sort()).toEqual(['ContosoApps', 'contosoabac']);
  expect(emu.counts()['registry.list']).toBeGreaterThanOrEqual(3);
});

it('answers an unknown registry with 404 ResourceNotFound', async () => {
  const error = await failure(clients.registries.registries.get('rg-acr', 'nosuchregistry'));

  expect(error.statusCode).toBe(404);
  expect(error.code).toBe('ResourceNotFound');
});
