// Resource Graph through the real @azure/arm-resourcegraph client: the app's tagged-VM query (tag keys
// compared case-insensitively), paging by $skipToken, subscription scopes, refusals of what the
// emulator does not evaluate, and the snapshot freeze that stands in for Resource Graph's lag.
import type { QueryRequestOptions, ResourceGraphClient } from '@azure/arm-resourcegraph';
import { type Emulator, startEmulator } from '../src';
import { failure, placed, rawArm, SUB, tenantClientsFor } from '../src/testing';

const SUB2 = '00000000-0000-0000-0000-0000000000bb';
const UNKNOWN_SUB = '00000000-0000-0000-0000-0000000000cc';
const ARG_PATH = '/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01';

/** The query the app sends (src/azure/resourceGraph.ts), for a given KQL string literal. */
const taggedVmQuery = (literal: string, comparison = '=~') =>
  [
    'resources',
    "| where type =~ 'microsoft.compute/virtualmachines'",
    '| mv-expand bagexpansion=array tags',
    `| where tostring(tags[0]) ${comparison} ${literal}`,
    '| project id, location, tagKey = tostring(tags[0]), tagValue = tostring(tags[1]), identity',
  ].join('\n');
const ACR_PULL = taggedVmQuery("'acrPull'");
const ALL_VMS =
  "resources | where type =~ 'microsoft.compute/virtualmachines' | project id, location, tags, identity";

interface Row {
  id: string;
  location: string;
  tagKey: string;
  tagValue: string;
  identity: {
    type: string;
    userAssignedIdentities?: Record<string, { principalId: string; clientId: string }>;
  } | null;
}

type GraphError = {
  statusCode?: number;
  code?: string;
  details?: { error: { code: string; details?: { code: string; message: string }[] } };
};

let emu: Emulator;
let graph: ResourceGraphClient;

async function query(
  q: string,
  subscriptions: string[] | undefined = [SUB, SUB2],
  options: QueryRequestOptions = {},
) {
  return graph.resources({
    query: q,
    ...(subscriptions ? { subscriptions } : {}),
    options: { resultFormat: 'objectArray', ...options },
  });
}

const rowsOf = async (q: string, subscriptions?: string[]) => (await query(q, subscriptions)).data as Row[];
const names = (rows: { id: string }[]) => rows.map((r) => r.id.split('/').pop());

beforeAll(async () => {
  emu = await startEmulator();
  graph = tenantClientsFor(emu).graph;
  const identity = emu.seedIdentity(placed('rg-ids', 'id-acrpull'));
  emu.seedVm({
    ...placed('rg-apps', 'vm-a'),
    tags: { acrPull: 'contosoapps', env: 'prod' },
    userAssignedIdentityIds: [identity.id],
  });
  emu.seedVm({ ...placed('rg-apps', 'vm-b', 'eastus'), tags: { ACRPULL: 'contosoabac' } });
  emu.seedVm({ ...placed('rg-apps', 'vm-c'), tags: { AcrPull: 'x' }, systemAssigned: true });
  emu.seedVm({ ...placed('rg-apps', 'vm-d'), tags: { acrPullx: 'no', other: 'acrPull' } });
  emu.seedVm(placed('rg-apps', 'vm-e'));
  emu.seedVm({ ...placed('rg-other', 'vm-f', 'westeurope', SUB2), tags: { acrpull: 'other-sub' } });
});

afterAll(() => emu.close());

describe('the tagged-VM query', () => {
  it('matches the tag key case-insensitively and returns one row per VM with its tag and identity', async () => {
    const rows = await rowsOf(ACR_PULL, [SUB]);

    expect(rows.map((r) => [r.id.split('/').pop(), r.tagKey, r.tagValue, r.location])).toEqual([
      ['vm-a', 'acrPull', 'contosoapps', 'westeurope'],
      ['vm-b', 'ACRPULL', 'contosoabac', 'eastus'],
      ['vm-c', 'AcrPull', 'x', 'westeurope'],
    ]);
    expect(Object.keys(rows[0] ?? {})).toEqual(['id', 'location', 'tagKey', 'tagValue', 'identity']);
    const [a, b, c] = rows;
    const identity = emu.listIdentities()[0];
    expect(a?.identity).toEqual({
      type: 'UserAssigned',
      userAssignedIdentities: {
        [identity?.id ?? '']: { principalId: identity?.principalId, clientId: identity?.clientId },
      },
    });
    expect(b?.identity).toBeNull();
    expect(c?.identity).toMatchObject({ type: 'SystemAssigned', principalId: expect.any(String) });
  });

  it("compares case-sensitively with '==' and reads KQL escapes in the tag literal", async () => {
    emu.seedVm({ ...placed('rg-apps', 'vm-quote'), tags: { "it's\\here": 'q' } });

    const exact = await rowsOf(taggedVmQuery("'acrPull'", '=='), [SUB]);
    const escaped = await rowsOf(taggedVmQuery("'IT\\'S\\\\HERE'"), [SUB]);

    expect(names(exact)).toEqual(['vm-a']);
    expect(escaped.map((r) => [r.tagKey, r.tagValue])).toEqual([["it's\\here", 'q']]);
    emu.deleteVm(emu.listVms().find((v) => v.name === 'vm-quote')?.id ?? '');
  });

  it('accepts any whitespace, line breaks, comments and keyword case', async () => {
    const q = `Resources   // all resources
      |  WHERE type =~ 'Microsoft.Compute/virtualMachines'
      | MV-EXPAND bagexpansion = array tags | Where ToString( tags[0] )=~'ACRPULL'
      | Project id,location,tagKey=tostring(tags[0]),tagValue=tostring(tags[1]),identity`;

    expect(names(await rowsOf(q, [SUB]))).toEqual(['vm-a', 'vm-b', 'vm-c']);
  });
});

describe('scopes', () => {
  it('limits rows to the requested subscriptions; unknown ones contribute nothing; none means the tenant', async () => {
    expect(names(await rowsOf(ACR_PULL, [SUB2]))).toEqual(['vm-f']);
    expect(await rowsOf(ACR_PULL, [UNKNOWN_SUB])).toEqual([]);
    expect(names(await rowsOf(ACR_PULL, [UNKNOWN_SUB, SUB2.toUpperCase()]))).toEqual(['vm-f']);
    expect(names(await rowsOf(ACR_PULL, undefined))).toEqual(['vm-a', 'vm-b', 'vm-c', 'vm-f']);
  });

  it('refuses a malformed subscription id and management-group scopes', async () => {
    const malformed = (await failure(query(ACR_PULL, ['not-a-guid']))) as GraphError;
    const groups = await failure(graph.resources({ query: ACR_PULL, managementGroups: ['mg1'] }));

    expect([malformed.statusCode, malformed.code]).toEqual([400, 'BadRequest']);
    expect(malformed.details?.error.details?.[0]?.code).toBe('InvalidSubscriptionId');
    expect([groups.statusCode, groups.code]).toEqual([501, 'NotImplemented']);
  });
});

describe('the VM listing query', () => {
  it('projects the chosen columns, with type and resourceGroup lowercased as Resource Graph does', async () => {
    const all = await rowsOf(ALL_VMS, [SUB2]);
    const typed = await rowsOf(
      "resources | where type =~ 'microsoft.compute/virtualmachines' | project name, type, resourceGroup, subscriptionId",
      [SUB2],
    );

    expect(all).toEqual([
      {
        id: `/subscriptions/${SUB2}/resourceGroups/rg-other/providers/Microsoft.Compute/virtualMachines/vm-f`,
        location: 'westeurope',
        tags: { acrpull: 'other-sub' },
        identity: null,
      },
    ]);
    expect(typed).toEqual([
      {
        name: 'vm-f',
        type: 'microsoft.compute/virtualmachines',
        resourceGroup: 'rg-other',
        subscriptionId: SUB2,
      },
    ]);
  });

  it("matches nothing when '==' compares the type in the wrong case, as in real Resource Graph", async () => {
    const rows = await rowsOf("resources | where type == 'Microsoft.Compute/virtualMachines' | project id");
    expect(rows).toEqual([]);
  });

  it('truncates instead of paging when the projection has no id', async () => {
    const page = await query(
      "resources | where type =~ 'microsoft.compute/virtualmachines' | project name",
      [SUB],
      {
        top: 2,
      },
    );

    expect(page).toMatchObject({ totalRecords: 5, count: 2, resultTruncated: 'true' });
    expect(page.skipToken).toBeUndefined();
  });

  it('answers in table format when asked', async () => {
    const page = await query(ALL_VMS, [SUB2], { resultFormat: 'table' });

    expect(page.data).toEqual({
      columns: [
        { name: 'id', type: 'string' },
        { name: 'location', type: 'string' },
        { name: 'tags', type: 'object' },
        { name: 'identity', type: 'object' },
      ],
      rows: [[expect.stringMatching(/\/vm-f$/), 'westeurope', { acrpull: 'other-sub' }, null]],
    });
  });
});

/** The app's untagged-holders query (src/azure/resourceGraph.ts): holders whose tag keys none match. */
const untaggedHoldersQuery = (key: string, comparison = '=~') => {
  const holders = [
    'resources',
    "| where type in~ ('microsoft.compute/virtualmachines', 'microsoft.compute/virtualmachinescalesets')",
    "| where tostring(identity) contains '/userAssignedIdentities/id-acrpull'",
  ];
  return [
    ...holders,
    '| join kind=leftouter (',
    ...holders,
    '| mv-expand bagexpansion=array tags',
    `| where tostring(tags[0]) ${comparison} '${key}'`,
    '| project taggedId = id',
    ') on $left.id == $right.taggedId',
    '| where isempty(taggedId)',
    '| project id, tags',
  ].join('\n');
};

describe('the untagged-holders query (a left anti-join on tag keys)', () => {
  beforeAll(() => {
    const identity = emu.listIdentities()[0]?.id ?? '';
    const holder = (name: string, tags: Record<string, string>) =>
      emu.seedVm({ ...placed('rg-holders', name), tags, userAssignedIdentityIds: [identity] });
    holder('vm-h-tagged', { AcrPull: 'contosoapps' });
    holder('vm-h-sneaky', { 'x"acrPull': 'contosoapps', other: '"acrPull":' });
    holder('vm-h-none', {});
    holder('vm-h-prefix', { acrPullx: 'contosoapps' });
  });
  afterAll(() => {
    for (const vm of emu.listVms().filter((v) => v.name.startsWith('vm-h-'))) emu.deleteVm(vm.id);
  });

  it('keeps the holders none of whose tag keys is the key (=~: any case), whatever their tags JSON contains', async () => {
    const rows = await rowsOf(untaggedHoldersQuery('acrPull'), [SUB]);

    expect(names(rows)).toEqual(['vm-h-none', 'vm-h-prefix', 'vm-h-sneaky']);
    expect(Object.keys(rows[0] ?? {})).toEqual(['id', 'tags']);
  });

  it("compares the key exactly with '=='", async () => {
    expect(names(await rowsOf(untaggedHoldersQuery('acrPull', '=='), [SUB]))).toEqual([
      'vm-h-none',
      'vm-h-prefix',
      'vm-h-sneaky',
      'vm-h-tagged',
    ]);
  });

  it('refuses a join it does not evaluate (another flavor, another key, no isempty)', async () => {
    const q = untaggedHoldersQuery('acrPull');
    for (const variant of [
      q.replace('leftouter', 'inner'),
      q.replace('$left.id', '$left.name'),
      q.replace('| where isempty(taggedId)\n', ''),
    ]) {
      const error = (await failure(query(variant))) as GraphError;
      expect([error.statusCode, error.details?.error.details?.[1]?.code]).toEqual([400, 'UnsupportedQuery']);
    }
  });
});

describe('refusals', () => {
  it('answers a query outside the recognized shapes with 400 BadRequest / InvalidQuery naming it', async () => {
    const lookup =
      "Resources | where type =~ 'microsoft.compute/virtualmachines' | where tags['acrpull'] =~ 'true' | project id";

    const error = (await failure(query(lookup))) as GraphError;

    expect([error.statusCode, error.code]).toEqual([400, 'BadRequest']);
    const details = error.details?.error.details ?? [];
    expect(details.map((d) => d.code)).toEqual(['InvalidQuery', 'UnsupportedQuery']);
    expect(details[1]?.message).toContain("expected 'tostring', found 'tags'");
    expect(details[1]?.message).toContain(lookup);
  });

  it('refuses other resource types rather than pretending they do not exist', async () => {
    const error = (await failure(
      query("resources | where type =~ 'microsoft.managedidentity/userassignedidentities' | project id"),
    )) as GraphError;

    expect(error.statusCode).toBe(400);
    expect(error.details?.error.details?.[1]?.message).toMatch(
      /only types 'microsoft.compute\/virtualmachines', 'microsoft.compute\/virtualmachinescalesets' are emulated/,
    );
  });

  it('refuses $top above 1000, a skip token from another query, and an unknown result format', async () => {
    const tooMany = (await failure(query(ACR_PULL, [SUB], { top: 1001 }))) as GraphError;
    const first = await query(ALL_VMS, [SUB], { top: 1 });
    const foreign = (await failure(query(ACR_PULL, [SUB], { skipToken: first.skipToken }))) as GraphError;
    const otherScope = (await failure(query(ALL_VMS, [SUB2], { skipToken: first.skipToken }))) as GraphError;
    const garbage = (await failure(query(ACR_PULL, [SUB], { skipToken: 'bm90IGEgdG9rZW4=' }))) as GraphError;
    const format = await rawArm(emu, 'POST', ARG_PATH, {
      body: { query: ACR_PULL, options: { resultFormat: 'csv' } },
    });

    expect([tooMany.statusCode, tooMany.details?.error.details?.[0]?.code]).toEqual([
      400,
      'InvalidQueryOption',
    ]);
    expect(first.skipToken).toEqual(expect.any(String));
    for (const e of [foreign, otherScope, garbage]) {
      expect([e.statusCode, e.code, e.details?.error.details?.[0]?.code]).toEqual([
        400,
        'BadRequest',
        'InvalidSkipToken',
      ]);
    }
    expect(format.status).toBe(400);
  });

  it('accepts every published api-version and refuses others as ARM does', async () => {
    const older = await rawArm(emu, 'POST', ARG_PATH.replace('2024-04-01', '2021-03-01'), {
      body: { query: ACR_PULL, subscriptions: [SUB] },
    });
    const unpublished = await rawArm(emu, 'POST', ARG_PATH.replace('2024-04-01', '2021-03-02'), {
      body: { query: ACR_PULL },
    });
    expect(older.status).toBe(200);
    expect([unpublished.status, unpublished.body.error?.code]).toEqual([400, 'NoRegisteredProviderFound']);
  });
});

describe('quota headers', () => {
  it('reports the per-caller quota window (never refusing while the throttle is off), and counts queries as reads', async () => {
    emu.setThrottle(false); // a fresh window: the tests above used this one up
    emu.resetCounts();
    const first = await rawArm(emu, 'POST', ARG_PATH, { body: { query: ACR_PULL, subscriptions: [SUB] } });
    const second = await rawArm(emu, 'POST', ARG_PATH, { body: { query: ACR_PULL, subscriptions: [SUB] } });

    const remaining = (r: typeof first) => Number(r.headers['x-ms-user-quota-remaining']);
    expect([remaining(first), remaining(second)]).toEqual([14, 13]);
    expect(first.headers['x-ms-user-quota-resets-after']).toMatch(/^00:00:0[1-5]$/);
    expect(first.headers['x-ms-ratelimit-remaining-tenant-writes']).toBeUndefined();
    expect(emu.counts()['graph.query']).toBe(2);
    expect(emu.totals()).toMatchObject({ reads: 2, writes: 0 });
  });
});

describe('snapshot lag', () => {
  afterEach(() => emu.thawResourceGraph());

  it('answers from the frozen snapshot until thawed, while ARM already shows the change', async () => {
    const vmA = emu.listVms().find((v) => v.name === 'vm-a');
    emu.freezeResourceGraph();
    emu.updateVmOutOfBand(vmA?.id ?? '', (vm) => {
      vm.tags = { env: 'prod' };
    });
    emu.seedVm({ ...placed('rg-apps', 'vm-new'), tags: { acrPull: 'late' } });

    const frozen = await rowsOf(ACR_PULL, [SUB]);
    emu.thawResourceGraph();
    const thawed = await rowsOf(ACR_PULL, [SUB]);

    expect(emu.getVm(vmA?.id ?? '')?.tags).toEqual({ env: 'prod' });
    expect(names(frozen)).toEqual(['vm-a', 'vm-b', 'vm-c']);
    expect(names(thawed)).toEqual(['vm-b', 'vm-c', 'vm-new']);
  });
});

describe('paging', () => {
  let big: Emulator;
  let bigGraph: ResourceGraphClient;
  const FLEET = 2500;

  beforeAll(async () => {
    big = await startEmulator();
    bigGraph = tenantClientsFor(big).graph;
    // Seeded out of order, so the id order of the pages is the emulator's doing.
    for (let i = FLEET - 1; i >= 0; i -= 1) {
      big.seedVm({
        ...placed(`rg-${i % 7}`, `vm-${String(i).padStart(4, '0')}`),
        tags: { acrPull: `registry${i % 3}` },
      });
    }
  });

  afterAll(() => big.close());

  it('pages 2,500 rows by 1,000 with $skipToken, ordered by id, without repeats or gaps', async () => {
    const pages = [];
    let skipToken: string | undefined;
    do {
      const page = await bigGraph.resources({
        query: ACR_PULL,
        subscriptions: [SUB],
        options: { top: 1000, resultFormat: 'objectArray', ...(skipToken ? { skipToken } : {}) },
      });
      pages.push(page);
      skipToken = page.skipToken;
    } while (skipToken && pages.length < 5);

    expect(pages.map((p) => [p.count, p.totalRecords, p.resultTruncated, typeof p.skipToken])).toEqual([
      [1000, FLEET, 'false', 'string'],
      [1000, FLEET, 'false', 'string'],
      [500, FLEET, 'false', 'undefined'],
    ]);
    const ids = pages.flatMap((p) => (p.data as Row[]).map((r) => r.id.toLowerCase()));
    expect(new Set(ids).size).toBe(FLEET);
    expect(ids).toEqual([...ids].sort());
  });

  it('defaults to 100 rows a page and honours $skip', async () => {
    const first = await bigGraph.resources({ query: ACR_PULL, subscriptions: [SUB] });
    const skipped = await bigGraph.resources({
      query: ACR_PULL,
      subscriptions: [SUB],
      options: { skip: 2499 },
    });

    expect([first.count, first.totalRecords]).toEqual([100, FLEET]);
    expect([skipped.count, skipped.skipToken]).toEqual([1, undefined]);
  });

  it('shows a change made between two pages (the result is not cached past a write)', async () => {
    const first = await bigGraph.resources({ query: ACR_PULL, subscriptions: [SUB], options: { top: 1000 } });
    const lastOfSecondPage = big.listVms().find((v) => v.name === 'vm-1999');
    big.updateVmOutOfBand(lastOfSecondPage?.id ?? '', (vm) => {
      vm.tags = {};
    });

    const second = await bigGraph.resources({
      query: ACR_PULL,
      subscriptions: [SUB],
      options: { top: 1000, skipToken: first.skipToken },
    });

    expect(second.totalRecords).toBe(FLEET - 1);
    expect(names(second.data as Row[])).not.toContain('vm-1999');
  });
});
