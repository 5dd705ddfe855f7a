// The deployment templates under infra/, and a sample deployment of infra/main.json over five
// subscriptions evaluated with the test's ARM evaluator (armTemplate.ts): the concrete custom roles
// and the app's assignments of them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Deployed, deployTemplate, type Json, type Scope } from './armTemplate';
import { OTHER_SUB, SUB } from './harness';

export const root = path.join(__dirname, '..', '..');
export const readJson = (...parts: string[]) => JSON.parse(readFileSync(path.join(root, ...parts), 'utf8'));
export const main = readJson('infra', 'main.json') as Json;
export const example = readJson('infra', 'main.parameters.example.json') as {
  parameters: Record<string, { value: unknown }>;
};
const nested = (main.resources ?? []).find((r) => r.name === 'acrpull-app') as Json;
export const app = (nested.properties as { template: Json }).template;
export const byType = (template: Json, type: string) =>
  (template.resources ?? []).filter((r) => r.type === type);

export const VM_WRITE_ACTION = 'Microsoft.Compute/virtualMachines/write';
export const SCALE_SET_WRITE_ACTION = 'Microsoft.Compute/virtualMachineScaleSets/write';
export const IDENTITY_ACTIONS = [
  'Microsoft.ManagedIdentity/userAssignedIdentities/read',
  'Microsoft.ManagedIdentity/userAssignedIdentities/write',
  'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action',
];
export const ASSIGN_ACTION = 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action';
export const GRANT_ACTION = 'Microsoft.Authorization/roleAssignments/write';

export interface Role {
  readonly guid: string;
  /** From the role name: fleet reader, fleet writer, registry reader, identities, override identities, grant. */
  readonly kind: string;
  readonly actions: readonly string[];
  readonly dataActions: readonly string[];
  readonly assignableScopes: readonly string[];
}
export interface Assignment {
  readonly scope: string;
  readonly role: Role;
  readonly condition?: string;
  readonly conditionVersion?: string;
  readonly description: string;
  /** The deployment that makes it: the subscription (and resource group) it is made from. */
  readonly madeIn: Scope;
}
export interface Evaluation {
  readonly resources: readonly Deployed[];
  readonly outputs: Record<string, unknown>;
  readonly appSettings: Record<string, string>;
  readonly roles: readonly Role[];
  /** The app's assignments of the custom roles (its data-plane roles on its own storage and telemetry aside). */
  readonly assignments: readonly Assignment[];
}

export const lower = (s: string) => s.toLowerCase();

/**
 * infra/main.json deployed from `subscriptionId` with `parameters`: what it would create, its outputs, the
 * app's settings, the custom roles and the app's assignments of them.
 */
export function evaluateTemplate(parameters: Record<string, unknown>, subscriptionId = SUB): Evaluation {
  const resources: Deployed[] = [];
  const outputs = deployTemplate(main, parameters, { subscriptionId }, resources);
  const site = resources.find((r) => r.type === 'Microsoft.Web/sites') as Deployed;
  const settings = (
    site.body.properties as { siteConfig: { appSettings: { name: string; value: unknown }[] } }
  ).siteConfig.appSettings;
  const roles = resources
    .filter((r) => r.type === 'Microsoft.Authorization/roleDefinitions')
    .map((r): Role => {
      const p = r.body.properties as {
        roleName: string;
        permissions: { actions: string[]; dataActions: string[] }[];
        assignableScopes: string[];
      };
      return {
        guid: lower(r.name),
        kind: /^acrpull-autopilot (.+) \(/.exec(p.roleName)?.[1] ?? p.roleName,
        actions: p.permissions.flatMap((x) => x.actions),
        dataActions: p.permissions.flatMap((x) => x.dataActions),
        assignableScopes: p.assignableScopes.map(lower),
      };
    });
  const principal = String(outputs.appPrincipalId);
  const assignments = resources
    .filter((r) => r.type === 'Microsoft.Authorization/roleAssignments')
    .flatMap((r): Assignment[] => {
      const p = r.body.properties as {
        roleDefinitionId: string;
        principalId: unknown;
        condition?: string;
        conditionVersion?: string;
        description?: string;
      };
      const role = roles.find((x) => p.roleDefinitionId.toLowerCase().endsWith(`/${x.guid}`));
      if (!role) return [];
      expect(String(p.principalId)).toBe(principal);
      return [
        {
          scope: lower(r.scope),
          role,
          madeIn: r.at,
          description: String(p.description),
          ...(p.condition !== undefined ? { condition: p.condition } : {}),
          ...(p.conditionVersion !== undefined ? { conditionVersion: p.conditionVersion } : {}),
        },
      ];
    });
  return {
    resources,
    outputs,
    appSettings: Object.fromEntries(settings.map((s) => [s.name, String(s.value)])),
    roles,
    assignments,
  };
}

// ---------------------------------------------------------------------------------------------------
// A sample deployment over five subscriptions, each with a different part to play.

export const REGISTRY_SUB = '33333333-3333-3333-3333-333333333333';
export const OVERRIDE_SUB = '44444444-4444-4444-4444-444444444444';
export const GRANT_ONLY_SUB = '55555555-5555-5555-5555-555555555555';
const registryIdIn = (sub: string, rg: string, name: string) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.ContainerRegistry/registries/${name}`;
export const CONTOSO_RG = `/subscriptions/${SUB}/resourceGroups/rg-registries`;
export const SHARED = registryIdIn(OTHER_SUB, 'rg-shared', 'sharedimages');
const NORTHWIND = registryIdIn(REGISTRY_SUB, 'rg-reg', 'northwindimages');
export const TAILSPIN = registryIdIn(GRANT_ONLY_SUB, 'rg-tailspin', 'tailspinimages');
export const OVERRIDE_IDENTITY = `/subscriptions/${OVERRIDE_SUB}/resourceGroups/rg-own/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-northwind-pull`;

export const SAMPLE = {
  location: 'westeurope',
  identityResourceGroupName: 'rg-identities',
  mode: 'enforce',
  sweepSubscriptions: [SUB, OTHER_SUB],
  registrySubscriptions: [REGISTRY_SUB],
  // A resource group grant scope is an explicit opt-in (allowResourceGroupGrantScopes); the sample takes it.
  grantScopes: [CONTOSO_RG, SHARED, NORTHWIND, TAILSPIN],
  allowResourceGroupGrantScopes: true,
  allowedRegistries: `contosoapps,${SHARED},northwindimages,${TAILSPIN}`,
  identityOverrides: `northwindimages=${OVERRIDE_IDENTITY}`,
  deployEventSubscription: true,
};
export const subscriptionScope = (sub: string) => `/subscriptions/${sub}`;
/** Each of the app's custom-role assignments as `<role kind> @ <scope>`, sorted. */
export const where = (e: Evaluation) => e.assignments.map((a) => `${a.role.kind} @ ${a.scope}`).sort();

/** The sample deployment with VM and scale set write narrowed to the resource groups its tagged targets live in. */
export const FLEET_RGS = [
  `/subscriptions/${SUB}/resourceGroups/rg-apps`,
  `/subscriptions/${OTHER_SUB}/resourceGroups/rg-other`,
];
export const SAMPLE_WITH_FLEET_RGS = { ...SAMPLE, fleetResourceGroups: FLEET_RGS };
