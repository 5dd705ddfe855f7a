// The sweep's untagged-holders query decides "untagged" on the tag keys themselves (expanded, compared
// with `=~`), not on a substring of the tags' JSON: a VM whose only tag is `x"acrPull` (its JSON holds
// `"acrPull":`) is untagged, and revocation reaches it; `ACRPULL` is the tag in another case. Through
// the emulator's Resource Graph, and Microsoft's Kusto parser for the query text itself.
import '@kusto/language-service-next/bridge.js';
import '@kusto/language-service-next';
import { pullIdentityHoldersQuery, taggedVmQuery } from '../../src/azure/resourceGraph';
import { type Harness, IDENTITY_RG, identityId, SUB, startHarness } from '../support/harness';

const PULL = identityId('contosoapps', 'eastus');
const held = (h: Harness, id: string) =>
  Object.keys(h.emu.listVms().find((v) => v.id === id)?.identity?.userAssignedIdentities ?? {}).map((k) =>
    k.toLowerCase(),
  );

describe('untagged pull identity holders', () => {
  let h: Harness;
  let sneaky: string;
  let upper: string;
  beforeAll(async () => {
    h = await startHarness({ env: { ACRPULL_REVOKE: 'on' } });
    sneaky = h.seedVm('vm-sneaky', 'contosoapps').id;
    upper = h.seedVm('vm-upper', 'contosoapps').id;
    for (const id of [sneaky, upper]) expect((await h.deliver(id))?.outcome).toBe('changed');
    // Tags replaced out of band (no event): one VM keeps only a key that ends in `"acrPull`, the other
    // the tag under another spelling.
    h.emu.updateVmOutOfBand(sneaky, (vm) => {
      vm.tags = { 'x"acrPull': 'contosoapps', note: '"acrPull":' };
    });
    h.emu.updateVmOutOfBand(upper, (vm) => {
      vm.tags = { ACRPULL: 'contosoapps' };
    });
  });
  afterAll(async () => {
    await h.close();
  });

  it('lists a holder whose tag keys merely contain the key, not one carrying the key in another case', async () => {
    const page = await h.runtime.graph.pullIdentityHoldersPage([SUB], IDENTITY_RG, 'acrPull');

    expect(page.rows.map((r) => r.id)).toEqual([sneaky]);
  });

  it('lets the sweep revoke it (ACRPULL_REVOKE=on), and keeps the tagged one', async () => {
    h.audit.records.length = 0;

    await h.sweep();

    expect(h.audit.records.filter((r) => r.action === 'identity-detached')).toEqual([
      expect.objectContaining({
        vmId: sneaky,
        outcome: 'changed',
        identityId: expect.stringMatching(/contosoapps-eastus$/),
      }),
    ]);
    expect(held(h, sneaky)).toEqual([]);
    expect(held(h, upper)).toEqual([PULL.toLowerCase()]);
  });
});

describe("the sweep's Resource Graph queries", () => {
  type Diagnostics = { Count: number; getItem(i: number): { Message: string } };
  // biome-ignore lint/suspicious/noExplicitAny: Bridge.NET globals, typed in kql.test.ts
  const Kusto = (globalThis as any).Kusto;

  /** Parse and bind against the columns of Resource Graph's `resources` table the queries read. */
  function diagnostics(query: string): string[] {
    const S = Kusto.Language.Symbols;
    const columns = [
      ['id', 'String'],
      ['name', 'String'],
      ['type', 'String'],
      ['location', 'String'],
      ['tags', 'Dynamic'],
      ['identity', 'Dynamic'],
    ].map(([n, t]) => new S.ColumnSymbol(n, S.ScalarTypes[t as string]));
    const db = new S.DatabaseSymbol.$ctor2('arg', null, [new S.TableSymbol.$ctor4('resources', columns)]);
    const found: Diagnostics = Kusto.Language.KustoCode.ParseAndAnalyze(
      query,
      Kusto.Language.GlobalState.Default.WithDatabase(db),
    ).GetDiagnostics();
    return Array.from({ length: found.Count }, (_, i) => found.getItem(i).Message);
  }

  it.each([
    ['untagged holders', pullIdentityHoldersQuery(IDENTITY_RG, `it's"acrPull`)],
    ['tagged targets', taggedVmQuery('acrPull')],
  ])('%s: parse and bind as KQL without a diagnostic', (_, query) => {
    expect(diagnostics(query)).toEqual([]);
  });

  it('the check can fail', () => {
    expect(diagnostics('resources | where tostring(tags[0]) =~ ').length).toBeGreaterThan(0);
  });
});
