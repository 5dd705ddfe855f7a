// Abuse cases: a tag must never obtain what the operator did not allow, and secrets never leak into
// logs or audit records.
import { fleet } from '../support/fleet';
import { type Harness, OTHER_SUB, SUB, startHarness } from '../support/harness';

const registryId = (name: string, rg = 'rg-registries', sub = SUB) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.ContainerRegistry/registries/${name}`;

describe('allowlist bypass attempts', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      env: {
        ACRPULL_ALLOWED_REGISTRIES: `contosoapps /subscriptions/${SUB}/resourceGroups/rg-allowed`,
        ACRPULL_MAX_REGISTRIES_PER_VM: '3',
      },
    });
    const f = fleet(h.emu);
    f.registry('allowedbyscope', { resourceGroup: 'rg-allowed' });
    f.registry('lookalikescope', { resourceGroup: 'rg-allowed-not' });
    f.registry('othertenantreg', { subscriptionId: OTHER_SUB, resourceGroup: 'rg-elsewhere' });
  });
  afterAll(async () => {
    await h.close();
  });

  it.each([
    ['the login server of a different registry', 'secretregistry.azurecr.io', 'registry-denied'],
    ['a look-alike login server', 'contosoapps.azurecr.io.attacker.example', 'tag-invalid'],
    ['a scope prefix that only looks alike', 'lookalikescope', 'registry-denied'],
    ['a resource id climbing out with ..', `${registryId('contosoapps')}/../secretregistry`, 'tag-invalid'],
    ['a resource id with an extra segment', `${registryId('secretregistry')}/extra`, 'tag-invalid'],
    [
      'a resource id with a missing segment',
      `/subscriptions/${SUB}/providers/Microsoft.ContainerRegistry/registries/secretregistry`,
      'tag-invalid',
    ],
    [
      'the id of a storage account',
      `/subscriptions/${SUB}/resourceGroups/rg-registries/providers/Microsoft.Storage/storageAccounts/secretregistry`,
      'tag-invalid',
    ],
    [
      'the id of a VM',
      `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Compute/virtualMachines/secretregistry`,
      'tag-invalid',
    ],
    ['an encoded path', `${registryId('contosoapps')}%2F..%2Fsecretregistry`, 'tag-invalid'],
    [
      'a registry id in a subscription the app cannot find (another tenant)',
      registryId('contosoapps', 'rg-x', '99999999-9999-9999-9999-999999999999'),
      'tag-invalid',
    ],
    [
      'a real registry outside every allowed scope',
      registryId('othertenantreg', 'rg-elsewhere', OTHER_SUB),
      'registry-denied',
    ],
    ['an allowed name next to a denied one', 'contosoapps secretregistry', 'registry-denied'],
    ['more registries than the cap', 'contosoapps fabrikamabac secretregistry allowedbyscope', 'tag-invalid'],
  ])('%s is refused with no write that grants it', async (_label, tag, action) => {
    const name = `vm-abuse-${Math.random().toString(16).slice(2, 8)}`;
    const vm = fleet(h.emu).vm(name, { tag });
    const grantsBefore = h.emu.listRoleAssignments().length;

    const result = await h.deliver(vm.id);

    expect(result?.records.some((r) => r.action === action && r.outcome === 'rejected')).toBe(true);
    // Nothing is granted on a registry other than the allowed ones.
    for (const grant of h.emu.listRoleAssignments()) {
      expect(grant.scope.toLowerCase()).toMatch(/\/registries\/(contosoapps|allowedbyscope)$/);
    }
    if (!/contosoapps( |$)/.test(tag)) expect(h.emu.listRoleAssignments()).toHaveLength(grantsBefore);
  });

  it('case tricks on an allowed name still reach only that registry', async () => {
    const vm = h.seedVm('vm-case', { AcRpUlL: 'CONTOSOAPPS.AzureCR.io' });
    const result = await h.deliver(vm.id);
    expect(result?.outcome).toBe('changed');
    expect(result?.records.find((r) => r.action === 'identity-attached')?.registryId?.toLowerCase()).toBe(
      registryId('contosoapps').toLowerCase(),
    );
  });

  it('a scope rule allows a registry under it, resolved from ARM rather than from the tag', async () => {
    const vm = h.seedVm('vm-scope', 'allowedbyscope');
    expect((await h.deliver(vm.id))?.outcome).toBe('changed');
  });
});

describe('secrets stay out of logs and audit records', () => {
  it('no token, identity header or Authorization value appears, even when things fail', async () => {
    const h = await startHarness();
    try {
      const vm = h.seedVm('vm-secret', 'contosoapps');
      h.emu.injectFault({ operation: 'identity.put', status: 403, code: 'AuthorizationFailed' });
      await h.deliver(vm.id);
      h.emu.injectFault({ operation: 'vm.get', status: 401, code: 'InvalidAuthenticationToken' });
      await h.deliver(vm.id);
      h.emu.injectFault({ operation: 'vm.get', status: 503, code: 'ServiceUnavailable', count: 100 });
      await h.deliver(vm.id).catch(() => undefined);
      h.emu.clearFaults();
      await h.deliver(vm.id);
      await h.sweep();

      const everything = [
        ...h.logs,
        ...h.audit.records.map((r) => JSON.stringify(r)),
        ...h.audit.sweeps.map((s) => JSON.stringify(s)),
      ].join('\n');
      expect(everything.length).toBeGreaterThan(500);
      expect(everything).not.toContain(h.emu.identityHeader);
      expect(everything).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+/); // a JWT
      expect(everything).not.toMatch(/bearer\s+\S{20,}/i);
      expect(everything).not.toMatch(/x-identity-header/i);
    } finally {
      await h.close();
    }
  });
});

describe('an attached VM whose tag claims an allowed scope', () => {
  it('is judged by the registry ARM knows, not by the id written in the tag', async () => {
    const h = await startHarness({
      env: { ACRPULL_ALLOWED_REGISTRIES: `/subscriptions/${OTHER_SUB}/resourceGroups/rg-shared` },
    });
    try {
      const f = fleet(h.emu);
      const pull = f.appPullIdentity('contosoapps', 'eastus');
      const claimed = `/subscriptions/${OTHER_SUB}/resourceGroups/rg-shared/providers/Microsoft.ContainerRegistry/registries/contosoapps`;
      const vm = f.vm('vm-claims-scope', { tag: claimed, identities: [pull] });

      const result = await h.deliver(vm.id);

      expect(result?.records.some((r) => r.action === 'already-compliant')).toBe(false);
      expect(result?.records).toEqual([
        expect.objectContaining({ action: 'tag-invalid', outcome: 'rejected' }),
      ]);
      expect(h.emu.totals().writes).toBe(0);
    } finally {
      await h.close();
    }
  });
});
