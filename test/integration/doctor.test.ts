// `acrpull-autopilot doctor` against the emulator, with the real SDK clients: one situation per test,
// the check it must name, the verdict and the exit code; and not one ARM write, ever.
import type { IdentityRecord } from '@acrpull/azure-emulator';
import { type DoctorIo, runDoctorCommand } from '../../src/cli/doctorCommand';
import { ACR_PULL_ROLE, REPOSITORY_READER_ROLE } from '../../src/core/roles';
import { type NetworkPathCheck, networkPathNotChecked } from '../../src/reconcile/doctor/networkPath';
import { fleet, REGISTRIES_RG } from '../support/fleet';
import { type Harness, IDENTITY_RG, SUB, startHarness } from '../support/harness';

const registryId = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/${REGISTRIES_RG}/providers/Microsoft.ContainerRegistry/registries/${name}`;
/** Eleven minutes from now: every grant seeded in the test is propagated by then. */
const later = () => Date.now() + 11 * 60_000;

interface Run {
  code: number;
  out: string[];
  err: string[];
  text: string;
  json?: {
    target: string;
    registry: { name: string; id?: string; loginServer?: string; chosen: string } | null;
    verdict: string;
    checks: { id: string; status: string; detail: string; evidence: string[]; fix: string | null }[];
    commands: Record<string, string> | null;
  };
  status: (id: string) => string | undefined;
  check: (id: string) => { id: string; status: string; detail: string; fix: string | null } | undefined;
}

async function doctor(
  h: Harness,
  argv: string[],
  options: { now?: () => number; env?: Record<string, string>; networkPath?: NetworkPathCheck } = {},
) {
  const out: string[] = [];
  const err: string[] = [];
  const io: DoctorIo = {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    env: {
      ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG,
      ACRPULL_ALLOWED_REGISTRIES: 'contosoapps fabrikamabac',
      ACRPULL_ARM_ENDPOINT: h.emu.armEndpoint,
      IDENTITY_ENDPOINT: h.emu.identityEndpoint,
      IDENTITY_HEADER: h.emu.identityHeader,
      ...options.env,
    },
    runtime: { caCertPem: h.emu.caCertPem, pollIntervalMs: 0 },
    ...(options.now ? { now: options.now } : {}),
    ...(options.networkPath ? { networkPath: options.networkPath } : {}),
  };
  // JSON unless the test asks for another output: every test reads the checks from it.
  const wantsJson = !argv.includes('--output') && !argv.includes('--probe-script');
  const code = await runDoctorCommand(['doctor', ...argv, ...(wantsJson ? ['--output', 'json'] : [])], io);
  const text = out.join('\n');
  const json = text.trim().startsWith('{') ? JSON.parse(text) : undefined;
  const run: Run = {
    code,
    out,
    err,
    text,
    json,
    check: (id) => json?.checks.find((c: { id: string }) => c.id === id),
    status: (id) => run.check(id)?.status,
  };
  return run;
}

describe('acrpull-autopilot doctor', () => {
  let h: Harness;
  let f: ReturnType<typeof fleet>;
  beforeEach(async () => {
    h = await startHarness();
    f = fleet(h.emu);
  });
  afterEach(async () => {
    // Whatever the situation, the doctor wrote nothing.
    expect(h.emu.totals().writes).toBe(0);
    await h.close();
  });

  /** A VM tagged for the registry, holding its pull identity (made by the app), granted. */
  function compliant(name: string, registry = 'contosoapps', extra: { identities?: IdentityRecord[] } = {}) {
    const identity = f.appPullIdentity(registry, 'eastus');
    const vm = f.vm(name, { tag: registry, identities: [...(extra.identities ?? []), identity] });
    const grant = f.pullGrant(registry, identity);
    return { identity, vm, grant };
  }

  it('a compliant VM: every check passes, can-pull, exit 0, and the owner’s commands carry the client id', async () => {
    const { vm, identity } = compliant('vm-ok');
    h.emu.resetCounts();
    const run = await doctor(h, [vm.id], { now: later });
    expect(run.code).toBe(0);
    expect(run.json?.verdict).toBe('can-pull');
    expect(run.json?.checks.map((c) => [c.id, c.status])).toEqual([
      ['target', 'pass'],
      ['tag', 'pass'],
      ['allowlist', 'pass'],
      ['platform', 'pass'],
      ['registry', 'pass'],
      ['registry-network', 'pass'],
      ['registry-audience', 'pass'],
      ['identity', 'pass'],
      ['binding', 'pass'],
      ['identity-roles', 'pass'],
      ['attached', 'pass'],
      ['imds', 'pass'],
      ['grant', 'pass'],
      ['grant-age', 'pass'],
      ['network-path', 'pass'],
      ['audit', 'skipped'],
    ]);
    expect(run.check('grant')?.detail).toMatch(
      /AcrPull at .*contosoapps grants Microsoft.ContainerRegistry\/registries\/pull\/read/,
    );
    expect(run.json?.registry).toEqual({
      name: 'contosoapps',
      id: registryId('contosoapps'),
      loginServer: 'contosoapps.azurecr.io',
      chosen: 'only',
    });
    expect(run.json?.commands).toEqual({
      login: `az login --identity --client-id ${identity.clientId}`,
      acrLogin: 'az acr login -n contosoapps',
      exposeToken: expect.stringContaining('az acr login -n contosoapps --expose-token'),
      imdsUrl: `http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://containerregistry.azure.net&client_id=${identity.clientId}`,
      imds: expect.stringContaining('curl -s -H Metadata:true'),
    });
    expect(run.err.join('\n')).toMatch(/verdict: can-pull/);
    expect(h.emu.totals().writes).toBe(0);
    expect(h.emu.totals().reads).toBeGreaterThan(0);
  });

  it('the table output: one line per check, fixes under it, then the owner’s commands', async () => {
    const { vm, identity } = compliant('vm-table');
    h.emu.deleteRoleAssignment(h.emu.listRoleAssignments()[0]?.id ?? '');
    const run = await doctor(h, [vm.id, '--output', 'table'], { now: later });
    expect(run.code).toBe(1);
    expect(run.text).toMatch(/^pass\s+target\s+virtual machine vm-table in eastus, Succeeded$/m);
    expect(run.text).toMatch(/^fail\s+grant\s+no role assignment at or above contosoapps grants/m);
    expect(run.text).toMatch(
      /^\s+fix: acrpull-autopilot reconcile --apply --vm .*az role assignment create --assignee-object-id/m,
    );
    expect(run.text).toMatch(/^skipped\s+grant-age\s+there is no grant \(see grant\)$/m);
    expect(run.text).toMatch(/^verdict: cannot-pull$/m);
    expect(run.text).toContain(`az login --identity --client-id ${identity.clientId}`);
    expect(run.text).toContain('az acr login -n contosoapps');
  });

  it('no tag: fails tag, skips everything that needs a registry', async () => {
    const vm = f.vm('vm-untagged');
    const run = await doctor(h, [vm.id]);
    expect(run.code).toBe(1);
    expect(run.json?.verdict).toBe('cannot-pull');
    expect(run.check('tag')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/has no acrPull tag/),
    });
    expect(run.check('tag')?.fix).toMatch(
      /az tag update --resource-id .* --operation merge --tags acrPull=<registry>/,
    );
    for (const id of ['allowlist', 'registry', 'identity', 'attached', 'grant'])
      expect(run.status(id)).toBe('skipped');
    expect(run.json?.registry).toBeNull();
  });

  it('a registry the allowlist does not allow: fails allowlist', async () => {
    const vm = f.vm('vm-denied', { tag: 'secretregistry' });
    const run = await doctor(h, [vm.id]);
    expect(run.code).toBe(1);
    expect(run.check('allowlist')).toMatchObject({
      status: 'fail',
      detail: 'secretregistry is not in ACRPULL_ALLOWED_REGISTRIES',
    });
    expect(run.check('allowlist')?.fix).toMatch(/ACRPULL_ALLOWED_REGISTRIES/);
  });

  it('a VM in a platform-managed resource group: fails platform with the AKS way', async () => {
    const cluster = `/subscriptions/${SUB}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks1`;
    h.emu.seedResourceGroup(SUB, 'MC_rg-aks_aks1_eastus', 'eastus', { managedBy: cluster });
    const vm = f.vm('vm-aks', { tag: 'contosoapps', resourceGroup: 'MC_rg-aks_aks1_eastus' });
    const run = await doctor(h, [vm.id]);
    expect(run.code).toBe(1);
    expect(run.check('platform')?.status).toBe('fail');
    expect(run.check('platform')?.detail).toMatch(/managedBy/);
    expect(run.check('platform')?.fix).toBe(
      'give the cluster pull access with: az aks update -g rg-aks -n aks1 --attach-acr contosoapps',
    );
  });

  it('the pull identity missing: fails identity and attached, skips binding and grant', async () => {
    const vm = f.vm('vm-noid', { tag: 'contosoapps' });
    const run = await doctor(h, [vm.id]);
    expect(run.code).toBe(1);
    expect(run.check('identity')).toMatchObject({
      status: 'fail',
      detail: 'the pull identity id-acrpull-contosoapps-eastus does not exist',
    });
    expect(run.check('identity')?.fix).toMatch(/reconcile --apply --vm/);
    expect(run.status('attached')).toBe('fail');
    expect(run.status('binding')).toBe('skipped');
    expect(run.status('grant')).toBe('skipped');
    expect(run.json?.commands?.login).toBe('az login --identity --client-id <clientId>');
  });

  it('a stale binding: the identity deleted and created again under the same name', async () => {
    const { vm, identity } = compliant('vm-stale');
    h.emu.deleteIdentity(identity.id);
    const again = f.appPullIdentity('contosoapps', 'eastus');
    f.pullGrant('contosoapps', again);
    const run = await doctor(h, [vm.id], { now: later });
    expect(run.code).toBe(1);
    expect(run.check('binding')?.status).toBe('fail');
    expect(run.check('binding')?.detail).toContain(`bound to principal ${identity.principalId}`);
    expect(run.check('binding')?.detail).toContain(`current principal ${again.principalId}`);
    expect(run.check('binding')?.fix).toMatch(/re-binds it/);
    expect(run.status('attached')).toBe('pass');
    expect(run.status('grant')).toBe('pass');
  });

  it('the identity not attached: fails attached, skips imds', async () => {
    const identity = f.appPullIdentity('contosoapps', 'eastus');
    f.pullGrant('contosoapps', identity);
    const vm = f.vm('vm-detached', { tag: 'contosoapps' });
    const run = await doctor(h, [vm.id], { now: later });
    expect(run.code).toBe(1);
    expect(run.check('attached')).toMatchObject({ status: 'fail' });
    expect(run.check('attached')?.fix).toMatch(/reconcile --apply --vm .*attaches it/);
    expect(run.status('imds')).toBe('skipped');
    expect(run.status('binding')).toBe('skipped');
    expect(run.status('grant')).toBe('pass');
  });

  it('several user-assigned identities: warns on imds with the client id, still can-pull', async () => {
    const own = [f.identity('id-owner-a'), f.identity('id-owner-b')];
    const { vm, identity } = compliant('vm-many', 'contosoapps', { identities: own });
    const run = await doctor(h, [vm.id], { now: later });
    expect(run.code).toBe(0);
    expect(run.json?.verdict).toBe('can-pull');
    expect(run.check('imds')?.status).toBe('warn');
    expect(run.check('imds')?.detail).toMatch(
      /3 user-assigned identities and no system-assigned one: a token request without client_id gets 400/,
    );
    expect(run.check('imds')?.fix).toBe(
      `name the identity: az login --identity --client-id ${identity.clientId}, or client_id=${identity.clientId} on the IMDS call`,
    );
  });

  it('no grant: fails grant', async () => {
    const identity = f.appPullIdentity('contosoapps', 'eastus');
    const vm = f.vm('vm-nogrant', { tag: 'contosoapps', identities: [identity] });
    const run = await doctor(h, [vm.id]);
    expect(run.code).toBe(1);
    expect(run.check('grant')?.status).toBe('fail');
    expect(run.check('grant')?.fix).toContain(
      `az role assignment create --assignee-object-id ${identity.principalId} --assignee-principal-type ServicePrincipal --role "AcrPull" --scope ${registryId('contosoapps')}`,
    );
  });

  it('a grant by another role whose actions include pull (Reader: */read) counts: judged by actions, not names', async () => {
    const identity = f.appPullIdentity('contosoapps', 'eastus');
    const vm = f.vm('vm-reader', { tag: 'contosoapps', identities: [identity] });
    h.emu.seedRoleAssignment({
      scope: `/subscriptions/${SUB}/resourceGroups/${REGISTRIES_RG}`,
      roleDefinitionId: 'acdd72a7-3385-48ef-bd42-f606fba81ae7',
      principalId: identity.principalId,
    });
    const run = await doctor(h, [vm.id], { now: later });
    expect(run.check('grant')).toMatchObject({
      status: 'pass',
      detail: expect.stringMatching(/^Reader at .*rg-registries grants/),
    });
    // …and the role beyond pull is flagged.
    expect(run.check('identity-roles')?.status).toBe('warn');
    expect(run.code).toBe(0);
  });

  it('AcrPull on an ABAC-mode registry is not honoured: fails grant, names the right role', async () => {
    const identity = f.appPullIdentity('fabrikamabac', 'eastus');
    const vm = f.vm('vm-abac', { tag: 'fabrikamabac', identities: [identity] });
    f.pullGrant('fabrikamabac', identity); // AcrPull
    const run = await doctor(h, [vm.id], { now: later });
    expect(run.code).toBe(1);
    expect(run.check('grant')?.detail).toMatch(
      /repositories\/content\/read; AcrPull at .* is not honoured in ABAC repository-permissions mode/,
    );
    expect(run.check('grant')?.fix).toContain('--role "Container Registry Repository Reader"');

    h.emu.seedRoleAssignment({
      scope: registryId('fabrikamabac'),
      roleDefinitionId: REPOSITORY_READER_ROLE,
      principalId: identity.principalId,
    });
    const fixed = await doctor(h, [vm.id], { now: later });
    expect(fixed.check('grant')?.status).toBe('pass');
    expect(fixed.code).toBe(0);
  });

  it('a conditioned grant: warns on grant, verdict unknown, exit 2', async () => {
    const identity = f.appPullIdentity('contosoapps', 'eastus');
    const vm = f.vm('vm-cond', { tag: 'contosoapps', identities: [identity] });
    const condition =
      "((!(ActionMatches{'Microsoft.ContainerRegistry/registries/repositories/content/read'})) OR (@Resource[Microsoft.ContainerRegistry/registries/repositories:name] StringStartsWithIgnoreCase 'team-a/'))";
    h.emu.seedRoleAssignment({
      scope: registryId('contosoapps'),
      roleDefinitionId: ACR_PULL_ROLE,
      principalId: identity.principalId,
      condition,
    });
    const run = await doctor(h, [vm.id], { now: later });
    expect(run.code).toBe(2);
    expect(run.json?.verdict).toBe('unknown');
    expect(run.check('grant')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/only conditioned assignments/),
    });
    expect(run.json?.checks.find((c) => c.id === 'grant')?.evidence[0]).toContain('team-a/');
  });

  it('a deny assignment covering pull for the identity: fails grant', async () => {
    const { vm, identity } = compliant('vm-deny');
    h.emu.seedDenyAssignment({
      scope: `/subscriptions/${SUB}/resourceGroups/${REGISTRIES_RG}`,
      denyAssignmentName: 'stack-deny',
      permissions: [{ actions: ['Microsoft.ContainerRegistry/*/read'] }],
      principals: [{ id: identity.principalId }],
    });
    const run = await doctor(h, [vm.id], { now: later });
    expect(run.code).toBe(1);
    expect(run.check('grant')?.detail).toMatch(/a deny assignment takes .*pull\/read away .*stack-deny/);
    expect(run.status('grant-age')).toBe('skipped');
  });

  it('a grant younger than 10 minutes: warns pending on grant-age, unknown until it has propagated', async () => {
    const { vm } = compliant('vm-young');
    const run = await doctor(h, [vm.id]);
    expect(run.check('grant-age')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/^pending: the grant was made 0 min ago/),
    });
    expect(run.check('grant-age')?.fix).toMatch(/^wait until \d{4}-/);
    expect(run.json?.verdict).toBe('unknown');
    expect(run.code).toBe(2);
  });

  it('a registry with public access disabled and no private endpoint: fails registry-network', async () => {
    const { vm } = compliant('vm-private');
    h.emu.updateRegistry(registryId('contosoapps'), { publicNetworkAccess: 'Disabled' });
    const run = await doctor(h, [vm.id], { now: later });
    expect(run.code).toBe(1);
    expect(run.check('registry-network')).toMatchObject({
      status: 'fail',
      detail:
        'contosoapps takes no public traffic and has no approved private endpoint, so no VM can reach it',
    });
    expect(run.check('network-path')).toMatchObject({
      status: 'skipped',
      detail: expect.stringMatching(/refuses every network/),
    });
  });

  it('a Premium registry whose firewall admits only its IP rules: the network path decides', async () => {
    h.emu.seedRegistry({
      subscriptionId: SUB,
      resourceGroup: REGISTRIES_RG,
      name: 'contosopremium',
      sku: 'Premium',
      access: {
        networkRuleSet: { defaultAction: 'Deny', ipRules: [{ action: 'Allow', value: '203.0.113.7' }] },
      },
    });
    const { vm } = compliant('vm-firewall', 'contosopremium');
    const env = { ACRPULL_ALLOWED_REGISTRIES: 'contosopremium' };

    // Not checked (the hook switched off): the registry-network warning stays open, verdict unknown.
    const unchecked = await doctor(h, [vm.id], { now: later, env, networkPath: networkPathNotChecked });
    expect(unchecked.check('registry-network')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(
        /firewall admits only its IP rules and private endpoints \(see network-path\)/,
      ),
    });
    expect(unchecked.check('network-path')).toMatchObject({
      status: 'skipped',
      detail: 'network path not checked',
    });
    expect(unchecked.json?.verdict).toBe('unknown');
    expect(unchecked.code).toBe(2);

    // Checked, with a VM that has no NIC ARM shows: no path.
    const noNic = await doctor(h, [vm.id], { now: later, env });
    expect(noNic.check('network-path')?.status).toBe('fail');
    expect(noNic.code).toBe(1);

    // Checked, with a NIC whose public IP the firewall admits: can pull.
    const net = h.emu.seedVirtualNetwork({
      subscriptionId: SUB,
      resourceGroup: 'rg-apps',
      name: 'vnet-apps',
      location: 'eastus',
      subnets: [{ name: 'default', addressPrefix: '10.0.0.0/24' }],
    });
    const ip = h.emu.seedPublicIp({
      subscriptionId: SUB,
      resourceGroup: 'rg-apps',
      name: 'pip-fw',
      location: 'eastus',
      ipAddress: '203.0.113.7',
    });
    h.emu.seedNic({
      subscriptionId: SUB,
      resourceGroup: 'rg-apps',
      name: 'nic-fw',
      location: 'eastus',
      subnetId: `${net.id}/subnets/default`,
      publicIpId: ip.id,
      vmId: vm.id,
    });
    const admitted = await doctor(h, [vm.id], { now: later, env });
    expect(admitted.check('network-path')?.status).toBe('pass');
    expect(admitted.json?.verdict).toBe('can-pull');
    expect(admitted.code).toBe(0);
  });

  it('ARM-audience tokens disabled: warns registry-audience, still can-pull', async () => {
    const { vm } = compliant('vm-audience');
    h.emu.updateRegistry(registryId('contosoapps'), { azureADAuthenticationAsArmPolicy: 'disabled' });
    const run = await doctor(h, [vm.id], { now: later });
    expect(run.check('registry-audience')?.status).toBe('warn');
    expect(run.check('registry-audience')?.fix).toMatch(/resource=https:\/\/containerregistry.azure.net/);
    expect(run.json?.verdict).toBe('can-pull');
    expect(run.code).toBe(0);
  });

  it('several registries in the tag: the first unless --registry, and it says so', async () => {
    const { vm } = compliant('vm-two', 'contosoapps');
    h.emu.updateVmOutOfBand(vm.id, (v) => {
      v.tags = { acrPull: 'contosoapps,fabrikamabac' };
    });
    const first = await doctor(h, [vm.id], { now: later });
    expect(first.json?.registry?.chosen).toBe('first');
    expect(first.check('tag')?.detail).toMatch(/checking contosoapps, the first it names/);
    expect(first.err.join('\n')).toMatch(/the tag names several registries: checking contosoapps/);
    const second = await doctor(h, [vm.id, '--registry', 'fabrikamabac'], { now: later });
    expect(second.json?.registry).toMatchObject({ name: 'fabrikamabac', chosen: 'option' });
    expect(second.status('identity')).toBe('fail');
    const other = await doctor(h, [vm.id, '--registry', 'secretregistry'], { now: later });
    expect(other.check('tag')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/not secretregistry/),
    });
  });

  it('the target by --subscription, --resource-group and --name', async () => {
    compliant('vm-parts');
    const run = await doctor(
      h,
      ['--subscription', SUB, '--resource-group', 'rg-apps', '--name', 'vm-parts'],
      { now: later },
    );
    expect(run.code).toBe(0);
    expect(run.json?.target).toMatch(/virtualMachines\/vm-parts$/);
  });

  it('--probe-script prints a sh script naming the login server and client id', async () => {
    const { vm, identity } = compliant('vm-probe');
    const run = await doctor(h, [vm.id, '--probe-script'], { now: later });
    expect(run.code).toBe(0);
    expect(run.text.startsWith('#!/bin/sh')).toBe(true);
    expect(run.text).toContain("LOGIN_SERVER='contosoapps.azurecr.io'");
    expect(run.text).toContain(`CLIENT_ID='${identity.clientId}'`);
  });

  it.each([
    [['/subscriptions/x'], /is not a virtual machine or scale set resource id/],
    [['--name', 'vm'], /give the target/],
    [
      [
        `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Compute/virtualMachines/a`,
        '--output',
        'xml',
      ],
      /--output must be table or json/,
    ],
    [
      [
        `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Compute/virtualMachines/a`,
        '--registry',
        'a/b',
      ],
      /--registry "a\/b"/,
    ],
  ])('exits 2 on bad usage: %j', async (argv, message) => {
    const run = await doctor(h, argv.includes('--output') ? argv : [...argv, '--output', 'table']);
    expect(run.code).toBe(2);
    expect(run.err.join('\n')).toMatch(message);
    expect(h.emu.totals().reads).toBe(0);
  });

  it('exits 2 for a target that does not exist', async () => {
    const run = await doctor(h, [
      `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Compute/virtualMachines/nope`,
      '--output',
      'table',
    ]);
    expect(run.code).toBe(2);
    expect(run.err.join('\n')).toMatch(/virtualMachines\/nope was not found/);
    expect(run.out).toEqual([]);
  });

  it('writes nothing across every failing situation at once', async () => {
    h.emu.resetCounts();
    const vms = [
      f.vm('vm-w1'),
      f.vm('vm-w2', { tag: 'secretregistry' }),
      f.vm('vm-w3', { tag: 'contosoapps' }),
      f.vm('vm-w4', { tag: 'fabrikamabac' }),
    ];
    for (const vm of vms) expect(await doctor(h, [vm.id])).toMatchObject({ code: 1 });
    expect(h.emu.totals().writes).toBe(0);
    expect(h.emu.listIdentities()).toEqual([]);
    expect(h.emu.listRoleAssignments()).toEqual([]);
  });
});
