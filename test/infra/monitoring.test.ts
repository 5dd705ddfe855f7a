// What operators see: the workbook and the fleet alert rules the template deploys on the app's Application
// Insights component, and the action group that notifies. Their queries are the files of queries/, unchanged
// (scripts/monitoring/build.ts generates both from them; npm run build:monitoring), and each parses and binds
// with Microsoft's Kusto parser.
//
// Sources: Learn azure-monitor/visualize/resource-manager-workbooks and workbooks-automate (a workbook is
// `Microsoft.Insights/workbooks`, kind shared, a GUID name, `sourceId` the resource it belongs to,
// `serializedData` the Notebook/1.0 document); Learn azure-monitor/alerts/resource-manager-alerts-log and
// azure-rest-api-specs monitor stable/2023-12-01 scheduledQueryRule_API.json (LogAlert, scopes,
// skipQueryValidation, autoMitigate, overrideQueryTimeRange); Learn azure-monitor/alerts/
// resource-manager-action-groups (email and webhook receivers with the common alert schema).
import {
  ALERT_RULES,
  appTemplateVariables,
  buildAlertRules,
  buildWorkbook,
  isoDuration,
  lookbackMs,
  NOT_IN_WORKBOOK,
  queryFiles,
  readQuery,
} from '../../scripts/monitoring/build';
import { type Deployed, scopeIdOf } from '../support/armTemplate';
import { SUB } from '../support/harness';
import { type Evaluation, evaluateTemplate, main, SAMPLE } from '../support/infraTemplates';
import { kustoDiagnostics } from '../support/kusto';

const ofType = (e: Evaluation, type: string) => e.resources.filter((r) => r.type === type);
const idOf = (r: Deployed) => `${scopeIdOf(r.at)}/providers/${r.type}/${r.name}`;
const componentId = (e: Evaluation) => idOf(ofType(e, 'Microsoft.Insights/components')[0] as Deployed);

interface QueryItem {
  type: number;
  name: string;
  content: {
    version: string;
    query: string;
    queryType: number;
    resourceType: string;
    crossComponentResources: string[];
    timeContext: { durationMs: number };
  };
}
function workbookOf(e: Evaluation) {
  const workbooks = ofType(e, 'Microsoft.Insights/workbooks');
  expect(workbooks).toHaveLength(1);
  const w = workbooks[0] as Deployed;
  const p = w.body.properties as { serializedData: string } & Record<string, unknown>;
  const data = JSON.parse(p.serializedData) as {
    version: string;
    items: QueryItem[];
    fallbackResourceIds: string[];
  };
  return { resource: w, properties: p, data, queries: data.items.filter((i) => i.type === 3) };
}

interface Rule {
  kind: string;
  location: string;
  properties: {
    displayName: string;
    severity: number;
    enabled: boolean;
    scopes: string[];
    evaluationFrequency: string;
    windowSize: string;
    overrideQueryTimeRange: string | null;
    criteria: {
      allOf: {
        query: string;
        timeAggregation: string;
        operator: string;
        threshold: number;
        failingPeriods: object;
      }[];
    };
    autoMitigate: boolean;
    skipQueryValidation: boolean;
    actions: { actionGroups: string[] };
  };
}
const rules = (e: Evaluation) =>
  new Map(
    ofType(e, 'Microsoft.Insights/scheduledQueryRules').map((r) => [r.name, r.body as unknown as Rule]),
  );

/** ISO 8601 durations of the kinds the rules use, in milliseconds. */
const isoMs = (d: string) => {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/.exec(d);
  if (!m) throw new Error(d);
  return ((Number(m[1] ?? 0) * 24 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 60_000;
};

describe('monitoring: the workbook and the alert rules', () => {
  it('are generated from queries/*.kql: the committed template holds a fresh generation (npm run build:monitoring)', () => {
    const variables = appTemplateVariables(main as never);
    expect(variables.workbook).toEqual(buildWorkbook());
    expect(variables.fleetAlertRules).toEqual(buildAlertRules());
  });

  it('a shared workbook on the component, under a deterministic guid() name, so a redeployment updates it', () => {
    const e = evaluateTemplate(SAMPLE);
    const { resource, properties } = workbookOf(e);

    expect(resource.body).toMatchObject({ kind: 'shared', location: 'westeurope' });
    expect(resource.at).toEqual({ subscriptionId: SUB, resourceGroup: 'rg-acrpull-app' });
    expect(properties).toMatchObject({
      sourceId: componentId(e),
      category: 'workbook',
      version: 'Notebook/1.0',
      displayName: 'acrpull-autopilot fleet (acrpull)',
    });
    expect(resource.name).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const app = (main.resources ?? []).find((r) => r.name === 'acrpull-app') as {
      properties: { template: { variables: Record<string, string> } };
    };
    expect(app.properties.template.variables.workbookName).toBe(
      "[guid(resourceGroup().id, parameters('namePrefix'), 'acrpull-autopilot-workbook')]",
    );
    // The same deployment names it the same; another namePrefix (another app in the group) does not.
    expect(workbookOf(evaluateTemplate(SAMPLE)).resource.name).toBe(resource.name);
    expect(workbookOf(evaluateTemplate({ ...SAMPLE, namePrefix: 'other' })).resource.name).not.toBe(
      resource.name,
    );
  });

  it("shows every shipped query but the one-target ones, each exactly the file's text, on the component, over the file's own time range", () => {
    const e = evaluateTemplate(SAMPLE);
    const { data, queries } = workbookOf(e);

    expect(data.version).toBe('Notebook/1.0');
    expect(data.fallbackResourceIds).toEqual([componentId(e)]);
    const shown = queries.map((q) => `${q.name}.kql`);
    expect(new Set(shown).size).toBe(shown.length);
    expect([...shown].sort()).toEqual(queryFiles().filter((f) => !(f in NOT_IN_WORKBOOK)));
    for (const q of queries) {
      const file = `${q.name}.kql`;
      expect([file, q.content.query]).toEqual([file, readQuery(file)]);
      expect(q.content).toMatchObject({
        version: 'KqlItem/1.0',
        queryType: 0,
        resourceType: 'microsoft.insights/components',
        crossComponentResources: [componentId(e)],
        timeContext: { durationMs: lookbackMs(file) },
      });
    }
    // What the issue asks the workbook to show, by the query that shows it.
    for (const file of [
      'fleet-readiness.kql', // fleet pull readiness by registry and region
      'decisions-over-time.kql',
      'refusals-by-reason.kql',
      'failures-by-reason.kql',
      'contested-targets.kql',
      'deferred-targets.kql',
      'sweep-summaries.kql', // sweep health: finished, duration, ARM requests, throttling
      'pull-identities.kql', // pull identities and their grants
    ])
      expect(shown).toContain(file);
    expect(readQuery('sweep-summaries.kql')).toEqual(
      expect.stringMatching(/finished[\s\S]*armReads[\s\S]*armThrottled[\s\S]*durationSeconds/),
    );
  });

  it.each(queryFiles().filter((f) => !(f in NOT_IN_WORKBOOK)))(
    "the workbook's %s parses and binds",
    (file) => {
      const { queries } = workbookOf(evaluateTemplate(SAMPLE));
      const q = queries.find((x) => `${x.name}.kql` === file) as QueryItem;
      expect(kustoDiagnostics(q.content.query)).toEqual([]);
    },
  );

  it.each(ALERT_RULES.map((r) => [r.name, r] as const))(
    'alert rule %s: on the component, its query the file unchanged (parses and binds), fires on a row, resolves itself, skips query validation',
    (name, rule) => {
      const e = evaluateTemplate(SAMPLE);
      const r = rules(e).get(`alert-acrpull-${name}`) as Rule;
      expect(r).toBeDefined();
      const condition = r.properties.criteria.allOf[0];

      expect(r.kind).toBe('LogAlert');
      expect(r.location).toBe('westeurope');
      expect(r.properties.scopes).toEqual([componentId(e)]);
      expect(condition?.query).toBe(readQuery(rule.file));
      expect(kustoDiagnostics(condition?.query ?? '')).toEqual([]);
      expect(condition).toMatchObject({ timeAggregation: 'Count', operator: 'GreaterThan', threshold: 0 });
      expect(r.properties).toMatchObject({
        enabled: true,
        severity: rule.severity,
        autoMitigate: true,
        // customEvents has no rows until the app's first event.
        skipQueryValidation: true,
        evaluationFrequency: rule.evaluationFrequency,
        windowSize: rule.windowSize,
      });
      // A rule that compares over its query's own filter runs over that range; the others over their window,
      // which their own filter does not narrow, and which covers their evaluation period.
      const lookback = lookbackMs(rule.file);
      if (rule.looksAt === 'state') expect(r.properties.overrideQueryTimeRange).toBe(isoDuration(lookback));
      else {
        expect(r.properties.overrideQueryTimeRange).toBeNull();
        expect(isoMs(r.properties.windowSize)).toBeLessThanOrEqual(lookback);
      }
      expect(isoMs(r.properties.windowSize)).toBeGreaterThanOrEqual(isoMs(r.properties.evaluationFrequency));
      expect(isoMs(r.properties.overrideQueryTimeRange ?? r.properties.windowSize)).toBeLessThanOrEqual(
        2 * 86_400_000,
      );
    },
  );

  it('alerts on what the issue names: failures, unfinished sweeps, contested targets, identities refused, foreign or with excess roles, a rise in blocked pulls; and keeps the unexpected-write alert', () => {
    const e = evaluateTemplate(SAMPLE);
    const byFile = new Map(ALERT_RULES.map((r) => [r.file, r.name]));
    for (const file of [
      'failures-by-reason.kql',
      'unfinished-sweeps.kql',
      'contested-targets.kql',
      'identity-trust.kql',
      'blocked-pulls-rise.kql',
    ])
      expect(rules(e).has(`alert-acrpull-${byFile.get(file)}`)).toBe(true);
    for (const action of ['identity-refused', 'identity-foreign', 'identity-excess-roles'])
      expect(readQuery('identity-trust.kql')).toContain(`"${action}"`);
    expect(readQuery('blocked-pulls-rise.kql')).toMatch(/pullReadyNo[\s\S]*pullReadyUnknown/);
    expect(rules(e).has('alert-acrpull-unexpected-writes')).toBe(true);
  });

  it('alerts on a swept subscription whose events do not reach the app only when the template made its event subscriptions', () => {
    expect(rules(evaluateTemplate(SAMPLE)).has('alert-acrpull-events-missing')).toBe(true);
    const sweepOnly = rules(evaluateTemplate({ ...SAMPLE, deployEventSubscription: false }));
    expect(sweepOnly.has('alert-acrpull-events-missing')).toBe(false);
    expect(sweepOnly.size).toBe(ALERT_RULES.length); // the other fleet rules, and the unexpected-write alert
  });

  it('notifies through one action group, by email and/or webhook when given, from every rule; none when neither is given', () => {
    const silent = evaluateTemplate(SAMPLE);
    expect(ofType(silent, 'Microsoft.Insights/actionGroups')).toEqual([]);
    for (const r of rules(silent).values()) expect(r.properties.actions.actionGroups).toEqual([]);

    const email = 'platform-team@contoso.example';
    const hook = 'https://hooks.contoso.example/acrpull?token=secret';
    for (const [given, receivers] of [
      [{ alertEmail: email }, { emailReceivers: [{ emailAddress: email }], webhookReceivers: [] }],
      [{ alertWebhookUrl: hook }, { emailReceivers: [], webhookReceivers: [{ serviceUri: hook }] }],
      [
        { alertEmail: email, alertWebhookUrl: hook },
        { emailReceivers: [{ emailAddress: email }], webhookReceivers: [{ serviceUri: hook }] },
      ],
    ] as const) {
      const e = evaluateTemplate({ ...SAMPLE, ...given });
      const groups = ofType(e, 'Microsoft.Insights/actionGroups');
      expect(groups).toHaveLength(1);
      const group = groups[0] as Deployed;
      expect(group.body.properties).toMatchObject({ enabled: true, groupShortName: 'acrpull' });
      const p = group.body.properties as Record<string, { useCommonAlertSchema: boolean }[]>;
      expect(p.emailReceivers).toEqual(receivers.emailReceivers.map((r) => expect.objectContaining(r)));
      expect(p.webhookReceivers).toEqual(receivers.webhookReceivers.map((r) => expect.objectContaining(r)));
      for (const r of [...(p.emailReceivers ?? []), ...(p.webhookReceivers ?? [])])
        expect(r.useCommonAlertSchema).toBe(true);
      expect(rules(e).size).toBe(ALERT_RULES.length + 1);
      for (const r of rules(e).values()) expect(r.properties.actions.actionGroups).toEqual([idOf(group)]);
    }
    // The webhook may carry a token: a secure parameter, never in the deployment's history.
    expect((main.parameters as Record<string, { type: string }>).alertWebhookUrl?.type).toBe('securestring');
  });

  it('leaves the fleet alert rules out with alertOnFleet=false, and the action group with both alerts off', () => {
    const noFleet = evaluateTemplate({ ...SAMPLE, alertOnFleet: false, alertEmail: 'x@contoso.example' });
    expect([...rules(noFleet).keys()]).toEqual(['alert-acrpull-unexpected-writes']);
    expect(ofType(noFleet, 'Microsoft.Insights/actionGroups')).toHaveLength(1);
    expect(ofType(noFleet, 'Microsoft.Insights/workbooks')).toHaveLength(1);

    const none = evaluateTemplate({
      ...SAMPLE,
      alertOnFleet: false,
      alertOnUnexpectedWrites: false,
      alertEmail: 'x@contoso.example',
    });
    expect(rules(none).size).toBe(0);
    expect(ofType(none, 'Microsoft.Insights/actionGroups')).toEqual([]);
  });
});
