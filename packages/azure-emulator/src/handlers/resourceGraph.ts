// Microsoft.ResourceGraph (2024-04-01): POST /providers/Microsoft.ResourceGraph/resources, tenant
// level. Evaluates the recognized query shapes (resourceGraphQuery.ts) over the VMs Resource Graph
// sees — live, or the snapshot taken by freezeResourceGraph() — ordered by id, paged by $skipToken.
import { createHash } from 'node:crypto';
import { type Handler, ok, requireObject } from '../armHttp';
import {
  graphQueryInvalid,
  graphRequestInvalid,
  graphSkipTokenInvalid,
  invalidRequestContent,
  notImplemented,
} from '../errors';
import { isGuid, TYPES } from '../resourceIds';
import type { Store, VmRecord } from '../store';
import {
  type BagFilter,
  type GraphQuery,
  parseGraphQuery,
  type TaggedSubquery,
  UnsupportedQuery,
  type VmColumn,
} from './resourceGraphQuery';
import { renderScaleSetIdentity } from './scaleSets';
import { renderIdentity } from './virtualMachines';

const DEFAULT_TOP = 100;
const MAX_TOP = 1000;

interface QueryOptions {
  top?: number;
  skip?: number;
  skipToken?: string;
  resultFormat: 'objectArray' | 'table';
}

/** One result row before rendering: the VM and, for the tag query, the matching tag. */
interface Match {
  vm: VmRecord;
  tag?: [string, string];
}

function optionalInteger(value: unknown, name: string, min: number, max: number, correlationId: string) {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number') throw invalidRequestContent(`'options.${name}' must be a number`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw graphRequestInvalid(
      correlationId,
      'InvalidQueryOption',
      `The value of '${name}' must be an integer from ${min} to ${max}; got '${value}'.`,
    );
  }
  return value;
}

function parseOptions(value: unknown, correlationId: string): QueryOptions {
  if (value === undefined || value === null) return { resultFormat: 'objectArray' };
  const o = requireObject(value, 'options');
  if (o.$skipToken !== undefined && o.$skipToken !== null && typeof o.$skipToken !== 'string') {
    throw invalidRequestContent("'options.$skipToken' must be a string");
  }
  const format = o.resultFormat ?? 'objectArray';
  const resultFormat = typeof format === 'string' ? format.toLowerCase() : format;
  if (resultFormat !== 'objectarray' && resultFormat !== 'table') {
    throw graphRequestInvalid(
      correlationId,
      'InvalidQueryOption',
      `The value '${String(format)}' of 'resultFormat' is not valid; use 'objectArray' or 'table'.`,
    );
  }
  const scopeFilter = o.authorizationScopeFilter;
  if (scopeFilter !== undefined && scopeFilter !== null && scopeFilter !== 'AtScopeAndBelow') {
    throw notImplemented(`authorizationScopeFilter '${String(scopeFilter)}' in Resource Graph queries`);
  }
  return {
    top: optionalInteger(o.$top, '$top', 1, MAX_TOP, correlationId),
    skip: optionalInteger(o.$skip, '$skip', 0, Number.MAX_SAFE_INTEGER, correlationId),
    skipToken: (o.$skipToken as string | null | undefined) ?? undefined,
    resultFormat: resultFormat === 'table' ? 'table' : 'objectArray',
  };
}

/** The lowercased subscriptions to look in; undefined = every subscription of the tenant. */
function parseSubscriptions(value: unknown, correlationId: string): Set<string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((s) => typeof s !== 'string')) {
    throw invalidRequestContent("'subscriptions' must be an array of strings");
  }
  const bad = value.find((s) => !isGuid(s));
  if (bad !== undefined) {
    throw graphRequestInvalid(
      correlationId,
      'InvalidSubscriptionId',
      `The subscription identifier '${bad}' is malformed or invalid.`,
    );
  }
  return value.length === 0 ? undefined : new Set(value.map((s: string) => s.toLowerCase()));
}

function refuseUnemulatedScopes(body: Record<string, unknown>): void {
  const nonEmpty = (v: unknown) => Array.isArray(v) && v.length > 0;
  if (nonEmpty(body.managementGroups))
    throw notImplemented('management group scopes in Resource Graph queries');
  if (nonEmpty(body.facets)) throw notImplemented('Resource Graph facets');
}

/** The rows of the query, in id order. Hot path (10,000 VMs per page request): no per-VM allocations. */
function match(query: GraphQuery, vms: readonly VmRecord[], subscriptions: Set<string> | undefined): Match[] {
  if (query.types.length === 0) return [];
  const types = new Set<string>(query.types);
  // Records carry one of two type strings: decided once each, not lowercased per row.
  const typeOk = new Map<string, boolean>();
  const wanted = (type: string) => {
    let yes = typeOk.get(type);
    if (yes === undefined) {
      yes = types.has(type.toLowerCase());
      typeOk.set(type, yes);
    }
    return yes;
  };
  const inScope = new Map<string, boolean>();
  const allowed = (sub: string) => {
    let yes = inScope.get(sub);
    if (yes === undefined) {
      yes = !subscriptions || subscriptions.has(sub.toLowerCase());
      inScope.set(sub, yes);
    }
    return yes;
  };
  const matches: Match[] = [];
  const caseSensitive = query.shape === 'vmTags' && query.tagComparison === '==';
  const key = query.shape === 'vmTags' ? (caseSensitive ? query.tagKey : query.tagKey.toLowerCase()) : '';
  for (const vm of vms) {
    if (!allowed(vm.subscriptionId) || !wanted(vm.type)) continue;
    if (query.shape === 'vms') {
      if (query.filters.every((f) => bagContains(vm, f) !== f.negate) && !inSubquery(vm, query.without))
        matches.push({ vm });
      continue;
    }
    for (const name in vm.tags) {
      if ((caseSensitive ? name : name.toLowerCase()) === key)
        matches.push({ vm, tag: [name, vm.tags[name] ?? ''] });
    }
  }
  return matches;
}

/**
 * Whether the anti-join's right side has a row for this VM: of its types, through its filters, with a
 * tag key matching (`=~` ignoring case, `==` exactly), over the keys one by one as mv-expand gives them.
 */
function inSubquery(vm: VmRecord, sub: TaggedSubquery | undefined): boolean {
  if (!sub?.types.some((t) => t === vm.type.toLowerCase())) return false;
  if (!sub.filters.every((f) => bagContains(vm, f) !== f.negate)) return false;
  const key = sub.tagComparison === '==' ? sub.tagKey : sub.tagKey.toLowerCase();
  return Object.keys(vm.tags).some(
    (name) => (sub.tagComparison === '==' ? name : name.toLowerCase()) === key,
  );
}

/**
 * KQL `tostring(<bag>) contains '<needle>'`: the bag's JSON, compared ignoring case (`contains` is
 * case-insensitive, `contains_cs` is not: learn.microsoft.com/kusto/query/contains-operator).
 */
function bagContains(vm: VmRecord, filter: BagFilter): boolean {
  const json = JSON.stringify(filter.bag === 'identity' ? graphIdentity(vm) : vm.tags) ?? '';
  return json.toLowerCase().includes(filter.needle.toLowerCase());
}

const graphIdentity = (vm: VmRecord) =>
  vm.type === TYPES.scaleSet ? renderScaleSetIdentity(vm) : vm.identity ? renderIdentity(vm.identity) : null;

/** Resource Graph lowercases `type` and `resourceGroup`; the rest reads as ARM has it. */
const VM_CELLS: Record<VmColumn, (vm: VmRecord) => unknown> = {
  id: (vm) => vm.id,
  name: (vm) => vm.name,
  type: (vm) => vm.type.toLowerCase(),
  location: (vm) => vm.location,
  resourceGroup: (vm) => vm.resourceGroup.toLowerCase(),
  subscriptionId: (vm) => vm.subscriptionId,
  tags: (vm) => ({ ...vm.tags }),
  identity: graphIdentity,
};

/** Column names and types, in projection order, and a row renderer. */
function projection(query: GraphQuery): {
  columns: { name: string; type: string }[];
  row: (m: Match) => unknown[];
} {
  if (query.shape === 'vms') {
    return {
      columns: query.columns.map((name) => ({
        name,
        type: name === 'tags' || name === 'identity' ? 'object' : 'string',
      })),
      row: (m) => query.columns.map((c) => VM_CELLS[c](m.vm)),
    };
  }
  return {
    columns: [
      { name: 'id', type: 'string' },
      { name: 'location', type: 'string' },
      { name: query.tagKeyColumn, type: 'string' },
      { name: query.tagValueColumn, type: 'string' },
      { name: 'identity', type: 'object' },
    ],
    row: (m) => [m.vm.id, m.vm.location, m.tag?.[0], m.tag?.[1], graphIdentity(m.vm)],
  };
}

/**
 * The last few results per store, by query-and-scope hash: the pages of one sweep reuse the rows
 * instead of scanning every VM again, as long as the store's Resource Graph view has not changed.
 */
const RESULT_CACHE = new WeakMap<Store, Map<string, { version: number; matches: Match[] }>>();
const CACHED_RESULTS = 8;

function cachedMatch(store: Store, query: GraphQuery, subscriptions: Set<string> | undefined, hash: string) {
  const view = store.resourceGraphView();
  let cache = RESULT_CACHE.get(store);
  if (!cache) {
    cache = new Map();
    RESULT_CACHE.set(store, cache);
  }
  const hit = cache.get(hash);
  if (hit?.version === view.version) return hit.matches;
  const matches = match(query, view.vms, subscriptions);
  cache.delete(hash);
  cache.set(hash, { version: view.version, matches });
  if (cache.size > CACHED_RESULTS) cache.delete(cache.keys().next().value as string);
  return matches;
}

/** Ties a skip token to its query and scopes. */
function scopeHash(query: GraphQuery, subscriptions: Set<string> | undefined): string {
  const scopes = subscriptions ? [...subscriptions].sort().join(',') : '*';
  return createHash('sha256').update(`${query.fingerprint}\n${scopes}`).digest('hex').slice(0, 16);
}

function encodeSkipToken(offset: number, pageSize: number, hash: string): string {
  return Buffer.from(JSON.stringify({ o: offset, n: pageSize, q: hash })).toString('base64');
}

function decodeSkipToken(token: string, hash: string, correlationId: string): { o: number; n: number } {
  try {
    const decoded = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as Record<string, unknown>;
    const { o, n, q } = decoded;
    if (Number.isInteger(o) && Number.isInteger(n) && q === hash) return { o: o as number, n: n as number };
  } catch {
    // fall through: not a token this emulator made
  }
  throw graphSkipTokenInvalid(correlationId);
}

export const queryResources: Handler = (req, ctx) => {
  const body = requireObject(req.body);
  if (typeof body.query !== 'string' || body.query.trim() === '') {
    throw invalidRequestContent("'query' must be a non-empty string");
  }
  refuseUnemulatedScopes(body);
  const subscriptions = parseSubscriptions(body.subscriptions, ctx.correlationId);
  const options = parseOptions(body.options, ctx.correlationId);
  let query: GraphQuery;
  try {
    query = parseGraphQuery(body.query);
  } catch (error) {
    if (error instanceof UnsupportedQuery)
      throw graphQueryInvalid(ctx.correlationId, body.query, error.message);
    throw error;
  }

  const hash = scopeHash(query, subscriptions);
  const token = options.skipToken ? decodeSkipToken(options.skipToken, hash, ctx.correlationId) : undefined;
  const offset = options.skip ?? token?.o ?? 0;
  const pageSize = options.top ?? token?.n ?? DEFAULT_TOP;
  const matches = cachedMatch(ctx.store, query, subscriptions, hash);
  const page = matches.slice(offset, offset + pageSize);
  const more = offset + page.length < matches.length;
  // Without `id` in the projection Resource Graph cannot page: it truncates instead.
  const canPage = query.shape === 'vmTags' || query.columns.includes('id');

  const { columns, row } = projection(query);
  const rows = page.map(row);
  const data =
    options.resultFormat === 'table'
      ? { columns, rows }
      : rows.map((cells) => Object.fromEntries(columns.map((c, i) => [c.name, cells[i]])));
  return ok({
    totalRecords: matches.length,
    count: page.length,
    resultTruncated: more && !canPage ? 'true' : 'false',
    ...(more && canPage ? { $skipToken: encodeSkipToken(offset + page.length, pageSize, hash) } : {}),
    data,
    facets: [],
  });
};
