// The app's state that must outlive one instance, in Azure Table storage: the Function App's own
// storage account, through the `AzureWebJobsStorage` connection the Functions host already requires
// (a connection string locally and with Azurite; identity-based in Azure: `AzureWebJobsStorage__
// accountName` or `__tableServiceUri`, with `__credential=managedidentity` and `__clientId`; Learn:
// functions-reference#connecting-to-host-storage-with-an-identity). Only what the app can rebuild
// lives here: losing it costs reads, never safety, so every failure here (unavailable, slow, a
// conflicting write) is a StateUnavailableError the caller degrades on, never a failed reconcile.
//
// Why @azure/data-tables and not a hand-written client: it is the SDK made for Table storage (shared
// key, SAS and Entra credentials, OData filters, optimistic concurrency with etags) and talks to
// Azurite as it does to Azure.
import type { TokenCredential } from '@azure/core-auth';
import { odata, RestError, TableClient, type TableEntityResult } from '@azure/data-tables';
import type { StateStoreSetting } from '../config/settings';

export const STATE_TABLE_NAME = 'acrpullstate';

/** One row: its keys, its etag (optimistic concurrency) and its properties (strings, numbers, booleans). */
export interface StateRow {
  readonly partitionKey: string;
  readonly rowKey: string;
  readonly etag?: string;
  readonly properties: Readonly<Record<string, string | number | boolean>>;
}

/** The store could not answer (down, slow, throttled, a concurrent write won): degrade, never fail. */
export class StateUnavailableError extends Error {
  constructor(
    readonly operation: string,
    readonly detail: string,
    readonly conflict = false,
  ) {
    super(`state store ${operation}: ${detail}`);
    this.name = 'StateUnavailableError';
  }
}

/** How long one state request may take before it counts as unavailable (the event budget is 25 s). */
export const STATE_TIMEOUT_MS = 2_000;
/** A bounded listing of a large partition (the sweep's, once per run) may take longer. */
export const LONG_TIMEOUT_MS = 10_000;

const RESERVED = new Set(['partitionKey', 'rowKey', 'etag', 'timestamp', 'odata.metadata']);

export class StateTable {
  private ready: Promise<void> | undefined;

  constructor(
    private readonly client: TableClient,
    private readonly timeoutMs = STATE_TIMEOUT_MS,
  ) {}

  static connect(connection: StateStoreSetting, credential: TokenCredential, table = STATE_TABLE_NAME) {
    const client =
      connection.kind === 'connection-string'
        ? TableClient.fromConnectionString(connection.connectionString, table, {
            // Azurite listens on http://127.0.0.1 (the SDK refuses plain http otherwise).
            allowInsecureConnection: /^UseDevelopmentStorage=true|DefaultEndpointsProtocol=http;/i.test(
              connection.connectionString,
            ),
          })
        : new TableClient(connection.tableServiceUri, table, credential);
    return new StateTable(client);
  }

  async get(partitionKey: string, rowKey: string): Promise<StateRow | undefined> {
    return this.call('read', async (abortSignal) => {
      try {
        const entity = await this.client.getEntity(partitionKey, rowKey, { abortSignal });
        return toRow(entity);
      } catch (error) {
        if (error instanceof RestError && error.statusCode === 404) return undefined;
        throw error;
      }
    });
  }

  /** The partition's rows, at most `max` (default: all). */
  async list(partitionKey: string, max = Number.POSITIVE_INFINITY): Promise<StateRow[]> {
    return this.call(
      'list',
      async (abortSignal) => {
        const rows: StateRow[] = [];
        const pages = this.client.listEntities({
          queryOptions: { filter: odata`PartitionKey eq ${partitionKey}` },
          abortSignal,
        });
        for await (const entity of pages) {
          rows.push(toRow(entity));
          if (rows.length >= max) break;
        }
        return rows;
      },
      Number.isFinite(max) ? LONG_TIMEOUT_MS : this.timeoutMs,
    );
  }

  /**
   * Writes the row whole. With `etag` only if nobody wrote it since it was read (`'*'` or none: create
   * or replace); `create: true` only if it does not exist. A lost race is a conflict.
   */
  async put(row: Omit<StateRow, 'etag'>, options: { etag?: string; create?: boolean } = {}): Promise<void> {
    const entity = { partitionKey: row.partitionKey, rowKey: row.rowKey, ...row.properties };
    await this.call('write', async (abortSignal) => {
      if (options.create) await this.client.createEntity(entity, { abortSignal });
      else if (options.etag)
        await this.client.updateEntity(entity, 'Replace', { etag: options.etag, abortSignal });
      else await this.client.upsertEntity(entity, 'Replace', { abortSignal });
    });
  }

  async delete(partitionKey: string, rowKey: string): Promise<void> {
    await this.call('delete', async (abortSignal) => {
      try {
        await this.client.deleteEntity(partitionKey, rowKey, { abortSignal });
      } catch (error) {
        if (!(error instanceof RestError && error.statusCode === 404)) throw error;
      }
    });
  }

  /** Deletes the row only if it is still the one read (its etag): false when it changed or is gone. */
  async deleteIf(partitionKey: string, rowKey: string, etag: string): Promise<boolean> {
    return this.call('delete', async (abortSignal) => {
      try {
        await this.client.deleteEntity(partitionKey, rowKey, { etag, abortSignal });
        return true;
      } catch (error) {
        if (error instanceof RestError && (error.statusCode === 404 || error.statusCode === 412))
          return false;
        throw error;
      }
    });
  }

  /** The table is created on first use (the template makes the account, not the table). */
  private ensureTable(abortSignal: AbortSignal): Promise<void> {
    this.ready ??= this.client.createTable({ abortSignal }).catch((error) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  private async call<T>(
    operation: string,
    run: (signal: AbortSignal) => Promise<T>,
    timeoutMs = this.timeoutMs,
  ): Promise<T> {
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      await this.ensureTable(signal);
      return await run(signal);
    } catch (error) {
      if (error instanceof RestError) {
        const conflict = error.statusCode === 409 || error.statusCode === 412;
        throw new StateUnavailableError(
          operation,
          `${error.statusCode ?? 'no status'} ${error.code ?? ''} ${firstLine(error.message)}`.trim(),
          conflict,
        );
      }
      const name = (error as Error).name;
      throw new StateUnavailableError(
        operation,
        name === 'AbortError' || name === 'TimeoutError'
          ? `no answer within ${timeoutMs} ms`
          : firstLine((error as Error).message),
      );
    }
  }
}

function toRow(entity: TableEntityResult<Record<string, unknown>>): StateRow {
  const properties: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(entity)) {
    if (RESERVED.has(key)) continue;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      properties[key] = value;
  }
  return {
    partitionKey: entity.partitionKey ?? '',
    rowKey: entity.rowKey ?? '',
    ...(entity.etag ? { etag: entity.etag } : {}),
    properties,
  };
}

function firstLine(message: string): string {
  return message.split('\n')[0]?.slice(0, 300) ?? '';
}
