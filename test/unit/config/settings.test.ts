import { cloudRegistrySuffix, loadSettings, startupWarnings } from '../../../src/config/settings';

const RG = '/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-identities';

describe('settings', () => {
  it('has safe defaults: audit mode, deny all, the public cloud', () => {
    const settings = loadSettings({ ACRPULL_IDENTITY_RESOURCE_GROUP: RG });
    expect(settings).toMatchObject({
      mode: 'audit',
      tagKey: 'acrPull',
      allowedRegistries: [],
      allowlistUnset: true,
      armEndpoint: 'https://management.azure.com',
      armAudience: 'https://management.azure.com',
      eventTimeBudgetMs: 25_000,
      maxRegistriesPerVm: 10,
      singleIdentityVms: 'keep',
    });
    expect(startupWarnings(settings).join('\n')).toMatch(
      /ACRPULL_ALLOWED_REGISTRIES is not set: every registry is denied/,
    );
    expect(startupWarnings(settings).join('\n')).toMatch(
      /APPLICATIONINSIGHTS_CONNECTION_STRING is not set: audit records go to the function log only/,
    );
  });

  it.each([
    [{}, /^ACRPULL_IDENTITY_RESOURCE_GROUP: is required/],
    [{ ACRPULL_IDENTITY_RESOURCE_GROUP: 'rg-identities' }, /^ACRPULL_IDENTITY_RESOURCE_GROUP: invalid value/],
    [{ ACRPULL_IDENTITY_RESOURCE_GROUP: RG, ACRPULL_MODE: 'yolo' }, /^ACRPULL_MODE: invalid value "yolo"/],
    [
      { ACRPULL_IDENTITY_RESOURCE_GROUP: RG, ACRPULL_ARM_ENDPOINT: 'http://127.0.0.1:1' },
      /^ACRPULL_ARM_ENDPOINT: .*https/,
    ],
    [
      { ACRPULL_IDENTITY_RESOURCE_GROUP: RG, ACRPULL_ALLOWED_REGISTRIES: 'ok12345,bad-name' },
      /^ACRPULL_ALLOWED_REGISTRIES: entry "bad-name"/,
    ],
    [
      { ACRPULL_IDENTITY_RESOURCE_GROUP: RG, ACRPULL_EVENT_TIME_BUDGET_SECONDS: '0' },
      /^ACRPULL_EVENT_TIME_BUDGET_SECONDS: /,
    ],
    [
      { ACRPULL_IDENTITY_RESOURCE_GROUP: RG, ACRPULL_REGISTRY_SUBSCRIPTIONS: 'abc' },
      /^ACRPULL_REGISTRY_SUBSCRIPTIONS: /,
    ],
    [
      {
        ACRPULL_IDENTITY_RESOURCE_GROUP: RG,
        APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=abc',
      },
      /^APPLICATIONINSIGHTS_CONNECTION_STRING: has no valid InstrumentationKey/,
    ],
    [
      {
        ACRPULL_IDENTITY_RESOURCE_GROUP: RG,
        APPLICATIONINSIGHTS_CONNECTION_STRING:
          'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://x/',
      },
      /^APPLICATIONINSIGHTS_CONNECTION_STRING: IngestionEndpoint must be an https:\/\/ URL/,
    ],
    [
      { ACRPULL_IDENTITY_RESOURCE_GROUP: RG, ACRPULL_RECONCILE_SCHEDULE: '*/5 * * * *' },
      /^ACRPULL_RECONCILE_SCHEDULE: /,
    ],
    [
      { ACRPULL_IDENTITY_RESOURCE_GROUP: RG, ACRPULL_SINGLE_IDENTITY_VMS: 'always' },
      /^ACRPULL_SINGLE_IDENTITY_VMS: invalid value "always"/,
    ],
    [
      { ACRPULL_IDENTITY_RESOURCE_GROUP: RG, ACRPULL_ARM_WRITES_PER_SECOND: '11' },
      /^ACRPULL_ARM_WRITES_PER_SECOND: /,
    ],
  ])('fails fast naming the variable: %j', (env, message) => {
    expect(() => loadSettings(env)).toThrow(message);
  });

  it('reads every setting', () => {
    const settings = loadSettings({
      ACRPULL_IDENTITY_RESOURCE_GROUP: RG,
      ACRPULL_MODE: 'enforce',
      ACRPULL_TAG_KEY: 'pullFrom',
      ACRPULL_ALLOWED_REGISTRIES: 'contosoapps *',
      ACRPULL_ARM_ENDPOINT: 'https://management.usgovcloudapi.net/',
      ACRPULL_ARM_AUDIENCE: 'https://management.usgovcloudapi.net',
      ACRPULL_EVENT_TIME_BUDGET_SECONDS: '40',
      ACRPULL_MAX_REGISTRIES_PER_VM: '3',
      ACRPULL_SINGLE_IDENTITY_VMS: 'attach',
      ACRPULL_REGISTRY_SUBSCRIPTIONS: '22222222-2222-2222-2222-222222222222',
    });
    expect(settings).toMatchObject({
      mode: 'enforce',
      tagKey: 'pullFrom',
      armEndpoint: 'https://management.usgovcloudapi.net',
      eventTimeBudgetMs: 40_000,
      maxRegistriesPerVm: 3,
      singleIdentityVms: 'attach',
      registrySubscriptions: ['22222222-2222-2222-2222-222222222222'],
      identityResourceGroup: {
        subscriptionId: '11111111-1111-1111-1111-111111111111',
        resourceGroup: 'rg-identities',
      },
    });
    expect(settings.allowedRegistries).toEqual([{ kind: 'name', name: 'contosoapps' }, { kind: 'all' }]);
  });
});

describe('identity overrides (bring your own identity)', () => {
  const ID =
    '/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/rg-mine/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-team-pull';

  it('maps a registry name to the operator’s identity', () => {
    const settings = loadSettings({
      ACRPULL_IDENTITY_RESOURCE_GROUP: RG,
      ACRPULL_IDENTITY_OVERRIDES: `ContosoApps=${ID}`,
    });
    expect(settings.identityOverrides.get('contosoapps')).toMatchObject({
      name: 'id-team-pull',
      resourceGroup: { subscriptionId: '22222222-2222-2222-2222-222222222222', resourceGroup: 'rg-mine' },
    });
  });

  it.each(['contosoapps', `bad-name=${ID}`, 'contosoapps=/subscriptions/x', `contosoapps=${ID}/../other`])(
    'fails fast naming the variable for %s',
    (value) => {
      expect(() =>
        loadSettings({ ACRPULL_IDENTITY_RESOURCE_GROUP: RG, ACRPULL_IDENTITY_OVERRIDES: value }),
      ).toThrow(/^ACRPULL_IDENTITY_OVERRIDES: entry /);
    },
  );

  it('refuses a registry named twice, in any case, even with the same identity', () => {
    expect(() =>
      loadSettings({
        ACRPULL_IDENTITY_RESOURCE_GROUP: RG,
        ACRPULL_IDENTITY_OVERRIDES: `contosoapps=${ID}; ContosoApps=${ID}`,
      }),
    ).toThrow(/^ACRPULL_IDENTITY_OVERRIDES: registry "ContosoApps" is named twice/);
  });
});

describe('trusted creators', () => {
  it('takes principal ids and sign-in names, lower-cased; empty trusts nobody but the app', () => {
    expect(loadSettings({ ACRPULL_IDENTITY_RESOURCE_GROUP: RG }).trustedCreators).toEqual([]);
    const settings = loadSettings({
      ACRPULL_IDENTITY_RESOURCE_GROUP: RG,
      ACRPULL_TRUSTED_CREATORS: 'Ops@Contoso.com, 3F1C1A8E-0000-4000-8000-000000000001',
    });
    expect(settings.trustedCreators).toEqual(['ops@contoso.com', '3f1c1a8e-0000-4000-8000-000000000001']);
  });

  it('refuses anything else, naming the variable', () => {
    expect(() =>
      loadSettings({ ACRPULL_IDENTITY_RESOURCE_GROUP: RG, ACRPULL_TRUSTED_CREATORS: 'everyone' }),
    ).toThrow(/^ACRPULL_TRUSTED_CREATORS: .*principal ids \(GUIDs\) or sign-in names/);
  });
});

describe('caps: regions and pull identities', () => {
  it('allows every region and 200 pull identities by default', () => {
    expect(loadSettings({ ACRPULL_IDENTITY_RESOURCE_GROUP: RG })).toMatchObject({
      regions: [],
      maxPullIdentities: 200,
    });
    expect(loadSettings({ ACRPULL_IDENTITY_RESOURCE_GROUP: RG, ACRPULL_REGIONS: '' }).regions).toEqual([]);
  });

  it('normalizes regions as ARM writes location, comma- or semicolon-separated', () => {
    const settings = loadSettings({
      ACRPULL_IDENTITY_RESOURCE_GROUP: RG,
      ACRPULL_REGIONS: 'East US, westeurope;Japan East',
      ACRPULL_MAX_PULL_IDENTITIES: '5000',
    });
    expect(settings.regions).toEqual(['eastus', 'westeurope', 'japaneast']);
    expect(settings.maxPullIdentities).toBe(5000);
  });

  it.each([
    [{ ACRPULL_REGIONS: 'eastus, west-europe' }, /^ACRPULL_REGIONS: invalid value/],
    [{ ACRPULL_MAX_PULL_IDENTITIES: '0' }, /^ACRPULL_MAX_PULL_IDENTITIES: invalid value "0"/],
    [{ ACRPULL_MAX_PULL_IDENTITIES: '5001' }, /^ACRPULL_MAX_PULL_IDENTITIES: invalid value "5001"/],
  ])('refuses %j, naming the variable', (env, message) => {
    expect(() => loadSettings({ ACRPULL_IDENTITY_RESOURCE_GROUP: RG, ...env })).toThrow(message);
  });
});

describe("the cloud's registry login server suffix", () => {
  it.each([
    ['https://management.azure.com', 'azurecr.io'],
    ['https://management.chinacloudapi.cn', 'azurecr.cn'],
    ['https://MANAGEMENT.usgovcloudapi.net/', 'azurecr.us'],
    ['https://127.0.0.1:8443', 'azurecr.io'],
  ])('follows ACRPULL_ARM_ENDPOINT %s: %s', (endpoint, suffix) => {
    expect(cloudRegistrySuffix(endpoint)).toBe(suffix);
    expect(
      loadSettings({ ACRPULL_IDENTITY_RESOURCE_GROUP: RG, ACRPULL_ARM_ENDPOINT: endpoint }).registrySuffix,
    ).toBe(suffix);
  });

  it('takes ACRPULL_REGISTRY_SUFFIX over the endpoint (a leading dot and case ignored), and refuses a malformed one', () => {
    const settings = loadSettings({
      ACRPULL_IDENTITY_RESOURCE_GROUP: RG,
      ACRPULL_REGISTRY_SUFFIX: '.AzSACR.Local.AzureStack.External',
    });
    expect(settings.registrySuffix).toBe('azsacr.local.azurestack.external');
    expect(
      loadSettings({ ACRPULL_IDENTITY_RESOURCE_GROUP: RG, ACRPULL_REGISTRY_SUFFIX: '' }).registrySuffix,
    ).toBe('azurecr.io');
    expect(() =>
      loadSettings({ ACRPULL_IDENTITY_RESOURCE_GROUP: RG, ACRPULL_REGISTRY_SUFFIX: 'io' }),
    ).toThrow(/^ACRPULL_REGISTRY_SUFFIX: invalid value "io"/);
  });
});
