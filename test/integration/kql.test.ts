// The shipped KQL (queries/*.kql) checked by the real Kusto parser and binder
// (@kusto/language-service-next, Microsoft's Kusto.Language) against Application Insights' `customEvents`
// table (test/support/kusto.ts): a syntax error, an unknown column or function, or a wrong argument count
// fails the test. Every read of a table is bounded in time. Which dimensions the queries read is checked
// against what the app emits in auditTrail.test.ts; the workbook and the alert rules that run these
// files, in test/infra/monitoring.test.ts.
import { queryFiles, readQuery, timeFilters } from '../../scripts/monitoring/build';
import { kustoDiagnostics } from '../support/kusto';

const files = queryFiles();

describe('the shipped KQL', () => {
  it('is found', () => {
    expect(files.length).toBeGreaterThanOrEqual(20);
  });

  it.each(files)(
    '%s parses and binds against customEvents (or AzureActivity) without a diagnostic',
    (file) => {
      expect(kustoDiagnostics(readQuery(file))).toEqual([]);
    },
  );

  it.each(files)('%s filters every table it reads by time, at once', (file) => {
    const { windows, unfiltered } = timeFilters(readQuery(file));
    expect(unfiltered).toEqual([]);
    expect(windows.length).toBeGreaterThan(0);
  });

  it.each([
    ['a misspelt column', 'customEvents | project timestmp'],
    ['an unknown function', 'customEvents | extend x = tostrin(name)'],
    ['a syntax error', 'customEvents | where name == '],
    ['another table', 'traces | take 1'],
  ])('reports %s (the check can fail)', (_, kql) => {
    expect(kustoDiagnostics(kql).length).toBeGreaterThan(0);
  });

  it.each([
    ['no filter', 'customEvents\n| where name == "AcrPullSweep"'],
    ['a filter after another operator', 'customEvents\n| where name == "x"\n| where timestamp > ago(1d)'],
    [
      'one read of two unfiltered',
      'customEvents\n| where timestamp > ago(1d)\n| join (customEvents) on name',
    ],
    ['AzureActivity without TimeGenerated', 'AzureActivity\n| where Caller == "x"'],
  ])('reports a read with %s (the check can fail)', (_, kql) => {
    expect(timeFilters(kql).unfiltered.length).toBeGreaterThan(0);
  });
});
