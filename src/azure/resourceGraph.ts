// Resource Graph adapter: finds every VM and scale set carrying the tag, a page of up to 1,000 rows at
// a time (one query for both types: Resource Graph's quota counts queries).
// The snapshot can lag ARM; callers re-read a VM before writing to it.

import { resourceGraphTypes } from '../targets';
import type { ArmClients } from './armClients';
import { parseQuotaResetsAfter } from './armErrors';
import { sleep } from './retry';

export interface TaggedVmRow {
  readonly id: string;
  readonly location: string;
  readonly tagKey: string;
  readonly tagValue: string;
  readonly identity?: {
    readonly type?: string;
    readonly userAssignedIdentities?: Readonly<Record<string, { principalId?: string; clientId?: string }>>;
  } | null;
}

/** A VM or scale set holding an identity from the identity resource group, without the tag. */
export interface HolderRow {
  readonly id: string;
  readonly location: string;
  readonly tags?: Readonly<Record<string, string>> | null;
  readonly identity?: TaggedVmRow['identity'];
}

export const GRAPH_PAGE_SIZE = 1000;

/** KQL string literal: single quotes, with `\` and `'` escaped. */
function kqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * Tag names are case-insensitive in ARM but Resource Graph's `tags['key']` lookup is not, so the tag
 * bag is expanded and its keys compared with `=~`.
 */
export function taggedVmQuery(tagKey: string): string {
  return [
    'resources',
    `| where type in~ (${resourceGraphTypes()})`,
    '| mv-expand bagexpansion=array tags',
    `| where tostring(tags[0]) =~ ${kqlString(tagKey)}`,
    '| project id, location, tagKey = tostring(tags[0]), tagValue = tostring(tags[1]), identity',
  ].join('\n');
}

/**
 * VMs and scale sets that hold a pull-named identity of the identity resource group but carry no tag
 * (their tag was removed): where revocation looks, and what it counts when off. `tostring()` of the
 * identity bag is its JSON; `contains` is case-insensitive, like ARM ids. "Carries no tag" is decided
 * on the tag keys themselves, expanded one per row and compared with `=~` (ARM tag names are
 * case-insensitive), never by a substring of the tags' JSON, which a key such as `x"acrPull` would
 * fool: the holders that a tagged-holder subquery does not name, KQL's left anti-join written as a
 * `leftouter` join and `isempty` (Resource Graph supports join flavors innerunique, inner and leftouter,
 * and mv-expand: learn.microsoft.com/azure/governance/resource-graph/concepts/query-language
 * #supported-tabulartop-level-operators). The sweep still reads each row's tags again (findTagValue).
 */
export function pullIdentityHoldersQuery(identityResourceGroupId: string, tagKey: string): string {
  const prefix = `${identityResourceGroupId}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-acrpull-`;
  const holders = [
    'resources',
    `| where type in~ (${resourceGraphTypes()})`,
    `| where tostring(identity) contains ${kqlString(prefix)}`,
  ];
  return [
    ...holders,
    '| join kind=leftouter (',
    ...holders.map((line) => `    ${line}`),
    '    | mv-expand bagexpansion=array tags',
    `    | where tostring(tags[0]) =~ ${kqlString(tagKey)}`,
    '    | project taggedId = id',
    '  ) on $left.id == $right.taggedId',
    '| where isempty(taggedId)',
    '| project id, location, tags, identity',
  ].join('\n');
}

export interface TaggedVmPage {
  readonly rows: readonly TaggedVmRow[];
  /** Present when more rows remain: pass it to the next call. */
  readonly skipToken?: string;
  /** Every matching row, over all pages (Resource Graph's totalRecords). */
  readonly totalRecords?: number;
}

/**
 * Resource Graph's own quota (about 15 queries per 5-second window per caller, shared by every
 * instance of the app, as the caller is the app's identity): each response says how many queries
 * are left in the window and when it resets (x-ms-user-quota-remaining, -resets-after;
 * governance/resource-graph/concepts/guidance-for-throttled-requests.md). A query is sent only while
 * the last answer left some; otherwise it waits for the reset, never past the caller's deadline.
 */
export class ResourceGraphQuota {
  private remaining: number | undefined;
  private resetsAt = 0;
  /** While the window is unknown, one query goes first and learns it; the others wait for it. */
  private probeSentAt: number | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * What a response said; a response without the headers changes nothing. Answers to queries sent
   * side by side arrive in any order, so within one window the lowest count left wins.
   */
  observe(remaining: string | undefined, resetsAfter: string | undefined): void {
    const left = remaining !== undefined && /^\d+$/.test(remaining) ? Number(remaining) : undefined;
    const resetMs = parseQuotaResetsAfter(resetsAfter);
    if (left === undefined || resetMs === undefined) return;
    const now = this.now();
    const resetsAt = now + resetMs;
    // The header is in whole seconds: answers within a second of each other are the same window.
    const sameWindow =
      this.remaining !== undefined && now < this.resetsAt && Math.abs(resetsAt - this.resetsAt) < 1000;
    this.remaining = sameWindow ? Math.min(this.remaining ?? left, left) : left;
    this.resetsAt = sameWindow ? Math.max(this.resetsAt, resetsAt) : resetsAt;
    this.probeSentAt = undefined;
  }

  /** How long to wait before the next query (0: send now); counts the query as sent. */
  take(): number {
    const now = this.now();
    if (this.remaining !== undefined && now < this.resetsAt) {
      if (this.remaining > 0) {
        this.remaining -= 1;
        return 0;
      }
      return this.resetsAt - now;
    }
    // Unknown, or the window has reset: one query is sent and learns the window; the others wait for
    // its answer (a probe that never answers is given up after a few seconds).
    this.remaining = undefined;
    if (this.probeSentAt !== undefined && now - this.probeSentAt < PROBE_TIMEOUT_MS) return PROBE_WAIT_MS;
    this.probeSentAt = now;
    return 0;
  }
}

const PROBE_WAIT_MS = 50;
const PROBE_TIMEOUT_MS = 5_000;

export class QuotaExhaustedError extends Error {
  constructor(readonly waitMs: number) {
    super(`Resource Graph's query quota is used up for ${waitMs} ms more, past the time budget`);
    this.name = 'QuotaExhaustedError';
  }
}

export class ResourceGraph {
  readonly quota: ResourceGraphQuota;

  constructor(
    private readonly clients: ArmClients,
    options: { readonly now?: () => number; readonly sleep?: (ms: number) => Promise<void> } = {},
  ) {
    this.quota = new ResourceGraphQuota(options.now);
    this.sleepFor = options.sleep ?? sleep;
  }

  private readonly sleepFor: (ms: number) => Promise<void>;

  /**
   * One Resource Graph request: a page of up to 1,000 tagged VMs, sent within the quota. Throws
   * QuotaExhaustedError, without sending, when the quota resets only after `remainingMs`.
   */
  async taggedVmPage(
    subscriptions: readonly string[],
    tagKey: string,
    skipToken?: string,
    abortSignal?: AbortSignal,
    remainingMs = Number.POSITIVE_INFINITY,
  ): Promise<TaggedVmPage> {
    return this.page<TaggedVmRow>(taggedVmQuery(tagKey), subscriptions, skipToken, abortSignal, remainingMs);
  }

  /** A page of untagged VMs and scale sets holding a pull-named identity (pullIdentityHoldersQuery). */
  async pullIdentityHoldersPage(
    subscriptions: readonly string[],
    identityResourceGroupId: string,
    tagKey: string,
    skipToken?: string,
    abortSignal?: AbortSignal,
    remainingMs = Number.POSITIVE_INFINITY,
  ): Promise<{ rows: readonly HolderRow[]; skipToken?: string; totalRecords?: number }> {
    return this.page<HolderRow>(
      pullIdentityHoldersQuery(identityResourceGroupId, tagKey),
      subscriptions,
      skipToken,
      abortSignal,
      remainingMs,
    );
  }

  private async page<Row>(
    query: string,
    subscriptions: readonly string[],
    skipToken: string | undefined,
    abortSignal: AbortSignal | undefined,
    remainingMs: number,
  ): Promise<{ rows: readonly Row[]; skipToken?: string; totalRecords?: number }> {
    for (let wait = this.quota.take(); wait > 0; wait = this.quota.take()) {
      if (wait >= remainingMs) throw new QuotaExhaustedError(wait);
      await this.sleepFor(wait);
    }
    const page = await this.clients.graph().resources(
      {
        query,
        subscriptions: [...subscriptions],
        options: { top: GRAPH_PAGE_SIZE, resultFormat: 'objectArray', ...(skipToken ? { skipToken } : {}) },
      },
      {
        ...(abortSignal ? { abortSignal } : {}),
        onResponse: (response) =>
          this.quota.observe(
            response.headers.get('x-ms-user-quota-remaining'),
            response.headers.get('x-ms-user-quota-resets-after'),
          ),
      },
    );
    return {
      rows: (page.data as Row[] | undefined) ?? [],
      ...(page.skipToken ? { skipToken: page.skipToken } : {}),
      ...(typeof page.totalRecords === 'number' ? { totalRecords: page.totalRecords } : {}),
    };
  }
}
