// The alert on the app identity's ARM writes beyond what its code makes, read against the roles the same
// template assigns: the writes it lets pass are exactly the writes the roles allow, where they allow them.
//
// Why a log search alert and not an Activity Log alert: Microsoft.Insights/activityLogAlerts (2020-10-01) takes
// leaf conditions (a field with `equals` or `containsAny`) under `allOf`, grouped by `anyOf`, and nothing
// negates one (azure-rest-api-specs, specification/monitor/.../stable/2020-10-01/activityLogAlerts_API.json and
// its example ActivityLogAlertRule_CreateOrUpdateRuleWithAnyOfCondition.json; Learn's AlertRuleAnyOfOrLeafCondition).
// "Every write but these" needs a negation, so the template sends the Administrative Activity Log to its
// workspace (subscription diagnostic settings, 2021-05-01-preview) and queries AzureActivity every 15 minutes
// (Microsoft.Insights/scheduledQueryRules 2021-08-01, Learn: resource-manager-alerts-log).
import { SUB } from '../support/harness';
import {
  type Evaluation,
  evaluateTemplate,
  GRANT_ONLY_SUB,
  lower,
  OVERRIDE_SUB,
  REGISTRY_SUB,
  SAMPLE,
  SAMPLE_WITH_FLEET_RGS,
  subscriptionScope,
} from '../support/infraTemplates';

const ofType = (e: Evaluation, type: string) => e.resources.filter((r) => r.type === type);

function rule(e: Evaluation) {
  const rules = ofType(e, 'Microsoft.Insights/scheduledQueryRules').filter(
    (r) => r.name === 'alert-acrpull-unexpected-writes',
  );
  expect(rules).toHaveLength(1);
  return rules[0]?.body as {
    kind: string;
    properties: {
      scopes: string[];
      evaluationFrequency: string;
      windowSize: string;
      enabled: boolean;
      skipQueryValidation: boolean;
      criteria: { allOf: { query: string; operator: string; threshold: number; timeAggregation: string }[] };
      actions: { actionGroups: string[] };
    };
  };
}

/** The writes the query lets pass: each operation (lower case) with the id prefixes it may be made under. */
function exempted(query: string): Map<string, string[]> {
  const body = /\| where not\(\n([\s\S]*?)\)\n\| summarize/.exec(query)?.[1];
  expect(body).toBeDefined();
  const out = new Map<string, string[]>();
  for (const clause of (body as string).split(/\n\s*or /)) {
    const [ops, ...rest] = clause.split(' and ');
    const scopes = rest.join(' and ');
    const prefixes = [...(scopes ?? '').matchAll(/id startswith "([^"]+)\/"/g)].map((m) => m[1] as string);
    for (const op of [...(ops ?? '').matchAll(/"([a-z./]+\/write)"/g)].map((m) => m[1] as string))
      out.set(op, [...(out.get(op) ?? []), ...prefixes].sort());
  }
  return out;
}

/** What the template's roles let the app write, and where: every `/write` action with its assignment scopes. */
function writesAllowed(e: Evaluation): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const a of e.assignments)
    for (const action of a.role.actions.filter((x) => x.endsWith('/write')))
      out.set(lower(action), [...new Set([...(out.get(lower(action)) ?? []), a.scope])].sort());
  return out;
}

describe('the unexpected-write alert', () => {
  it.each([
    ['fleet roles at the swept subscriptions', SAMPLE],
    ['fleet writer at fleetResourceGroups', SAMPLE_WITH_FLEET_RGS],
  ])(
    'lets pass exactly the writes the roles allow, where they allow them, and no other write by the app identity (%s)',
    (_, sample) => {
      const e = evaluateTemplate(sample);
      const query = rule(e).properties.criteria.allOf[0]?.query as string;

      expect(exempted(query)).toEqual(writesAllowed(e));
      // A grant ARM refused (say, of a role the condition blocks) is not the app's legitimate write: it
      // is reported, not let through with the grants at the grant scopes.
      expect(query).toMatch(
        /"microsoft\.authorization\/roleassignments\/write" and ActivityStatusValue !~ "Failure" and/,
      );
      // Three kinds of write, as the code makes them: targets, its identities, its grants.
      expect([...writesAllowed(e).keys()].sort()).toEqual([
        'microsoft.authorization/roleassignments/write',
        'microsoft.compute/virtualmachines/write',
        'microsoft.compute/virtualmachinescalesets/write',
        'microsoft.managedidentity/userassignedidentities/write',
      ]);
      // Every Administrative record whose caller is the app identity (ARM records a managed identity's object id;
      // the client id is matched too), deduplicated per operation.
      expect(query).toMatch(
        new RegExp(
          `^let app = dynamic\\(\\["${regexpOf(String(e.outputs.appPrincipalId))}", "${regexpOf(String(e.outputs.appClientId))}"\\]\\);\\nAzureActivity\\n`,
        ),
      );
      expect(query).toContain('| where CategoryValue =~ "Administrative" and Caller in~ (app)\n');
      expect(query).toContain('| where ingestion_time() > ago(20m)\n');
    },
  );

  it('reads the Administrative Activity Log of every subscription where the roles allow a write, in the app workspace, every 15 minutes', () => {
    const e = evaluateTemplate(SAMPLE);
    const workspace = ofType(e, 'Microsoft.OperationalInsights/workspaces')[0];
    const workspaceId = `/subscriptions/${SUB}/resourceGroups/rg-acrpull-app/providers/Microsoft.OperationalInsights/workspaces/${workspace?.name}`;
    const settings = ofType(e, 'Microsoft.Insights/diagnosticSettings');

    const writable = [...writesAllowed(e).values()]
      .flat()
      .map((s) => subscriptionScope(s.split('/')[2] as string));
    const exported = settings.map((d) => d.scope);
    for (const sub of writable) expect(exported).toContain(sub);
    // Only there: not the override identity's subscription, where the app holds read and assign only (the
    // registry subscription is here as the subscription of a grant scope).
    expect(exported.sort()).toEqual([...new Set(writable)].sort());
    expect(exported).toContain(subscriptionScope(REGISTRY_SUB));
    expect(exported).not.toContain(subscriptionScope(OVERRIDE_SUB));
    expect(exported).toContain(subscriptionScope(GRANT_ONLY_SUB));
    expect(e.outputs.activityLogSubscriptions).toEqual(exported.map((s) => s.split('/')[2]));
    for (const d of settings) {
      expect(d.at).toEqual({ subscriptionId: d.scope.split('/')[2] });
      expect(d.body.properties).toEqual({
        workspaceId,
        logs: [{ category: 'Administrative', enabled: true }],
      });
    }

    const r = rule(e);
    expect(r.kind).toBe('LogAlert');
    expect(r.properties.scopes).toEqual([workspaceId]);
    expect(r.properties).toMatchObject({ enabled: true, evaluationFrequency: 'PT15M', windowSize: 'PT15M' });
    expect(r.properties.criteria.allOf[0]).toMatchObject({
      timeAggregation: 'Count',
      operator: 'GreaterThan',
      threshold: 0,
    });
    // AzureActivity has no rows until the first records arrive: the rule is created without validating the query.
    expect(r.properties.skipQueryValidation).toBe(true);
  });

  it('notifies through the action group only when an email or webhook is given, and can be left out entirely', () => {
    const silent = evaluateTemplate(SAMPLE);
    expect(ofType(silent, 'Microsoft.Insights/actionGroups')).toEqual([]);
    expect(rule(silent).properties.actions.actionGroups).toEqual([]);

    const mailed = evaluateTemplate({ ...SAMPLE, alertEmail: 'platform-team@contoso.example' });
    const groups = ofType(mailed, 'Microsoft.Insights/actionGroups');
    expect(groups).toHaveLength(1);
    expect(groups[0]?.body.properties).toMatchObject({
      emailReceivers: [
        { name: 'operator', emailAddress: 'platform-team@contoso.example', useCommonAlertSchema: true },
      ],
    });
    expect(rule(mailed).properties.actions.actionGroups).toEqual([
      `/subscriptions/${SUB}/resourceGroups/rg-acrpull-app/providers/Microsoft.Insights/actionGroups/${groups[0]?.name}`,
    ]);

    // Off: no rule, no Activity Log export; the action group stays for the fleet alerts (monitoring.test.ts).
    const off = evaluateTemplate({
      ...SAMPLE,
      alertOnUnexpectedWrites: false,
      alertEmail: 'x@contoso.example',
    });
    expect(
      ofType(off, 'Microsoft.Insights/scheduledQueryRules').filter((r) =>
        r.name.endsWith('-unexpected-writes'),
      ),
    ).toEqual([]);
    expect(ofType(off, 'Microsoft.Insights/diagnosticSettings')).toEqual([]);
    expect(off.outputs.activityLogSubscriptions).toEqual([]);
  });
});

const regexpOf = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
