// Least privilege against the code: the app, configured as the sample deployment configures it, runs
// against the emulator, and every ARM call it makes is checked against the roles the template assigns.
// The emulator holds what the template deploys for events (a system topic and an event subscription per
// swept subscription), so the sweep's read of them (events-missing) is checked too.
//
// From Microsoft Learn: rest/api/authorization/role-assignments/list-for-scope: roleAssignments/read at
// the listed scope. Subscriptions - List is a tenant-level list filtered to the subscriptions the caller can
// read (Microsoft.Resources/subscriptions/read there). Not verified against Azure: whether listing a provider's resources at subscription
// scope works with read on a resource group only. The permission check below requires the action at the
// listed scope.
import { type FaultRequest, OPERATIONS, type OperationName } from '@acrpull/azure-emulator';
import { isAtOrBelow } from '../../src/core/resourceId';
import { ACR_PULL_ROLE, REPOSITORY_READER_ROLE } from '../../src/core/roles';
import { IDENTITY_RG, OTHER_SUB, SUB, startHarness } from '../support/harness';
import {
  ASSIGN_ACTION,
  type Assignment,
  evaluateTemplate,
  GRANT_ACTION,
  GRANT_ONLY_SUB,
  lower,
  main,
  OVERRIDE_IDENTITY,
  OVERRIDE_SUB,
  REGISTRY_SUB,
  SAMPLE,
  SAMPLE_WITH_FLEET_RGS,
  SCALE_SET_WRITE_ACTION,
  SHARED,
  subscriptionScope,
  TAILSPIN,
  VM_WRITE_ACTION,
} from '../support/infraTemplates';

/** The ARM permissions each emulated operation needs. */
const ACTIONS: Record<OperationName, readonly string[]> = {
  'vm.get': ['Microsoft.Compute/virtualMachines/read'],
  'vm.list': ['Microsoft.Compute/virtualMachines/read'],
  'vm.patch': [
    'Microsoft.Compute/virtualMachines/write',
    'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action',
  ],
  'vm.operationStatus': ['Microsoft.Compute/locations/operations/read'],
  'vmss.get': ['Microsoft.Compute/virtualMachineScaleSets/read'],
  'vmss.list': ['Microsoft.Compute/virtualMachineScaleSets/read'],
  'vmss.patch': [
    'Microsoft.Compute/virtualMachineScaleSets/write',
    'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action',
  ],
  'identity.get': ['Microsoft.ManagedIdentity/userAssignedIdentities/read'],
  'identity.list': ['Microsoft.ManagedIdentity/userAssignedIdentities/read'],
  'identity.put': ['Microsoft.ManagedIdentity/userAssignedIdentities/write'],
  'roleAssignment.get': ['Microsoft.Authorization/roleAssignments/read'],
  'roleAssignment.list': ['Microsoft.Authorization/roleAssignments/read'],
  'roleAssignment.put': ['Microsoft.Authorization/roleAssignments/write'],
  'roleAssignment.delete': ['Microsoft.Authorization/roleAssignments/delete'],
  'registry.get': ['Microsoft.ContainerRegistry/registries/read'],
  'registry.list': ['Microsoft.ContainerRegistry/registries/read'],
  'graph.query': ['Microsoft.ResourceGraph/resources/read'],
  'subscription.list': ['Microsoft.Resources/subscriptions/read'],
  'subscription.get': ['Microsoft.Resources/subscriptions/read'],
  'resourceGroup.get': ['Microsoft.Resources/subscriptions/resourceGroups/read'],
  'resourceGroup.list': ['Microsoft.Resources/subscriptions/resourceGroups/read'],
  'resourceGroup.put': ['Microsoft.Resources/subscriptions/resourceGroups/write'],
  'roleDefinition.get': ['Microsoft.Authorization/roleDefinitions/read'],
  'roleDefinition.list': ['Microsoft.Authorization/roleDefinitions/read'],
  'denyAssignment.get': ['Microsoft.Authorization/denyAssignments/read'],
  'denyAssignment.list': ['Microsoft.Authorization/denyAssignments/read'],
  'systemTopic.list': ['Microsoft.EventGrid/systemTopics/read'],
  'eventSubscription.list': ['Microsoft.EventGrid/systemTopics/eventSubscriptions/read'],
  'resource.list': ['Microsoft.Resources/subscriptions/resources/read'],
  // Read by the doctor's network check only (not by reconcile or the sweep).
  'nic.get': ['Microsoft.Network/networkInterfaces/read'],
  'nic.list': ['Microsoft.Network/networkInterfaces/read'],
  'vnet.get': ['Microsoft.Network/virtualNetworks/read'],
  'vnet.list': ['Microsoft.Network/virtualNetworks/read'],
  'subnet.get': ['Microsoft.Network/virtualNetworks/subnets/read'],
  'subnet.list': ['Microsoft.Network/virtualNetworks/subnets/read'],
  'peering.get': ['Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read'],
  'peering.list': ['Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read'],
  'privateEndpoint.get': ['Microsoft.Network/privateEndpoints/read'],
  'privateEndpoint.list': ['Microsoft.Network/privateEndpoints/read'],
  'publicIp.get': ['Microsoft.Network/publicIPAddresses/read'],
  'publicIp.list': ['Microsoft.Network/publicIPAddresses/read'],
  'privateDnsZone.get': ['Microsoft.Network/privateDnsZones/read'],
  'privateDnsZone.list': ['Microsoft.Network/privateDnsZones/read'],
  'privateDnsLink.get': ['Microsoft.Network/privateDnsZones/virtualNetworkLinks/read'],
  'privateDnsLink.list': ['Microsoft.Network/privateDnsZones/virtualNetworkLinks/read'],
  'recordSet.get': ['Microsoft.Network/privateDnsZones/A/read'],
  'recordSet.list': ['Microsoft.Network/privateDnsZones/A/read'],
  // ARM's cloud metadata is served without a token.
  'metadata.get': [],
  // Not ARM: the token endpoint and Application Insights ingestion need no ARM permission.
  token: [],
  'ingestion.track': [],
  'ingestion.liveMetrics': [],
};

/** The template's condition on the grant role's assignments (grantCondition.test.ts checks it). */
const condition = (main.variables as Record<string, string>).roleAssignmentCondition as string;

describe('least-privilege permissions (the template evaluated for a sample deployment over five subscriptions)', () => {
  it.each([
    ['VM and scale set write in the swept subscriptions', SAMPLE],
    ['VM and scale set write at fleetResourceGroups', SAMPLE_WITH_FLEET_RGS],
  ])(
    "grants what the app's ARM calls need at the scope of each call, and nothing more (%s)",
    async (_, sample) => {
      // Prepare: the sample deployment's permissions, and the app configured with its settings.
      const e = evaluateTemplate(sample);
      const setting = (name: string) => e.appSettings[name] as string;
      const h = await startHarness({
        events: false, // the event subscriptions are the ones the evaluated template makes (below)
        env: Object.fromEntries(
          [
            'ACRPULL_ALLOWED_REGISTRIES',
            'ACRPULL_SUBSCRIPTIONS',
            'ACRPULL_REGISTRY_SUBSCRIPTIONS',
            'ACRPULL_IDENTITY_OVERRIDES',
            'ACRPULL_IDENTITY_RESOURCE_GROUP',
            'ACRPULL_FUNCTION_APP_ID',
          ].map((name) => [name, setting(name)]),
        ),
      });
      try {
        const served: (FaultRequest & { operation: OperationName })[] = [];
        for (const operation of OPERATIONS) {
          // An observer: sees every request as it arrives and never answers it.
          h.emu.injectFault({
            operation,
            status: 500,
            code: 'unused',
            count: 1_000_000_000,
            match: (req) => {
              served.push({ ...req, operation });
              return false;
            },
          });
        }
        h.emu.seedResourceGroup(OTHER_SUB, 'rg-other', 'westeurope');
        h.emu.seedRegistry({ subscriptionId: OTHER_SUB, resourceGroup: 'rg-shared', name: 'sharedimages' });
        h.emu.seedRegistry({
          subscriptionId: REGISTRY_SUB,
          resourceGroup: 'rg-reg',
          name: 'northwindimages',
        });
        h.emu.seedRegistry({
          subscriptionId: GRANT_ONLY_SUB,
          resourceGroup: 'rg-tailspin',
          name: 'tailspinimages',
        });
        h.emu.seedIdentity({
          subscriptionId: OVERRIDE_SUB,
          resourceGroup: 'rg-own',
          name: 'id-northwind-pull',
          location: 'eastus',
        });
        // The system topic and the event subscription the template makes in each swept subscription, as it
        // makes them (the sweep reads them to report a subscription whose events do not reach the app).
        for (const topic of e.resources.filter((r) => r.type === 'Microsoft.EventGrid/systemTopics')) {
          const { subscriptionId, resourceGroup } = topic.at as {
            subscriptionId: string;
            resourceGroup: string;
          };
          h.emu.seedResourceGroup(subscriptionId, resourceGroup, 'westeurope');
          const seeded = h.emu.seedSubscriptionSystemTopic({
            subscriptionId,
            resourceGroup,
            name: topic.name,
          });
          for (const subscription of e.resources.filter(
            (r) =>
              r.type === 'Microsoft.EventGrid/systemTopics/eventSubscriptions' &&
              r.name.startsWith(`${topic.name}/`) &&
              r.at.subscriptionId === subscriptionId,
          )) {
            const p = subscription.body.properties as {
              destination: { properties: { resourceId: string } };
              filter: { includedEventTypes: string[] };
            };
            h.emu.seedEventSubscription({
              topicId: seeded.id,
              name: subscription.name.split('/')[1] as string,
              functionId: p.destination.properties.resourceId,
              includedEventTypes: p.filter.includedEventTypes,
            });
          }
        }
        const vm = (sub: string, name: string, location: string, tag: string) =>
          h.emu.seedVm({
            subscriptionId: sub,
            resourceGroup: sub === SUB ? 'rg-apps' : 'rg-other',
            name,
            location,
            tags: { acrPull: tag },
          }).id;
        const scaleSet = (sub: string, name: string, location: string, tag: string) =>
          h.emu.seedScaleSet({
            subscriptionId: sub,
            resourceGroup: sub === SUB ? 'rg-apps' : 'rg-other',
            name,
            location,
            tags: { acrPull: tag },
          }).id;

        // Act: events for two VMs and a scale set of the deployment subscription (a registry by name, one
        // by id in another subscription), then a sweep that meets a registry found in a registry
        // subscription and attached through an override identity (to a VM and a scale set), and a
        // registry by id in a subscription that is only a grant scope.
        const vms = [
          vm(SUB, 'vm-a', 'eastus', 'contosoapps'),
          vm(SUB, 'vm-b', 'eastus', SHARED),
          scaleSet(SUB, 'ss-a', 'eastus', 'contosoapps'),
        ];
        for (const id of vms) await h.deliver(id);
        vms.push(
          vm(SUB, 'vm-c', 'westeurope', 'contosoapps'),
          vm(OTHER_SUB, 'vm-d', 'westeurope', 'northwindimages'),
          scaleSet(OTHER_SUB, 'ss-b', 'westeurope', 'northwindimages'),
          vm(OTHER_SUB, 'vm-e', 'eastus', TAILSPIN),
        );
        await h.sweep();

        // Assess: every path ran to its end (so every call below was made): every target attached, and
        // every swept subscription's events found delivered to the app,
        expect(h.audit.records.filter((r) => r.action === 'events-missing')).toEqual([]);
        expect(h.emu.counts()['eventSubscription.list']).toBe(sample.sweepSubscriptions.length);
        for (const id of vms) {
          const attached = (h.emu.getVm(id) ?? h.emu.getScaleSet(id))?.identity?.userAssignedIdentities;
          expect([id, Object.keys(attached ?? {}).length]).toEqual([id, 1]);
        }
        // each call is allowed by an assignment of the sample deployment,
        const needs = served.flatMap((req) => needsOf(req, sample.sweepSubscriptions));
        const allowedBy = (n: Need) => e.assignments.filter((a) => allows(a, n, condition));
        expect([...new Set(needs.filter((n) => allowedBy(n).length === 0).map(describeNeed))]).toEqual([]);
        // and by the role meant for that kind of scope,
        const misplaced = needs.flatMap((n) => {
          const meant = meantRole(n);
          const roles = allowedBy(n).map((a) => a.role.kind);
          return meant && roles.includes(meant)
            ? []
            : [`${describeNeed(n)}: by ${roles.join(', ')}, not ${meant}`];
        });
        expect([...new Set(misplaced)]).toEqual([]);
        // the roles together hold exactly the actions the calls need,
        const needed = [...new Set(needs.map((n) => n.action))].sort();
        expect([...new Set(e.roles.flatMap((r) => r.actions))].sort()).toEqual(needed);
        for (const r of e.roles) expect(r.dataActions).toEqual([]);
        // and each role's every action was needed at a scope where that role is assigned.
        const unused = e.roles.flatMap((r) =>
          r.actions
            .filter((action) =>
              needs.every(
                (n) =>
                  n.action !== action || !e.assignments.some((a) => a.role === r && allows(a, n, condition)),
              ),
            )
            .map((action) => `${r.kind}: ${action}`),
        );
        expect(unused).toEqual([]);
      } finally {
        await h.close();
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------------
// What a served request needs: the operation's actions (ACTIONS), each at the scope ARM checks it on.

interface Need {
  readonly operation: OperationName;
  readonly action: string;
  readonly scope: string;
  readonly body: unknown;
}
const ROLE_ASSIGNMENTS_PATH = /\/providers\/Microsoft\.Authorization\/roleAssignments(\/[^/]+)?$/i;
const COLLECTION_PATH =
  /\/providers\/Microsoft\.(?:Compute\/virtualMachines|Compute\/virtualMachineScaleSets|ManagedIdentity\/userAssignedIdentities|ContainerRegistry\/registries)$/i;

function needsOf(req: FaultRequest & { operation: OperationName }, swept: readonly string[]): Need[] {
  const path = req.path.split('?')[0] as string;
  // A role assignment is checked at the scope it is listed or made at; a list at its parent scope.
  const at = ROLE_ASSIGNMENTS_PATH.test(path)
    ? path.replace(ROLE_ASSIGNMENTS_PATH, '')
    : req.operation.endsWith('.list')
      ? path.replace(COLLECTION_PATH, '')
      : path;
  const need = (action: string, scope: string): Need => ({
    operation: req.operation,
    action,
    scope: lower(scope),
    body: req.body,
  });
  return ACTIONS[req.operation].flatMap((action) => {
    if (action === ASSIGN_ACTION) {
      // Attaching: ARM checks assign/action on each identity the PATCH adds, at the identity's scope.
      const body = req.body as { identity?: { userAssignedIdentities?: Record<string, unknown> } };
      return Object.keys(body?.identity?.userAssignedIdentities ?? {}).map((id) => need(action, id));
    }
    if (req.operation === 'subscription.list') {
      // GET /subscriptions is a tenant-level list of the subscriptions the caller may read: one without
      // read on it is left out, silently (Azure/azure-sdk-for-python#40403). The sweep lists them to tell
      // a swept subscription it cannot see from an empty one, so it needs read on each swept subscription.
      return swept.map((s) => need(action, subscriptionScope(s)));
    }
    if (req.operation === 'graph.query') {
      // Resource Graph answers from the subscriptions the query names.
      const body = req.body as { subscriptions?: string[] };
      return (body?.subscriptions ?? []).map((s) => need(action, subscriptionScope(s)));
    }
    return [need(action, at)];
  });
}

const describeNeed = (n: Need) => `${n.operation} needs ${n.action} at ${n.scope}`;

/** An assignment allows a need at or below its scope, if its role has the action and its condition holds. */
function allows(a: Assignment, n: Need, condition: string): boolean {
  if (!isAtOrBelow(n.scope, a.scope) || !a.role.actions.includes(n.action)) return false;
  if (a.condition === undefined || n.action !== GRANT_ACTION) return true;
  // The template's condition, as ARM applies it to roleAssignments/write: the two pull roles, to service
  // principals only.
  expect(a.condition).toBe(condition);
  const body = n.body as { properties?: { roleDefinitionId?: string; principalType?: string } };
  const role = lower(body?.properties?.roleDefinitionId?.split('/').pop() ?? '');
  return (
    [ACR_PULL_ROLE, REPOSITORY_READER_ROLE].includes(role) &&
    body?.properties?.principalType === 'ServicePrincipal'
  );
}

/** The kind of scope a call is made at, in the sample deployment (the narrowest that applies). */
function kindOfScope(scope: string): string {
  if (isAtOrBelow(scope, IDENTITY_RG)) return 'identity resource group';
  if (isAtOrBelow(scope, OVERRIDE_IDENTITY)) return 'override identity';
  if (SAMPLE.grantScopes.some((g) => isAtOrBelow(scope, g))) return 'grant scope';
  if (SAMPLE.sweepSubscriptions.some((s) => isAtOrBelow(scope, subscriptionScope(s))))
    return 'swept subscription';
  if (SAMPLE.registrySubscriptions.some((s) => isAtOrBelow(scope, subscriptionScope(s))))
    return 'registry subscription';
  return 'elsewhere';
}

const ROLE_FOR_SCOPE: Record<string, string> = {
  'identity resource group': 'identities',
  'override identity': 'override identities',
  'grant scope': 'grant',
  'swept subscription': 'fleet reader',
  'registry subscription': 'registry reader',
};

/**
 * The role meant to allow a need: by the kind of scope; in a swept subscription, writes are the fleet writer's;
 * listing a pull identity's role assignments across a subscription that is not swept is the assignment reader's.
 */
function meantRole(n: Need): string | undefined {
  const kind = kindOfScope(n.scope);
  if (kind === 'swept subscription' && [VM_WRITE_ACTION, SCALE_SET_WRITE_ACTION].includes(n.action))
    return 'fleet writer';
  if (
    n.action === 'Microsoft.Authorization/roleAssignments/read' &&
    n.scope.split('/').length === 3 &&
    kind !== 'swept subscription'
  )
    return 'assignment reader';
  return ROLE_FOR_SCOPE[kind];
}
