// The network adapter over the real compute, network, private DNS and registry clients, against the
// emulator's seeded network model; its facts then go through the pure judgement.
import { type Emulator, startEmulator } from '@acrpull/azure-emulator';
import { staticCredential } from '@acrpull/azure-emulator/testing';
import { createArmClients } from '../../../src/azure/armClients';
import { NetworkFactsReader } from '../../../src/azure/network';
import { judgeNetworkPath } from '../../../src/core/networkPath';

const SUB = '33333333-3333-3333-3333-333333333333';
const DNS_SUB = '44444444-4444-4444-4444-444444444444';
const RG = 'rg-net';

let emu: Emulator;
let reader: NetworkFactsReader;
let registryId: string;
let apps: string;
let hub: string;

beforeAll(async () => {
  emu = await startEmulator({ pageSize: 2 });
  reader = new NetworkFactsReader(
    createArmClients(
      { armEndpoint: emu.armEndpoint, armAudience: 'https://management.azure.com', caCertPem: emu.caCertPem },
      staticCredential(emu),
    ),
  );
  registryId = emu.seedRegistry({
    subscriptionId: SUB,
    resourceGroup: 'rg-acr',
    name: 'contosoprivate',
    sku: 'Premium',
    location: 'westeurope',
    access: {
      publicNetworkAccess: 'Enabled',
      networkRuleSet: { defaultAction: 'Deny', ipRules: [{ action: 'Allow', value: '20.0.0.0/24' }] },
    },
  }).id;
  apps = emu.seedVirtualNetwork({
    subscriptionId: SUB,
    resourceGroup: RG,
    name: 'vnet-apps',
    subnets: [{ name: 'snet-vms', addressPrefix: '10.0.1.0/24' }],
  }).id;
  hub = emu.seedVirtualNetwork({
    subscriptionId: SUB,
    resourceGroup: RG,
    name: 'vnet-hub',
    addressPrefix: '10.1.0.0/16',
    subnets: [{ name: 'snet-pe', addressPrefix: '10.1.2.0/24' }],
  }).id;
  emu.seedPeering(apps, hub);
  emu.seedPrivateEndpoint({
    subscriptionId: SUB,
    resourceGroup: RG,
    name: 'pe-acr',
    subnetId: `${hub}/subnets/snet-pe`,
    registryId,
    status: 'Approved',
  });
  const zone = emu.seedPrivateDnsZone({ subscriptionId: DNS_SUB, resourceGroup: 'rg-dns' });
  emu.linkPrivateDnsZone(zone.id, apps);
  emu.seedARecord(zone.id, 'contosoprivate', ['10.1.2.4']);
  emu.seedARecord(zone.id, 'contosoprivate.westeurope.data', ['10.1.2.5']);
});

afterAll(() => emu.close());

function vmWithNic(name: string, options: { publicIp?: string; subnet?: string } = {}): string {
  const vm = emu.seedVm({ subscriptionId: SUB, resourceGroup: RG, name, location: 'westeurope' }).id;
  const pip = options.publicIp
    ? emu.seedPublicIp({
        subscriptionId: SUB,
        resourceGroup: RG,
        name: `${name}-pip`,
        ipAddress: options.publicIp,
      }).id
    : undefined;
  emu.seedNic({
    subscriptionId: SUB,
    resourceGroup: RG,
    name: `${name}-nic`,
    subnetId: options.subnet ?? `${apps}/subnets/snet-vms`,
    vmId: vm,
    ...(pip ? { publicIpId: pip } : {}),
  });
  return vm;
}

it('reads the registry: public access, firewall default action and IP rules, private endpoint connections', async () => {
  const registry = await reader.registry(registryId);

  expect(registry?.access).toEqual({
    id: registryId,
    name: 'contosoprivate',
    region: 'westeurope',
    publicNetworkAccess: 'Enabled',
    defaultAction: 'Deny',
    ipRules: ['20.0.0.0/24'],
  });
  expect(registry?.connections).toEqual([
    expect.objectContaining({
      privateEndpointId: expect.stringMatching(/\/privateEndpoints\/pe-acr$/),
      status: 'Approved',
    }),
  ]);
});

it("gathers a VM's NIC, its VNet and peering, the peer's approved endpoint and the zone in another subscription: a private path", async () => {
  const vm = vmWithNic('vm-private', { publicIp: '52.1.1.1' });
  const registry = await reader.registry(registryId);
  if (!registry) throw new Error('registry not found');

  const facts = await reader.gather(vm, registry, [DNS_SUB]);

  expect(facts.targetKind).toBe('virtualMachine');
  expect(facts.nics).toEqual([
    {
      id: expect.stringMatching(/\/networkInterfaces\/vm-private-nic$/),
      subnetId: `${apps}/subnets/snet-vms`,
      vnetId: apps,
      privateIps: ['10.0.1.4'],
      publicIp: '52.1.1.1',
      primary: true,
    },
  ]);
  expect(facts.vnets).toEqual([{ id: apps, peerings: [{ remoteVnetId: hub, state: 'Connected' }] }]);
  expect(facts.privateEndpoints).toEqual([
    expect.objectContaining({
      vnetId: hub,
      status: 'Approved',
      loginServerIps: ['10.1.2.4'],
      dataEndpointIps: ['10.1.2.5'],
    }),
  ]);
  expect(facts.dnsZones).toEqual([
    {
      id: expect.stringContaining(`/subscriptions/${DNS_SUB}/`),
      linkedVnetIds: [apps],
      aRecords: [
        { name: 'contosoprivate', ips: ['10.1.2.4'] },
        { name: 'contosoprivate.westeurope.data', ips: ['10.1.2.5'] },
      ],
    },
  ]);
  expect(judgeNetworkPath(facts, registry.access).status).toBe('pass');
});

it('finds no zone when the subscription holding it is not searched, and the judgement names the missing zone', async () => {
  const vm = vmWithNic('vm-nozone');
  const registry = await reader.registry(registryId);
  if (!registry) throw new Error('registry not found');

  const facts = await reader.gather(vm, registry, []);
  const judgement = judgeNetworkPath(facts, registry.access);

  expect(facts.dnsZones).toEqual([]);
  expect(judgement.status).toBe('fail');
  expect(judgement.fix).toContain('az network private-dns zone create');
});

it('a VM whose NIC ARM does not show has no NIC facts: fail', async () => {
  const vm = emu.seedVm({
    subscriptionId: SUB,
    resourceGroup: RG,
    name: 'vm-bare',
    location: 'westeurope',
  }).id;
  const registry = await reader.registry(registryId);
  if (!registry) throw new Error('registry not found');

  const facts = await reader.gather(vm, registry, [DNS_SUB]);

  expect(facts.nics).toEqual([]);
  expect(judgeNetworkPath(facts, registry.access)).toMatchObject({ status: 'fail' });
});

it("a VM in a VNet with no path but a public IP in the firewall's rules passes on the public path", async () => {
  const lonely = emu.seedVirtualNetwork({
    subscriptionId: SUB,
    resourceGroup: RG,
    name: 'vnet-lonely',
    addressPrefix: '10.5.0.0/16',
    subnets: [{ name: 'default', addressPrefix: '10.5.0.0/24' }],
  }).id;
  const vm = vmWithNic('vm-public', { publicIp: '20.0.0.17', subnet: `${lonely}/subnets/default` });
  const registry = await reader.registry(registryId);
  if (!registry) throw new Error('registry not found');

  const facts = await reader.gather(vm, registry, [DNS_SUB]);

  expect(facts.privateEndpoints).toEqual([]);
  expect(judgeNetworkPath(facts, registry.access)).toMatchObject({
    status: 'pass',
    detail: expect.stringContaining('20.0.0.17'),
  });
});

it("a pending endpoint is reported with the registry's connection name, for the approve command", async () => {
  const other = emu.seedRegistry({
    subscriptionId: SUB,
    resourceGroup: 'rg-acr',
    name: 'contosopending',
    sku: 'Premium',
    location: 'westeurope',
    access: { publicNetworkAccess: 'Disabled' },
  }).id;
  emu.seedPrivateEndpoint({
    subscriptionId: SUB,
    resourceGroup: RG,
    name: 'pe-pending',
    subnetId: `${hub}/subnets/snet-pe`,
    registryId: other,
    status: 'Pending',
  });
  const vm = vmWithNic('vm-pending');
  const registry = await reader.registry(other);
  if (!registry) throw new Error('registry not found');

  const facts = await reader.gather(vm, registry, [DNS_SUB]);
  const judgement = judgeNetworkPath(facts, registry.access);

  expect(facts.privateEndpoints).toEqual([
    expect.objectContaining({ status: 'Pending', registryConnectionName: registry.connections[0]?.name }),
  ]);
  expect(judgement.status).toBe('fail');
  expect(judgement.fix).toBe(
    `az acr private-endpoint-connection approve --registry-name contosopending --name ${registry.connections[0]?.name}`,
  );
});

it("a scale set's facts are its NIC configuration's subnet (no NIC id, no IPs)", async () => {
  const vmss = emu.seedScaleSet({
    subscriptionId: SUB,
    resourceGroup: RG,
    name: 'vmss-web',
    location: 'westeurope',
  }).id;
  emu.attachScaleSetSubnet(vmss, `${apps}/subnets/snet-vms`);
  const registry = await reader.registry(registryId);
  if (!registry) throw new Error('registry not found');

  const facts = await reader.gather(vmss, registry, [DNS_SUB]);

  expect(facts.targetKind).toBe('scaleSet');
  expect(facts.nics).toEqual([
    { subnetId: `${apps}/subnets/snet-vms`, vnetId: apps, privateIps: [], primary: true },
  ]);
  expect(judgeNetworkPath(facts, registry.access).status).toBe('pass');
});

it('answers a registry that does not exist with undefined', async () => {
  expect(
    await reader.registry(
      `/subscriptions/${SUB}/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/nosuch`,
    ),
  ).toBeUndefined();
});
