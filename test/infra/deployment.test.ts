// The deployment templates against the code they deploy: schemas, settings, telemetry, hosting.
// (The event subscriptions: eventSubscription.test.ts; the workbook and alerts: monitoring.test.ts;
// permissions: leastPrivilege*.test.ts.)
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadSettings } from '../../src/config/settings';
import { IDENTITY_RG } from '../support/harness';
import {
  app,
  byType,
  evaluateTemplate,
  example,
  main,
  readJson,
  root,
  SAMPLE,
} from '../support/infraTemplates';

/**
 * Settings the Functions host reads itself: its storage connection (`AzureWebJobsStorage` or, identity-based,
 * `AzureWebJobsStorage__*`; the app reads it too, for its state store: checked on its own below) and its own
 * telemetry with the app's identity (local auth is disabled on the component).
 */
const isHostSetting = (name: string) =>
  /^AzureWebJobsStorage(__|$)/.test(name) || name === 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING';

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
    for (const name of Object.keys(example.parameters))
      expect(Object.keys(main.parameters as object)).toContain(name);
  });

  it('set exactly the settings the app reads, and nothing it ignores', () => {
    const template = appSettingNames()
      .filter((n) => !isHostSetting(n))
      .sort();
    expect(template).toEqual(settingsTheAppReads().filter((n) => !isHostSetting(n)));
  });

  it('local.settings.sample.json lists every setting the app reads, and the local host settings', () => {
    const sample = Object.keys(readJson('local.settings.sample.json').Values as object);
    const localHost = ['FUNCTIONS_WORKER_RUNTIME', 'AzureWebJobsStorage'];
    expect(sample.filter((n) => !localHost.includes(n)).sort()).toEqual(
      settingsTheAppReads().filter((n) => !isHostSetting(n)),
    );
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
    const e = evaluateTemplate(SAMPLE);
    const account = e.resources.find((r) => r.type === 'Microsoft.Storage/storageAccounts');
    const grants = e.resources.filter(
      (r) =>
        r.type === 'Microsoft.Authorization/roleAssignments' &&
        String((r.body.properties as { description?: string }).description).includes('dead-letters'),
    );
    expect(grants.length).toBeGreaterThan(0);
    for (const grant of grants) {
      expect(grant.scope).toBe(
        `/subscriptions/${account?.at.subscriptionId}/resourceGroups/${account?.at.resourceGroup}/providers/Microsoft.Storage/storageAccounts/${account?.name}/blobServices/default/containers/eventgrid-deadletter`,
      );
      // Storage Blob Data Contributor
      expect((grant.body.properties as { roleDefinitionId: string }).roleDefinitionId).toContain(
        'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
      );
    }
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
      "[variables('identityResourceGroupChecked')]",
    );
  });
});
