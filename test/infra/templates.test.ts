// The deployment templates against the code they deploy: settings, event filter, permissions.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { OperationName } from '../../emulator';
import { loadSettings } from '../../src/config/settings';
import { ACR_PULL_ROLE, REPOSITORY_READER_ROLE } from '../../src/core/roles';
import { parseVmWriteEvent, TAGS_WRITE, VM_WRITE, WRITE_SUCCESS } from '../../src/core/vmWriteEvent';
import { IDENTITY_RG, OTHER_SUB, SUB, startHarness, vmId, writeSuccessEvent } from '../support/harness';

type Json = Record<string, unknown> & { resources?: Json[] };
const root = path.join(__dirname, '..', '..');
const main = JSON.parse(readFileSync(path.join(root, 'infra', 'main.json'), 'utf8')) as Json;
const nested = (main.resources ?? []).find((r) => r.type === 'Microsoft.Resources/deployments') as Json;
const app = (nested.properties as { template: Json }).template;
const byType = (template: Json, type: string) => (template.resources ?? []).filter((r) => r.type === type);

/** Settings the Functions host reads itself (identity-based storage connection), not the app. */
const HOST_SETTINGS = [
  'AzureWebJobsStorage__accountName',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
  // The host's own telemetry with the app's identity (local auth is disabled on the component).
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
];

/** The ARM permissions each emulated operation needs. */
const ACTIONS: Record<OperationName, readonly string[]> = {
  'vm.get': ['Microsoft.Compute/virtualMachines/read'],
  'vm.list': ['Microsoft.Compute/virtualMachines/read'],
  'vm.patch': [
    'Microsoft.Compute/virtualMachines/write',
    'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action',
  ],
  'vm.operationStatus': ['Microsoft.Compute/locations/operations/read'],
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
  // Not ARM: the token endpoint and Application Insights ingestion need no ARM permission.
  token: [],
  'ingestion.track': [],
  'ingestion.liveMetrics': [],
};

function appSettingNames(): string[] {
  const site = byType(app, 'Microsoft.Web/sites')[0] as {
    properties: { siteConfig: { appSettings: { name: string }[] } };
  };
  return site.properties.siteConfig.appSettings.map((s) => s.name);
}

/** Every environment variable the app reads: loadSettings watched through a proxy, plus direct reads. */
function settingsTheAppReads(): string[] {
  const read = new Set<string>();
  const env = new Proxy(
    { ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG } as Record<string, string | undefined>,
    {
      get(target, key) {
        if (typeof key === 'string') read.add(key);
        return target[key as string];
      },
    },
  );
  loadSettings(env);
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)],
    );
  for (const file of walk(path.join(root, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/process\.env\.([A-Z_][A-Z0-9_]*)/g))
      read.add(m[1] as string);
  }
  return [...read].sort();
}

describe('deployment templates', () => {
  it('parse, with the schemas ARM expects', () => {
    expect(main.$schema).toMatch(/subscriptionDeploymentTemplate\.json#$/);
    expect(app.$schema).toMatch(/deploymentTemplate\.json#$/);
    const example = JSON.parse(
      readFileSync(path.join(root, 'infra', 'main.parameters.example.json'), 'utf8'),
    );
    for (const name of Object.keys(example.parameters))
      expect(Object.keys(main.parameters as object)).toContain(name);
  });

  it('set exactly the settings the app reads, and nothing it ignores', () => {
    const template = appSettingNames()
      .filter((n) => !HOST_SETTINGS.includes(n))
      .sort();
    expect(template).toEqual(settingsTheAppReads());
  });

  it('subscribe to exactly the events the handler accepts, delivered to the function that handles them', () => {
    const subscription = byType(app, 'Microsoft.EventGrid/systemTopics/eventSubscriptions')[0] as {
      properties: {
        filter: {
          includedEventTypes: string[];
          advancedFilters: { key: string; operatorType: string; values: string[] }[];
        };
        destination: { properties: { resourceId: string } };
        retryPolicy: object;
        deadLetterWithResourceIdentity: object;
      };
    };
    expect(subscription.properties.filter.includedEventTypes).toEqual([WRITE_SUCCESS]);
    expect(subscription.properties.filter.advancedFilters).toEqual([
      { operatorType: 'StringIn', key: 'data.operationName', values: [VM_WRITE, TAGS_WRITE] },
      {
        operatorType: 'StringContains',
        key: 'subject',
        values: [
          '/providers/Microsoft.Compute/virtualMachines/',
          '/providers/microsoft.compute/virtualmachines/',
        ],
      },
    ]);
    const functionName =
      subscription.properties.destination.properties.resourceId.match(/\/functions\/(\w+)'\)\]$/)?.[1];
    expect(readFileSync(path.join(root, 'src', 'functions', 'vmWriteEvent.ts'), 'utf8')).toContain(
      `app.eventGrid('${functionName}'`,
    );
    expect(subscription.properties.retryPolicy).toEqual({
      maxDeliveryAttempts: 30,
      eventTimeToLiveInMinutes: 1440,
    });
    // The storage account refuses shared keys: Event Grid dead-letters with the system topic's identity.
    expect(subscription.properties.deadLetterWithResourceIdentity).toMatchObject({
      identity: { type: 'SystemAssigned' },
      deadLetterDestination: {
        endpointType: 'StorageBlob',
        properties: { blobContainerName: "[variables('deadLetterContainer')]" },
      },
    });
  });

  it('the filter lets through exactly the events the handler acts on: no tags write on other resources', () => {
    const { advancedFilters } = (
      byType(app, 'Microsoft.EventGrid/systemTopics/eventSubscriptions')[0] as {
        properties: {
          filter: { advancedFilters: { key: string; operatorType: string; values: string[] }[] };
        };
      }
    ).properties.filter;
    // Event Grid's semantics for these two operators: filters are ANDed, values ORed.
    const get = (event: object, key: string) =>
      String(key.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)?.[k], event) ?? '');
    const passes = (event: object) =>
      advancedFilters.every((f) =>
        f.operatorType === 'StringIn'
          ? f.values.some((v) => v.toLowerCase() === get(event, f.key).toLowerCase())
          : f.values.some((v) => get(event, f.key).includes(v)),
      );
    const vm = vmId('vm-1');
    const storage = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Storage/storageAccounts/st1`;
    const tagsOn = (id: string) => {
      const e = writeSuccessEvent(vm, { operationName: TAGS_WRITE });
      const uri = `${id}/providers/Microsoft.Resources/tags/default`;
      return { ...e, subject: uri, data: { ...e.data, resourceUri: uri } };
    };
    const cases = [
      writeSuccessEvent(vm),
      writeSuccessEvent(vm.toLowerCase()),
      tagsOn(vm),
      tagsOn(storage),
      writeSuccessEvent(`${vm}/extensions/ext1`, {
        operationName: 'Microsoft.Compute/virtualMachines/extensions/write',
      }),
    ];

    expect(cases.map(passes)).toEqual(cases.map((e) => parseVmWriteEvent(e).kind === 'vm-write'));
    expect(cases.map(passes)).toEqual([true, true, true, false, false]);
  });

  it('takes only Entra-authenticated telemetry: local auth off, the app identity may publish, the host authenticates', () => {
    const component = byType(app, 'Microsoft.Insights/components')[0] as {
      properties: Record<string, unknown>;
    };
    expect(component.properties.DisableLocalAuth).toBe(true);
    const publisher = byType(app, 'Microsoft.Authorization/roleAssignments').find((r) =>
      String((r.properties as { roleDefinitionId: string }).roleDefinitionId).includes(
        '3913510d-42f4-4e42-8a64-420c390055eb',
      ),
    ) as { scope: string; properties: { principalId: string } };
    expect(publisher.scope).toBe("[concat('Microsoft.Insights/components/', variables('insightsName'))]");
    expect(publisher.properties.principalId).toContain("variables('appIdentityName')");
    const site = JSON.stringify(byType(app, 'Microsoft.Web/sites'));
    expect(site).toContain('APPLICATIONINSIGHTS_AUTHENTICATION_STRING');
    expect(site).toContain(';Authorization=AAD');
  });

  it('lets Event Grid write dead letters to its container only', () => {
    const grant = byType(app, 'Microsoft.Authorization/roleAssignments').find((r) =>
      String((r.properties as { description?: string }).description).includes('dead-letters'),
    ) as { scope: string; properties: { roleDefinitionId: string } };
    expect(grant.scope).toBe(
      "[concat('Microsoft.Storage/storageAccounts/', variables('storageName'), '/blobServices/default/containers/', variables('deadLetterContainer'))]",
    );
    expect(grant.properties.roleDefinitionId).toContain('ba92f5b4-2d11-453d-a403-e96b0029c9fe'); // Storage Blob Data Contributor
  });

  it("the custom role grants what the app's ARM calls need and nothing more", async () => {
    // Act: exercise every path of the app against the emulator and see what it served.
    const h = await startHarness({
      env: { ACRPULL_ALLOWED_REGISTRIES: `contosoapps /subscriptions/${OTHER_SUB}` },
    });
    try {
      h.emu.seedRegistry({ subscriptionId: OTHER_SUB, resourceGroup: 'rg-shared', name: 'sharedimages' });
      const byName = h.emu.seedVm({
        subscriptionId: SUB,
        resourceGroup: 'rg-apps',
        name: 'vm-a',
        location: 'eastus',
        tags: { acrPull: 'contosoapps' },
      });
      const byId = h.emu.seedVm({
        subscriptionId: SUB,
        resourceGroup: 'rg-apps',
        name: 'vm-b',
        location: 'eastus',
        tags: {
          acrPull: `/subscriptions/${OTHER_SUB}/resourceGroups/rg-shared/providers/Microsoft.ContainerRegistry/registries/sharedimages`,
        },
      });
      await h.deliver(byName.id);
      await h.deliver(byId.id);
      h.emu.seedVm({
        subscriptionId: SUB,
        resourceGroup: 'rg-apps',
        name: 'vm-c',
        location: 'westeurope',
        tags: { acrPull: 'contosoapps' },
      });
      await h.sweep();

      const served = (Object.entries(h.emu.counts()) as [OperationName, number][])
        .filter(([, n]) => n > 0)
        .map(([op]) => op);
      const needed = [...new Set(served.flatMap((op) => ACTIONS[op] ?? [`unmapped operation ${op}`]))].sort();
      const role = byType(main, 'Microsoft.Authorization/roleDefinitions')[0] as {
        properties: { permissions: { actions: string[]; dataActions: string[] }[] };
      };
      expect([...(role.properties.permissions[0]?.actions ?? [])].sort()).toEqual(needed);
      expect(role.properties.permissions[0]?.dataActions).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it('lets the app assign only the two pull roles, only to service principals', () => {
    const assignment = byType(main, 'Microsoft.Authorization/roleAssignments')[0] as {
      properties: { condition: string; conditionVersion: string };
    };
    const condition = (main.variables as Record<string, string>).roleAssignmentCondition as string;
    expect(assignment.properties.condition).toBe("[variables('roleAssignmentCondition')]");
    expect(assignment.properties.conditionVersion).toBe('2.0');
    const guids = [
      ...condition.matchAll(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi),
    ].map((m) => m[0].toLowerCase());
    expect(guids.sort()).toEqual([ACR_PULL_ROLE, REPOSITORY_READER_ROLE].sort());
    expect(condition).toContain("ActionMatches{'Microsoft.Authorization/roleAssignments/write'}");
    expect(condition).toContain(
      '@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals',
    );
    expect(condition).toContain(
      "@Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {'ServicePrincipal'}",
    );
  });

  it('runs the app on Flex Consumption, Node 22, with its own user-assigned identity', () => {
    const plan = byType(app, 'Microsoft.Web/serverfarms')[0] as { sku: { tier: string } };
    const site = byType(app, 'Microsoft.Web/sites')[0] as {
      identity: { type: string };
      properties: { functionAppConfig: { runtime: object } };
    };
    expect(plan.sku.tier).toBe('FlexConsumption');
    expect(site.properties.functionAppConfig.runtime).toEqual({ name: 'node', version: '22' });
    expect(site.identity.type).toBe('UserAssigned');
    expect(byType(app, 'Microsoft.Insights/components')).toHaveLength(1);
    expect(byType(app, 'Microsoft.OperationalInsights/workspaces')).toHaveLength(1);
    expect(byType(main, 'Microsoft.Resources/resourceGroups').map((r) => r.name)).toContain(
      "[parameters('identityResourceGroupName')]",
    );
  });
});

describe('time limits', () => {
  it('a sweep ends (and writes its summary) before the host would kill it, and an event is answered before Event Grid gives up', () => {
    const host = JSON.parse(readFileSync(path.join(root, 'host.json'), 'utf8')) as {
      functionTimeout: string;
    };
    const [h, m, s] = host.functionTimeout.split(':').map(Number) as [number, number, number];
    const timeoutSeconds = h * 3600 + m * 60 + s;
    const site = byType(app, 'Microsoft.Web/sites')[0] as {
      properties: { siteConfig: { appSettings: { name: string; value: string }[] } };
    };
    const setting = (name: string) =>
      Number(site.properties.siteConfig.appSettings.find((x) => x.name === name)?.value);
    const defaults = loadSettings({ ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG });
    for (const sweepBudget of [
      setting('ACRPULL_SWEEP_TIME_BUDGET_SECONDS'),
      defaults.sweepTimeBudgetMs / 1000,
    ]) {
      expect(sweepBudget + 60).toBeLessThanOrEqual(timeoutSeconds);
    }
    for (const eventBudget of [
      setting('ACRPULL_EVENT_TIME_BUDGET_SECONDS'),
      defaults.eventTimeBudgetMs / 1000,
    ]) {
      expect(eventBudget).toBeLessThan(30);
    }
  });
});
