// What the parameters of the sample deployment become: the app's settings and the template's outputs (the
// event subscriptions per swept subscription: eventSubscription.test.ts).
import { loadSettings } from '../../src/config/settings';
import { IDENTITY_RG, OTHER_SUB, SUB } from '../support/harness';
import {
  type Evaluation,
  evaluateTemplate,
  main,
  OVERRIDE_IDENTITY,
  OVERRIDE_SUB,
  REGISTRY_SUB,
  SAMPLE,
  subscriptionScope,
  where,
} from '../support/infraTemplates';

describe('least-privilege permissions (the template evaluated for a sample deployment over five subscriptions)', () => {
  it('joins the array parameters into the comma-separated settings the app parses', () => {
    const e = evaluateTemplate({ ...SAMPLE, trustedCreators: ['ops@contoso.example', OVERRIDE_SUB] });
    const s = e.appSettings;
    const settings = loadSettings({
      ACRPULL_IDENTITY_RESOURCE_GROUP: s.ACRPULL_IDENTITY_RESOURCE_GROUP,
      ACRPULL_SUBSCRIPTIONS: s.ACRPULL_SUBSCRIPTIONS,
      ACRPULL_REGISTRY_SUBSCRIPTIONS: s.ACRPULL_REGISTRY_SUBSCRIPTIONS,
      ACRPULL_IDENTITY_OVERRIDES: s.ACRPULL_IDENTITY_OVERRIDES,
      ACRPULL_ALLOWED_REGISTRIES: s.ACRPULL_ALLOWED_REGISTRIES,
      ACRPULL_TRUSTED_CREATORS: s.ACRPULL_TRUSTED_CREATORS,
    });

    expect(s.ACRPULL_SUBSCRIPTIONS).toBe(`${SUB},${OTHER_SUB}`);
    expect(settings.subscriptions).toEqual([SUB, OTHER_SUB]);
    expect(settings.registrySubscriptions).toEqual([REGISTRY_SUB]);
    expect(settings.identityResourceGroup.id).toBe(IDENTITY_RG);
    expect(settings.identityOverrides.get('northwindimages')?.id).toBe(OVERRIDE_IDENTITY);
    expect(s.ACRPULL_TRUSTED_CREATORS).toBe(`ops@contoso.example,${OVERRIDE_SUB}`);
  });

  it('tells the app where it holds VM and scale set write: fleetResourceGroups become ACRPULL_WRITE_RESOURCE_GROUPS', () => {
    const groups = [
      `/subscriptions/${SUB}/resourceGroups/rg-web`,
      `/subscriptions/${OTHER_SUB}/resourceGroups/rg-batch`,
    ];
    const given = evaluateTemplate({ ...SAMPLE, fleetResourceGroups: groups });
    const settings = loadSettings({
      ACRPULL_IDENTITY_RESOURCE_GROUP: given.appSettings.ACRPULL_IDENTITY_RESOURCE_GROUP,
      ACRPULL_WRITE_RESOURCE_GROUPS: given.appSettings.ACRPULL_WRITE_RESOURCE_GROUPS,
    });
    expect(settings.writeResourceGroups).toEqual(groups);
    // Unset: the writer role is at the swept subscriptions, and the app may write anywhere in them.
    expect(evaluateTemplate(SAMPLE).appSettings.ACRPULL_WRITE_RESOURCE_GROUPS).toBe('');
  });

  it('passes the regions and the caps through as the settings the app parses, with the same defaults and bounds', () => {
    const settingsOf = (e: Evaluation) =>
      loadSettings({
        ACRPULL_IDENTITY_RESOURCE_GROUP: e.appSettings.ACRPULL_IDENTITY_RESOURCE_GROUP,
        ACRPULL_REGIONS: e.appSettings.ACRPULL_REGIONS,
        ACRPULL_MAX_PULL_IDENTITIES: e.appSettings.ACRPULL_MAX_PULL_IDENTITIES,
        ACRPULL_MAX_REATTACHES: e.appSettings.ACRPULL_MAX_REATTACHES,
      });
    const given = evaluateTemplate({
      ...SAMPLE,
      regions: ['westeurope', 'East US'],
      maxPullIdentities: 50,
      maxReattaches: 5,
    });
    expect(given.appSettings.ACRPULL_REGIONS).toBe('westeurope,East US');
    expect(settingsOf(given)).toMatchObject({
      regions: ['westeurope', 'eastus'],
      maxPullIdentities: 50,
      maxReattaches: 5,
    });

    // Unset, the template and the app agree: every region, 200 pull identities, 3 re-attaches.
    const defaults = loadSettings({ ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG });
    const deployed = evaluateTemplate(SAMPLE);
    expect(deployed.appSettings.ACRPULL_REGIONS).toBe('');
    expect(settingsOf(deployed)).toMatchObject({
      regions: defaults.regions,
      maxPullIdentities: defaults.maxPullIdentities,
      maxReattaches: defaults.maxReattaches,
    });
    expect(defaults).toMatchObject({ regions: [], maxPullIdentities: 200, maxReattaches: 3 });
    // The template's bounds are the app's: its largest value loads, one more would stop the app.
    const declared = main.parameters as Record<string, { minValue: number; maxValue: number }>;
    for (const [parameter, setting] of [
      ['maxPullIdentities', 'ACRPULL_MAX_PULL_IDENTITIES'],
      ['maxReattaches', 'ACRPULL_MAX_REATTACHES'],
    ] as const) {
      const { minValue, maxValue } = declared[parameter] as { minValue: number; maxValue: number };
      const load = (v: number) => () =>
        loadSettings({ ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG, [setting]: String(v) });
      expect(load(minValue)).not.toThrow();
      expect(load(maxValue)).not.toThrow();
      expect(load(maxValue + 1)).toThrow(setting);
      expect(load(minValue - 1)).toThrow(setting);
    }
  });

  it("sets the registry login-server suffix of the cloud it is deployed to (ARM's environment()), the one the app accepts in tags", () => {
    const e = evaluateTemplate(SAMPLE);
    expect(e.appSettings.ACRPULL_REGISTRY_SUFFIX).toBe('.azurecr.io');
    const settings = loadSettings({
      ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG,
      ACRPULL_REGISTRY_SUFFIX: e.appSettings.ACRPULL_REGISTRY_SUFFIX,
      ACRPULL_ARM_ENDPOINT: e.appSettings.ACRPULL_ARM_ENDPOINT,
    });
    expect(settings.registrySuffix).toBe('azurecr.io');
  });

  it("keeps the app's state in its own storage account: identity-based, with the app's identity, which may read and write tables there", () => {
    const e = evaluateTemplate(SAMPLE);
    const s = e.appSettings;
    const settings = loadSettings({
      ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG,
      AzureWebJobsStorage__accountName: s.AzureWebJobsStorage__accountName,
      AzureWebJobsStorage__credential: s.AzureWebJobsStorage__credential,
      AzureWebJobsStorage__clientId: s.AzureWebJobsStorage__clientId,
    });
    const account = s.AzureWebJobsStorage__accountName as string;
    expect(settings.stateStore).toEqual({
      kind: 'identity',
      tableServiceUri: `https://${account}.table.core.windows.net`,
      clientId: s.AZURE_CLIENT_ID,
    });
    // No connection string, so no key: the account takes Entra tokens only.
    expect(s.AzureWebJobsStorage).toBeUndefined();
    const storage = e.resources.find((r) => r.type === 'Microsoft.Storage/storageAccounts');
    expect(storage?.name).toBe(account);
    expect(storage?.body.properties).toMatchObject({ allowSharedKeyAccess: false });
    // Storage Table Data Contributor for the app's identity, on that account and nowhere else.
    const tableDataContributor = e.resources.filter(
      (r) =>
        r.type === 'Microsoft.Authorization/roleAssignments' &&
        String((r.body.properties as { roleDefinitionId: string }).roleDefinitionId).endsWith(
          '/0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
        ),
    );
    expect(tableDataContributor.map((r) => r.scope)).toEqual([
      `/subscriptions/${SUB}/resourceGroups/rg-acrpull-app/providers/Microsoft.Storage/storageAccounts/${account}`,
    ]);
    const principalId = (tableDataContributor[0]?.body.properties as { principalId?: unknown } | undefined)
      ?.principalId;
    expect(String(principalId)).toBe(String(e.outputs.appPrincipalId));
  });

  it("outputs the app identity's principal id (its role assignments) and client id (what the CLI trusts)", () => {
    const e = evaluateTemplate(SAMPLE);

    expect(String(e.outputs.appClientId)).toBe(e.appSettings.AZURE_CLIENT_ID);
    expect(String(e.outputs.appClientId)).toMatch(/userAssignedIdentities\/id-acrpull-app\)\.clientId$/);
    expect(String(e.outputs.appPrincipalId)).toMatch(
      /userAssignedIdentities\/id-acrpull-app\)\.principalId$/,
    );
  });

  it('reads an empty sweep list as the deployment subscription: the app sweeps it, holds the fleet roles there only, and takes its events', () => {
    const e = evaluateTemplate({
      location: 'westeurope',
      allowedRegistries: 'contosoapps',
      deployEventSubscription: true,
    });

    expect(e.appSettings.ACRPULL_SUBSCRIPTIONS).toBe(SUB);
    expect(e.appSettings.ACRPULL_REGISTRY_SUBSCRIPTIONS).toBe('');
    expect(where(e)).toEqual([
      `fleet reader @ ${subscriptionScope(SUB)}`,
      `fleet writer @ ${subscriptionScope(SUB)}`,
      `identities @ ${subscriptionScope(SUB)}/resourcegroups/rg-acrpull-identities`,
    ]);
    const topics = e.resources.filter((r) => r.type === 'Microsoft.EventGrid/systemTopics');
    expect(topics.map((t) => (t.body.properties as { source: string }).source)).toEqual([
      subscriptionScope(SUB),
    ]);
    expect(e.outputs.subscriptionsCoveredBySweepOnly).toEqual([]);
  });
});
