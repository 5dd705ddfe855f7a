// What clients other than the app's SDKs call around a runbook (the Azure CLI: scripts/runbook):
// ARM's cloud metadata without a token, resource groups, role definitions, the generic resource
// list, a VM's instance view and full body, and App Service's legacy managed-identity protocol.
import http from 'node:http';
import { type Emulator, startEmulator } from '../src';
import { ACR_PULL, clientsFor, placed, rawArm, SUB } from '../src/testing';

let emu: Emulator;
const RG = 'rg-apps';
const VM_PATH = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/vm-web-01`;
let registryId: string;

beforeAll(async () => {
  emu = await startEmulator();
  emu.seedResourceGroup(SUB, 'rg-ids', 'westeurope');
  emu.seedVm({ ...placed(RG, 'vm-web-01'), tags: { acrPull: 'contosoapps' } });
  const operator = emu.seedIdentity(placed('rg-ids', 'id-operator'));
  emu.seedVm({ ...placed(RG, 'vm-web-02'), userAssignedIdentityIds: [operator.id] });
  registryId = emu.seedRegistry(placed(RG, 'contosoapps')).id;
});

afterAll(() => emu.close());

describe('ARM cloud metadata (/metadata/endpoints)', () => {
  it('answers without a token, in the 2015-01-01 shape msrestazure reads, and costs nobody a read', async () => {
    const before = emu.totals().reads;

    const res = await rawArm(emu, 'GET', '//metadata/endpoints?api-version=2015-01-01', { token: false });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      galleryEndpoint: expect.any(String),
      graphEndpoint: expect.any(String),
      authentication: { loginEndpoint: expect.any(String) },
    });
    // az takes audiences[0] as the cloud's token resource: ARM here must accept it.
    const audiences = (res.body.authentication as { audiences: string[] }).audiences;
    expect(audiences[0]).toBe('https://management.core.windows.net/');
    expect(emu.totals().reads).toBe(before);
  });

  it('lists the clouds (2019-05-01) and describes this one (2022-09-01) with the emulator as resource manager', async () => {
    const list = await rawArm(emu, 'GET', '/metadata/endpoints?api-version=2019-05-01', { token: false });
    const one = await rawArm(emu, 'GET', '/metadata/endpoints?api-version=2022-09-01', { token: false });

    const v2018 = await rawArm(emu, 'GET', '/metadata/endpoints?api-version=2018-01-01', { token: false });
    const v2015 = await rawArm(emu, 'GET', '/metadata/endpoints?api-version=2015-01-01', { token: false });

    // 2018-01-01 adds graphAudience and the tenant to 2015-01-01's object.
    expect(v2018.body).toMatchObject({
      graphAudience: expect.any(String),
      authentication: { tenant: 'common' },
    });
    expect(v2015.body.graphAudience).toBeUndefined();
    expect(Array.isArray(list.body)).toBe(true);
    const [cloud] = list.body as unknown as Record<string, unknown>[];
    expect(cloud).toMatchObject({ name: 'AzureCloud', resourceManager: `${emu.armEndpoint}/` });
    expect(one.body).toMatchObject({
      resourceManager: `${emu.armEndpoint}/`,
      authentication: { tenant: 'common' },
    });
  });

  it('answers a version no client sends as ARM answers for its own types (not verified for this endpoint)', async () => {
    const res = await rawArm(emu, 'GET', '/metadata/endpoints?api-version=2016-01-01', { token: false });

    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('InvalidApiVersionParameter');
  });
});

describe('resource groups', () => {
  const group = (name: string, version = '2022-09-01') =>
    `/subscriptions/${SUB}/resourcegroups/${name}?api-version=${version}`;

  it('creates (201), updates (200), shows and lists a resource group', async () => {
    const created = await rawArm(emu, 'PUT', group('rg-runbook'), { body: { location: 'West Europe' } });
    const updated = await rawArm(emu, 'PUT', group('rg-runbook'), {
      body: { location: 'westeurope', tags: { owner: 'platform' } },
    });
    const shown = await rawArm(emu, 'GET', group('rg-runbook', '2016-09-01'));
    const listed = await rawArm(emu, 'GET', `/subscriptions/${SUB}/resourcegroups?api-version=2021-04-01`);

    expect([created.status, updated.status, shown.status]).toEqual([201, 200, 200]);
    expect(shown.body).toEqual({
      id: `/subscriptions/${SUB}/resourceGroups/rg-runbook`,
      name: 'rg-runbook',
      type: 'Microsoft.Resources/resourceGroups',
      location: 'westeurope',
      tags: { owner: 'platform' },
      properties: { provisioningState: 'Succeeded' },
    });
    expect((listed.body.value as { name: string }[]).map((g) => g.name)).toEqual(
      expect.arrayContaining(['rg-ids', RG, 'rg-runbook']),
    );
  });

  it('shows the resource that manages a group (an AKS node resource group, a managed application)', async () => {
    const cluster = `/subscriptions/${SUB}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks-prod`;
    emu.seedResourceGroup(SUB, 'MC_rg-aks_aks-prod_westeurope', 'westeurope', { managedBy: cluster });
    const app = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Solutions/applications/app-1`;
    const created = await rawArm(emu, 'PUT', group('rg-managed-app'), {
      body: { location: 'westeurope', managedBy: app },
    });

    const node = await rawArm(emu, 'GET', group('MC_rg-aks_aks-prod_westeurope'));
    const plain = await rawArm(emu, 'GET', group('rg-ids'));

    expect(node.body.managedBy).toBe(cluster);
    expect(created.body.managedBy).toBe(app);
    expect(plain.body).not.toHaveProperty('managedBy');
  });

  it('keeps a group in its location and refuses bad names and unknown groups as ARM does', async () => {
    const moved = await rawArm(emu, 'PUT', group('rg-ids'), { body: { location: 'eastus' } });
    const badName = await rawArm(emu, 'PUT', group('rg%20bad!'), { body: { location: 'eastus' } });
    const missing = await rawArm(emu, 'GET', group('rg-nowhere'));
    const noLocation = await rawArm(emu, 'PUT', group('rg-new'), { body: {} });
    const unpublished = await rawArm(emu, 'GET', group('rg-ids', '2099-01-01'));

    expect(moved.status).toBe(409);
    expect(moved.body.error).toEqual({
      code: 'InvalidResourceGroupLocation',
      message:
        "Invalid resource group location 'eastus'. The Resource group already exists in location 'westeurope'.",
    });
    expect(badName.status).toBe(400);
    expect(badName.body.error?.code).toBe('InvalidResourceGroup');
    expect(badName.body.error?.message).toContain("has these invalid characters: ' !'");
    expect(missing.status).toBe(404);
    expect(missing.body.error?.code).toBe('ResourceGroupNotFound');
    expect(noLocation.status).toBe(400);
    expect(noLocation.body.error?.code).toBe('LocationRequired');
    expect(unpublished.body.error?.code).toBe('InvalidApiVersionParameter');
  });
});

describe('role definitions', () => {
  it("resolves a role name at a registry's scope through the SDK's own list call", async () => {
    const { authorization } = clientsFor(emu);

    const found = [];
    for await (const role of authorization.roleDefinitions.list(registryId, {
      filter: "roleName eq 'AcrPull'",
    })) {
      found.push(role);
    }

    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      id: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${ACR_PULL}`,
      name: ACR_PULL,
      roleName: 'AcrPull',
      roleType: 'BuiltInRole',
      assignableScopes: ['/'],
      permissions: [{ actions: ['Microsoft.ContainerRegistry/registries/pull/read'], notActions: [] }],
    });
  });

  it('gets a role by id at a subscription and at the tenant root; an unknown one is 404', async () => {
    const atSub = await rawArm(
      emu,
      'GET',
      `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${ACR_PULL}?api-version=2022-04-01`,
    );
    const atRoot = await rawArm(
      emu,
      'GET',
      `/providers/Microsoft.Authorization/roleDefinitions/${ACR_PULL}?api-version=2018-01-01-preview`,
    );
    const unknown = await rawArm(
      emu,
      'GET',
      `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${SUB}?api-version=2022-04-01`,
    );

    expect(atSub.body.id).toBe(
      `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${ACR_PULL}`,
    );
    expect(atRoot.body.id).toBe(`/providers/Microsoft.Authorization/roleDefinitions/${ACR_PULL}`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error?.code).toBe('RoleDefinitionDoesNotExist');
  });

  it('lists nothing for a name no built-in role has, and says which filters it does not model', async () => {
    const path = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-04-01`;

    const none = await rawArm(emu, 'GET', `${path}&$filter=${encodeURIComponent("roleName eq 'AcrPul'")}`);
    const other = await rawArm(emu, 'GET', `${path}&$filter=${encodeURIComponent('atScopeAndBelow()')}`);

    expect(none.body.value).toEqual([]);
    expect(other.status).toBe(501);
  });
});

describe('generic resource list', () => {
  it("filters a subscription's resources by type, with each one's identity", async () => {
    const path = `/subscriptions/${SUB}/resources?api-version=2021-04-01&$filter=${encodeURIComponent(
      "resourceType eq 'Microsoft.ContainerRegistry/registries'",
    )}`;
    const vms = await rawArm(
      emu,
      'GET',
      `/subscriptions/${SUB}/resourceGroups/${RG}/resources?api-version=2025-04-01&$filter=${encodeURIComponent(
        "resourceType eq 'microsoft.compute/virtualmachines'",
      )}`,
    );

    const res = await rawArm(emu, 'GET', path);

    expect((res.body.value as { id: string }[]).map((r) => r.id)).toEqual([registryId]);
    const listed = vms.body.value as { name: string; tags?: unknown; identity?: { type: string } }[];
    expect(listed.map((r) => [r.name, r.tags, r.identity?.type])).toEqual([
      ['vm-web-01', { acrPull: 'contosoapps' }, undefined],
      ['vm-web-02', undefined, 'UserAssigned'],
    ]);
  });
});

describe('VM bodies', () => {
  it('returns the storage, OS and network profiles, and the instance view on $expand=instanceView', async () => {
    const { compute } = clientsFor(emu);

    const plain = await compute.virtualMachines.get(RG, 'vm-web-01');
    const expanded = await compute.virtualMachines.get(RG, 'vm-web-01', { expand: 'instanceView' });

    expect(plain.instanceView).toBeUndefined();
    expect(plain.storageProfile?.osDisk).toMatchObject({ osType: 'Linux', createOption: 'FromImage' });
    expect(plain.storageProfile?.osDisk?.managedDisk?.id).toContain(
      '/providers/Microsoft.Compute/disks/vm-web-01_OsDisk_1_',
    );
    expect(plain.osProfile).toMatchObject({ computerName: 'vm-web-01', adminUsername: 'azureuser' });
    expect(plain.networkProfile?.networkInterfaces?.[0]?.id).toMatch(/networkInterfaces\/vm-web-01VMNic$/);
    expect(expanded.instanceView?.statuses?.map((s) => s.code)).toEqual([
      'ProvisioningState/succeeded',
      'PowerState/running',
    ]);
  });

  it("shows an operation in progress in the instance view's provisioning status", async () => {
    emu.startVmOperation(VM_PATH, { forMs: 2_500 });

    const res = await rawArm(emu, 'GET', `${VM_PATH}?api-version=2022-08-01&$expand=instanceView`);

    const view = (res.body.properties as { instanceView: { statuses: { code: string }[] } }).instanceView;
    expect(view.statuses[0]?.code).toBe('ProvisioningState/updating');
  });
});

/** One GET to the managed-identity endpoint: `${identityEndpoint}${suffix}`. */
function tokenRequest(
  suffix: string,
  headers: Record<string, string>,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${emu.identityEndpoint}${suffix}`, { headers }, (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      })
      .on('error', reject);
  });
}

/** msrestazure's request: `${MSI_ENDPOINT}/?resource=…&api-version=2017-09-01[&clientid=…]`. */
const legacyToken = (query: string, headers: Record<string, string>) => tokenRequest(`/?${query}`, headers);

describe("App Service's legacy managed-identity protocol (MSI_ENDPOINT / MSI_SECRET, 2017-09-01)", () => {
  const query = 'resource=https://management.core.windows.net/&api-version=2017-09-01';

  it('issues a token ARM accepts, with expires_on as a date, for the app or the identity a clientid names', async () => {
    const operator = emu.listIdentities().find((i) => i.name === 'id-operator');
    if (!operator) throw new Error('seeded operator identity missing');

    const app = await legacyToken(query, { secret: emu.identityHeader });
    const user = await legacyToken(`${query}&clientid=${operator.clientId}`, { secret: emu.identityHeader });

    const body = JSON.parse(app.text);
    expect(app.status).toBe(200);
    expect(body).toMatchObject({ token_type: 'Bearer', resource: 'https://management.core.windows.net/' });
    // "MM/DD/YYYY HH:MM:SS +00:00", UTC: the token's own expiry, for the app's own identity.
    const m = /^(\d\d)\/(\d\d)\/(\d{4}) (\d\d):(\d\d):(\d\d) \+00:00$/.exec(body.expires_on);
    const [mo, d, y, h, mi, sec] = (m ?? []).slice(1).map(Number);
    const appClaims = JSON.parse(Buffer.from(body.access_token.split('.')[1], 'base64url').toString());
    expect(appClaims.oid).toBe(emu.appIdentity.principalId);
    expect(Date.UTC(y ?? 0, (mo ?? 1) - 1, d, h, mi, sec) / 1000).toBe(appClaims.exp);
    const claims = JSON.parse(
      Buffer.from(JSON.parse(user.text).access_token.split('.')[1], 'base64url').toString(),
    );
    expect(claims.oid).toBe(operator.principalId);
    const res = await rawArm(emu, 'GET', `${VM_PATH}?api-version=2022-08-01`, { token: body.access_token });
    expect(res.status).toBe(200);
  });

  it('wants its own secret header and selects identities by clientid only', async () => {
    const wrong = await legacyToken(query, { secret: 'guess' });
    const newHeader = await legacyToken(query, { 'X-IDENTITY-HEADER': emu.identityHeader });
    const newSelector = await legacyToken(`${query}&client_id=${SUB}`, { secret: emu.identityHeader });
    const unknownClient = await legacyToken(`${query}&clientid=${SUB}`, { secret: emu.identityHeader });

    expect([wrong.status, newHeader.status, newSelector.status, unknownClient.status]).toEqual([
      401, 400, 400, 400,
    ]);
    expect(JSON.parse(unknownClient.text).message).toBe('Unable to load the proper Managed Identity.');
  });

  it('refuses a token for a resource Entra ID does not know, in either protocol, as App Service does (500)', async () => {
    const legacy = await legacyToken('resource=https://managements.azure.com&api-version=2017-09-01', {
      secret: emu.identityHeader,
    });
    const current = await tokenRequest(
      `?api-version=2019-08-01&resource=${encodeURIComponent('https://managements.azure.com')}`,
      { 'X-IDENTITY-HEADER': emu.identityHeader },
    );

    for (const res of [legacy, current]) {
      expect(res.status).toBe(500);
      expect(JSON.parse(res.text).message).toBe('An unexpected error occured while fetching the AAD Token.');
    }
  });
});

describe('edges a client may hit', () => {
  it('takes injected faults and hooks on the metadata endpoint like any route', async () => {
    let hooked = 0;
    emu.onBeforeOperation('metadata.get', () => {
      hooked += 1;
    });
    emu.injectFault({ operation: 'metadata.get', status: 503, code: 'ServiceUnavailable' });

    const faulted = await rawArm(emu, 'GET', '/metadata/endpoints?api-version=2015-01-01', { token: false });
    const next = await rawArm(emu, 'GET', '/metadata/endpoints?api-version=2015-01-01', { token: false });

    const posted = await rawArm(emu, 'POST', '/metadata/endpoints?api-version=2015-01-01', { token: false });

    expect([faulted.status, next.status]).toEqual([503, 200]);
    // Another method: no token asked for either, and the emulator says what it does not model.
    expect(posted.status).toBe(501);
    // As on every route, a request a fault answers never reaches the hooks.
    expect(hooked).toBe(1);
  });

  it('refuses resource group names too long or ending in a dot, and says it does not filter the list', async () => {
    const put = (name: string) =>
      rawArm(emu, 'PUT', `/subscriptions/${SUB}/resourcegroups/${name}?api-version=2022-09-01`, {
        body: { location: 'eastus' },
      });
    const filter = encodeURIComponent("tagName eq 'owner'");

    const dotted = await put('rg-dotted.');
    const long = await put('r'.repeat(91));
    const longest = await put('r'.repeat(90));
    const filtered = await rawArm(
      emu,
      'GET',
      `/subscriptions/${SUB}/resourcegroups?api-version=2022-09-01&$filter=${filter}`,
    );

    expect([dotted.status, long.status, longest.status, filtered.status]).toEqual([400, 400, 201, 501]);
    expect(dotted.body.error?.code).toBe('InvalidResourceGroup');
  });

  it('filters role definitions by type, and answers for a scope that does not exist as ARM does', async () => {
    const path = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-04-01`;
    const nowherePath = `/subscriptions/${SUB}/resourceGroups/rg-nowhere/providers/Microsoft.Authorization/roleDefinitions`;

    const builtIn = await rawArm(
      emu,
      'GET',
      `${path}&$filter=${encodeURIComponent("type eq 'BuiltInRole'")}`,
    );
    const custom = await rawArm(emu, 'GET', `${path}&$filter=${encodeURIComponent("type eq 'CustomRole'")}`);
    const nowhere = await rawArm(emu, 'GET', `${nowherePath}?api-version=2022-04-01`);

    expect((builtIn.body.value as unknown[]).length).toBeGreaterThan(5);
    expect(custom.body.value).toEqual([]);
    expect(nowhere.status).toBe(404);
    expect(nowhere.body.error?.code).toBe('ResourceGroupNotFound');
  });

  it('filters resources by name, answers 404 for a group that does not exist, and refuses $top', async () => {
    const filter = encodeURIComponent("name eq 'id-operator'");

    const byName = await rawArm(
      emu,
      'GET',
      `/subscriptions/${SUB}/resources?api-version=2021-04-01&$filter=${filter}`,
    );
    const nowhere = await rawArm(
      emu,
      'GET',
      `/subscriptions/${SUB}/resourceGroups/rg-nowhere/resources?api-version=2021-04-01`,
    );
    const top = await rawArm(emu, 'GET', `/subscriptions/${SUB}/resources?api-version=2021-04-01&$top=1`);

    expect((byName.body.value as { type: string }[]).map((r) => r.type)).toEqual([
      'Microsoft.ManagedIdentity/userAssignedIdentities',
    ]);
    expect(nowhere.body.error?.code).toBe('ResourceGroupNotFound');
    expect(top.status).toBe(501);
  });

  it('expands resources as az resource list asks (createdTime, provisioningState; changedTime is not tracked)', async () => {
    const path = `/subscriptions/${SUB}/resources?api-version=2022-09-01&$filter=${encodeURIComponent("name eq 'id-operator'")}`;

    const expanded = await rawArm(emu, 'GET', `${path}&$expand=createdTime,changedTime,provisioningState`);
    const other = await rawArm(emu, 'GET', `${path}&$expand=properties`);

    const [identity] = expanded.body.value as Record<string, unknown>[];
    expect(identity).toMatchObject({ provisioningState: 'Succeeded', createdTime: expect.any(String) });
    expect(identity?.changedTime).toBeUndefined();
    expect(other.status).toBe(501);
  });

  it('takes $expand=userData (it holds none) and says it does not model other $expand values', async () => {
    const userData = await rawArm(
      emu,
      'GET',
      `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/vm-web-02?api-version=2022-08-01&$expand=userData`,
    );
    const other = await rawArm(
      emu,
      'GET',
      `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/vm-web-02?api-version=2022-08-01&$expand=resiliencyView`,
    );

    expect(userData.status).toBe(200);
    expect((userData.body.properties as Record<string, unknown>).instanceView).toBeUndefined();
    expect(other.status).toBe(501);
  });

  it('wants the secret header in the legacy protocol, and says which real Azure resources it does not serve', async () => {
    const query = 'resource=https://management.core.windows.net/&api-version=2017-09-01';

    const missing = await legacyToken(query, {});
    const vault = await legacyToken('resource=https://vault.azure.net&api-version=2017-09-01', {
      secret: emu.identityHeader,
    });
    const monitor = await legacyToken('resource=https://monitor.azure.com/&api-version=2017-09-01', {
      secret: emu.identityHeader,
    });

    // Key Vault is real (App Service would issue a token); nothing here serves it: not modelled.
    expect([missing.status, vault.status, monitor.status]).toEqual([400, 501, 200]);
  });
});
