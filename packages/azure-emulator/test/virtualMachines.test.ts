// Microsoft.Compute/virtualMachines through the real @azure/arm-compute client: PATCH identity
// semantics, etags, the long-running operation, errors and paging.
import { type Emulator, type IdentityRecord, startEmulator } from '../src';
import { type Clients, clientsFor, failure, placed, rawArm, SUB } from '../src/testing';

const RG = 'rg-apps';
const IDS = 'rg-identities';
// VM updates run 200 ms; the SDK polls at once (InProgress), then 250 ms later (done).
const OPERATION_MS = 200;
const FAST = { updateIntervalInMs: 250 };

let emu: Emulator;
let clients: Clients;
let idA: IdentityRecord;
let idB: IdentityRecord;

beforeAll(async () => {
  emu = await startEmulator({ pageSize: 50, operationDurationMs: OPERATION_MS });
  clients = clientsFor(emu);
  idA = emu.seedIdentity(placed(IDS, 'id-a'));
  idB = emu.seedIdentity(placed(IDS, 'id-b'));
});

afterAll(() => emu.close());

let vmCounter = 0;
function seedVm(extra: { systemAssigned?: boolean; userAssignedIdentityIds?: string[] } = {}) {
  vmCounter += 1;
  return emu.seedVm({ ...placed(RG, `vm-${vmCounter}`), ...extra });
}

const patchTags = (name: string, tags: Record<string, string>, ifMatch?: string) =>
  clients.compute.virtualMachines.update(RG, name, { tags }, { ...FAST, ...(ifMatch ? { ifMatch } : {}) });

/** The identity ids as a caller would build them (camelCase resourceGroups), not as ARM returns them. */
const callerId = (i: IdentityRecord) => i.id.replace('/resourcegroups/', '/resourceGroups/');

describe('PATCH identity semantics', () => {
  it('attaching a user-assigned identity keeps the system-assigned one when the type says both', async () => {
    const vm = seedVm({ systemAssigned: true });
    const systemPrincipal = emu.getVm(vm.id)?.identity?.principalId;

    const updated = await clients.compute.virtualMachines.update(
      RG,
      vm.name,
      { identity: { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [callerId(idA)]: {} } } },
      FAST,
    );

    expect(updated.identity?.type).toBe('SystemAssigned, UserAssigned');
    expect(updated.identity?.principalId).toBe(systemPrincipal);
    expect(updated.identity?.userAssignedIdentities).toEqual({
      [idA.id]: { principalId: idA.principalId, clientId: idA.clientId },
    });
  });

  it('merges the dictionary: new keys add, null removes only that key, unmentioned keys stay', async () => {
    const idC = emu.seedIdentity(placed(IDS, 'id-c'));
    const vm = seedVm({ userAssignedIdentityIds: [idA.id, idB.id] });

    const updated = await clients.compute.virtualMachines.update(
      RG,
      vm.name,
      {
        identity: {
          type: 'UserAssigned',
          userAssignedIdentities: { [callerId(idB).toUpperCase()]: null as never, [callerId(idC)]: {} },
        },
      },
      FAST,
    );

    expect(Object.keys(updated.identity?.userAssignedIdentities ?? {}).sort()).toEqual(
      [idA.id, idC.id].sort(),
    );
  });

  it('re-sending an attached identity in other casing does not duplicate it', async () => {
    const vm = seedVm({ userAssignedIdentityIds: [idA.id] });

    const updated = await clients.compute.virtualMachines.update(
      RG,
      vm.name,
      { identity: { type: 'UserAssigned', userAssignedIdentities: { [callerId(idA).toUpperCase()]: {} } } },
      FAST,
    );

    expect(Object.keys(updated.identity?.userAssignedIdentities ?? {})).toEqual([idA.id]);
  });

  it('replaces the type: UserAssigned drops the system identity, SystemAssigned drops the user ones, None drops all', async () => {
    const vm = seedVm({ systemAssigned: true, userAssignedIdentityIds: [idA.id] });
    const update = (identity: object) =>
      clients.compute.virtualMachines.update(RG, vm.name, { identity } as never, FAST);

    const userOnly = await update({ type: 'UserAssigned' });
    expect(userOnly.identity?.type).toBe('UserAssigned');
    expect(userOnly.identity?.principalId).toBeUndefined();
    expect(Object.keys(userOnly.identity?.userAssignedIdentities ?? {})).toEqual([idA.id]);

    const systemOnly = await update({ type: 'SystemAssigned' });
    expect(systemOnly.identity?.type).toBe('SystemAssigned');
    expect(systemOnly.identity?.principalId).toMatch(/^[0-9a-f-]{36}$/);
    expect(systemOnly.identity?.userAssignedIdentities).toBeUndefined();

    const none = await update({ type: 'None' });
    expect(none.identity).toBeUndefined();
  });

  it('refuses UserAssigned with no identity left (400 MissingIdentityIds)', async () => {
    const vm = seedVm({ userAssignedIdentityIds: [idA.id] });

    const error = await failure(
      clients.compute.virtualMachines.update(
        RG,
        vm.name,
        { identity: { type: 'UserAssigned', userAssignedIdentities: { [idA.id]: null as never } } },
        FAST,
      ),
    );

    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('MissingIdentityIds');
    expect(emu.getVm(vm.id)?.identity?.userAssignedIdentities).toHaveProperty([idA.id]);
  });

  it('refuses an identity that does not exist (400 FailedIdentityOperation) and changes nothing', async () => {
    const vm = seedVm();
    const missing = `/subscriptions/${SUB}/resourceGroups/${IDS}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/nope`;

    const error = await failure(
      clients.compute.virtualMachines.update(
        RG,
        vm.name,
        { identity: { type: 'UserAssigned', userAssignedIdentities: { [missing]: {} } } },
        FAST,
      ),
    );

    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('FailedIdentityOperation');
    expect(error.message).toContain(missing);
    expect(emu.getVm(vm.id)?.etag).toBe(vm.etag);
  });

  it('replaces the tags when given', async () => {
    const vm = emu.seedVm({ ...placed(RG, 'vm-tags'), tags: { a: '1', b: '2' } });

    const updated = await patchTags(vm.name, { c: '3' });

    expect(updated.tags).toEqual({ c: '3' });
  });
});

describe('etags and If-Match', () => {
  it('answers a stale If-Match with 412 PreconditionFailed, and a current one or * with success', async () => {
    const vm = seedVm();
    const first = await clients.compute.virtualMachines.get(RG, vm.name);

    const updated = await patchTags(vm.name, { x: '1' }, first.etag);
    expect(updated.etag).not.toBe(first.etag);
    expect(updated.etag).toMatch(/^"\d+"$/);

    const stale = await failure(patchTags(vm.name, { x: '2' }, first.etag));
    expect(stale.statusCode).toBe(412);
    expect(stale.code).toBe('PreconditionFailed');

    await expect(patchTags(vm.name, { x: '3' }, '*')).resolves.toMatchObject({ tags: { x: '3' } });
  });

  it('lets another writer slip in right before our PATCH, which then fails its If-Match', async () => {
    const vm = seedVm();
    const read = await clients.compute.virtualMachines.get(RG, vm.name);
    emu.onBeforeOperation(
      'vm.patch',
      () => emu.updateVmOutOfBand(vm.id, (v) => Object.assign(v.tags, { owner: 'someone-else' })),
      true,
    );

    const error = await failure(patchTags(vm.name, { mine: '1' }, read.etag));

    expect(error.statusCode).toBe(412);
    expect(emu.getVm(vm.id)?.tags).toEqual({ owner: 'someone-else' });
  });

  it('returns the etag in the body and the ETag header of a raw GET', async () => {
    const vm = seedVm();
    const res = await rawArm(
      emu,
      'GET',
      `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/${vm.name}?api-version=2026-04-01`,
    );
    expect(res.headers.etag).toBe(vm.etag);
    expect(res.body.etag).toBe(vm.etag);
  });
});

describe('the long-running operation', () => {
  it('answers the PATCH with Updating and an Azure-AsyncOperation URL, polled to Succeeded', async () => {
    // Its own emulator, with updates long enough that the first poll always finds one running.
    const slow = await startEmulator({ operationDurationMs: 1_500 });
    try {
      const vm = slow.seedVm(placed(RG, 'vm-lro'));
      const path = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/${vm.name}`;

      const res = await rawArm(slow, 'PATCH', `${path}?api-version=2026-04-01`, {
        body: { tags: { a: 'b' } },
      });
      expect(res.status).toBe(200);
      expect((res.body.properties as { provisioningState: string }).provisioningState).toBe('Updating');
      const asyncUrl = String(res.headers['azure-asyncoperation']);
      expect(asyncUrl).toMatch(
        new RegExp(
          `^${slow.armEndpoint}/subscriptions/${SUB}/providers/Microsoft.Compute/locations/westeurope/operations/[0-9a-f-]{36}\\?.*api-version=2026-04-01`,
        ),
      );

      expect(res.headers['azure-asyncnotification']).toBe('Enabled');
      expect(res.headers['retry-after']).toBeUndefined();
      expect(res.headers.location).toBeUndefined();

      const poll = () => rawArm(slow, 'GET', asyncUrl.slice(slow.armEndpoint.length));
      const first = await poll();
      expect(first.body).toMatchObject({ status: 'InProgress' });
      expect(first.body.endTime).toBeUndefined();
      expect(first.headers['retry-after']).toBeUndefined();
      expect(slow.getVm(vm.id)?.provisioningState).toBe('Updating');
      await new Promise((resolve) => setTimeout(resolve, 1_550));
      const second = await poll();
      expect(second.body).toMatchObject({ status: 'Succeeded', endTime: expect.any(String) });
      expect(slow.getVm(vm.id)?.provisioningState).toBe('Succeeded');
      expect(slow.totals().polls).toBe(2);
    } finally {
      await slow.close();
    }
  });

  it('ends an operation by elapsed time, not by how often it is polled', async () => {
    const slow = await startEmulator({ operationDurationMs: 2_000 });
    try {
      const vm = slow.seedVm(placed(RG, 'vm-polled-hard'));
      const url = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/${vm.name}?api-version=2026-04-01`;
      const patched = await rawArm(slow, 'PATCH', url, { body: { tags: { a: '1' } } });
      const statusPath = String(patched.headers['azure-asyncoperation']).slice(slow.armEndpoint.length);

      const early: unknown[] = [];
      for (let i = 0; i < 5; i++) early.push((await rawArm(slow, 'GET', statusPath)).body.status);
      await new Promise((resolve) => setTimeout(resolve, 2_050));
      const late = await rawArm(slow, 'GET', statusPath);

      expect(early).toEqual(Array(5).fill('InProgress'));
      expect(late.body.status).toBe('Succeeded');
    } finally {
      await slow.close();
    }
  });

  it('puts Retry-After on the first InProgress poll only when set to (as Compute does on creations)', async () => {
    const hinted = await startEmulator({ operationDurationMs: 1_500, pollRetryAfterSeconds: 7 });
    try {
      const vm = hinted.seedVm(placed(RG, 'vm-hinted'));
      const url = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/${vm.name}?api-version=2026-04-01`;
      const patched = await rawArm(hinted, 'PATCH', url, { body: { tags: { a: '1' } } });
      const statusPath = String(patched.headers['azure-asyncoperation']).slice(hinted.armEndpoint.length);

      const first = await rawArm(hinted, 'GET', statusPath);
      const second = await rawArm(hinted, 'GET', statusPath);
      await new Promise((resolve) => setTimeout(resolve, 1_550));
      const done = await rawArm(hinted, 'GET', statusPath);

      expect(patched.headers['retry-after']).toBeUndefined();
      expect([first.body.status, first.headers['retry-after']]).toEqual(['InProgress', '7']);
      expect([second.body.status, second.headers['retry-after']]).toEqual(['InProgress', undefined]);
      expect([done.body.status, done.headers['retry-after']]).toEqual(['Succeeded', undefined]);
    } finally {
      await hinted.close();
    }
  });

  it('lets the SDK poll to completion and return the final VM', async () => {
    // Updates of 1.5 s, polls 1.6 s apart: the SDK's first poll (at once) finds it running, the
    // second done, then comes its final GET.
    const slow = await startEmulator({ operationDurationMs: 1_500 });
    try {
      const vm = slow.seedVm(placed(RG, 'vm-sdk-poll'));
      const updated = await clientsFor(slow).compute.virtualMachines.update(
        RG,
        vm.name,
        { tags: { done: 'yes' } },
        { updateIntervalInMs: 1_600 },
      );

      expect(updated.provisioningState).toBe('Succeeded');
      expect(slow.counts()).toMatchObject({ 'vm.patch': 1, 'vm.operationStatus': 2, 'vm.get': 1 });
    } finally {
      await slow.close();
    }
  });

  it('ends Failed when an asyncFailed fault says so, and the SDK throws', async () => {
    const vm = seedVm();
    emu.injectFault({
      operation: 'vm.patch',
      kind: 'asyncFailed',
      status: 200,
      code: 'InternalExecutionError',
      message: 'boom',
    });

    const error = await failure(patchTags(vm.name, { a: '1' }));

    expect(error.message).toContain('InternalExecutionError');
    expect(emu.getVm(vm.id)?.provisioningState).toBe('Failed');
  });

  it('finishes an operation nobody polls once operationDurationMs has passed', async () => {
    const quick = await startEmulator({ operationDurationMs: 500 });
    try {
      const vm = quick.seedVm(placed(RG, 'vm-unpolled'));
      const url = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/${vm.name}?api-version=2026-04-01`;

      await rawArm(quick, 'PATCH', url, { body: { tags: { a: '1' } } });
      const during = quick.getVm(vm.id)?.provisioningState;
      await new Promise((resolve) => setTimeout(resolve, 550));

      expect(during).toBe('Updating');
      expect(quick.getVm(vm.id)?.provisioningState).toBe('Succeeded');
      expect(quick.vmOperations(vm.id)).toEqual([expect.objectContaining({ status: 'Succeeded' })]);
    } finally {
      await quick.close();
    }
  });
});

describe('errors and lists', () => {
  it('answers an unknown VM with 404 ResourceNotFound in ARM wording', async () => {
    const error = await failure(clients.compute.virtualMachines.get(RG, 'ghost'));
    expect(error.statusCode).toBe(404);
    expect(error.code).toBe('ResourceNotFound');
    expect(error.message).toBe(
      `The Resource 'Microsoft.Compute/virtualMachines/ghost' under resource group '${RG}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  });

  it('answers an unknown resource group with 404 ResourceGroupNotFound from the gateway', async () => {
    const res = await rawArm(
      emu,
      'GET',
      `/subscriptions/${SUB}/resourcegroups/rg-nope/providers/Microsoft.Compute/virtualMachines/x?api-version=2026-04-01`,
    );
    expect(res.status).toBe(404);
    expect(res.body.error).toEqual({
      code: 'ResourceGroupNotFound',
      message: "Resource group 'rg-nope' could not be found.",
    });
    expect(res.headers['x-ms-failure-cause']).toBe('gateway');
  });

  it('pages a subscription list with absolute nextLinks, which listAll follows', async () => {
    const other = '00000000-0000-0000-0000-0000000000bb';
    for (let i = 0; i < 120; i += 1) {
      emu.seedVm(placed('rg-many', `many-${i}`, 'westeurope', other));
    }
    const { compute } = clientsFor(emu, { subscriptionId: other });
    emu.resetCounts();

    const names: string[] = [];
    for await (const vm of compute.virtualMachines.listAll()) names.push(vm.name ?? '');

    expect(names).toHaveLength(120);
    expect(new Set(names).size).toBe(120);
    expect(emu.counts()['vm.list']).toBe(3);
  });

  it('pages a resource group list: nextLink is absolute and carries the api-version', async () => {
    const small = await startEmulator({ pageSize: 1 });
    try {
      small.seedVm(placed(RG, 'a'));
      small.seedVm(placed(RG, 'b'));
      const path = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines`;

      const page = await rawArm(small, 'GET', `${path}?api-version=2026-04-01`);

      expect(page.body.value).toHaveLength(1);
      expect(page.body.nextLink).toBe(`${small.armEndpoint}${path}?api-version=2026-04-01&$skiptoken=1`);
      const names: string[] = [];
      for await (const vm of clientsFor(small).compute.virtualMachines.list(RG)) names.push(vm.name ?? '');
      expect(names).toEqual(['a', 'b']);
    } finally {
      await small.close();
    }
  });
});
