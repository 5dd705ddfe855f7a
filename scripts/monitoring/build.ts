// The workbook and the fleet alert rules of infra/main.json, generated from the shipped KQL (queries/*.kql):
// one source for the queries operators paste into Logs, the workbook shows and the alerts run.
//
//   npm run build:monitoring     rewrites the app template's variables `workbook` and `fleetAlertRules`
//
// test/infra/monitoring.test.ts fails when the committed template differs from a fresh generation, when a
// query of the workbook or of an alert is not the file's text, or when a query does not parse and bind.
//
// The workbook is a `Microsoft.Insights/workbooks` resource whose `serializedData` is the JSON of a
// Notebook/1.0 document (learn.microsoft.com/azure/azure-monitor/visualize/workbooks-automate: "ARM template
// for deploying a workbook instance"; item shapes: microsoft/Application-Insights-Workbooks schema/
// workbook.json, and the portal's exported templates: a KqlItem/1.0 query item with `queryType` 0 (logs),
// `resourceType` microsoft.insights/components, `crossComponentResources`, `timeContext.durationMs`, and the
// document's `fallbackResourceIds`). The template keeps the document as an object variable and serializes it
// with string(): a string in it that began with `[` and ended with `]` would be an ARM expression, and the
// only ones here are the component's resource id, on purpose.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.join(__dirname, '..', '..');
export const QUERIES_DIR = path.join(ROOT, 'queries');
const TEMPLATE = path.join(ROOT, 'infra', 'main.json');
/** The component's id, as the app template writes it (its deployment's resource group). */
export const COMPONENT_ID = "[resourceId('Microsoft.Insights/components', variables('insightsName'))]";

export const queryFiles = (): string[] =>
  readdirSync(QUERIES_DIR)
    .filter((f) => f.endsWith('.kql'))
    .sort();
export const readQuery = (file: string): string => readFileSync(path.join(QUERIES_DIR, file), 'utf8');

/** The query without its `//` comment lines (a comment may name a table). */
const withoutComments = (kql: string) =>
  kql
    .split('\n')
    .filter((line) => !line.trim().startsWith('//'))
    .join('\n');

/**
 * Every read of a table (`customEvents`, `AzureActivity`) and the time filter right after it,
 * `| where timestamp > ago(<n><d|h|m>)` (`TimeGenerated` for AzureActivity): the windows found, and the
 * reads without one (each by line).
 */
export function timeFilters(kql: string): { windows: string[]; unfiltered: string[] } {
  const text = withoutComments(kql);
  const windows: string[] = [];
  const unfiltered: string[] = [];
  for (const m of text.matchAll(/\b(customEvents|AzureActivity)\b/g)) {
    const rest = text.slice((m.index ?? 0) + m[0].length);
    const column = m[1] === 'customEvents' ? 'timestamp' : 'TimeGenerated';
    const filter = new RegExp(`^\\s*\\|\\s*where\\s+${column}\\s*>=?\\s*ago\\((\\d+[dhm])\\)`).exec(rest);
    if (filter) windows.push(filter[1] as string);
    else unfiltered.push(`${m[1]} on line ${text.slice(0, m.index).split('\n').length}`);
  }
  return { windows, unfiltered };
}

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000 } as const;
/** A KQL timespan literal (`7d`, `2h`, `30m`) in milliseconds. */
export function durationMs(window: string): number {
  const m = /^(\d+)([dhm])$/.exec(window);
  if (!m) throw new Error(`not a duration: ${window}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}
/** The longest time filter of a query file: how far back it looks. */
export function lookbackMs(file: string): number {
  const { windows, unfiltered } = timeFilters(readQuery(file));
  if (unfiltered.length > 0 || windows.length === 0)
    throw new Error(`${file}: every table read needs a time filter (${unfiltered.join(', ')})`);
  return Math.max(...windows.map(durationMs));
}
/** Milliseconds as an ISO 8601 duration, the way ARM's alert rules take them (PT30M, PT2H, P1D). */
export function isoDuration(ms: number): string {
  if (ms % UNIT_MS.d === 0) return `P${ms / UNIT_MS.d}D`;
  if (ms % UNIT_MS.h === 0) return `PT${ms / UNIT_MS.h}H`;
  if (ms % UNIT_MS.m === 0) return `PT${ms / UNIT_MS.m}M`;
  throw new Error(`not whole minutes: ${ms}`);
}

// ---------------------------------------------------------------------------------------------------
// The workbook: sections of the shipped queries, in the order an operator reads them.

interface WorkbookQuery {
  readonly file: string;
  readonly title: string;
  readonly visualization: 'table' | 'timechart' | 'barchart' | 'linechart';
  /** Percent of the row; 100 by default. */
  readonly width?: 50;
}
interface WorkbookSection {
  readonly title: string;
  readonly text: string;
  readonly queries: readonly WorkbookQuery[];
}

export const WORKBOOK_SECTIONS: readonly WorkbookSection[] = [
  {
    title: 'Fleet pull readiness',
    text: 'Per registry and region, the tagged VMs and scale sets by the state of their latest decision, and the targets the app made compliant that cannot pull yet, by blocker. `acrpull-autopilot doctor <target>` answers for one target.',
    queries: [
      {
        file: 'fleet-readiness.kql',
        title: 'Pull readiness by registry and region (last 30 days)',
        visualization: 'table',
      },
      {
        file: 'blocked-pulls.kql',
        title: 'Blocked pulls by registry and blocker (last day)',
        visualization: 'table',
      },
    ],
  },
  {
    title: 'Decisions over time',
    text: 'Every decision the app recorded, per hour and outcome, and the time from a VM write to its pull identity attached.',
    queries: [
      {
        file: 'decisions-over-time.kql',
        title: 'Decisions per hour by outcome (last 7 days)',
        visualization: 'timechart',
      },
      {
        file: 'time-to-attach.kql',
        title: 'Seconds from VM write to attach, p50 and p95 per day',
        visualization: 'table',
      },
    ],
  },
  {
    title: 'Refusals and failures',
    text: 'What the app refused and why (the allowlist, the tag grammar, the caps, identities it will not trust), and what failed, by step and ARM error code.',
    queries: [
      {
        file: 'refusals-by-reason.kql',
        title: 'Refusals by action and registry (last 7 days)',
        visualization: 'table',
        width: 50,
      },
      {
        file: 'failures-by-reason.kql',
        title: 'Failures by step and error code (last 7 days)',
        visualization: 'table',
        width: 50,
      },
      {
        file: 'caps.kql',
        title: 'Caps at work: pull identity limit and regions (last 24 hours)',
        visualization: 'table',
      },
      { file: 'refused-last-24h.kql', title: 'Every refusal (last 24 hours)', visualization: 'table' },
    ],
  },
  {
    title: 'Contested and deferred targets',
    text: 'Targets where another writer keeps removing the pull identity (the app stopped: `acrpull-autopilot reset <target>` once the writer is dealt with), targets left for later because they were busy, and attaches ARM accepted whose operation nobody has seen end.',
    queries: [
      { file: 'contested-targets.kql', title: 'Contested targets (last 7 days)', visualization: 'table' },
      { file: 'deferred-targets.kql', title: 'Deferred targets (last day)', visualization: 'table' },
      {
        file: 'unconfirmed-attaches.kql',
        title: 'Accepted attaches not seen to end within 30 minutes (last day)',
        visualization: 'table',
      },
    ],
  },
  {
    title: 'Sweep health',
    text: 'Each sweep: whether it finished, its duration, ARM reads, writes, polls and throttled requests, and the pull readiness it counted; and the swept subscriptions whose VM write events do not reach the app (covered by the sweep alone).',
    queries: [
      { file: 'sweep-summaries.kql', title: 'Sweeps (last 7 days)', visualization: 'table' },
      {
        file: 'unfinished-sweeps.kql',
        title: 'Unfinished sweeps (last 2 hours)',
        visualization: 'table',
        width: 50,
      },
      {
        file: 'blocked-pulls-rise.kql',
        title: 'Rise in blocked pulls (latest sweep against the day)',
        visualization: 'table',
        width: 50,
      },
      {
        file: 'events-missing.kql',
        title: 'Swept subscriptions whose events do not reach the app',
        visualization: 'table',
      },
    ],
  },
  {
    title: 'Pull identities and their grants',
    text: 'The identities the app made or uses, the grant each holds on its registry, the targets holding it, and what the sweep found about them; identities it refused or did not make; access taken away.',
    queries: [
      {
        file: 'pull-identities.kql',
        title: 'Pull identities and grants (last 30 days)',
        visualization: 'table',
      },
      {
        file: 'identity-trust.kql',
        title: 'Identities refused, holding more than pull, or not made by the app (last 7 days)',
        visualization: 'table',
      },
      {
        file: 'revocations.kql',
        title: 'Pull access taken away, and identities nothing holds (last 30 days)',
        visualization: 'table',
      },
      {
        file: 'imds-default-warnings.kql',
        title: 'VMs whose IMDS default identity the app took away (last 30 days)',
        visualization: 'table',
      },
    ],
  },
];

/** Queries for one target or one registry, or another table: for Logs, not the fleet's picture. */
export const NOT_IN_WORKBOOK: Readonly<Record<string, string>> = {
  'vm-history.kql': 'the history of one VM (its id is a `let` at the top)',
  'registry-access.kql': 'who can pull from one registry (its name is a `let` at the top)',
  'tag-writes.kql':
    "who wrote one target's tags: AzureActivity in the Log Analytics workspace, not the component",
};

const INTRO = [
  '## acrpull-autopilot: the fleet',
  "Built from the audit trail the app sends here (`AcrPullDecision` and `AcrPullSweep` custom events). Each query is a file of the repository's `queries/` folder, unchanged: paste it into Logs to change it. What each section means and what to do: docs/operating.md.",
].join('\n\n');

export function buildWorkbook(): Record<string, unknown> {
  const items: Record<string, unknown>[] = [{ type: 1, content: { json: INTRO }, name: 'intro' }];
  for (const [i, section] of WORKBOOK_SECTIONS.entries()) {
    items.push({
      type: 1,
      content: { json: `### ${section.title}\n\n${section.text}` },
      name: `section ${i + 1}`,
    });
    for (const q of section.queries) {
      items.push({
        type: 3,
        content: {
          version: 'KqlItem/1.0',
          query: readQuery(q.file),
          size: 0,
          title: q.title,
          timeContext: { durationMs: lookbackMs(q.file) },
          queryType: 0,
          resourceType: 'microsoft.insights/components',
          crossComponentResources: [COMPONENT_ID],
          visualization: q.visualization,
          ...(q.visualization === 'table' ? { gridSettings: { filter: true } } : {}),
        },
        ...(q.width ? { customWidth: String(q.width) } : {}),
        name: q.file.replace(/\.kql$/, ''),
      });
    }
  }
  const workbook = {
    version: 'Notebook/1.0',
    items,
    isLocked: false,
    fallbackResourceIds: [COMPONENT_ID],
  };
  assertNoExpressionsBut(workbook, [COMPONENT_ID]);
  return workbook;
}

// ---------------------------------------------------------------------------------------------------
// The fleet alert rules: each runs one query file on the component and fires when it returns a row.

interface AlertRule {
  /** `alert-<namePrefix>-<name>`. */
  readonly name: string;
  readonly file: string;
  readonly displayName: string;
  readonly description: string;
  readonly severity: 0 | 1 | 2 | 3 | 4;
  readonly evaluationFrequency: string;
  readonly windowSize: string;
  /**
   * `new`: a row is a new record, so the rule looks at its window only (the query's own filter is longer);
   * `state`: the query compares or counts over its own time filter, which becomes the rule's query time range
   * (overrideQueryTimeRange, at most two days).
   */
  readonly looksAt: 'new' | 'state';
  /** Deployed only with deployEventSubscription (without it, every swept subscription is sweep-only). */
  readonly onlyWithEvents?: true;
}

export const ALERT_RULES: readonly AlertRule[] = [
  {
    name: 'failures',
    file: 'failures-by-reason.kql',
    displayName: 'acrpull-autopilot: decisions failed',
    description:
      'A decision failed in the last 30 minutes (failures-by-reason.kql: the step, the ARM error code, retryable or not). Retryable ones are tried again by Event Grid and the next sweep; a terminal one (403 AuthorizationFailed, a missing registry) needs an operator. See docs/operating.md.',
    severity: 2,
    evaluationFrequency: 'PT15M',
    windowSize: 'PT30M',
    looksAt: 'new',
  },
  {
    name: 'unfinished-sweeps',
    file: 'unfinished-sweeps.kql',
    displayName: 'acrpull-autopilot: a sweep did not finish, or none ran',
    description:
      'A sweep in the last 2 hours did not finish (time budget, or the tagged targets could not be listed), or no sweep finished at all (the app is down or its code is not published). Expected until the code is published after the first deployment. See docs/operating.md.',
    severity: 2,
    evaluationFrequency: 'PT30M',
    windowSize: 'PT30M',
    looksAt: 'state',
  },
  {
    name: 'contested-targets',
    file: 'contested-targets.kql',
    displayName: 'acrpull-autopilot: another writer keeps removing a pull identity',
    description:
      'attach-contested: the app stopped re-attaching a pull identity another writer keeps removing (the reason names the writer). Deal with the writer, then run acrpull-autopilot reset <target>. See docs/operating.md.',
    severity: 3,
    evaluationFrequency: 'PT15M',
    windowSize: 'PT30M',
    looksAt: 'new',
  },
  {
    name: 'identity-trust',
    file: 'identity-trust.kql',
    displayName: 'acrpull-autopilot: an identity refused, holding more than pull, or not made by the app',
    description:
      'identity-refused, identity-excess-roles or identity-foreign: a pull identity or override holds roles beyond pull, or someone else made an identity under a pull identity name or in the identity resource group. Nothing was attached with it; remove what the reason names. See docs/operating.md.',
    severity: 1,
    evaluationFrequency: 'PT15M',
    windowSize: 'PT30M',
    looksAt: 'new',
  },
  {
    name: 'blocked-pulls-rise',
    file: 'blocked-pulls-rise.kql',
    displayName: 'acrpull-autopilot: more targets cannot pull',
    description:
      "The latest finished sweep counted more compliant targets that cannot pull (pullReady no) or may not (unknown) than the day's lowest: a registry closed its network, a grant or DNS record went. blocked-pulls.kql names the registries and blockers. See docs/operating.md.",
    severity: 2,
    evaluationFrequency: 'PT1H',
    windowSize: 'PT1H',
    looksAt: 'state',
  },
  {
    name: 'events-missing',
    file: 'events-missing.kql',
    displayName: "acrpull-autopilot: a swept subscription's events do not reach the app",
    description:
      'events-missing: the sweep found a swept subscription with no live Event Grid event subscription to the app (the topic or the subscription was deleted, failed to provision, or the subscription was added to the sweep without redeploying). Its targets wait for the sweep. Redeploy the template. See docs/operating.md.',
    severity: 3,
    evaluationFrequency: 'PT30M',
    windowSize: 'PT1H',
    looksAt: 'new',
    onlyWithEvents: true,
  },
];

export function buildAlertRules(): Record<string, unknown>[] {
  const rules = ALERT_RULES.map((rule) => {
    const lookback = lookbackMs(rule.file);
    const override = rule.looksAt === 'state' ? isoDuration(lookback) : '';
    if (rule.looksAt === 'state' && lookback > 2 * UNIT_MS.d)
      throw new Error(`${rule.file}: an alert's query time range is at most two days`);
    return {
      name: rule.name,
      source: `queries/${rule.file}`,
      displayName: rule.displayName,
      description: rule.description,
      severity: rule.severity,
      evaluationFrequency: rule.evaluationFrequency,
      windowSize: rule.windowSize,
      overrideQueryTimeRange: override,
      onlyWithEvents: rule.onlyWithEvents === true,
      query: readQuery(rule.file),
    };
  });
  assertNoExpressionsBut(rules, []);
  return rules;
}

/** No string in a template variable may read as an ARM expression (`[...]`) but those named. */
function assertNoExpressionsBut(value: unknown, allowed: readonly string[]): void {
  if (typeof value === 'string') {
    if (value.startsWith('[') && value.endsWith(']') && !allowed.includes(value))
      throw new Error(`would be read as an ARM expression: ${value.slice(0, 80)}`);
  } else if (Array.isArray(value)) for (const v of value) assertNoExpressionsBut(v, allowed);
  else if (value && typeof value === 'object')
    for (const v of Object.values(value)) assertNoExpressionsBut(v, allowed);
}

// ---------------------------------------------------------------------------------------------------

interface TemplateShape {
  resources: { name: string; properties?: { template?: { variables?: Record<string, unknown> } } }[];
}

/** The app template (the nested deployment `acrpull-app`) of a parsed infra/main.json. */
export function appTemplateVariables(main: TemplateShape): Record<string, unknown> {
  const variables = main.resources.find((r) => r.name === 'acrpull-app')?.properties?.template?.variables;
  if (!variables) throw new Error('infra/main.json: the acrpull-app deployment has no variables');
  return variables;
}

function main(): void {
  const template = JSON.parse(readFileSync(TEMPLATE, 'utf8')) as TemplateShape;
  const variables = appTemplateVariables(template);
  variables.workbook = buildWorkbook();
  variables.fleetAlertRules = buildAlertRules();
  writeFileSync(TEMPLATE, `${JSON.stringify(template, null, 2)}\n`);
  // The repository's formatting (Biome folds short arrays onto one line).
  execFileSync(path.join(ROOT, 'node_modules', '.bin', 'biome'), ['format', '--write', TEMPLATE], {
    stdio: 'inherit',
  });
  console.log(
    `infra/main.json: workbook (${WORKBOOK_SECTIONS.flatMap((s) => s.queries).length} queries), ${ALERT_RULES.length} fleet alert rules`,
  );
}

if (require.main === module) main();
