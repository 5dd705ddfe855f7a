// Least privilege, read off the template evaluated for the sample deployment: which custom role is
// assigned where, and where each role may be assigned.
//
// role-based-access-control/custom-roles (Microsoft Learn): one definition can be assignable in several
// subscriptions; creating or updating it needs roleDefinitions/write on every assignable scope.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { IDENTITY_RG, OTHER_SUB, SUB } from '../support/harness';
import {
  ASSIGN_ACTION,
  byType,
  evaluateTemplate,
  FLEET_RGS,
  GRANT_ACTION,
  GRANT_ONLY_SUB,
  IDENTITY_ACTIONS,
  lower,
  main,
  OVERRIDE_IDENTITY,
  OVERRIDE_SUB,
  REGISTRY_SUB,
  type Role,
  root,
  SAMPLE,
  SAMPLE_WITH_FLEET_RGS,
  SCALE_SET_WRITE_ACTION,
  subscriptionScope,
  VM_WRITE_ACTION,
  where,
} from '../support/infraTemplates';

describe('least-privilege permissions (the template evaluated for a sample deployment over five subscriptions)', () => {
  it('assigns each role only where the code uses it: fleet reader and writer per swept subscription, registry reader per registry subscription, assignment reader per other subscription where roles are checked, identities at the identity resource group, override identities on each, grant per grant scope', () => {
    const e = evaluateTemplate(SAMPLE);

    expect(where(e)).toEqual(
      [
        `fleet reader @ ${subscriptionScope(SUB)}`,
        `fleet reader @ ${subscriptionScope(OTHER_SUB)}`,
        `fleet writer @ ${subscriptionScope(SUB)}`,
        `fleet writer @ ${subscriptionScope(OTHER_SUB)}`,
        `registry reader @ ${subscriptionScope(REGISTRY_SUB)}`,
        // Subscriptions not swept where a pull identity's or an override's roles are listed: the registry
        // subscription, the override identity's, the grant scope's (the deployment subscription is swept).
        ...[REGISTRY_SUB, OVERRIDE_SUB, GRANT_ONLY_SUB].map(
          (s) => `assignment reader @ ${subscriptionScope(s)}`,
        ),
        `identities @ ${lower(IDENTITY_RG)}`,
        `override identities @ ${lower(OVERRIDE_IDENTITY)}`,
        ...SAMPLE.grantScopes.map((g) => `grant @ ${lower(g)}`),
      ].sort(),
    );
    // Every assignment is made by a nested deployment into its own subscription (and resource group):
    // none at the template's top level, which would be the deployment subscription.
    expect(byType(main, 'Microsoft.Authorization/roleAssignments')).toEqual([]);
    for (const a of e.assignments) {
      // "acrpull-autopilot:" marks the pull grants the app makes (the uninstall steps list them by it).
      expect(a.description).toMatch(/^acrpull-autopilot may /);
      expect(a.madeIn.subscriptionId).toBe(a.scope.split('/')[2]);
      if (a.scope.split('/').length > 3)
        expect(lower(a.madeIn.resourceGroup ?? '')).toBe(a.scope.split('/')[4]);
    }
  });

  it('puts identity actions only in roles assigned at the identity resource group and on override identities, and never lets the app change an override', () => {
    const e = evaluateTemplate(SAMPLE);

    for (const a of e.assignments) {
      if (!a.role.actions.some((x) => IDENTITY_ACTIONS.includes(x))) continue;
      expect([lower(IDENTITY_RG), lower(OVERRIDE_IDENTITY)]).toContain(a.scope);
    }
    const override = e.roles.find((r) => r.kind === 'override identities') as Role;
    expect([...override.actions].sort()).toEqual([
      'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action',
      'Microsoft.ManagedIdentity/userAssignedIdentities/read',
    ]);
    // The app reads and attaches an operator's identity and never writes one (it would refuse to create
    // a missing override): createOrUpdate is reached only for the shared identities.
    const access = readFileSync(path.join(root, 'src', 'reconcile', 'pair', 'ensure.ts'), 'utf8');
    const overrideMissing = /if \(pull\.broughtByOperator\) \{[^}]*IdentityOverrideNotFound/s.exec(access);
    expect(overrideMissing).not.toBeNull();
    expect(access.match(/identities\.createOrUpdate\(/g)).toHaveLength(1);
    // The missing override is refused before the one place that creates an identity.
    expect(overrideMissing?.index).toBeLessThan(access.indexOf('identities.createOrUpdate('));
  });
  it('assigns nothing that can write VMs, create or attach identities or grant above the scope meant for it', () => {
    const e = evaluateTemplate(SAMPLE);
    const scopesWith = (action: string) =>
      [...new Set(e.assignments.filter((a) => a.role.actions.includes(action)).map((a) => a.scope))].sort();

    expect(scopesWith(VM_WRITE_ACTION)).toEqual(SAMPLE.sweepSubscriptions.map(subscriptionScope).sort());
    expect(scopesWith(SCALE_SET_WRITE_ACTION)).toEqual(
      SAMPLE.sweepSubscriptions.map(subscriptionScope).sort(),
    );
    expect(scopesWith(ASSIGN_ACTION)).toEqual([IDENTITY_RG, OVERRIDE_IDENTITY].map(lower).sort());
    expect(scopesWith('Microsoft.ManagedIdentity/userAssignedIdentities/write')).toEqual([
      lower(IDENTITY_RG),
    ]);
    expect(scopesWith(GRANT_ACTION)).toEqual(SAMPLE.grantScopes.map(lower).sort());
    for (const a of e.assignments) {
      // No tenant root or management group, and nothing subscription-wide that touches identities or grants.
      expect(a.scope).toMatch(/^\/subscriptions\/[0-9a-f-]{36}(\/|$)/);
      if (a.scope.split('/').length === 3)
        expect(
          a.role.actions.filter((x) => x.startsWith('Microsoft.ManagedIdentity/') || x === GRANT_ACTION),
        ).toEqual([]);
    }
  });

  it("with fleetResourceGroups, assigns VM and scale set write at those resource groups only, and keeps the sweep's reads at the swept subscriptions", () => {
    const e = evaluateTemplate(SAMPLE_WITH_FLEET_RGS);
    const scopesWith = (action: string) =>
      [...new Set(e.assignments.filter((a) => a.role.actions.includes(action)).map((a) => a.scope))].sort();

    for (const write of [VM_WRITE_ACTION, SCALE_SET_WRITE_ACTION])
      expect(scopesWith(write)).toEqual(FLEET_RGS.map(lower).sort());
    const writer = e.roles.find((r) => r.kind === 'fleet writer') as Role;
    expect([...writer.actions].sort()).toEqual([VM_WRITE_ACTION, SCALE_SET_WRITE_ACTION].sort());
    // The sweep still reads every swept subscription: Resource Graph, VMs, their operations, registries, grants.
    const reader = e.roles.find((r) => r.kind === 'fleet reader') as Role;
    expect(reader.actions).not.toContain(VM_WRITE_ACTION);
    expect(reader.actions).not.toContain(SCALE_SET_WRITE_ACTION);
    for (const read of reader.actions)
      expect(scopesWith(read)).toEqual(
        expect.arrayContaining(SAMPLE.sweepSubscriptions.map(subscriptionScope)),
      );
    expect(where(e).filter((w) => w.startsWith('fleet'))).toEqual(
      [
        ...SAMPLE.sweepSubscriptions.map((s) => `fleet reader @ ${subscriptionScope(s)}`),
        ...FLEET_RGS.map((g) => `fleet writer @ ${lower(g)}`),
      ].sort(),
    );
    // Each resource-group assignment is made by a nested deployment into that resource group.
    for (const a of e.assignments.filter((x) => x.role === writer))
      expect(
        `/subscriptions/${a.madeIn.subscriptionId}/resourcegroups/${lower(a.madeIn.resourceGroup ?? '')}`,
      ).toBe(a.scope);
  });

  it('refuses a fleet resource group outside the swept subscriptions, or anything but a resource group id, before deploying anything', () => {
    const elsewhere = '/subscriptions/33333333-3333-3333-3333-333333333333/resourceGroups/rg-apps';
    expect(() => evaluateTemplate({ ...SAMPLE, fleetResourceGroups: [FLEET_RGS[0], elsewhere] })).toThrow(
      `fleetResourceGroups: each entry must be a resource group id in a swept subscription (sweepSubscriptions), not ${lower(elsewhere)}`,
    );
    expect(() => evaluateTemplate({ ...SAMPLE, fleetResourceGroups: [subscriptionScope(SUB)] })).toThrow(
      'fleetResourceGroups: each entry must be a resource group id',
    );
    expect(() =>
      evaluateTemplate({
        ...SAMPLE,
        fleetResourceGroups: [`${FLEET_RGS[0]}/providers/Microsoft.Compute/virtualMachines/vm-a`],
      }),
    ).toThrow('fleetResourceGroups: each entry must be a resource group id');
  });

  it('makes each custom role assignable in the subscriptions where it is assigned and the one it is defined in, which together are every subscription involved', () => {
    const e = evaluateTemplate(SAMPLE);
    const subscriptionOf = (scope: string) => subscriptionScope(scope.split('/')[2] as string);

    // A definition is created at (and addressed by) one of its assignable scopes (custom-roles-rest:
    // "the first assignableScopes"), so the deployment subscription, where it is created, is one.
    for (const r of e.roles) {
      const assignedIn = new Set(
        e.assignments.filter((a) => a.role === r).map((a) => subscriptionOf(a.scope)),
      );
      assignedIn.add(subscriptionScope(SUB));
      expect([...r.assignableScopes].sort()).toEqual([...assignedIn].sort());
      expect(r.assignableScopes[0]).toBe(subscriptionScope(SUB));
    }
    expect([...new Set(e.roles.flatMap((r) => r.assignableScopes))].sort()).toEqual(
      [SUB, OTHER_SUB, REGISTRY_SUB, OVERRIDE_SUB, GRANT_ONLY_SUB].map(subscriptionScope).sort(),
    );
    // The definitions live in the deployment subscription; a role assigned nowhere stays assignable there.
    expect(e.resources.filter((r) => r.type.endsWith('/roleDefinitions')).map((r) => r.at)).toEqual(
      Array(7).fill({ subscriptionId: SUB }),
    );
    const alone = evaluateTemplate({ location: 'westeurope', allowedRegistries: 'contosoapps' });
    expect(alone.roles.map((r) => r.assignableScopes)).toEqual(Array(7).fill([subscriptionScope(SUB)]));
    // With fleetResourceGroups, the writer is assignable where those groups are (and where it is defined).
    const narrowed = evaluateTemplate({ ...SAMPLE, fleetResourceGroups: [FLEET_RGS[1]] });
    expect(narrowed.roles.find((r) => r.kind === 'fleet writer')?.assignableScopes).toEqual(
      [SUB, OTHER_SUB].map(subscriptionScope),
    );
  });
});
