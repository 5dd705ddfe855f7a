// Microsoft.Compute/virtualMachineScaleSets through the real @azure/arm-compute client: GET and lists,
// PATCH with the VM's identity semantics and etags as a long-running operation, Flexible scale sets
// (user-assigned identities only, no ids in GET), and scale sets in Resource Graph.
import { type Emulator, startEmulator } from '../src';
import { type Clients, clientsFor, failure, placed, rawArm, SUB, tenantClientsFor } from '../src/testing';

const RG = 'rg-apps';
const FAST = { updateIntervalInMs: 60 };

let emu: Emulator;
let clients: Clients;

beforeAll(async () => {
  emu = await startEmulator({ operationDurationMs: 50 });
  clients = clientsFor(emu);
});
afterAll(() => emu.close());

let n = 0;
const seed = (extra: Partial<Parameters<Emulator['seedScaleSet']>[0]> = {}) =>
  emu.seedScaleSet({ ...placed(RG, `ss-${++n}`), ...extra });

describe('GET and lists', () => {
  it('reads a Uniform scale set with its sku, orchestration mode, upgrade policy and etag', async () => {
    const vmss = seed({ upgradeMode: 'Rolling', capacity: 3, tags: { acrPull: 'contosoapps' } });

    const got = await clients.compute.virtualMachineScaleSets.get(RG, vmss.name);

    expect(got).toMatchObject({
      id: vmss.id,
      type: 'Microsoft.Compute/virtualMachineScaleSets',
      tags: { acrPull: 'contosoapps' },
      etag: '"1"',
      orchestrationMode: 'Uniform',
      upgradePolicy: { mode: 'Rolling' },
      provisioningState: 'Succeeded',
      sku: { capacity: 3 },
    });
  });

  it('lists scale sets per resource group and per subscription', async () => {
    const vmss = seed();
    const inGroup = [];
    for await (const s of clients.compute.virtualMachineScaleSets.list(RG)) inGroup.push(s.id);
    const inSub = [];
    for await (const s of clients.compute.virtualMachineScaleSets.listAll()) inSub.push(s.id);

    expect(inGroup).toContain(vmss.id);
    expect(inSub).toContain(vmss.id);
  });

  it('answers an unknown scale set with 404 ResourceNotFound', async () => {
    const error = await failure(clients.compute.virtualMachineScaleSets.get(RG, 'ghost'));
    expect([error.statusCode, error.code]).toEqual([404, 'ResourceNotFound']);
  });
});

describe('PATCH', () => {
  it('merges user-assigned identities, keeps the system-assigned one, and runs as an operation', async () => {
    const a = emu.seedIdentity(placed('rg-ids', `id-a-${n}`));
    const b = emu.seedIdentity(placed('rg-ids', `id-b-${n}`));
    const vmss = seed({ systemAssigned: true, userAssignedIdentityIds: [a.id] });
    emu.resetCounts();

    const updated = await clients.compute.virtualMachineScaleSets.update(
      RG,
      vmss.name,
      { identity: { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [b.id]: {} } } },
      { ...FAST, ifMatch: vmss.etag },
    );

    expect(Object.keys(updated.identity?.userAssignedIdentities ?? {}).sort()).toEqual([a.id, b.id].sort());
    expect(updated.identity?.principalId).toBe(vmss.identity?.principalId);
    expect(updated.provisioningState).toBe('Succeeded');
    expect(emu.counts()).toMatchObject({ 'vmss.patch': 1, 'vm.operationStatus': expect.any(Number) });
    expect(emu.counts()['vm.operationStatus']).toBeGreaterThanOrEqual(1);
  });

  it('refuses a stale If-Match with 412', async () => {
    const vmss = seed();
    await clients.compute.virtualMachineScaleSets.update(RG, vmss.name, { tags: { x: '1' } }, FAST);

    const error = await failure(
      clients.compute.virtualMachineScaleSets.update(
        RG,
        vmss.name,
        { tags: { x: '2' } },
        { ...FAST, ifMatch: '"1"' },
      ),
    );

    expect(error.statusCode).toBe(412);
  });

  it('reads Updating while its operation runs, Succeeded after', async () => {
    const slow = await startEmulator({ operationDurationMs: 500 });
    const vmss = slow.seedScaleSet(placed(RG, 'ss-slow'));
    const path = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachineScaleSets/${vmss.name}?api-version=2026-04-01`;

    const patched = await rawArm(slow, 'PATCH', path, { body: { tags: { a: '1' } } });
    const during = slow.getScaleSet(vmss.id)?.provisioningState;
    await new Promise((resolve) => setTimeout(resolve, 550));
    const after = slow.getScaleSet(vmss.id)?.provisioningState;
    await slow.close();

    expect(patched.status).toBe(200);
    expect(String(patched.headers['azure-asyncoperation'])).toMatch(
      /\/providers\/Microsoft\.Compute\/locations\/westeurope\/operations\//,
    );
    expect(during).toBe('Updating');
    expect(after).toBe('Succeeded');
  });
});

describe('Flexible scale sets', () => {
  it('refuse a system-assigned identity, as Compute does', async () => {
    const vmss = seed({ orchestrationMode: 'Flexible' });

    const error = await failure(
      clients.compute.virtualMachineScaleSets.update(
        RG,
        vmss.name,
        { identity: { type: 'SystemAssigned, UserAssigned' } },
        FAST,
      ),
    );

    expect([error.statusCode, error.code]).toEqual([400, 'InvalidParameter']);
    expect(error.message).toBe(
      "The value 'SystemAssigned, UserAssigned' of parameter 'identity' is not allowed. Allowed values are: UserAssigned, None",
    );
  });

  it('show user-assigned identities without principal or client id, and have no upgrade policy', async () => {
    const a = emu.seedIdentity(placed('rg-ids', `id-flex-${n}`));
    const vmss = seed({ orchestrationMode: 'Flexible', userAssignedIdentityIds: [a.id] });

    const got = await rawArm(
      emu,
      'GET',
      `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachineScaleSets/${vmss.name}?api-version=2026-04-01`,
    );

    expect(got.body.identity).toEqual({
      type: 'UserAssigned',
      userAssignedIdentities: { [a.id]: { principalId: null, clientId: null } },
    });
    expect((got.body.properties as Record<string, unknown>).upgradePolicy).toBeUndefined();
  });

  it('have member VMs that name their scale set', async () => {
    const vmss = seed({ orchestrationMode: 'Flexible' });
    const member = emu.seedVm({ ...placed(RG, `${vmss.name}_abc`), virtualMachineScaleSet: vmss.id });

    const got = await clients.compute.virtualMachines.get(RG, member.name);

    expect(got.virtualMachineScaleSet?.id).toBe(vmss.id);
    expect(() =>
      emu.seedVm({ ...placed(RG, 'vm-uniform-member'), virtualMachineScaleSet: seed().id }),
    ).toThrow(/not a seeded Flexible scale set/);
  });
});

describe('Resource Graph', () => {
  it('filters on the JSON of identity and tags with contains / !contains, ignoring case (the holders query)', async () => {
    const other = await startEmulator();
    try {
      const graph = tenantClientsFor(other).graph;
      const pull = other.seedIdentity(placed('rg-identities', 'id-acrpull-contosoapps-westeurope'));
      const mine = other.seedIdentity(placed('rg-apps', 'id-mine'));
      other.seedVm({ ...placed(RG, 'vm-untagged-holder'), userAssignedIdentityIds: [pull.id] });
      other.seedVm({
        ...placed(RG, 'vm-tagged-holder'),
        tags: { ACRPULL: 'x' },
        userAssignedIdentityIds: [pull.id],
      });
      other.seedScaleSet({ ...placed(RG, 'ss-untagged-holder'), userAssignedIdentityIds: [pull.id] });
      other.seedVm({ ...placed(RG, 'vm-other-identity'), userAssignedIdentityIds: [mine.id] });
      const holders = [
        'resources',
        "| where type in~ ('microsoft.compute/virtualmachines', 'microsoft.compute/virtualmachinescalesets')",
        `| where tostring(identity) contains '/subscriptions/${SUB}/resourceGroups/rg-identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-acrpull-'`,
        `| where tostring(tags) !contains '"acrPull":'`,
        '| project id, location, tags, identity',
      ].join('\n');

      const result = await graph.resources({
        query: holders,
        subscriptions: [SUB],
        options: { resultFormat: 'objectArray' },
      });

      const rows = result.data as {
        id: string;
        tags: Record<string, string>;
        identity: { userAssignedIdentities: object };
      }[];
      expect(rows.map((r) => r.id.split('/').pop())).toEqual(['vm-untagged-holder', 'ss-untagged-holder']);
      expect(Object.keys(rows[0]?.identity.userAssignedIdentities ?? {})).toEqual([pull.id]);
      expect(rows[0]?.tags).toEqual({});
    } finally {
      await other.close();
    }
  });

  it('returns scale sets and VMs for `type in~ (…)`, VMs only for the VM type', async () => {
    const other = await startEmulator();
    try {
      const graph = tenantClientsFor(other).graph;
      other.seedScaleSet({ ...placed(RG, 'ss-tagged'), tags: { acrPull: 'a' } });
      other.seedVm({ ...placed(RG, 'vm-tagged'), tags: { acrPull: 'b' } });
      const query = (types: string) =>
        graph.resources({
          query: [
            'resources',
            `| where type ${types}`,
            '| mv-expand bagexpansion=array tags',
            "| where tostring(tags[0]) =~ 'acrPull'",
            '| project id, location, tagKey = tostring(tags[0]), tagValue = tostring(tags[1]), identity',
          ].join('\n'),
          subscriptions: [SUB],
          options: { resultFormat: 'objectArray' },
        });
      const names = async (types: string) =>
        ((await query(types)).data as { id: string }[]).map((r) => r.id.split('/').pop());

      expect(
        await names("in~ ('microsoft.compute/virtualmachines', 'Microsoft.Compute/virtualMachineScaleSets')"),
      ).toEqual(['vm-tagged', 'ss-tagged']); // in id order: …/virtualMachines/ sorts before …/virtualMachineScaleSets/
      expect(await names("=~ 'microsoft.compute/virtualmachines'")).toEqual(['vm-tagged']);
      expect(await names("== 'microsoft.compute/virtualmachinescalesets'")).toEqual(['ss-tagged']);
      expect(await names("== 'Microsoft.Compute/virtualMachineScaleSets'")).toEqual([]);
    } finally {
      await other.close();
    }
  });
});
