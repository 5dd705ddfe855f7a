// Microsoft.Network and Private DNS, read-only: the real @azure/arm-network and @azure/arm-privatedns
// clients (the ones the app's doctor uses) against seeded VNets, NICs, private endpoints and zones;
// raw HTTPS for what those clients never send (old api-versions, unmodelled record types). Then
// networkPositionOf over a Store, with no HTTP at all.
import { NetworkManagementClient } from '@azure/arm-network';
import { PrivateDnsManagementClient } from '@azure/arm-privatedns';
import { type Emulator, startEmulator } from '../src';
import * as model from '../src/network/model';
import { networkPositionOf } from '../src/network/reach';
import { Store } from '../src/store';
import { type Clients, clientsFor, failure, rawArm, SUB, staticCredential } from '../src/testing';

const ARM_SCOPE = 'https://management.azure.com/.default';
const RG = 'rg-net';
const NET = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network`;

let emu: Emulator;
let clients: Clients;
let network: NetworkManagementClient;
let dns: PrivateDnsManagementClient;
let registryId: string;
let vmId: string;

beforeAll(async () => {
  emu = await startEmulator({ pageSize: 2 });
  clients = clientsFor(emu);
  const options = {
    endpoint: emu.armEndpoint,
    tlsOptions: { ca: emu.caCertPem },
    credentials: { scopes: [ARM_SCOPE] },
    retryOptions: { maxRetries: 0 },
  };
  network = new NetworkManagementClient(staticCredential(emu), SUB, options);
  dns = new PrivateDnsManagementClient(staticCredential(emu), SUB, options);

  registryId = emu.seedRegistry({
    subscriptionId: SUB,
    resourceGroup: 'rg-acr',
    name: 'contosoprivate',
    sku: 'Premium',
    location: 'westeurope',
  }).id;
  const apps = emu.seedVirtualNetwork({
    subscriptionId: SUB,
    resourceGroup: RG,
    name: 'vnet-apps',
    location: 'westeurope',
    subnets: [
      { name: 'snet-vms', addressPrefix: '10.0.1.0/24' },
      { name: 'snet-pe', addressPrefix: '10.0.2.0/24' },
    ],
  });
  const hub = emu.seedVirtualNetwork({
    subscriptionId: SUB,
    resourceGroup: RG,
    name: 'vnet-hub',
    addressPrefix: '10.1.0.0/16',
    subnets: [{ name: 'snet-pe', addressPrefix: '10.1.2.0/24' }],
  });
  const lonely = emu.seedVirtualNetwork({
    subscriptionId: SUB,
    resourceGroup: RG,
    name: 'vnet-lonely',
    addressPrefix: '10.2.0.0/16',
    subnets: [{ name: 'default', addressPrefix: '10.2.0.0/24' }],
  });
  emu.seedPeering(apps.id, hub.id, 'Connected');
  emu.seedPeering(apps.id, lonely.id, 'Initiated');
  vmId = emu.seedVm({ subscriptionId: SUB, resourceGroup: RG, name: 'vm-app', location: 'westeurope' }).id;
  const pip = emu.seedPublicIp({
    subscriptionId: SUB,
    resourceGroup: RG,
    name: 'pip-app',
    ipAddress: '20.1.2.3',
  });
  emu.seedNic({
    subscriptionId: SUB,
    resourceGroup: RG,
    name: 'nic-app',
    subnetId: `${apps.id}/subnets/snet-vms`,
    publicIpId: pip.id,
    vmId,
  });
  emu.seedPrivateEndpoint({
    subscriptionId: SUB,
    resourceGroup: RG,
    name: 'pe-acr',
    subnetId: `${hub.id}/subnets/snet-pe`,
    registryId,
    status: 'Approved',
  });
  emu.seedPrivateEndpoint({
    subscriptionId: SUB,
    resourceGroup: RG,
    name: 'pe-pending',
    subnetId: `${apps.id}/subnets/snet-pe`,
    registryId,
    status: 'Pending',
  });
  const zone = emu.seedPrivateDnsZone({ subscriptionId: SUB, resourceGroup: RG });
  emu.linkPrivateDnsZone(zone.id, apps.id);
  emu.seedARecord(zone.id, 'contosoprivate', ['10.1.2.4']);
  emu.seedARecord(zone.id, 'contosoprivate.westeurope.data', ['10.1.2.5']);
});

afterAll(() => emu.close());

async function all<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

describe('network interfaces and the VM that holds them', () => {
  it("gets the VM's NIC with its subnet, private IP, public IP and VM", async () => {
    const nic = await network.networkInterfaces.get(RG, 'nic-app');

    expect(nic).toMatchObject({
      id: `${NET}/networkInterfaces/nic-app`,
      primary: true,
      virtualMachine: { id: vmId },
      provisioningState: 'Succeeded',
    });
    expect(nic.ipConfigurations).toHaveLength(1);
    expect(nic.ipConfigurations?.[0]).toMatchObject({
      subnet: { id: `${NET}/virtualNetworks/vnet-apps/subnets/snet-vms` },
      // The first address Azure hands out in a subnet is .4 (the first four are reserved).
      privateIPAddress: '10.0.1.4',
      publicIPAddress: { id: `${NET}/publicIPAddresses/pip-app` },
      primary: true,
    });
  });

  it("lists the NIC in the VM's network profile, primary marked (compute client)", async () => {
    const vm = await clients.compute.virtualMachines.get(RG, 'vm-app');

    expect(vm.networkProfile?.networkInterfaces).toEqual([
      expect.objectContaining({ id: `${NET}/networkInterfaces/nic-app`, primary: true }),
    ]);
  });

  it("lists NICs per resource group and subscription, private endpoints' NICs included, across pages", async () => {
    const inGroup = await all(network.networkInterfaces.list(RG));
    const inSub = await all(network.networkInterfaces.listAll());

    expect(inGroup).toHaveLength(3);
    expect(inSub.map((n) => n.id).sort()).toEqual(inGroup.map((n) => n.id).sort());
    const peNic = inGroup.find((n) => n.privateEndpoint);
    expect(peNic?.name).toMatch(/^pe-(acr|pending)\.nic\.[0-9a-f-]{36}$/);
    expect(emu.counts()['nic.list']).toBeGreaterThanOrEqual(4);
  });

  it('answers a missing NIC with 404 ResourceNotFound', async () => {
    const error = await failure(network.networkInterfaces.get(RG, 'nic-nope'));

    expect(error.statusCode).toBe(404);
    expect(error.code).toBe('ResourceNotFound');
  });
});

describe('virtual networks, subnets and peerings', () => {
  it('gets a VNet with its subnets and peerings inline', async () => {
    const vnet = await network.virtualNetworks.get(RG, 'vnet-apps');

    expect(vnet.addressSpace?.addressPrefixes).toEqual(['10.0.0.0/16']);
    expect(vnet.subnets?.map((s) => [s.name, s.addressPrefix])).toEqual([
      ['snet-vms', '10.0.1.0/24'],
      ['snet-pe', '10.0.2.0/24'],
    ]);
    expect(vnet.virtualNetworkPeerings?.map((p) => [p.remoteVirtualNetwork?.id, p.peeringState])).toEqual([
      [`${NET}/virtualNetworks/vnet-hub`, 'Connected'],
      [`${NET}/virtualNetworks/vnet-lonely`, 'Initiated'],
    ]);
  });

  it('lists peerings: Connected both ways; Initiated only on the side that peered', async () => {
    const hub = await all(network.virtualNetworkPeerings.list(RG, 'vnet-hub'));
    const lonely = await all(network.virtualNetworkPeerings.list(RG, 'vnet-lonely'));

    expect(hub.map((p) => [p.remoteVirtualNetwork?.id, p.peeringState, p.peeringSyncLevel])).toEqual([
      [`${NET}/virtualNetworks/vnet-apps`, 'Connected', 'FullyInSync'],
    ]);
    expect(lonely).toEqual([]);
  });

  it('a peering whose remote side was deleted reads Disconnected', async () => {
    emu.seedVirtualNetwork({
      subscriptionId: SUB,
      resourceGroup: RG,
      name: 'vnet-gone',
      addressPrefix: '10.9.0.0/16',
      subnets: [],
    });
    emu.seedPeering(`${NET}/virtualNetworks/vnet-gone`, `${NET}/virtualNetworks/vnet-hub`, 'Disconnected');

    const peering = await network.virtualNetworkPeerings.get(RG, 'vnet-gone', 'vnet-gone-to-vnet-hub');

    expect(peering.peeringState).toBe('Disconnected');
    expect(await all(network.virtualNetworkPeerings.list(RG, 'vnet-hub'))).toHaveLength(1);
  });

  it("lists and gets subnets, with their NICs' IP configurations and private endpoints", async () => {
    const subnets = await all(network.subnets.list(RG, 'vnet-hub'));
    const snet = await network.subnets.get(RG, 'vnet-hub', 'snet-pe');

    expect(subnets.map((s) => s.name)).toEqual(['snet-pe']);
    expect(snet.privateEndpoints?.map((p) => p.id)).toEqual([`${NET}/privateEndpoints/pe-acr`]);
    expect(snet.ipConfigurations).toHaveLength(2);
  });

  it('answers a missing subnet with 404 NotFound naming it', async () => {
    const error = await failure(network.subnets.get(RG, 'vnet-hub', 'nope'));

    expect(error.statusCode).toBe(404);
    expect(error.code).toBe('NotFound');
    expect(error.message).toContain('/virtualNetworks/vnet-hub/subnets/nope');
  });

  it('lists VNets per resource group and subscription', async () => {
    expect((await all(network.virtualNetworks.list(RG))).map((v) => v.name).sort()).toEqual([
      'vnet-apps',
      'vnet-gone',
      'vnet-hub',
      'vnet-lonely',
    ]);
    expect(await all(network.virtualNetworks.listAll())).toHaveLength(4);
  });
});

describe('private endpoints to a registry', () => {
  it('an approved endpoint: automatic connection to the registry (group registry), DNS configs of both members', async () => {
    const pe = await network.privateEndpoints.get(RG, 'pe-acr');

    expect(pe.subnet?.id).toBe(`${NET}/virtualNetworks/vnet-hub/subnets/snet-pe`);
    expect(pe.manualPrivateLinkServiceConnections).toEqual([]);
    expect(pe.privateLinkServiceConnections?.[0]).toMatchObject({
      privateLinkServiceId: registryId,
      groupIds: ['registry'],
      privateLinkServiceConnectionState: { status: 'Approved' },
    });
    expect(pe.customDnsConfigs).toEqual([
      { fqdn: 'contosoprivate.azurecr.io', ipAddresses: ['10.1.2.4'] },
      { fqdn: 'contosoprivate.westeurope.data.azurecr.io', ipAddresses: ['10.1.2.5'] },
    ]);
  });

  it("the endpoint's NIC names the member each IP serves (registry, registry_data_<region>)", async () => {
    const pe = await network.privateEndpoints.get(RG, 'pe-acr');
    const nicName = pe.networkInterfaces?.[0]?.id?.split('/').pop() ?? '';
    const nic = await network.networkInterfaces.get(RG, nicName);

    expect(nic.privateEndpoint?.id).toBe(pe.id);
    expect(
      nic.ipConfigurations?.map((c) => [
        c.privateLinkConnectionProperties?.requiredMemberName,
        c.privateIPAddress,
      ]),
    ).toEqual([
      ['registry', '10.1.2.4'],
      ['registry_data_westeurope', '10.1.2.5'],
    ]);
  });

  it('a pending endpoint is a manual connection awaiting approval', async () => {
    const pe = await network.privateEndpoints.get(RG, 'pe-pending');

    expect(pe.privateLinkServiceConnections).toEqual([]);
    expect(pe.manualPrivateLinkServiceConnections?.[0]?.privateLinkServiceConnectionState?.status).toBe(
      'Pending',
    );
  });

  it("the registry lists both connections with their states (registry client), and the registry owner's approval shows on the endpoint", async () => {
    const registry = await clients.registries.registries.get('rg-acr', 'contosoprivate');
    const states = registry.privateEndpointConnections?.map((c) => [
      c.privateEndpoint?.id,
      c.privateLinkServiceConnectionState?.status,
    ]);
    expect(states).toEqual([
      [`${NET}/privateEndpoints/pe-acr`, 'Approved'],
      [`${NET}/privateEndpoints/pe-pending`, 'Pending'],
    ]);

    const record = emu.updateRegistry(registryId, {});
    emu.updateRegistry(registryId, {
      privateEndpointConnections: record.access.privateEndpointConnections.map((c) => ({
        ...c,
        status: c.status === 'Pending' ? 'Rejected' : c.status,
      })),
    });
    const pe = await network.privateEndpoints.get(RG, 'pe-pending');
    expect(pe.manualPrivateLinkServiceConnections?.[0]?.privateLinkServiceConnectionState?.status).toBe(
      'Rejected',
    );
  });

  it('lists endpoints per resource group and subscription', async () => {
    expect(await all(network.privateEndpoints.list(RG))).toHaveLength(2);
    expect(await all(network.privateEndpoints.listBySubscription())).toHaveLength(2);
  });
});

describe('public IP addresses', () => {
  it('gets and lists an address, associated with the NIC', async () => {
    const pip = await network.publicIPAddresses.get(RG, 'pip-app');

    expect(pip).toMatchObject({
      ipAddress: '20.1.2.3',
      publicIPAllocationMethod: 'Static',
      sku: { name: 'Standard' },
      ipConfiguration: { id: `${NET}/networkInterfaces/nic-app/ipConfigurations/ipconfig1` },
    });
    expect((await all(network.publicIPAddresses.listAll())).map((p) => p.ipAddress)).toEqual(['20.1.2.3']);
  });
});

describe('private DNS zones (privatedns client)', () => {
  const ZONE = 'privatelink.azurecr.io';

  it('gets the zone and lists it per subscription and resource group', async () => {
    const zone = await dns.privateZones.get(RG, ZONE);

    expect(zone).toMatchObject({
      name: ZONE,
      location: 'global',
      numberOfRecordSets: 2,
      numberOfVirtualNetworkLinks: 1,
      provisioningState: 'Succeeded',
    });
    expect((await all(dns.privateZones.list())).map((z) => z.name)).toEqual([ZONE]);
    expect((await all(dns.privateZones.listByResourceGroup(RG))).map((z) => z.name)).toEqual([ZONE]);
  });

  it('lists and gets its virtual network links', async () => {
    const links = await all(dns.virtualNetworkLinks.list(RG, ZONE));

    expect(
      links.map((l) => [l.virtualNetwork?.id, l.virtualNetworkLinkState, l.registrationEnabled]),
    ).toEqual([[`${NET}/virtualNetworks/vnet-apps`, 'Completed', false]]);
    const link = await dns.virtualNetworkLinks.get(RG, ZONE, links[0]?.name ?? '');
    expect(link.type).toBe('Microsoft.Network/privateDnsZones/virtualNetworkLinks');
  });

  it('lists and gets the A records of the login server and the data endpoint', async () => {
    const records = await all(dns.recordSets.listByType(RG, ZONE, 'A'));
    const data = await dns.recordSets.get(RG, ZONE, 'A', 'contosoprivate.westeurope.data');

    expect(records.map((r) => [r.name, r.aRecords?.map((a) => a.ipv4Address)])).toEqual([
      ['contosoprivate', ['10.1.2.4']],
      ['contosoprivate.westeurope.data', ['10.1.2.5']],
    ]);
    expect(data).toMatchObject({
      type: 'Microsoft.Network/privateDnsZones/A',
      fqdn: 'contosoprivate.westeurope.data.privatelink.azurecr.io.',
      ttl: 3600,
    });
  });

  it('answers a missing record set with 404 NotFound', async () => {
    const error = await failure(dns.recordSets.get(RG, ZONE, 'A', 'nope'));

    expect(error.statusCode).toBe(404);
    expect(error.code).toBe('NotFound');
  });
});

describe('api-versions and what is not modelled (raw HTTPS)', () => {
  it('answers every published version of each type, and refuses one that predates the type', async () => {
    const vnet = await rawArm(emu, 'GET', `${NET}/virtualNetworks/vnet-apps?api-version=2015-06-15`);
    const peerings = await rawArm(
      emu,
      'GET',
      `${NET}/virtualNetworks/vnet-apps/virtualNetworkPeerings?api-version=2016-06-01`,
    );
    const pe = await rawArm(emu, 'GET', `${NET}/privateEndpoints/pe-acr?api-version=2019-04-01`);
    const tooOld = await rawArm(emu, 'GET', `${NET}/privateEndpoints/pe-acr?api-version=2019-02-01`);
    const zone = await rawArm(
      emu,
      'GET',
      `${NET}/privateDnsZones/privatelink.azurecr.io?api-version=2018-09-01`,
    );

    expect([vnet.status, peerings.status, pe.status, zone.status]).toEqual([200, 200, 200, 200]);
    expect(tooOld.status).toBe(400);
    expect(tooOld.body.error?.code).toBe('NoRegisteredProviderFound');
  });

  it('answers record types other than A with 501, and an unknown Network type with InvalidResourceType', async () => {
    const cname = await rawArm(
      emu,
      'GET',
      `${NET}/privateDnsZones/privatelink.azurecr.io/CNAME?api-version=2024-06-01`,
    );
    const nsg = await rawArm(emu, 'GET', `${NET}/networkSecurityGroups?api-version=2026-01-01`);

    expect(cname.status).toBe(501);
    expect(nsg.status).toBe(404);
    expect(nsg.body.error?.code).toBe('InvalidResourceType');
  });

  it('is read-only: a PUT is not implemented', async () => {
    const put = await rawArm(emu, 'PUT', `${NET}/virtualNetworks/vnet-x?api-version=2026-01-01`, {
      body: { location: 'westeurope' },
    });

    expect(put.status).toBe(501);
  });
});

describe('networkPositionOf (the seeded model, no HTTP)', () => {
  const sub = SUB;
  const rg = 'rg';

  /** A VM in vnet-a with a public IP; a registry; a private endpoint, zone and records as asked. */
  function world(
    options: {
      endpointIn?: 'a' | 'b' | 'none';
      status?: 'Approved' | 'Pending' | 'Rejected';
      peering?: 'Connected' | 'Initiated' | 'none';
      link?: boolean;
      records?: 'both' | 'login-only' | 'wrong-ip' | 'none';
      nic?: boolean;
    } = {},
  ) {
    const store = new Store('tenant');
    store.addResourceGroup(sub, rg, 'westeurope');
    const registry = store.createRegistry({
      subscriptionId: sub,
      resourceGroup: rg,
      name: 'contosoapps',
      location: 'West Europe',
      sku: 'Premium',
      roleAssignmentMode: 'LegacyRegistryPermissions',
    });
    const a = model.seedVirtualNetwork(store, {
      subscriptionId: sub,
      resourceGroup: rg,
      name: 'vnet-a',
      subnets: [{ name: 's', addressPrefix: '10.0.0.0/24' }],
    });
    const b = model.seedVirtualNetwork(store, {
      subscriptionId: sub,
      resourceGroup: rg,
      name: 'vnet-b',
      addressPrefix: '10.1.0.0/16',
      subnets: [{ name: 's', addressPrefix: '10.1.0.0/24' }],
    });
    const peering = options.peering ?? 'Connected';
    if (peering !== 'none') model.seedPeering(store, a.id, b.id, peering);
    const vm = store.createVm({ subscriptionId: sub, resourceGroup: rg, name: 'vm', location: 'westeurope' });
    const pip = model.seedPublicIp(store, {
      subscriptionId: sub,
      resourceGroup: rg,
      name: 'pip',
      ipAddress: '52.0.0.1',
    });
    if (options.nic !== false)
      model.seedNic(store, {
        subscriptionId: sub,
        resourceGroup: rg,
        name: 'nic',
        subnetId: `${a.id}/subnets/s`,
        publicIpId: pip.id,
        vmId: vm.id,
      });
    const where = options.endpointIn ?? 'a';
    if (where !== 'none')
      model.seedPrivateEndpoint(store, {
        subscriptionId: sub,
        resourceGroup: rg,
        name: 'pe',
        subnetId: `${where === 'a' ? a.id : b.id}/subnets/s`,
        registryId: registry.id,
        status: options.status ?? 'Approved',
        ips: { loginServer: '10.9.9.4', dataEndpoint: '10.9.9.5' },
      });
    const zone = model.seedPrivateDnsZone(store, { subscriptionId: sub, resourceGroup: rg });
    if (options.link !== false) model.linkPrivateDnsZone(store, zone.id, a.id);
    const records = options.records ?? 'both';
    if (records !== 'none')
      model.seedARecord(store, zone.id, 'contosoapps', [records === 'wrong-ip' ? '10.9.9.99' : '10.9.9.4']);
    if (records === 'both' || records === 'wrong-ip')
      model.seedARecord(store, zone.id, 'contosoapps.westeurope.data', ['10.9.9.5']);
    return { position: () => networkPositionOf(store, vm.id, registry) };
  }

  it('a VM without a NIC in the model has no position', () => {
    expect(world({ nic: false }).position()).toBeUndefined();
  });

  it('an approved endpoint in its VNet, a linked zone and both records: private path, and its public IP', () => {
    expect(world().position()).toEqual({ privatePath: true, publicIp: '52.0.0.1' });
  });

  it('an endpoint in a VNet peered Connected both ways counts; an Initiated peering does not', () => {
    expect(world({ endpointIn: 'b' }).position()?.privatePath).toBe(true);
    expect(world({ endpointIn: 'b', peering: 'Initiated' }).position()?.privatePath).toBe(false);
    expect(world({ endpointIn: 'b', peering: 'none' }).position()?.privatePath).toBe(false);
  });

  it.each([
    ['no endpoint', { endpointIn: 'none' as const }],
    ['a pending connection', { status: 'Pending' as const }],
    ['a rejected connection', { status: 'Rejected' as const }],
    ['the zone not linked to the VNet', { link: false }],
    ['no record for the data endpoint', { records: 'login-only' as const }],
    ["a login server record that is not the endpoint's IP", { records: 'wrong-ip' as const }],
  ])('%s: no private path', (_what, options) => {
    expect(world(options).position()).toEqual({ privatePath: false, publicIp: '52.0.0.1' });
  });

  it("a scale set's position is its subnet's (no public IP: instances have their own)", () => {
    const store = new Store('tenant');
    store.addResourceGroup(sub, rg, 'westeurope');
    const registry = store.createRegistry({
      subscriptionId: sub,
      resourceGroup: rg,
      name: 'contosoapps',
      location: 'westeurope',
      sku: 'Premium',
      roleAssignmentMode: 'LegacyRegistryPermissions',
    });
    const vnet = model.seedVirtualNetwork(store, {
      subscriptionId: sub,
      resourceGroup: rg,
      name: 'v',
      subnets: [{ name: 's', addressPrefix: '10.0.0.0/24' }],
    });
    const vmss = store.createScaleSet({
      subscriptionId: sub,
      resourceGroup: rg,
      name: 'ss',
      location: 'westeurope',
      orchestrationMode: 'Uniform',
      capacity: 2,
    });
    expect(networkPositionOf(store, vmss.id, registry)).toBeUndefined();

    model.attachScaleSetSubnet(store, vmss.id, `${vnet.id}/subnets/s`);

    expect(networkPositionOf(store, vmss.id, registry)).toEqual({ privatePath: false });
  });
});
