// Microsoft's Kusto parser and binder (@kusto/language-service-next, Kusto.Language) over the tables the
// shipped KQL reads: Application Insights' `customEvents` and Log Analytics' `AzureActivity`. A syntax
// error, an unknown table, column or function, or a wrong argument count is a diagnostic. Used by the
// query files' tests (test/integration/kql.test.ts) and the template's (the workbook and the alert rules).
import '@kusto/language-service-next/bridge.js';
import '@kusto/language-service-next';

interface Diagnostic {
  Message: string;
  Start: number;
}
interface KustoGlobals {
  Language: {
    // Bridge.NET classes with overloaded constructors ($ctorN): typed loosely on purpose.
    Symbols: {
      ColumnSymbol: new (name: string, type: unknown) => unknown;
      ScalarTypes: Record<string, unknown>;
      TableSymbol: { $ctor4: new (name: string, columns: unknown[]) => unknown };
      DatabaseSymbol: { $ctor2: new (name: string, alternateName: null, members: unknown[]) => unknown };
    };
    GlobalState: { Default: { WithDatabase(db: unknown): unknown } };
    KustoCode: {
      ParseAndAnalyze(
        text: string,
        globals: unknown,
      ): {
        GetDiagnostics(): { Count: number; getItem(i: number): Diagnostic };
      };
    };
  };
}
const Kusto = (globalThis as unknown as { Kusto: KustoGlobals }).Kusto;

/** customEvents as Application Insights defines it (classic schema, the one `customEvents` queries use). */
const CUSTOM_EVENTS = [
  ['timestamp', 'DateTime'],
  ['name', 'String'],
  ['itemType', 'String'],
  ['customDimensions', 'Dynamic'],
  ['customMeasurements', 'Dynamic'],
  ['operation_Name', 'String'],
  ['operation_Id', 'String'],
  ['operation_ParentId', 'String'],
  ['session_Id', 'String'],
  ['user_Id', 'String'],
  ['client_Type', 'String'],
  ['cloud_RoleName', 'String'],
  ['cloud_RoleInstance', 'String'],
  ['appId', 'String'],
  ['appName', 'String'],
  ['iKey', 'String'],
  ['sdkVersion', 'String'],
  ['itemId', 'String'],
  ['itemCount', 'Int'],
] as const;

/**
 * AzureActivity as Log Analytics defines it (learn.microsoft.com/azure/azure-monitor/reference/tables/
 * azureactivity), for tag-writes.kql and the unexpected-write alert: what ARM recorded, not the app.
 */
const AZURE_ACTIVITY = [
  ['TimeGenerated', 'DateTime'],
  ['OperationName', 'String'],
  ['OperationNameValue', 'String'],
  ['ActivityStatus', 'String'],
  ['ActivityStatusValue', 'String'],
  ['ActivitySubstatusValue', 'String'],
  ['Caller', 'String'],
  ['CallerIpAddress', 'String'],
  ['CategoryValue', 'String'],
  ['Claims_d', 'Dynamic'],
  ['CorrelationId', 'String'],
  ['EventDataId', 'String'],
  ['Level', 'String'],
  ['Properties_d', 'Dynamic'],
  ['ResourceGroup', 'String'],
  ['ResourceId', 'String'],
  ['_ResourceId', 'String'],
  ['ResourceProviderValue', 'String'],
  ['SubscriptionId', 'String'],
  ['TenantId', 'String'],
] as const;

let cached: unknown;
function globals(): unknown {
  if (cached) return cached;
  const S = Kusto.Language.Symbols;
  const table = (name: string, schema: readonly (readonly [string, string])[]) =>
    new S.TableSymbol.$ctor4(
      name,
      schema.map(([column, type]) => new S.ColumnSymbol(column, S.ScalarTypes[type])),
    );
  const database = new S.DatabaseSymbol.$ctor2('appinsights', null, [
    table('customEvents', CUSTOM_EVENTS),
    table('AzureActivity', AZURE_ACTIVITY),
  ]);
  cached = Kusto.Language.GlobalState.Default.WithDatabase(database);
  return cached;
}

/** Every diagnostic of the parser and binder, as `line <n>: <message>`; none for a query that binds. */
export function kustoDiagnostics(kql: string): string[] {
  const found = Kusto.Language.KustoCode.ParseAndAnalyze(kql, globals()).GetDiagnostics();
  return Array.from({ length: found.Count }, (_, i) => {
    const d = found.getItem(i);
    const line = kql.slice(0, d.Start).split('\n').length;
    return `line ${line}: ${d.Message}`;
  });
}
