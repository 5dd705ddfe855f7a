// From "granted" to "can pull": a re-created identity is re-bound, a conditioned grant is replaced
// by an unconditioned one, and every attach or compliant record says whether the target can pull
// (pullReady) and what blocks it, from the registry's settings and the grant's age.
import { pullAsVm } from '@acrpull/azure-emulator/testing';
import { fleet } from '../support/fleet';
import { type Harness, identityId, SUB, startHarness } from '../support/harness';

const REGISTRIES_RG = 'rg-registries';
const registryId = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/${REGISTRIES_RG}/providers/Microsoft.ContainerRegistry/registries/${name}`;
const CONDITION =
  "((!(ActionMatches{'Microsoft.ContainerRegistry/registries/repositories/content/read'})) OR (@Resource[Microsoft.ContainerRegistry/registries/repositories:name] StringStartsWithIgnoreCase 'team-a/'))";

describe('from granted to can pull', () => {
  let h: Harness;
  const entryOf = (vmId: string, identity: string) =>
    Object.entries(h.emu.getVm(vmId)?.identity?.userAssignedIdentities ?? {}).find(
      ([id]) => id.toLowerCase() === identity.toLowerCase(),
    )?.[1];
  beforeAll(async () => {
    h = await startHarness({
      env: {
        ACRPULL_ALLOWED_REGISTRIES:
          'contosoapps fabrikamabac privateacr walledacr linkedacr armlessacr conditionedacr heldacr',
        ACRPULL_IDENTITY_OVERRIDES: `heldacr=/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-held`,
      },
    });
    const seed = (name: string, sku: string, access: Parameters<typeof h.emu.updateRegistry>[1]) =>
      h.emu.seedRegistry({ subscriptionId: SUB, resourceGroup: REGISTRIES_RG, name, sku, access });
    seed('privateacr', 'Premium', { publicNetworkAccess: 'Disabled' });
    seed('walledacr', 'Premium', { networkRuleSet: { defaultAction: 'Deny', ipRules: [] } });
    seed('linkedacr', 'Premium', {
      publicNetworkAccess: 'Disabled',
      privateEndpointConnections: [
        {
          name: 'pe-linkedacr',
          privateEndpointId: `/subscriptions/${SUB}/resourceGroups/rg-net/providers/Microsoft.Network/privateEndpoints/pe-linkedacr`,
          status: 'Approved',
        },
      ],
    });
    seed('armlessacr', 'Standard', { azureADAuthenticationAsArmPolicy: 'disabled' });
    seed('conditionedacr', 'Standard', {});
    seed('heldacr', 'Standard', {});
  });
  afterAll(() => h.close());

  describe('a re-created identity', () => {
    it.each(['keep', 'null'] as const)(
      "is re-bound (VM entries: %s the old principal), the old principal's grant reported where known",
      async (vmEntries) => {
        const region = vmEntries === 'keep' ? 'westus2' : 'westcentralus';
        const vm = fleet(h.emu).vm(`vm-rebind-${vmEntries}`, { tag: 'contosoapps', location: region });
        await h.deliver(vm.id);
        const pullId = identityId('contosoapps', region);
        const old = h.emu.listIdentities().find((i) => i.id.toLowerCase() === pullId.toLowerCase());
        expect(entryOf(vm.id, pullId)?.principalId).toBe(old?.principalId);

        h.emu.deleteIdentity(pullId, { vmEntries });
        // The VM's workload cannot pull now: IMDS has no identity for the old binding.
        const registryId = `/subscriptions/${SUB}/resourceGroups/${REGISTRIES_RG}/providers/Microsoft.ContainerRegistry/registries/contosoapps`;
        const broken = await pullAsVm(h.emu, { targetId: vm.id, registryId, clientId: old?.clientId ?? '' });
        expect(broken).toMatchObject({ ok: false, step: 'imds' });
        const before = h.audit.records.length;
        // An instance that has not proven the identity lately (this one trusts its 15-minute proof of
        // the old principal on the event path's shortcut; the sweep checks afresh, below).
        const result = await h.coldDeliver(vm.id);

        const current = h.emu.listIdentities().find((i) => i.id.toLowerCase() === pullId.toLowerCase());
        expect(current?.principalId).not.toBe(old?.principalId);
        const entry = entryOf(vm.id, pullId);
        expect(entry?.principalId).toBe(current?.principalId);
        expect(entry?.clientId).toBe(current?.clientId);
        const actions = result?.records.map((r) => `${r.action}/${r.outcome}`);
        expect(actions).toEqual(
          expect.arrayContaining([
            'identity-created/changed',
            'role-assigned/changed',
            'identity-rebound/changed',
          ]),
        );
        const orphaned = h.audit.records.slice(before).find((r) => r.action === 'grant-orphaned');
        if (vmEntries === 'keep') {
          expect(orphaned?.principalId).toBe(old?.principalId);
          expect(orphaned?.reason).toMatch(/az role assignment delete --ids /);
        } else {
          // An entry bound to no principal does not say whose grant was orphaned: nothing to report.
          expect(orphaned).toBeUndefined();
        }
        // Two PATCHes: detach, then attach again; never both at once, never a preemption.
        expect(h.emu.preemptions()).toEqual([]);

        // The next event calls it compliant, with nothing to write; and the workload pulls again, with
        // the client id the app recorded.
        const again = await h.deliver(vm.id);
        expect(again?.outcome).toBe('compliant');
        const rebound = result?.records.find((r) => r.action === 'identity-rebound');
        expect(rebound?.clientId).toBe(current?.clientId);
        const pulled = await pullAsVm(h.emu, {
          targetId: vm.id,
          registryId,
          clientId: rebound?.clientId ?? '',
        });
        expect(pulled).toMatchObject({ ok: true });
      },
    );

    it('a pair cached before the identity was re-created is verified again, never re-bound from the cache', async () => {
      const region = 'eastus2';
      const first = fleet(h.emu).vm('vm-cache-a', { tag: 'contosoapps', location: region });
      await h.deliver(first.id); // this instance now trusts the pair for a minute
      const pullId = identityId('contosoapps', region);
      h.emu.deleteIdentity(pullId);
      // Someone else re-creates the name: the app must not attach it, re-bind to it, or call it ours.
      fleet(h.emu).plantedPullIdentity('contosoapps', region);
      const second = fleet(h.emu).vm('vm-cache-b', { tag: 'contosoapps', location: region });

      const outcome = await h
        .deliver(second.id)
        .catch((error: { result?: { records: unknown[] } }) => error.result);

      expect(outcome?.records).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            action: 'failed',
            retryable: true,
            reason: expect.stringMatching(
              /bound to another principal than the one its pair was verified with.*detached again at once/,
            ),
          }),
        ]),
      );
      expect(h.emu.getVm(second.id)?.identity).toBeUndefined();
      // Redelivered: the pair is verified afresh, and the planted identity is refused.
      const again = await h.deliver(second.id);
      expect(again?.records.map((r) => r.action)).toContain('identity-refused');
      expect(h.emu.getVm(second.id)?.identity).toBeUndefined();
    });

    it('a pair read afresh whose identity is re-created before the PATCH is detached again at once too', async () => {
      const region = 'canadacentral';
      await h.coldDeliver(fleet(h.emu).vm('vm-fresh-a', { tag: 'contosoapps', location: region }).id);
      const pullId = identityId('contosoapps', region);
      const second = fleet(h.emu).vm('vm-fresh-b', { tag: 'contosoapps', location: region });
      // As the PATCH arrives (after a cold instance read and proved the identity), someone deletes
      // and re-creates the name: the PATCH binds their principal.
      let swapped = false;
      h.emu.injectFault({
        operation: 'vm.patch',
        status: 500,
        code: 'InternalServerError',
        count: 1,
        match: (req) => {
          if (!swapped && req.path.toLowerCase().includes('vm-fresh-b')) {
            swapped = true;
            h.emu.deleteIdentity(pullId);
            fleet(h.emu).plantedPullIdentity('contosoapps', region);
          }
          return false;
        },
      });

      const outcome = await h
        .coldDeliver(second.id)
        .catch((error: { result?: { records: unknown[] } }) => error.result);
      h.emu.clearFaults();

      expect(swapped).toBe(true);
      expect(outcome?.records).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            action: 'failed',
            reason: expect.stringMatching(/bound to another principal.*detached again at once/),
          }),
        ]),
      );
      expect(h.emu.getVm(second.id)?.identity).toBeUndefined();
    });

    it('says so when the re-bind detached the identity but could not attach it again', async () => {
      const region = 'northcentralus';
      const vm = fleet(h.emu).vm('vm-rebind-halfway', { tag: 'contosoapps', location: region });
      await h.deliver(vm.id);
      const pullId = identityId('contosoapps', region);
      h.emu.deleteIdentity(pullId);
      // The re-attach (a PATCH that adds the identity) is refused; the detach before it is not.
      h.emu.injectFault({
        operation: 'vm.patch',
        status: 403,
        code: 'AuthorizationFailed',
        count: 10,
        match: (req) => JSON.stringify(req.body).includes('{}'),
      });

      const outcome = await h
        .coldDeliver(vm.id)
        .catch((error: { result?: { records: { action: string; outcome: string }[] } }) => error.result);

      h.emu.clearFaults();
      expect(outcome?.records.map((r) => `${r.action}/${r.outcome}`)).toEqual(
        expect.arrayContaining(['identity-detached/changed', 'failed/failed']),
      );
      // The next event attaches it again.
      const again = await h.coldDeliver(vm.id);
      expect(again?.records.map((r) => `${r.action}/${r.outcome}`)).toContain('identity-attached/changed');
    });

    it('is re-bound by the sweep too, from the snapshot that shows the old principal', async () => {
      const vm = fleet(h.emu).vm('vm-rebind-sweep', { tag: 'contosoapps', location: 'centralus' });
      await h.deliver(vm.id);
      const pullId = identityId('contosoapps', 'centralus');
      h.emu.deleteIdentity(pullId);

      const result = await h.sweep();

      const current = h.emu.listIdentities().find((i) => i.id.toLowerCase() === pullId.toLowerCase());
      const entry = entryOf(vm.id, pullId);
      expect(entry?.principalId).toBe(current?.principalId);
      expect(result.targets.find((t) => t.targetId === vm.id)?.outcome).toBe('changed');
    });
  });

  describe('a conditioned grant', () => {
    it("on the app's own pull identity is reported and made unconditioned, in place", async () => {
      const pull = fleet(h.emu).appPullIdentity('conditionedacr', 'eastus');
      const seeded = h.emu.seedRoleAssignment({
        scope: registryId('conditionedacr'),
        roleDefinitionId: '7f951dda-4ed3-4680-a7ca-43fe172d538d',
        principalId: pull.principalId,
        condition: CONDITION,
      });
      const vm = fleet(h.emu).vm('vm-conditioned', { tag: 'conditionedacr' });

      const result = await h.deliver(vm.id);

      const record = result?.records.find((r) => r.action === 'grant-conditioned');
      expect(record).toMatchObject({ outcome: 'changed', principalId: pull.principalId, role: 'AcrPull' });
      expect(record?.reason).toContain(seeded.id);
      expect(record?.reason).toContain("StringStartsWithIgnoreCase 'team-a/'");
      const grants = h.emu.listRoleAssignments().filter((a) => a.principalId === pull.principalId);
      expect(grants).toEqual([expect.objectContaining({ name: seeded.name, condition: null })]);
      expect(result?.outcome).toBe('changed');
    });

    it('above the registry is more than pull at it (every registry of the group): the identity is refused, nothing granted or attached', async () => {
      const pull = fleet(h.emu).appPullIdentity('conditionedacr', 'westeurope');
      const above = h.emu.seedRoleAssignment({
        scope: `/subscriptions/${SUB}/resourceGroups/${REGISTRIES_RG}`,
        roleDefinitionId: '7f951dda-4ed3-4680-a7ca-43fe172d538d',
        principalId: pull.principalId,
        condition: CONDITION,
      });
      const vm = fleet(h.emu).vm('vm-conditioned-above', { tag: 'conditionedacr', location: 'westeurope' });

      const result = await h.deliver(vm.id);

      expect(result?.records.map((r) => `${r.action}/${r.outcome}`)).toEqual(['identity-refused/rejected']);
      expect(result?.records[0]?.reason).toContain(
        `AcrPull at /subscriptions/${SUB}/resourceGroups/${REGISTRIES_RG} (${above.id})`,
      );
      const atRegistry = h.emu
        .listRoleAssignments()
        .filter((a) => a.principalId === pull.principalId && a.scope === registryId('conditionedacr'));
      expect(atRegistry).toEqual([]);
      expect(h.emu.getVm(vm.id)?.identity).toBeUndefined();
    });

    it("on an operator's override identity is left alone: refused, with what to change", async () => {
      const held = fleet(h.emu).identity('id-held');
      h.emu.seedRoleAssignment({
        scope: registryId('heldacr'),
        roleDefinitionId: '7f951dda-4ed3-4680-a7ca-43fe172d538d',
        principalId: held.principalId,
        condition: CONDITION,
      });
      const vm = fleet(h.emu).vm('vm-held', { tag: 'heldacr' });
      h.emu.resetCounts();

      const result = await h.deliver(vm.id);

      expect(result?.outcome).toBe('rejected');
      expect(result?.records).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            action: 'grant-conditioned',
            outcome: 'rejected',
            reason: expect.stringMatching(/operator's identity.*az role assignment update/),
          }),
        ]),
      );
      expect(h.emu.totals().writes).toBe(0);
    });
  });

  describe('pull readiness', () => {
    const attachRecord = async (name: string, tag: string) => {
      const vm = fleet(h.emu).vm(name, { tag });
      const result = await h.deliver(vm.id);
      return { vm, result, record: result?.records.find((r) => r.action === 'identity-attached') };
    };

    it.each([
      ['privateacr', 'no', 'public-access-disabled'],
      ['walledacr', 'no', 'firewall-denies-all'],
      ['linkedacr', 'unknown', 'network-path-unverified'],
    ])('a registry like %s: compliant, pullReady %s, blocker %s', async (registry, ready, code) => {
      const { record, result } = await attachRecord(`vm-ready-${registry}`, registry);
      expect(result?.outcome).toBe('changed');
      expect(record).toMatchObject({ outcome: 'changed', pullReady: ready });
      expect(record?.blockers?.split(',')).toContain(code);
    });

    it('a fresh grant is pending for 10 minutes; an old one is ready', async () => {
      const { record } = await attachRecord('vm-ready-fresh', 'fabrikamabac');
      expect(record).toMatchObject({ pullReady: 'pending', blockers: 'grant-propagating' });

      const pull = fleet(h.emu).appPullIdentity('contosoapps', 'southcentralus');
      h.emu.seedRoleAssignment({
        scope: registryId('contosoapps'),
        roleDefinitionId: '7f951dda-4ed3-4680-a7ca-43fe172d538d',
        principalId: pull.principalId,
        createdOn: new Date(Date.now() - 20 * 60_000).toISOString(),
      });
      const vm = fleet(h.emu).vm('vm-ready-old', { tag: 'contosoapps', location: 'southcentralus' });
      const result = await h.deliver(vm.id);
      const attached = result?.records.find((r) => r.action === 'identity-attached');
      expect(attached).toMatchObject({ outcome: 'changed', pullReady: 'yes' });
      expect(attached?.blockers).toBeUndefined();
    });

    it('ARM-audience tokens disabled: ready, with a note for clients that ask for them', async () => {
      const { record } = await attachRecord('vm-ready-armless', 'armlessacr');
      expect(record?.pullReady).toBe('pending');
      expect(record?.pullNotes).toBe('arm-audience-disabled');
    });

    it('the sweep counts targets by readiness and records why a compliant one cannot pull', async () => {
      const before = h.audit.records.length;
      const result = await h.sweep();

      const s = result.summary;
      expect(s.pullReadyNo).toBeGreaterThanOrEqual(2);
      expect(s.pullReadyUnknown).toBeGreaterThanOrEqual(1);
      expect(s.pullReadyYes + s.pullReadyNo + s.pullReadyPending + s.pullReadyUnknown).toBe(
        s.compliant + s.changed,
      );
      const blocked = h.audit.records
        .slice(before)
        .filter((r) => r.action === 'already-compliant' && r.pullReady === 'no');
      expect(blocked.map((r) => r.registry).sort()).toEqual(
        expect.arrayContaining(['privateacr', 'walledacr']),
      );
    });
  });
});
