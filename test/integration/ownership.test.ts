// Identities the app can prove it owns: ARM's systemData, not names or tags. Through the real
// handler, sweep and SDK clients; the planted identity is created over ARM by another principal, so
// the emulator stamps its systemData from that principal's token as ARM does.

import type { SystemDataCreatedBy } from '@acrpull/azure-emulator';
import { clientsFor, staticCredential } from '@acrpull/azure-emulator/testing';
import { InvocationContext } from '@azure/functions';
import type { AuditRecord } from '../../src/audit/auditRecord';
import { ACR_PULL_ROLE } from '../../src/core/roles';
import { createVmWriteHandler } from '../../src/handlers/vmWriteHandler';
import { fleet } from '../support/fleet';
import { type Harness, identityId, SUB, startHarness, writeSuccessEvent } from '../support/harness';

const REGISTRY_ID = `/subscriptions/${SUB}/resourceGroups/rg-registries/providers/Microsoft.ContainerRegistry/registries/contosoapps`;
const MARKER_TAGS = { 'managed-by': 'acrpull-autopilot', 'acrpull-registry': REGISTRY_ID };
const attacker = {
  objectId: 'bad0b1d5-0000-4000-8000-0000000000a1',
  clientId: 'bad0b1d5-0000-4000-8000-0000000000c1',
};
const actions = (records: readonly AuditRecord[]) => records.map((r) => `${r.action}:${r.outcome}`);

/** Someone with write on the identity resource group creates the pull identity's name first. */
async function plant(h: Harness, region: string) {
  const theirs = clientsFor(h.emu, { credential: staticCredential(h.emu, attacker), subscriptionId: SUB });
  return theirs.msi.userAssignedIdentities.createOrUpdate(
    'rg-identities',
    `id-acrpull-contosoapps-${region}`,
    { location: region, tags: MARKER_TAGS },
  );
}

describe.each<SystemDataCreatedBy>(['clientId', 'objectId'])(
  'a planted pull identity (systemData names managed identities by %s)',
  (systemDataCreatedBy) => {
    let h: Harness;
    beforeEach(async () => {
      h = await startHarness({ emulator: { systemDataCreatedBy } });
    });
    afterEach(() => h.close());

    it('with the right name and copied marker tags, is neither granted nor attached: a terminal refusal naming its creator', async () => {
      const planted = await plant(h, 'eastus');
      const vm = h.seedVm('vm-target', 'contosoapps', 'eastus');
      h.emu.resetCounts();

      const result = await h.deliver(vm.id);

      expect(actions(result?.records ?? [])).toEqual(['identity-refused:rejected']);
      const creator = systemDataCreatedBy === 'clientId' ? attacker.clientId : attacker.objectId;
      // ARM spells the resource group segment its own way (`resourcegroups`).
      expect(result?.records[0]?.identityId?.toLowerCase()).toBe(
        identityId('contosoapps', 'eastus').toLowerCase(),
      );
      expect(result?.records[0]).toMatchObject({
        identityCreatedBy: `${creator} (ManagedIdentity)`,
        reason: expect.stringContaining('not by this app'),
        vmId: vm.id,
      });
      expect(result?.retryable).toBe(false);
      // Nothing written: no grant for the planted principal, no attach, the VM as it was.
      expect(h.emu.totals().writes).toBe(0);
      expect(h.emu.listRoleAssignments().filter((a) => a.principalId === planted.principalId)).toEqual([]);
      expect(h.emu.getVm(vm.id)?.identity).toBeUndefined();

      // The sweep decides the same from the pair it checks, and writes nothing either; it reports the
      // identity as foreign to the identity resource group (someone else made it; not an override).
      const { summary } = await h.sweep();
      expect(summary).toMatchObject({ rejected: 1, changed: 0 });
      expect(h.emu.totals().writes).toBe(0);
      expect(
        h.audit.records.filter((r) => r.trigger === 'reconcile').map((r) => `${r.action}:${r.outcome}`),
      ).toEqual(['identity-refused:rejected', 'identity-foreign:flagged']);
    });

    it('an identity the app created is reused for the next VM, and stays the app’s when someone else updates its tags', async () => {
      await h.deliver(h.seedVm('vm-1', 'contosoapps', 'eastus').id);
      const made = h.emu.listIdentities().find((i) => i.name === 'id-acrpull-contosoapps-eastus');
      expect(made?.systemData.createdBy).toBe(
        systemDataCreatedBy === 'clientId' ? h.emu.appIdentity.clientId : h.emu.appIdentity.principalId,
      );
      // Another writer re-PUTs it (tags): ARM keeps the creator, so it is still provably the app's.
      await plant(h, 'eastus');

      const result = await h.deliver(h.seedVm('vm-2', 'contosoapps', 'eastus').id);

      expect(actions(result?.records ?? [])).toEqual([
        'identity-reused:unchanged',
        'role-present:unchanged',
        'identity-attached:changed',
      ]);
    });
  },
);

describe('a planted identity already attached to a VM (by whoever could assign it)', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(() => h.close());

  const attachPlanted = (
    vm: string,
    planted: { id?: string; principalId?: string; clientId?: string },
    system: boolean,
  ) =>
    h.emu.updateVmOutOfBand(vm, (v) => {
      v.identity = {
        type: system ? 'SystemAssigned, UserAssigned' : 'UserAssigned',
        ...(system ? { principalId: 'aaaaaaaa-0000-4000-8000-00000000000a', tenantId: h.emu.tenantId } : {}),
        userAssignedIdentities: {
          [planted.id ?? '']: { principalId: planted.principalId ?? '', clientId: planted.clientId ?? '' },
        },
      };
    });

  it('is not "already compliant": the event and the sweep both refuse it, and write nothing', async () => {
    const planted = await plant(h, 'eastus');
    const vm = h.seedVm('vm-has-planted', 'contosoapps', 'eastus');
    attachPlanted(vm.id, planted, true);
    h.emu.resetCounts();

    const result = await h.deliver(vm.id);

    expect(actions(result?.records ?? [])).toEqual(['identity-refused:rejected']);
    const { summary } = await h.sweep();
    expect(summary).toMatchObject({ rejected: 1, compliant: 0 });
    expect(h.emu.totals().writes).toBe(0);
    expect(h.emu.listRoleAssignments().filter((a) => a.principalId === planted.principalId)).toEqual([]);
  });

  it('as the VM’s only identity, is the owner’s IMDS default: no second identity is attached under keep', async () => {
    const planted = await plant(h, 'eastus');
    const vm = h.seedVm('vm-only-planted', 'contosoapps fabrikamabac', 'eastus');
    attachPlanted(vm.id, planted, false);

    const result = await h.deliver(vm.id);

    expect(actions(result?.records ?? []).sort()).toEqual(
      ['attach-refused:rejected', 'identity-refused:rejected'].sort(),
    );
    expect(h.emu.counts()['vm.patch']).toBe(0);
    expect(Object.keys(h.emu.getVm(vm.id)?.identity?.userAssignedIdentities ?? {})).toHaveLength(1);
  });
});

describe('a pull identity someone else creates between the app’s read and its PUT', () => {
  it('answers the PUT with 200, not 201: systemData decides, and it is refused', async () => {
    const h = await startHarness();
    try {
      h.emu.onBeforeOperation(
        'identity.put',
        () => {
          fleet(h.emu).plantedPullIdentity('contosoapps', 'eastus');
        },
        true,
      );
      const vm = h.seedVm('vm-race', 'contosoapps', 'eastus');

      const result = await h.deliver(vm.id);

      expect(actions(result?.records ?? [])).toEqual(['identity-refused:rejected']);
      expect(result?.records[0]?.identityCreatedBy).toBe('operator@contoso.example (User)');
      expect(h.emu.counts()['roleAssignment.put']).toBe(0);
      expect(h.emu.counts()['vm.patch']).toBe(0);
    } finally {
      await h.close();
    }
  });
});

describe('trusted creators', () => {
  it('reuses a pull identity made by a creator the operator trusts (ACRPULL_TRUSTED_CREATORS)', async () => {
    const h = await startHarness({ env: { ACRPULL_TRUSTED_CREATORS: attacker.clientId.toUpperCase() } });
    try {
      await plant(h, 'eastus');
      const result = await h.deliver(h.seedVm('vm-trusted', 'contosoapps', 'eastus').id);
      expect(actions(result?.records ?? [])).toEqual([
        'identity-reused:unchanged',
        'role-assigned:changed',
        'identity-attached:changed',
      ]);
    } finally {
      await h.close();
    }
  });
});

describe('an app that cannot tell its own identity', () => {
  it('refuses even an operator override (it cannot rule out that it is its own) and writes nothing', async () => {
    const own = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-team-pull`;
    const h = await startHarness({ env: { ACRPULL_IDENTITY_OVERRIDES: `contosoapps=${own}` } });
    try {
      fleet(h.emu).identity('id-team-pull');
      // A token that names no principal (no oid, no appid): our own code's answer, not the SDK's.
      const anonymous = Object.assign(async () => ({}), { known: () => undefined });
      const handler = createVmWriteHandler({ ...h.runtime, whoAmI: anonymous });
      const vm = h.seedVm('vm-anonymous', 'contosoapps');
      h.emu.resetCounts();

      const result = await handler(
        writeSuccessEvent(vm.id),
        new InvocationContext({ invocationId: 'x', functionName: 'vmWriteEvent', logHandler: () => {} }),
      );

      expect(actions(result?.records ?? [])).toEqual(['identity-refused:rejected']);
      expect(result?.records[0]?.reason).toContain('could not tell its own identity');
      expect(h.emu.totals().writes).toBe(0);
    } finally {
      await h.close();
    }
  });
});

describe('sweep finding: pull identities holding more than pull', () => {
  it('flags, once per identity, a role assignment beyond its pull grants; the pull grant alone is not flagged', async () => {
    const h = await startHarness();
    try {
      await h.deliver(h.seedVm('vm-a', 'contosoapps', 'eastus').id);
      await h.deliver(h.seedVm('vm-b', 'contosoapps', 'westeurope').id);
      const east = h.emu.listIdentities().find((i) => i.name === 'id-acrpull-contosoapps-eastus');
      const contributor = h.emu.seedRoleAssignment({
        scope: `/subscriptions/${SUB}/resourceGroups/rg-apps`,
        roleDefinitionId: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
        principalId: east?.principalId ?? '',
      });
      // A pull role, but on a registry it does not serve: also more than it needs.
      const elsewhere = h.emu.seedRoleAssignment({
        scope: `/subscriptions/${SUB}/resourceGroups/rg-registries/providers/Microsoft.ContainerRegistry/registries/secretregistry`,
        roleDefinitionId: ACR_PULL_ROLE,
        principalId: east?.principalId ?? '',
      });
      h.audit.records.length = 0;

      await h.sweep();

      const findings = h.audit.records.filter((r) => r.action === 'identity-excess-roles');
      expect(findings).toHaveLength(1);
      expect(findings[0]?.identityId?.toLowerCase()).toBe(identityId('contosoapps', 'eastus').toLowerCase());
      expect(findings[0]).toMatchObject({
        outcome: 'flagged',
        principalId: east?.principalId,
      });
      expect(findings[0]?.reason).toContain(contributor.id);
      expect(findings[0]?.reason).toContain(elsewhere.id);
      expect(findings[0]?.reason).not.toContain(REGISTRY_ID);
    } finally {
      await h.close();
    }
  });
});
