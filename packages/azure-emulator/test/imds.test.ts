// The VM-side managed-identity endpoint (IMDS), over real HTTP on loopback.
import http from 'node:http';
import { type Emulator, startEmulator } from '../src';
import { ACR_PULL, placed, pullAsVm, SUB } from '../src/testing';

const RG = 'rg-imds';
let emu: Emulator;

beforeAll(async () => {
  emu = await startEmulator();
});

afterAll(() => emu.close());

interface ImdsAnswer {
  status: number;
  body: { access_token?: string; client_id?: string; error?: string; error_description?: string };
}

function imds(targetId: string, query: Record<string, string>, metadata = true): Promise<ImdsAnswer> {
  const qs = new URLSearchParams({ 'api-version': '2018-02-01', ...query });
  const url = `${emu.vmImdsEndpoint(targetId)}/metadata/identity/oauth2/token?${qs}`;
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: metadata ? { Metadata: 'true' } : {} }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      })
      .on('error', reject);
  });
}

const claimsOf = (token: string | undefined) =>
  JSON.parse(Buffer.from((token ?? '').split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;

const ACR = 'https://containerregistry.azure.net';
let n = 0;
const fresh = (prefix: string) => `${prefix}-${++n}`;

function identity() {
  return emu.seedIdentity(placed(RG, fresh('id')));
}

describe('IMDS token endpoint', () => {
  it("refuses a request without `Metadata: true` with IMDS's 400", async () => {
    const vm = emu.seedVm({ ...placed(RG, fresh('vm')), systemAssigned: true });
    const answer = await imds(vm.id, { resource: ACR }, false);
    expect(answer).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'Required metadata header not specified' },
    });
  });

  it("issues the sole user-assigned identity's token with oid, appid, xms_mirid and the emulator's xms_emu_vm", async () => {
    const id = identity();
    const vm = emu.seedVm({ ...placed(RG, fresh('vm')), userAssignedIdentityIds: [id.id] });
    const answer = await imds(vm.id, { resource: ACR });
    expect(answer.status).toBe(200);
    expect(answer.body.client_id).toBe(id.clientId);
    expect(claimsOf(answer.body.access_token)).toMatchObject({
      aud: ACR,
      oid: id.principalId,
      appid: id.clientId,
      xms_mirid: id.id,
      xms_emu_vm: vm.id,
      tid: emu.tenantId,
    });
  });

  it('prefers the system-assigned identity when no identity is named', async () => {
    const id = identity();
    const vm = emu.seedVm({
      ...placed(RG, fresh('vm')),
      systemAssigned: true,
      userAssignedIdentityIds: [id.id],
    });
    const answer = await imds(vm.id, { resource: 'https://management.azure.com/' });
    expect(answer.status).toBe(200);
    expect(claimsOf(answer.body.access_token)).toMatchObject({
      oid: vm.identity?.principalId,
      xms_mirid: vm.id,
    });
  });

  it('answers 400 for several user-assigned identities and no selector; each selector picks one', async () => {
    const [a, b] = [identity(), identity()];
    const vm = emu.seedVm({ ...placed(RG, fresh('vm')), userAssignedIdentityIds: [a.id, b.id] });
    expect(await imds(vm.id, { resource: ACR })).toEqual({
      status: 400,
      body: {
        error: 'invalid_request',
        error_description:
          'Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request',
      },
    });
    const byClient = await imds(vm.id, { resource: ACR, client_id: b.clientId });
    const byObject = await imds(vm.id, { resource: ACR, object_id: a.principalId });
    const byResource = await imds(vm.id, { resource: ACR, msi_res_id: b.id });
    expect(claimsOf(byClient.body.access_token).oid).toBe(b.principalId);
    expect(claimsOf(byObject.body.access_token).oid).toBe(a.principalId);
    expect(claimsOf(byResource.body.access_token).oid).toBe(b.principalId);
  });

  it('answers 400 Identity not found for an identity the VM does not hold, and for a VM without identities', async () => {
    const other = identity();
    const vm = emu.seedVm({ ...placed(RG, fresh('vm')), userAssignedIdentityIds: [identity().id] });
    const bare = emu.seedVm(placed(RG, fresh('vm')));
    const notFound = {
      status: 400,
      body: { error: 'invalid_request', error_description: 'Identity not found' },
    };
    expect(await imds(vm.id, { resource: ACR, client_id: other.clientId })).toEqual(notFound);
    expect(await imds(bare.id, { resource: ACR })).toEqual(notFound);
  });

  it("refuses a resource Entra ID does not know (invalid_resource) and accepts ARM's audiences", async () => {
    const vm = emu.seedVm({ ...placed(RG, fresh('vm')), userAssignedIdentityIds: [identity().id] });
    const unknown = await imds(vm.id, { resource: 'https://managements.azure.com' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toBe('invalid_resource');
    expect(unknown.body.error_description).toMatch(/^AADSTS500011: /);
    for (const resource of ['https://management.azure.com/', 'https://management.core.windows.net/'])
      expect((await imds(vm.id, { resource })).status).toBe(200);
  });

  it('serves a scale set like a VM', async () => {
    const id = identity();
    const vmss = emu.seedScaleSet({ ...placed(RG, fresh('vmss')), userAssignedIdentityIds: [id.id] });
    const answer = await imds(vmss.id, { resource: ACR });
    expect(claimsOf(answer.body.access_token)).toMatchObject({ oid: id.principalId, xms_emu_vm: vmss.id });
  });
});

describe('a VM entry whose identity was deleted', () => {
  it('answers Identity not found (old principal kept or null), and the re-created identity gains nothing', async () => {
    const registry = emu.seedRegistry({
      subscriptionId: SUB,
      resourceGroup: RG,
      name: fresh('stalereg').replace('-', ''),
    });
    const name = fresh('id-recreated');
    const old = emu.seedIdentity(placed(RG, name));
    const kept = emu.seedVm({ ...placed(RG, fresh('vm')), userAssignedIdentityIds: [old.id] });
    const nulled = emu.seedVm({ ...placed(RG, fresh('vm')), userAssignedIdentityIds: [old.id] });
    emu.deleteIdentity(old.id);
    emu.updateVmOutOfBand(nulled.id, (vm) => {
      const entry = Object.values(vm.identity?.userAssignedIdentities ?? {})[0];
      if (entry) {
        entry.principalId = null;
        entry.clientId = null;
      }
    });
    const recreated = emu.seedIdentity(placed(RG, name));
    emu.seedRoleAssignment({
      scope: registry.id,
      roleDefinitionId: ACR_PULL,
      principalId: recreated.principalId,
    });

    const notFound = {
      status: 400,
      body: { error: 'invalid_request', error_description: 'Identity not found' },
    };
    expect(await imds(kept.id, { resource: ACR })).toEqual(notFound);
    expect(await imds(nulled.id, { resource: ACR, msi_res_id: recreated.id })).toEqual(notFound);
    expect(await imds(kept.id, { resource: ACR, client_id: recreated.clientId })).toEqual(notFound);
    expect(await pullAsVm(emu, { targetId: kept.id, registryId: registry.id })).toMatchObject({
      ok: false,
      step: 'imds',
      status: 400,
      message: 'Identity not found',
    });
  });

  it("with imdsStaleIdentity 'stalePrincipal', issues the old principal's token, which pulls nothing", async () => {
    const stale = await startEmulator({ imdsStaleIdentity: 'stalePrincipal' });
    try {
      const registry = stale.seedRegistry({ subscriptionId: SUB, resourceGroup: RG, name: 'stalepull' });
      const old = stale.seedIdentity(placed(RG, 'id-x'));
      const vm = stale.seedVm({ ...placed(RG, 'vm-x'), userAssignedIdentityIds: [old.id] });
      stale.deleteIdentity(old.id);
      const recreated = stale.seedIdentity(placed(RG, 'id-x'));
      stale.seedRoleAssignment({
        scope: registry.id,
        roleDefinitionId: ACR_PULL,
        principalId: recreated.principalId,
      });
      const result = await pullAsVm(stale, { targetId: vm.id, registryId: registry.id });
      expect(result).toMatchObject({ ok: false, step: 'manifest', status: 401 });
    } finally {
      await stale.close();
    }
  });
});
