import {
  ipRuleAdmits,
  judgeNetworkPath,
  type NetworkFacts,
  type RegistryNetworkAccess,
} from '../../../src/core/networkPath';

const SUB = '/subscriptions/11111111-1111-1111-1111-111111111111';
const VNET = `${SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-apps`;
const HUB = `${SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-hub`;
const PE = `${SUB}/resourceGroups/rg-net/providers/Microsoft.Network/privateEndpoints/pe-acr`;
const ZONE = `${SUB}/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.azurecr.io`;
const REGISTRY_ID = `${SUB}/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/contosoapps`;

const closed: RegistryNetworkAccess = {
  id: REGISTRY_ID,
  name: 'contosoapps',
  region: 'westeurope',
  publicNetworkAccess: 'Disabled',
  defaultAction: 'Deny',
  ipRules: [],
};
const firewalled: RegistryNetworkAccess = {
  ...closed,
  publicNetworkAccess: 'Enabled',
  ipRules: ['52.0.0.0/24'],
};

/** A VM in vnet-apps with an approved endpoint in it, a linked zone and both records. */
function facts(change: Partial<NetworkFacts> = {}): NetworkFacts {
  return {
    targetId: `${SUB}/resourceGroups/rg-apps/providers/Microsoft.Compute/virtualMachines/vm`,
    targetKind: 'virtualMachine',
    nics: [
      { id: 'nic', subnetId: `${VNET}/subnets/s`, vnetId: VNET, privateIps: ['10.0.0.4'], primary: true },
    ],
    vnets: [{ id: VNET, peerings: [] }],
    privateEndpoints: [
      {
        id: PE,
        vnetId: VNET,
        status: 'Approved',
        loginServerIps: ['10.0.2.4'],
        dataEndpointIps: ['10.0.2.5'],
      },
    ],
    dnsZones: [
      {
        id: ZONE,
        linkedVnetIds: [VNET],
        aRecords: [
          { name: 'contosoapps', ips: ['10.0.2.4'] },
          { name: 'contosoapps.westeurope.data', ips: ['10.0.2.5'] },
        ],
      },
    ],
    ...change,
  };
}

describe('judgeNetworkPath', () => {
  it('skips a registry that takes public traffic from anywhere', () => {
    const open = { ...closed, publicNetworkAccess: 'Enabled' as const, defaultAction: 'Allow' as const };

    expect(judgeNetworkPath(facts({ nics: [] }), open).status).toBe('skipped');
  });

  it('passes a complete private path, with its pieces as evidence', () => {
    const judgement = judgeNetworkPath(facts(), closed);

    expect(judgement.status).toBe('pass');
    expect(judgement.evidence).toEqual(
      expect.arrayContaining([`private endpoint ${PE}: Approved`, `zone ${ZONE} linked`]),
    );
    expect(judgement.fix).toBeUndefined();
  });

  it('passes through an endpoint in a Connected peered VNet, not through an Initiated one', () => {
    const inHub = (state: string) =>
      facts({
        vnets: [{ id: VNET, peerings: [{ remoteVnetId: HUB, state }] }],
        privateEndpoints: [
          {
            id: PE,
            vnetId: HUB,
            status: 'Approved',
            loginServerIps: ['10.0.2.4'],
            dataEndpointIps: ['10.0.2.5'],
          },
        ],
      });

    expect(judgeNetworkPath(inHub('Connected'), closed).status).toBe('pass');
    const initiated = judgeNetworkPath(inHub('Initiated'), closed);
    expect(initiated.status).toBe('fail');
    expect(initiated.detail).toContain('not Connected');
    expect(initiated.fix).toMatch(
      /^az network vnet peering create --resource-group rg-net --vnet-name vnet-hub /,
    );
  });

  it('fails a target without a NIC', () => {
    expect(judgeNetworkPath(facts({ nics: [] }), closed)).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('no network interface'),
    });
  });

  it('fails without a private endpoint, with the command that creates one in the VM subnet', () => {
    const judgement = judgeNetworkPath(facts({ privateEndpoints: [] }), closed);

    expect(judgement.status).toBe('fail');
    expect(judgement.fix).toBe(
      `az network private-endpoint create --name pe-contosoapps --resource-group rg-net --vnet-name vnet-apps --subnet s --private-connection-resource-id ${REGISTRY_ID} --group-ids registry --connection-name contosoapps-connection`,
    );
  });

  it('fails an endpoint not Approved: approve a pending one, recreate a rejected one', () => {
    const withStatus = (status: string) =>
      facts({
        privateEndpoints: [
          {
            id: PE,
            vnetId: VNET,
            status,
            registryConnectionName: 'pe-acr.1234',
            loginServerIps: ['10.0.2.4'],
            dataEndpointIps: ['10.0.2.5'],
          },
        ],
      });

    expect(judgeNetworkPath(withStatus('Pending'), closed)).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('Pending, not Approved'),
      fix: 'az acr private-endpoint-connection approve --registry-name contosoapps --name pe-acr.1234',
    });
    expect(judgeNetworkPath(withStatus('Rejected'), closed).fix).toMatch(
      /^az network private-endpoint delete --ids /,
    );
  });

  it('fails a zone that is not linked to the VNet, with the link command', () => {
    const judgement = judgeNetworkPath(
      facts({ dnsZones: [{ id: ZONE, linkedVnetIds: [HUB], aRecords: [] }] }),
      closed,
    );

    expect(judgement.status).toBe('fail');
    expect(judgement.fix).toBe(
      `az network private-dns link vnet create --resource-group rg-dns --zone-name privatelink.azurecr.io --name vnet-apps-link --virtual-network ${VNET} --registration-enabled false`,
    );
  });

  it('fails a missing login server record, then a missing data endpoint record', () => {
    const withRecords = (aRecords: { name: string; ips: string[] }[]) =>
      facts({ dnsZones: [{ id: ZONE, linkedVnetIds: [VNET], aRecords }] });

    expect(
      judgeNetworkPath(withRecords([{ name: 'contosoapps.westeurope.data', ips: ['10.0.2.5'] }]), closed).fix,
    ).toBe(
      'az network private-dns record-set a add-record --resource-group rg-dns --zone-name privatelink.azurecr.io --record-set-name contosoapps --ipv4-address 10.0.2.4',
    );
    const noData = judgeNetworkPath(withRecords([{ name: 'contosoapps', ips: ['10.0.2.4'] }]), closed);
    expect(noData.detail).toContain('contosoapps.westeurope.data');
    expect(noData.fix).toContain('--record-set-name contosoapps.westeurope.data --ipv4-address 10.0.2.5');
  });

  it("fails a record that points elsewhere than the endpoint's IP", () => {
    const judgement = judgeNetworkPath(
      facts({
        dnsZones: [
          {
            id: ZONE,
            linkedVnetIds: [VNET],
            aRecords: [
              { name: 'contosoapps', ips: ['10.9.9.9'] },
              { name: 'contosoapps.westeurope.data', ips: ['10.0.2.5'] },
            ],
          },
        ],
      }),
      closed,
    );

    expect(judgement.status).toBe('fail');
    expect(judgement.evidence).toContain('A contosoapps: 10.9.9.9 (endpoint 10.0.2.4)');
  });

  describe('the public path (public network access Enabled, default action Deny)', () => {
    const withIp = (publicIp?: string, kind: NetworkFacts['targetKind'] = 'virtualMachine') =>
      facts({
        targetKind: kind,
        privateEndpoints: [],
        nics: [
          {
            id: 'nic',
            subnetId: `${VNET}/subnets/s`,
            vnetId: VNET,
            privateIps: ['10.0.0.4'],
            primary: true,
            ...(publicIp ? { publicIp } : {}),
          },
        ],
      });

    it("passes a public IP in the firewall's rules", () => {
      expect(judgeNetworkPath(withIp('52.0.0.9'), firewalled).status).toBe('pass');
    });

    it('fails a public IP outside them, with the network-rule command', () => {
      expect(judgeNetworkPath(withIp('40.1.1.1'), firewalled)).toMatchObject({
        status: 'fail',
        fix: 'az acr network-rule add --name contosoapps --ip-address 40.1.1.1',
      });
    });

    it('never passes on a public IP when public network access is Disabled', () => {
      expect(
        judgeNetworkPath(withIp('52.0.0.9'), { ...firewalled, publicNetworkAccess: 'Disabled' }).status,
      ).toBe('fail');
    });

    it('warns when the outbound address is unknown (no public IP on the NIC, or a scale set)', () => {
      expect(judgeNetworkPath(withIp(undefined), firewalled).status).toBe('warn');
      expect(judgeNetworkPath(withIp(undefined, 'scaleSet'), firewalled)).toMatchObject({
        status: 'warn',
        detail: expect.stringContaining('scale set'),
      });
    });
  });
});

describe('ipRuleAdmits', () => {
  it.each([
    ['52.0.0.0/24', '52.0.0.255', true],
    ['52.0.0.0/24', '52.0.1.0', false],
    ['52.0.0.7', '52.0.0.7', true],
    ['52.0.0.7', '52.0.0.8', false],
    ['0.0.0.0/0', '8.8.8.8', true],
    ['not-an-ip', '8.8.8.8', false],
  ])('%s admits %s: %s', (rule, ip, admits) => {
    expect(ipRuleAdmits(rule, ip)).toBe(admits);
  });
});
