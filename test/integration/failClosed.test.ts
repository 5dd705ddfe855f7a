// Fail closed (issue #20): no identity that can do more than pull is granted or attached (an override,
// or a pull identity someone gave more), decided on the event path from a role check cached per
// principal for 15 minutes and shared with the sweep; identities in the identity resource group the
// app did not make are reported and never attached; a target outside ACRPULL_REGIONS is refused
// before any identity request; a new pair beyond ACRPULL_MAX_PULL_IDENTITIES is refused.
import type { AuditRecord } from '../../src/audit/auditRecord';
import { createVmWriteHandler } from '../../src/handlers/vmWriteHandler';
import { RoleCheckCache } from '../../src/reconcile/roleCheckCache';
import { VerifiedPairs } from '../../src/reconcile/verifiedPairs';
import { fleet } from '../support/fleet';
import {
  type Harness,
  IDENTITY_RG,
  identityId,
  OTHER_SUB,
  SUB,
  startHarness,
  writeSuccessEvent,
} from '../support/harness';

const OWNER = '8e3af657-a8ff-443c-a75c-2fe8c4bcb635';
const CONTRIBUTOR = 'b24988ac-6180-42a0-ab88-20f7382dd24c';
const OVERRIDE = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-team-pull`;
const actions = (records: readonly AuditRecord[]) => records.map((r) => `${r.action}:${r.outcome}`);
const attachedTo = (h: Harness, id: string) =>
  Object.keys(h.emu.getVm(id)?.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase());
const quiet = { debug() {}, info() {}, warn() {}, error() {} } as never;

describe('an override that can do more than pull', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('holding Owner at a subscription is neither granted nor attached: identity-refused names Owner and the scope', async () => {
    h = await startHarness({ env: { ACRPULL_IDENTITY_OVERRIDES: `contosoapps=${OVERRIDE}` } });
    const team = fleet(h.emu).identity('id-team-pull');
    const owner = h.emu.seedRoleAssignment({
      scope: `/subscriptions/${SUB}`,
      roleDefinitionId: OWNER,
      principalId: team.principalId,
    });
    const vm = h.seedVm('vm-override', 'contosoapps');
    h.emu.resetCounts();

    const result = await h.deliver(vm.id);

    expect(actions(result?.records ?? [])).toEqual(['identity-refused:rejected']);
    expect(result?.records[0]?.identityId?.toLowerCase()).toBe(OVERRIDE.toLowerCase());
    expect(result?.records[0]?.reason).toContain(`Owner at /subscriptions/${SUB} (${owner.id})`);
    expect(result?.records[0]?.reason).toContain('ACRPULL_IDENTITY_OVERRIDES');
    expect(result?.retryable).toBe(false);
    // No grant, no attach; one role list (the only subscription it knows of).
    expect(h.emu.totals().writes).toBe(0);
    expect(h.emu.counts()['roleAssignment.list']).toBe(1);
    expect(h.emu.listRoleAssignments().filter((a) => a.principalId === team.principalId)).toEqual([owner]);
    expect(attachedTo(h, vm.id)).toEqual([]);

    // The sweep decides the same, writes nothing, and reports what the override holds.
    await h.sweep();
    expect(h.emu.totals().writes).toBe(0);
    const finding = h.audit.records.find((r) => r.action === 'identity-excess-roles');
    expect(finding?.reason).toContain(`Owner at /subscriptions/${SUB}`);
    expect(attachedTo(h, vm.id)).toEqual([]);
  });

  it('is refused for a role in any subscription it knows of (a registry subscription), and an override that only pulls is attached', async () => {
    h = await startHarness({
      env: {
        ACRPULL_IDENTITY_OVERRIDES: `contosoapps=${OVERRIDE}`,
        ACRPULL_REGISTRY_SUBSCRIPTIONS: OTHER_SUB,
      },
    });
    h.emu.seedResourceGroup(OTHER_SUB, 'rg-other', 'eastus');
    const team = fleet(h.emu).identity('id-team-pull');
    fleet(h.emu).pullGrant('contosoapps', team); // its pull grant is not "more"
    const vm = h.seedVm('vm-clean', 'contosoapps');
    expect(actions((await h.deliver(vm.id))?.records ?? [])).toEqual([
      'identity-reused:unchanged',
      'role-present:unchanged',
      'identity-attached:changed',
    ]);

    h.emu.seedRoleAssignment({
      scope: `/subscriptions/${OTHER_SUB}/resourceGroups/rg-other`,
      roleDefinitionId: CONTRIBUTOR,
      principalId: team.principalId,
    });
    const result = await h.coldDeliver(h.seedVm('vm-next', 'contosoapps').id);

    expect(actions(result?.records ?? [])).toEqual(['identity-refused:rejected']);
    expect(result?.records[0]?.reason).toContain(
      `Contributor at /subscriptions/${OTHER_SUB}/resourceGroups/rg-other`,
    );
  });
});

describe('a pull identity someone granted Contributor', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('is not attached to new targets; the one that holds it keeps it (flagged); the refusal is cached: a second target costs no list', async () => {
    h = await startHarness();
    fleet(h.emu).appPullIdentity('contosoapps', 'eastus'); // made in an earlier run
    const first = h.seedVm('vm-first', 'contosoapps');
    await h.deliver(first.id); // grants, attaches
    const pull = h.emu.listIdentities().find((i) => i.name === 'id-acrpull-contosoapps-eastus');
    const contributor = h.emu.seedRoleAssignment({
      scope: `/subscriptions/${SUB}`,
      roleDefinitionId: CONTRIBUTOR,
      principalId: pull?.principalId ?? '',
    });

    // The sweep lists it afresh: flagged, and it fills the cache the event path reads.
    await h.sweep();
    expect(h.audit.records.filter((r) => r.action === 'identity-excess-roles')).toHaveLength(1);
    h.emu.resetCounts();

    // The instance refuses new targets from the sweep's listing (no list of its own).
    const second = await h.deliver(h.seedVm('vm-second', 'contosoapps').id);
    expect(actions(second?.records ?? [])).toEqual(['identity-refused:rejected']);
    expect(second?.records[0]?.reason).toContain(`Contributor at /subscriptions/${SUB} (${contributor.id})`);
    const third = await h.deliver(h.seedVm('vm-third', 'contosoapps').id);
    expect(actions(third?.records ?? [])).toEqual(['identity-refused:rejected']);
    expect(h.emu.counts()['roleAssignment.list']).toBe(0);
    expect(h.emu.totals().writes).toBe(0);
    expect(attachedTo(h, first.id)).toEqual([identityId('contosoapps', 'eastus').toLowerCase()]);

    // A cold instance lists once per subscription it knows of (here one) and refuses too.
    h.emu.resetCounts();
    const cold = await h.coldDeliver(h.seedVm('vm-cold', 'contosoapps').id);
    expect(actions(cold?.records ?? [])).toEqual(['identity-refused:rejected']);
    expect(h.emu.counts()['roleAssignment.list']).toBe(1);
  });

  it('costs one list per subscription per principal per 15 minutes on the event path; a verified pair never skips the check', async () => {
    h = await startHarness();
    let now = Date.now();
    const clock = () => now;
    const handler = createVmWriteHandler({
      ...h.runtime,
      roleChecks: new RoleCheckCache(clock),
      verifiedPairs: new VerifiedPairs(clock),
    });
    const deliver = async (name: string) =>
      handler(writeSuccessEvent(h.seedVm(name, 'contosoapps').id), quiet);
    const roleLists = () => h.emu.counts()['roleAssignment.list'];
    const pull = fleet(h.emu).appPullIdentity('contosoapps', 'eastus'); // made in an earlier run
    h.emu.resetCounts();
    expect((await deliver('vm-a'))?.outcome).toBe('changed');
    expect(roleLists()).toBe(1 + 1); // its role assignments (one subscription), its grant

    // Within the 15 minutes, once the verified pair (a minute) has expired: the grant's list only.
    now += 14 * 60_000 + 30_000;
    h.emu.resetCounts();
    expect((await deliver('vm-b'))?.outcome).toBe('changed');
    expect(roleLists()).toBe(1);

    // Someone grants Contributor. Past the 15 minutes the pair verified 31 s ago is not reused as it
    // was: the role check lists again, finds it, and refuses.
    const contributor = h.emu.seedRoleAssignment({
      scope: `/subscriptions/${SUB}/resourceGroups/rg-apps`,
      roleDefinitionId: CONTRIBUTOR,
      principalId: pull.principalId,
    });
    now += 31_000;
    h.emu.resetCounts();
    const c = await deliver('vm-c');
    expect(actions(c?.records ?? [])).toEqual(['identity-refused:rejected']);
    expect(c?.records[0]?.reason).toContain(
      `Contributor at /subscriptions/${SUB}/resourceGroups/rg-apps (${contributor.id})`,
    );
    expect(roleLists()).toBe(1);
    expect(h.emu.totals().writes).toBe(0);
    // The refusal is cached: the next target costs no list (and the verified pair was forgotten).
    h.emu.resetCounts();
    expect(actions((await deliver('vm-d'))?.records ?? [])).toEqual(['identity-refused:rejected']);
    expect(roleLists()).toBe(0);
  });
});

describe('a pull identity the app made a moment ago', () => {
  let h: Harness;
  afterEach(() => h.close());

  it("held nothing at birth: every instance takes ARM's systemData.createdAt as a listing made then, a real listing wins over it, and past the 15 minutes a cold instance lists and refuses", async () => {
    h = await startHarness();
    const roleLists = () => h.emu.counts()['roleAssignment.list'] ?? 0;
    await h.deliver(h.seedVm('vm-first', 'contosoapps').id); // creates (201), grants, attaches
    const pull = h.emu.listIdentities().find((i) => i.name === 'id-acrpull-contosoapps-eastus');
    expect(pull?.systemData.createdBy).toBeDefined();

    // A second instance never saw the 201; ARM's systemData tells it the app made the identity just
    // now: no listing of its role assignments, only the grant's.
    h.emu.resetCounts();
    const second = await h.coldDeliver(h.seedVm('vm-second', 'contosoapps').id);
    expect(second?.outcome).toBe('changed');
    expect(roleLists()).toBe(1);

    // Someone grants Contributor within the window. A cold instance still takes the birth as its
    // listing (a role granted meanwhile is seen at most 15 minutes after it, as with any listing)...
    const contributor = h.emu.seedRoleAssignment({
      scope: `/subscriptions/${SUB}`,
      roleDefinitionId: CONTRIBUTOR,
      principalId: pull?.principalId ?? '',
    });
    expect((await h.coldDeliver(h.seedVm('vm-third', 'contosoapps').id))?.outcome).toBe('changed');
    // ...but the sweep lists afresh, and on that instance its listing wins over the birth.
    await h.sweep();
    expect(h.audit.records.filter((r) => r.action === 'identity-excess-roles')).toHaveLength(1);
    const fourth = await h.deliver(h.seedVm('vm-fourth', 'contosoapps').id);
    expect(actions(fourth?.records ?? [])).toEqual(['identity-refused:rejected']);

    // Past the 15 minutes, a cold instance lists (one subscription) and refuses.
    const now = Date.now() + 15 * 60_000 + 1_000;
    const later = createVmWriteHandler({
      ...h.runtime,
      roleChecks: new RoleCheckCache(() => now),
      verifiedPairs: new VerifiedPairs(() => now),
    });
    h.emu.resetCounts();
    const fifth = await later(writeSuccessEvent(h.seedVm('vm-fifth', 'contosoapps').id), quiet);
    expect(actions(fifth?.records ?? [])).toEqual(['identity-refused:rejected']);
    expect(fifth?.records[0]?.reason).toContain(`Contributor at /subscriptions/${SUB} (${contributor.id})`);
    expect(roleLists()).toBe(1);
    expect(h.emu.totals().writes).toBe(0);
  });
});

describe('a role inherited from a management group', () => {
  it('counts: a pull identity holding Reader at a management group above its subscription is refused', async () => {
    const h = await startHarness();
    try {
      const pull = fleet(h.emu).appPullIdentity('contosoapps', 'eastus');
      const group = h.emu.seedManagementGroup('mg-platform', [SUB]);
      const inherited = h.emu.seedRoleAssignment({
        scope: group,
        roleDefinitionId: 'acdd72a7-3385-48ef-bd42-f606fba81ae7', // Reader
        principalId: pull.principalId,
      });

      const result = await h.deliver(h.seedVm('vm-mg', 'contosoapps').id);

      expect(actions(result?.records ?? [])).toEqual(['identity-refused:rejected']);
      expect(result?.records[0]?.reason).toContain(`Reader at ${group} (${inherited.id})`);
      expect(h.emu.totals().writes).toBe(0);
    } finally {
      await h.close();
    }
  });
});

describe('identities in the identity resource group the app did not make', () => {
  it('are reported by the sweep (identity-foreign, from the one identity list), overrides excepted, and never attached even under a pull identity’s name', async () => {
    const override = `${IDENTITY_RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-team-pull`;
    const h = await startHarness({ env: { ACRPULL_IDENTITY_OVERRIDES: `fabrikamabac=${override}` } });
    try {
      const f = fleet(h.emu);
      const lookalike = f.plantedPullIdentity('contosoapps', 'westus', {
        by: 'mallory@contoso.example',
        type: 'User',
      });
      const agent = f.identity('id-build-agent', { resourceGroup: 'rg-identities' });
      f.identity('id-team-pull', { resourceGroup: 'rg-identities' }); // the override: not foreign
      await h.deliver(h.seedVm('vm-east', 'contosoapps').id); // the app's own: not foreign
      const west = h.seedVm('vm-west', 'contosoapps', 'westus');
      const refused = await h.deliver(west.id);
      expect(actions(refused?.records ?? [])).toEqual(['identity-refused:rejected']);
      h.audit.records.length = 0;
      h.emu.resetCounts();

      await h.sweep();

      const foreign = h.audit.records.filter((r) => r.action === 'identity-foreign');
      expect(foreign.map((r) => r.identityId?.split('/').pop()).sort()).toEqual([
        'id-acrpull-contosoapps-westus',
        'id-build-agent',
      ]);
      expect(foreign.every((r) => r.outcome === 'flagged')).toBe(true);
      expect(foreign.find((r) => r.principalId === agent.principalId)?.identityCreatedBy).toMatch(
        /operator@contoso\.example/,
      );
      expect(foreign.find((r) => r.principalId === lookalike.principalId)?.reason).toContain(
        'mallory@contoso.example',
      );
      expect(h.emu.counts()['identity.list']).toBe(1);
      // Never attached, by the event or the sweep, nor granted.
      expect(attachedTo(h, west.id)).toEqual([]);
      expect(h.emu.listRoleAssignments().filter((a) => a.principalId === lookalike.principalId)).toEqual([]);
    } finally {
      await h.close();
    }
  });
});

describe('where the app may write', () => {
  it('a target outside ACRPULL_WRITE_RESOURCE_GROUPS is refused before anything is made; one inside is attached', async () => {
    const h = await startHarness({
      env: { ACRPULL_WRITE_RESOURCE_GROUPS: `/subscriptions/${SUB}/resourceGroups/RG-APPS` },
    });
    try {
      h.emu.seedResourceGroup(SUB, 'rg-other', 'eastus');
      const outside = fleet(h.emu).vm('vm-outside', { tag: 'contosoapps', resourceGroup: 'rg-other' });
      h.emu.resetCounts();

      const refused = await h.deliver(outside.id);

      expect(actions(refused?.records ?? [])).toEqual(['target-out-of-scope:rejected']);
      expect(refused?.records[0]?.reason).toContain('rg-other');
      expect(h.emu.totals().writes).toBe(0);
      expect(attachedTo(h, outside.id)).toEqual([]);
      const inside = h.seedVm('vm-inside', 'contosoapps');
      expect((await h.deliver(inside.id))?.outcome).toBe('changed');
    } finally {
      await h.close();
    }
  });
});

describe('caps', () => {
  it('a target outside ACRPULL_REGIONS is refused with no identity request; one inside is attached', async () => {
    const h = await startHarness({ env: { ACRPULL_REGIONS: 'eastus, West Europe' } });
    try {
      const japan = h.seedVm('vm-japan', 'contosoapps', 'japaneast');
      h.emu.resetCounts();

      const result = await h.deliver(japan.id);

      expect(actions(result?.records ?? [])).toEqual(['region-denied:rejected']);
      expect(result?.records[0]?.reason).toContain('japaneast');
      expect(result?.plan.steps.map((s) => s.step)).toEqual(['refuse']);
      const counts = h.emu.counts();
      expect([counts['identity.get'], counts['identity.list'], counts['identity.put']]).toEqual([0, 0, 0]);
      expect(h.emu.totals().writes).toBe(0);

      // The sweep refuses it too (its pairs are decided apart from the targets), writing nothing for it.
      const europe = h.seedVm('vm-europe', 'contosoapps', 'westeurope');
      await h.sweep();
      expect(h.emu.listIdentities().map((i) => i.name)).toEqual(['id-acrpull-contosoapps-westeurope']);
      expect(attachedTo(h, europe.id)).toEqual([identityId('contosoapps', 'westeurope').toLowerCase()]);
      expect(attachedTo(h, japan.id)).toEqual([]);
      expect(
        h.audit.records.filter((r) => r.trigger === 'reconcile' && r.vmId === japan.id).map((r) => r.action),
      ).toEqual(['region-denied']);
    } finally {
      await h.close();
    }
  });

  it("counts an identity a failed PUT may have made: the cap's listing from before it is not reused", async () => {
    const h = await startHarness({ env: { ACRPULL_MAX_PULL_IDENTITIES: '2' } });
    try {
      fleet(h.emu).appPullIdentity('contosoapps', 'eastus'); // one of two, from an earlier run
      // ARM makes the identity, but every answer to the PUT is lost (a 500 after the write).
      let made = false;
      h.emu.injectFault({
        operation: 'identity.put',
        status: 500,
        code: 'InternalServerError',
        count: 1000,
        match: () => {
          if (!made) fleet(h.emu).appPullIdentity('contosoapps', 'westus');
          made = true;
          return true;
        },
      });
      const failed = await h
        .deliver(h.seedVm('vm-west', 'contosoapps', 'westus').id)
        .catch((error: { result?: { outcome: string } }) => error.result);
      expect(failed?.outcome).toBe('failed');
      expect(made).toBe(true);
      h.emu.clearFaults();

      // Seconds later another new pair: the count is made afresh and sees two.
      const next = await h.deliver(h.seedVm('vm-north', 'contosoapps', 'northeurope').id);

      expect(actions(next?.records ?? [])).toEqual(['identity-limit-reached:rejected']);
      expect(next?.records[0]?.reason).toContain('already holds 2 pull identities');
      expect(h.emu.listIdentities().filter((i) => i.name.startsWith('id-acrpull-'))).toHaveLength(2);
    } finally {
      await h.close();
    }
  });

  it('the 201st pull identity is refused with the default cap (identity-limit-reached); reusing one is not', async () => {
    const h = await startHarness();
    try {
      for (let i = 0; i < 199; i++)
        h.emu.seedIdentity({
          subscriptionId: SUB,
          resourceGroup: 'rg-identities',
          name: `id-acrpull-seeded${String(i).padStart(3, '0')}-eastus`,
          location: 'eastus',
          createdBy: 'app',
        });
      // Someone else's identity in the group does not count against the app's cap.
      fleet(h.emu).identity('id-build-agent', { resourceGroup: 'rg-identities' });
      const reused = h.seedVm('vm-200th', 'contosoapps');
      expect((await h.deliver(reused.id))?.outcome).toBe('changed'); // the 200th is made

      h.emu.resetCounts();
      const result = await h.deliver(h.seedVm('vm-201st', 'fabrikamabac').id);

      expect(actions(result?.records ?? [])).toEqual(['identity-limit-reached:rejected']);
      expect(result?.records[0]?.reason).toContain('already holds 200 pull identities');
      expect(result?.records[0]?.identityId).toBe(identityId('fabrikamabac', 'eastus'));
      // One list of the group: 201 identities in pages of 50 (the emulator's page size).
      expect(h.emu.counts()['identity.list']).toBe(5);
      expect(h.emu.totals().writes).toBe(0);
      expect(result?.retryable).toBe(false);

      // An existing pair's identity is reused whatever the count.
      const another = await h.deliver(h.seedVm('vm-reuse', 'contosoapps').id);
      expect(another?.outcome).toBe('changed');
    } finally {
      await h.close();
    }
  });
});
