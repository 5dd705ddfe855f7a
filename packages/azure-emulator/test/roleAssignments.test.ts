// Microsoft.Authorization/roleAssignments through the real (classic) @azure/arm-authorization client,
// which sends scopes as given, so every path starts `//subscriptions/...`.
import { randomUUID } from 'node:crypto';
import type { FullOperationResponse } from '@azure/core-client';
import { type Emulator, type RegistryRecord, startEmulator } from '../src';
import {
  ACR_PULL,
  type Clients,
  clientsFor,
  failure,
  placed,
  REPOSITORY_READER,
  rawArm,
  roleDefinitionId,
  SUB,
} from '../src/testing';

const compact = (id: string) => id.replace(/-/g, '');

let emu: Emulator;
let clients: Clients;
let registry: RegistryRecord;

beforeAll(async () => {
  emu = await startEmulator();
  clients = clientsFor(emu);
  registry = emu.seedRegistry({ subscriptionId: SUB, resourceGroup: 'rg-acr', name: 'contosoapps' });
});

afterAll(() => emu.close());

function seededPrincipal(): string {
  return emu.seedIdentity(placed('rg-ids', `id-${randomUUID().slice(0, 8)}`)).principalId;
}

const grant = (principalId: string, role = ACR_PULL, principalType?: string) => ({
  roleDefinitionId: roleDefinitionId(role),
  principalId,
  ...(principalType ? { principalType } : {}),
});

describe('PUT roleAssignments', () => {
  it('requires a GUID name (400 InvalidRoleAssignmentId)', async () => {
    const error = await failure(
      clients.authorization.roleAssignments.create(registry.id, 'not-a-guid', grant(seededPrincipal())),
    );

    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('InvalidRoleAssignmentId');
    expect(error.message).toBe(
      "The role assignment ID 'not-a-guid' is not valid. The role assignment ID must be a GUID.",
    );
  });

  it('creates with 201, repeats idempotently with 200, and refuses the same grant under another name with 409', async () => {
    const principalId = seededPrincipal();
    const name = randomUUID();
    const statuses: number[] = [];
    const onResponse = (r: FullOperationResponse) => statuses.push(r.status);

    const created = await clients.authorization.roleAssignments.create(
      registry.id,
      name,
      grant(principalId),
      { onResponse },
    );
    await clients.authorization.roleAssignments.create(registry.id, name, grant(principalId), { onResponse });
    const duplicate = await failure(
      clients.authorization.roleAssignments.create(registry.id, randomUUID(), grant(principalId)),
    );

    expect(statuses).toEqual([201, 200]);
    expect(created).toMatchObject({
      id: `${registry.id}/providers/Microsoft.Authorization/roleAssignments/${name}`,
      name,
      scope: registry.id,
      principalType: 'ServicePrincipal',
      roleDefinitionId: roleDefinitionId(ACR_PULL),
      createdBy: emu.appIdentity.principalId,
    });
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.code).toBe('RoleAssignmentExists');
    expect(duplicate.message).toBe(
      `The role assignment already exists. The ID of the existing role assignment is ${compact(name)}.`,
    );
  });

  it('compares roles by GUID, whatever the role definition id prefix', async () => {
    const principalId = seededPrincipal();
    await clients.authorization.roleAssignments.create(registry.id, randomUUID(), grant(principalId));

    const error = await failure(
      clients.authorization.roleAssignments.create(registry.id, randomUUID(), {
        roleDefinitionId: `/providers/Microsoft.Authorization/roleDefinitions/${ACR_PULL.toUpperCase()}`,
        principalId,
      }),
    );

    expect(error.code).toBe('RoleAssignmentExists');
  });

  it('refuses to move an existing name to another principal (400 RoleAssignmentUpdateNotPermitted)', async () => {
    const name = randomUUID();
    await clients.authorization.roleAssignments.create(registry.id, name, grant(seededPrincipal()));

    const error = await failure(
      clients.authorization.roleAssignments.create(registry.id, name, grant(seededPrincipal())),
    );

    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('RoleAssignmentUpdateNotPermitted');
  });

  it('rejects an unknown role (400 RoleDefinitionDoesNotExist) and a principal type that does not match (400 UnmatchedPrincipalType)', async () => {
    const unknownRole = await failure(
      clients.authorization.roleAssignments.create(
        registry.id,
        randomUUID(),
        grant(seededPrincipal(), randomUUID()),
      ),
    );
    const wrongType = await failure(
      clients.authorization.roleAssignments.create(
        registry.id,
        randomUUID(),
        grant(seededPrincipal(), ACR_PULL, 'User'),
      ),
    );

    expect(unknownRole.code).toBe('RoleDefinitionDoesNotExist');
    expect(wrongType.code).toBe('UnmatchedPrincipalType');
  });

  it('answers a scope whose resource does not exist with 404 ResourceNotFound', async () => {
    const scope = registry.id.replace('contosoapps', 'ghostregistry');

    const error = await failure(
      clients.authorization.roleAssignments.create(scope, randomUUID(), grant(seededPrincipal())),
    );

    expect(error.statusCode).toBe(404);
    expect(error.code).toBe('ResourceNotFound');
  });
});

describe('principal replication delay', () => {
  let slow: Emulator;
  let slowClients: Clients;
  let slowRegistry: RegistryRecord;

  beforeAll(async () => {
    slow = await startEmulator({ principalReplicationDelayMs: 300 });
    slowClients = clientsFor(slow);
    slowRegistry = slow.seedRegistry({ subscriptionId: SUB, resourceGroup: 'rg-acr', name: 'slowacr' });
    slow.seedResourceGroup(SUB, 'rg-ids');
  });

  afterAll(() => slow.close());

  it('answers PrincipalNotFound for a just-created identity unless principalType is given', async () => {
    const identity = await slowClients.msi.userAssignedIdentities.createOrUpdate('rg-ids', 'id-fresh', {
      location: 'westeurope',
    });
    const principalId = identity.principalId ?? '';

    const tooSoon = await failure(
      slowClients.authorization.roleAssignments.create(slowRegistry.id, randomUUID(), grant(principalId)),
    );
    const typed = await slowClients.authorization.roleAssignments.create(
      slowRegistry.id,
      randomUUID(),
      grant(principalId, ACR_PULL, 'ServicePrincipal'),
    );

    expect(tooSoon.statusCode).toBe(400);
    expect(tooSoon.code).toBe('PrincipalNotFound');
    expect(tooSoon.message).toContain(
      `Principal ${compact(principalId)} does not exist in the directory ${slow.tenantId}.`,
    );
    expect(typed.principalType).toBe('ServicePrincipal');

    await new Promise((resolve) => setTimeout(resolve, 350));
    const later = await slowClients.authorization.roleAssignments.create(
      slowRegistry.id,
      randomUUID(),
      grant(principalId, REPOSITORY_READER),
    );
    expect(later.principalType).toBe('ServicePrincipal');
  });

  it('answers PrincipalNotFound for a principal the directory never had, unless principalType is given', async () => {
    const stranger = randomUUID();

    const error = await failure(
      slowClients.authorization.roleAssignments.create(slowRegistry.id, randomUUID(), grant(stranger)),
    );
    const typed = slowClients.authorization.roleAssignments.create(
      slowRegistry.id,
      randomUUID(),
      grant(stranger, ACR_PULL, 'User'),
    );

    expect(error.code).toBe('PrincipalNotFound');
    await expect(typed).resolves.toMatchObject({ principalType: 'User' });
  });
});

describe('GET, DELETE and list', () => {
  const p1 = randomUUID();
  const p2 = randomUUID();
  let otherRegistry: RegistryRecord;
  const rgScope = `/subscriptions/${SUB}/resourceGroups/rg-acr`;

  beforeAll(() => {
    otherRegistry = emu.seedRegistry({ subscriptionId: SUB, resourceGroup: 'rg-acr', name: 'contosoother' });
    emu.seedPrincipal(p1, 'ServicePrincipal');
    emu.seedPrincipal(p2, 'Group');
    emu.seedRoleAssignment({
      scope: `/subscriptions/${SUB}`,
      roleDefinitionId: 'acdd72a7-3385-48ef-bd42-f606fba81ae7',
      principalId: p1,
      name: 'a0000000-0000-0000-0000-000000000001',
    });
    emu.seedRoleAssignment({
      scope: rgScope,
      roleDefinitionId: ACR_PULL,
      principalId: p2,
      name: 'a0000000-0000-0000-0000-000000000002',
    });
    emu.seedRoleAssignment({
      scope: registry.id,
      roleDefinitionId: ACR_PULL,
      principalId: p1,
      name: 'a0000000-0000-0000-0000-000000000003',
    });
    emu.seedRoleAssignment({
      scope: otherRegistry.id,
      roleDefinitionId: ACR_PULL,
      principalId: p1,
      name: 'a0000000-0000-0000-0000-000000000004',
    });
  });

  async function names(scope: string, filter?: string): Promise<string[]> {
    const found: string[] = [];
    for await (const a of clients.authorization.roleAssignments.listForScope(
      scope,
      filter ? { filter } : {},
    )) {
      if (a.principalId === p1 || a.principalId === p2) found.push((a.name ?? '').slice(-1));
    }
    return found.sort();
  }

  it('filters atScope() to assignments at or above the scope, never below', async () => {
    expect(await names(registry.id, 'atScope()')).toEqual(['1', '2', '3']);
    expect(await names(rgScope, 'atScope()')).toEqual(['1', '2']);
  });

  it("filters principalId eq '…' to that principal at, above or below the scope", async () => {
    expect(await names(rgScope, `principalId eq '${p1}'`)).toEqual(['1', '3', '4']);
  });

  it('combines atScope() and principalId with and', async () => {
    expect(await names(registry.id, `atScope() and principalId eq '${p1}'`)).toEqual(['1', '3']);
  });

  it('returns at, above and below without a filter', async () => {
    expect(await names(rgScope)).toEqual(['1', '2', '3', '4']);
    expect(await names(otherRegistry.id)).toEqual(['1', '2', '4']);
  });

  it('refuses other filters with 400 UnsupportedQuery', async () => {
    const error = await failure(names(registry.id, `roleDefinitionId eq '${ACR_PULL}'`));
    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('UnsupportedQuery');
  });

  it('accepts the `//subscriptions/...` path the SDK sends and URL-encoded filters', async () => {
    const res = await rawArm(
      emu,
      'GET',
      `//subscriptions/${SUB}/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/contosoapps/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=atScope()%20and%20principalId%20eq%20%27${p1}%27`,
    );
    expect(res.status).toBe(200);
    expect((res.body.value as { name: string }[]).map((a) => a.name).sort()).toEqual([
      'a0000000-0000-0000-0000-000000000001',
      'a0000000-0000-0000-0000-000000000003',
    ]);
  });

  it('gets by name, deletes with 200 and body, then answers 204 and 404', async () => {
    const name = randomUUID();
    await clients.authorization.roleAssignments.create(
      registry.id,
      name,
      grant(p2, REPOSITORY_READER, 'Group'),
    );
    const statuses: number[] = [];
    const onResponse = (r: FullOperationResponse) => statuses.push(r.status);

    const got = await clients.authorization.roleAssignments.get(registry.id, name);
    const deleted = await clients.authorization.roleAssignments.delete(registry.id, name, { onResponse });
    await clients.authorization.roleAssignments.delete(registry.id, name, { onResponse });
    const gone = await failure(clients.authorization.roleAssignments.get(registry.id, name));

    expect(got.principalType).toBe('Group');
    expect(deleted?.name).toBe(name);
    expect(statuses).toEqual([200, 204]);
    expect(gone.code).toBe('RoleAssignmentNotFound');
    expect(emu.listRoleAssignments().map((a) => a.name)).not.toContain(name);
  });
});

describe('assignments at a management group', () => {
  it('are inherited by the subscriptions under it: listed above any scope there, never elsewhere', async () => {
    const principalId = randomUUID();
    emu.seedPrincipal(principalId, 'ServicePrincipal');
    const group = emu.seedManagementGroup('mg-platform', [SUB]);
    const owner = emu.seedRoleAssignment({
      scope: group,
      roleDefinitionId: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
      principalId,
    });
    const seen = async (scope: string, filter: string) => {
      const found: string[] = [];
      for await (const a of clients.authorization.roleAssignments.listForScope(scope, { filter }))
        found.push(a.id ?? '');
      return found;
    };

    expect(await seen(`/subscriptions/${SUB}`, `assignedTo('${principalId}')`)).toEqual([owner.id]);
    expect(await seen(registry.id, 'atScope()')).toContain(owner.id);
    expect(owner.roleDefinitionId).toBe(
      '/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
    );
    // Another subscription, not under the group, does not inherit it.
    emu.seedResourceGroup('33333333-3333-3333-3333-333333333333', 'rg-x', 'eastus');
    expect(
      await seen('/subscriptions/33333333-3333-3333-3333-333333333333', `assignedTo('${principalId}')`),
    ).toEqual([]);
    // Only a seeded group is a scope.
    expect(() =>
      emu.seedRoleAssignment({
        scope: '/providers/Microsoft.Management/managementGroups/unknown',
        roleDefinitionId: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
        principalId,
      }),
    ).toThrow(/unsupported scope/);
  });
});
