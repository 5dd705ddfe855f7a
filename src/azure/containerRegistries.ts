// Container registry adapter: finds the registry a tag refers to, over the real registry client.

import { LruMap, PER_SUBSCRIPTION_LIMIT } from '../core/lru';
import type { RegistryAccess } from '../core/pullReadiness';
import { idKey, parseRegistryId, type RegistryIdRef } from '../core/resourceId';
import type { RegistryRef } from '../core/tag';
import type { ArmClients } from './armClients';
import { classifyArmError, isNotFound } from './armErrors';

export interface RegistryState {
  readonly id: string;
  readonly name: string;
  readonly subscriptionId: string;
  readonly loginServer: string;
  readonly roleAssignmentMode?: string;
  /** Network, audience and anonymous-pull settings: what pull readiness is judged from. */
  readonly access?: RegistryAccess;
}

export type Resolution =
  | { readonly found: true; readonly registry: RegistryState }
  | { readonly found: false; readonly searched: readonly string[] };

export interface ResolveOptions {
  /** May answer from a recent resolution: only for decisions that write nothing. */
  readonly allowCached?: boolean;
  /** May answer from a resolution at most this old (the event path's verified pairs: a minute). */
  readonly cachedWithinMs?: number;
  /** Per-sweep memo of subscription listings, so N VMs naming registries cost one list per subscription. */
  readonly listings?: Map<string, Promise<RegistryState[]>>;
  /** Abandons the request when the caller's time budget runs out. */
  readonly abortSignal?: AbortSignal;
}

/** How long a resolved registry may answer read-only questions (is this attached VM still allowed?). */
export const REGISTRY_CACHE_TTL_MS = 10 * 60 * 1000;

/**
 * How long "not found" is remembered. It only ever leads to a refusal (nothing is written), so a tag
 * naming registries that do not exist costs its lookups once a minute, not on every event; a registry
 * created meanwhile is found at most this much later.
 */
export const NOT_FOUND_TTL_MS = 60 * 1000;

/**
 * How long a listing (or a read) ARM refused with 403 or 404 is remembered: a tag naming a registry in
 * a subscription the app may not read, or that does not exist, costs that request once a minute, not
 * on every event. The remembered error is thrown again, classified as ARM's was (terminal).
 */
export const FAILED_LOOKUP_TTL_MS = 60 * 1000;

/**
 * What a resolution is keyed by: the reference and, for a name or login server, the subscriptions
 * searched (a registry found from one target's subscriptions is not found from another's). A resource
 * id is read directly, wherever the target is.
 */
export function resolutionKey(ref: RegistryRef, subscriptions: readonly string[]): string {
  if (ref.form === 'resourceId') return `id|${idKey(ref.registry.id)}`;
  return `name|${ref.name}|${[...new Set(subscriptions.map(idKey))].sort().join(',')}`;
}

export class ContainerRegistries {
  /** Resolutions, found or not, by reference and search scope; bounded, least recently used first out. */
  private readonly found = new LruMap<string, { registry: RegistryState; at: number }>(
    PER_SUBSCRIPTION_LIMIT,
  );
  private readonly notFound = new LruMap<string, { searched: readonly string[]; at: number }>(
    PER_SUBSCRIPTION_LIMIT,
  );
  /** The last resolution of each registry by name, for readiness facts only (`peek`), never to authorize. */
  private readonly byName = new LruMap<string, { registry: RegistryState; at: number }>(
    PER_SUBSCRIPTION_LIMIT,
  );
  /** Registry listings under way, by subscription: concurrent lookups on this instance share one. */
  private readonly listing = new Map<string, Promise<RegistryState[]>>();
  /**
   * The last complete listing of each subscription, when it was started: a lookup that may answer
   * from a resolution `cachedWithinMs` old may find its name in a listing that old too (found only;
   * a name a listing lacks is listed afresh), so N registries of one subscription cost one listing
   * per window, not one each.
   */
  private readonly listed = new LruMap<string, { registries: readonly RegistryState[]; at: number }>(
    PER_SUBSCRIPTION_LIMIT,
  );
  /** Listings (`list|<subscription>`) and reads (`get|<registry id>`) ARM refused with 403 or 404. */
  private readonly failed = new LruMap<string, { error: unknown; at: number }>(PER_SUBSCRIPTION_LIMIT);

  constructor(
    private readonly clients: ArmClients,
    private readonly now: () => number = Date.now,
    private readonly cacheTtlMs = REGISTRY_CACHE_TTL_MS,
    private readonly notFoundTtlMs = NOT_FOUND_TTL_MS,
    private readonly failedTtlMs = FAILED_LOOKUP_TTL_MS,
  ) {}

  /**
   * A resource id is read directly; a name or login server is looked up by listing the registries of
   * the given subscriptions (registry names are globally unique, so the first match is the one).
   * Remembered answers are keyed by the reference and the subscriptions searched, so an instance that
   * resolved a name for one target answers another target as a fresh instance would.
   */
  async resolve(
    ref: RegistryRef,
    subscriptions: readonly string[],
    options: ResolveOptions = {},
  ): Promise<Resolution> {
    const key = resolutionKey(ref, subscriptions);
    const hit = this.found.get(key);
    const maxAge = options.allowCached ? this.cacheTtlMs : (options.cachedWithinMs ?? 0);
    if (hit && this.now() - hit.at < maxAge) return { found: true, registry: hit.registry };
    const miss = this.notFound.get(key);
    if (miss && this.now() - miss.at < this.notFoundTtlMs) return { found: false, searched: miss.searched };
    const listed = this.fromRecentListing(ref, subscriptions, maxAge);
    if (listed) {
      this.found.set(key, listed);
      return { found: true, registry: listed.registry };
    }
    const resolution = await this.resolveFresh(ref, subscriptions, options.listings, options.abortSignal);
    if (resolution.found) {
      const entry = { registry: resolution.registry, at: this.now() };
      this.found.set(key, entry);
      this.byName.set(resolution.registry.name, entry);
      this.notFound.delete(key);
    } else {
      this.found.delete(key);
      this.notFound.set(key, { searched: resolution.searched, at: this.now() });
    }
    return resolution;
  }

  /** The registry a name refers to in a listing of one of the subscriptions made less than `maxAge` ago. */
  private fromRecentListing(
    ref: RegistryRef,
    subscriptions: readonly string[],
    maxAge: number,
  ): { registry: RegistryState; at: number } | undefined {
    if (ref.form === 'resourceId' || maxAge <= 0) return undefined;
    for (const subscriptionId of new Set(subscriptions.map(idKey))) {
      const listing = this.listed.get(subscriptionId);
      if (!listing || this.now() - listing.at >= maxAge) continue;
      const registry = listing.registries.find((r) => r.name === ref.name);
      if (registry) return { registry, at: listing.at };
    }
    return undefined;
  }

  /**
   * Runs a lookup unless ARM refused the same one with 403 or 404 within FAILED_LOOKUP_TTL_MS (then
   * throws that refusal again without a request); remembers such a refusal.
   */
  private async unlessRefused<T>(key: string, lookup: () => Promise<T>): Promise<T> {
    const refused = this.failed.get(key);
    if (refused && this.now() - refused.at < this.failedTtlMs) throw refused.error;
    try {
      const result = await lookup();
      this.failed.delete(key);
      return result;
    } catch (error) {
      const status = classifyArmError(error).status;
      if (status === 403 || status === 404) this.failed.set(key, { error, at: this.now() });
      throw error;
    }
  }

  private async resolveFresh(
    ref: RegistryRef,
    subscriptions: readonly string[],
    listings?: Map<string, Promise<RegistryState[]>>,
    abortSignal?: AbortSignal,
  ): Promise<Resolution> {
    if (ref.form === 'resourceId') {
      const registry = await this.get(ref.registry, abortSignal);
      return registry ? { found: true, registry } : { found: false, searched: [ref.registry.id] };
    }
    const searched = [...new Set(subscriptions.map(idKey))];
    for (const subscriptionId of searched) {
      let listing = listings?.get(subscriptionId) ?? this.listing.get(subscriptionId);
      if (!listing) {
        const startedAt = this.now();
        listing = this.unlessRefused(`list|${subscriptionId}`, () =>
          this.listIn(subscriptionId, abortSignal),
        );
        // Shared with other invocations of this instance while it runs (concurrent lookups make one
        // listing), then kept with its start time for lookups that may answer from it; a failed
        // listing is not remembered, so a retry lists again.
        const shared = listing;
        this.listing.set(subscriptionId, shared);
        const settled = () => {
          if (this.listing.get(subscriptionId) === shared) this.listing.delete(subscriptionId);
        };
        shared.then((registries) => {
          this.listed.set(subscriptionId, { registries, at: startedAt });
          settled();
        }, settled);
        listings?.set(subscriptionId, listing);
        listing.catch(() => listings?.delete(subscriptionId));
      }
      const registry = (await listing).find((r) => r.name === ref.name);
      if (registry) return { found: true, registry };
    }
    return { found: false, searched: searched.map((s) => `/subscriptions/${s}`) };
  }

  /** A registry resolved within the cache's lifetime, by name, without a request (readiness of a compliant target). */
  peek(name: string): RegistryState | undefined {
    const hit = this.byName.get(name.toLowerCase());
    return hit && this.now() - hit.at < this.cacheTtlMs ? hit.registry : undefined;
  }

  /** Every registry in a subscription (one list call per page). */
  async listIn(subscriptionId: string, abortSignal?: AbortSignal): Promise<RegistryState[]> {
    const registries: RegistryState[] = [];
    for await (const registry of this.clients
      .registries(subscriptionId)
      .registries.list(abortSignal ? { abortSignal } : {}))
      registries.push(toState(registry));
    return registries;
  }

  /** undefined when ARM says there is no such registry; a 403 is remembered (unlessRefused). */
  async get(ref: RegistryIdRef, abortSignal?: AbortSignal): Promise<RegistryState | undefined> {
    try {
      const found = await this.unlessRefused(`get|${idKey(ref.id)}`, () =>
        this.clients
          .registries(ref.subscriptionId)
          .registries.get(ref.resourceGroup, ref.name, abortSignal ? { abortSignal } : {}),
      );
      return toState(found);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }
}

interface RegistryResponse {
  id?: string;
  name?: string;
  loginServer?: string;
  roleAssignmentMode?: string;
  sku?: { name?: string };
  publicNetworkAccess?: string;
  networkRuleSet?: { defaultAction?: string; ipRules?: { iPAddressOrRange?: string }[] };
  networkRuleBypassOptions?: string;
  privateEndpointConnections?: {
    privateEndpoint?: { id?: string };
    privateLinkServiceConnectionState?: { status?: string };
  }[];
  policies?: { azureADAuthenticationAsArmPolicy?: { status?: string } };
  anonymousPullEnabled?: boolean;
  dataEndpointEnabled?: boolean;
}

function toState(found: RegistryResponse): RegistryState {
  const parsed = found.id ? parseRegistryId(found.id) : undefined;
  if (!parsed) throw new Error(`registry response has no valid id: ${JSON.stringify(found.id)}`);
  return {
    id: found.id as string,
    name: (found.name ?? parsed.name).toLowerCase(),
    subscriptionId: parsed.subscriptionId,
    loginServer: found.loginServer ?? '',
    ...(found.roleAssignmentMode ? { roleAssignmentMode: found.roleAssignmentMode } : {}),
    access: accessOf(found),
  };
}

/** The registry's settings that decide whether a granted pull gets through (REST spec 2025-11-01). */
function accessOf(found: RegistryResponse): RegistryAccess {
  const approved = (found.privateEndpointConnections ?? [])
    .filter((c) => (c.privateLinkServiceConnectionState?.status ?? '').toLowerCase() === 'approved')
    .map((c) => c.privateEndpoint?.id ?? '')
    .filter((id) => id !== '');
  const optional = <K extends keyof RegistryAccess>(key: K, value: RegistryAccess[K] | undefined) =>
    value === undefined ? {} : { [key]: value };
  return {
    ...optional('sku', found.sku?.name),
    ...optional('publicNetworkAccess', found.publicNetworkAccess),
    ...optional('firewallDefaultAction', found.networkRuleSet?.defaultAction),
    ipRules: (found.networkRuleSet?.ipRules ?? [])
      .map((r) => r.iPAddressOrRange ?? '')
      .filter((v) => v !== ''),
    ...optional('bypassOptions', found.networkRuleBypassOptions),
    approvedPrivateEndpoints: approved,
    ...optional('armAudienceTokens', found.policies?.azureADAuthenticationAsArmPolicy?.status),
    ...optional('anonymousPullEnabled', found.anonymousPullEnabled),
    ...optional('dataEndpointEnabled', found.dataEndpointEnabled),
    ...optional('roleAssignmentMode', found.roleAssignmentMode),
  };
}
