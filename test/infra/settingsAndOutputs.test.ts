// What the parameters of the sample deployment become: the app's settings, the template's outputs, and
// the event subscription (made only when the deployment subscription is swept).
import { loadSettings } from '../../src/config/settings';
import { IDENTITY_RG, OTHER_SUB, SUB } from '../support/harness';
import {
  type Evaluation,
  evaluateTemplate,
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

  it("outputs the app identity's principal id (its role assignments) and client id (what the CLI trusts)", () => {
    const e = evaluateTemplate(SAMPLE);

    expect(String(e.outputs.appClientId)).toBe(e.appSettings.AZURE_CLIENT_ID);
    expect(String(e.outputs.appClientId)).toMatch(/userAssignedIdentities\/id-acrpull-app\)\.clientId$/);
    expect(String(e.outputs.appPrincipalId)).toMatch(
      /userAssignedIdentities\/id-acrpull-app\)\.principalId$/,
    );
  });

  it('reads an empty sweep list as the deployment subscription: the app sweeps it, holds the fleet role there only, and takes its events', () => {
    const e = evaluateTemplate({
      location: 'westeurope',
      allowedRegistries: 'contosoapps',
      deployEventSubscription: true,
    });

    expect(e.appSettings.ACRPULL_SUBSCRIPTIONS).toBe(SUB);
    expect(e.appSettings.ACRPULL_REGISTRY_SUBSCRIPTIONS).toBe('');
    expect(where(e)).toEqual([
      `fleet @ ${subscriptionScope(SUB)}`,
      `identities @ ${subscriptionScope(SUB)}/resourcegroups/rg-acrpull-identities`,
    ]);
    const topics = e.resources.filter((r) => r.type === 'Microsoft.EventGrid/systemTopics');
    expect(topics.map((t) => (t.body.properties as { source: string }).source)).toEqual([
      subscriptionScope(SUB),
    ]);
    expect(e.outputs.subscriptionsCoveredBySweepOnly).toEqual([]);
  });

  it('subscribes to events in the deployment subscription only when it is swept, and names the subscriptions the sweep alone covers', () => {
    const topics = (e: Evaluation) => e.resources.filter((r) => r.type.startsWith('Microsoft.EventGrid/'));

    const elsewhere = evaluateTemplate({ ...SAMPLE, sweepSubscriptions: [OTHER_SUB, REGISTRY_SUB] });
    expect(topics(elsewhere)).toEqual([]);
    expect(elsewhere.outputs.subscriptionsCoveredBySweepOnly).toEqual([OTHER_SUB, REGISTRY_SUB]);
    const sample = evaluateTemplate(SAMPLE);
    expect(topics(sample).map((r) => r.type)).toEqual([
      'Microsoft.EventGrid/systemTopics',
      'Microsoft.EventGrid/systemTopics/eventSubscriptions',
    ]);
    expect(sample.outputs.subscriptionsCoveredBySweepOnly).toEqual([OTHER_SUB]);
    expect(
      evaluateTemplate({ ...SAMPLE, deployEventSubscription: false }).outputs.subscriptionsCoveredBySweepOnly,
    ).toEqual([SUB, OTHER_SUB]);
  });
});
