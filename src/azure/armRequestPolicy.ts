// A pipeline policy on every ARM client: counts requests by kind (for the sweep summary and the
// benchmark) and paces them two ways: per-subscription token buckets set below ARM's own limits (this
// process), and ARM's own shared signals (every instance: the remaining-count headers and 429's
// Retry-After, see core/sharedBudget.ts). No wait outlives the request's abort signal (the caller's
// time budget): the request is abandoned instead, to be retried by a redelivery or the next sweep.
import { setTimeout as delay } from 'node:timers/promises';
import type { PipelinePolicy, PipelineRequest } from '@azure/core-rest-pipeline';
import { LruMap, PER_SUBSCRIPTION_LIMIT } from '../core/lru';
import { SHARED_BUDGET, SharedBudget, type SharedBudgetSettings } from '../core/sharedBudget';
import { type BucketSettings, TokenBucket } from '../core/tokenBucket';

/** The SDK's abort signal type (from @azure/abort-controller, through the pipeline request). */
type AbortSignalLike = NonNullable<PipelineRequest['abortSignal']>;

export type RequestKind = 'read' | 'write' | 'poll';

export interface ArmRequestCounts {
  readonly reads: number;
  readonly writes: number;
  readonly polls: number;
  /** 429 answers received. */
  readonly throttled: number;
}

export interface PacingSettings {
  readonly reads: BucketSettings;
  readonly writes: BucketSettings;
}

/** Pure: what kind of request this is, for ARM's throttling and for our accounting. */
export function requestKind(method: string, path: string): RequestKind {
  const m = method.toUpperCase();
  if (m === 'GET' || m === 'HEAD')
    return /\/providers\/[^/]+\/locations\/[^/]+\/operations\//i.test(path) ? 'poll' : 'read';
  // Resource Graph queries are POSTs but reads.
  if (m === 'POST' && /\/providers\/Microsoft\.ResourceGraph\/resources$/i.test(path)) return 'read';
  return 'write';
}

/** Pure: ARM throttles per subscription; tenant-level calls share one bucket. */
export function throttlingScope(path: string): string {
  const m = /^\/+subscriptions\/([^/?]+)/i.exec(path);
  return m?.[1] ? m[1].toLowerCase() : 'tenant';
}

/**
 * Sleeps, unless the signal aborts first: then rejects with Node's AbortError (the time budget ran
 * out), which the error classification treats as retryable.
 */
export function sleepUnlessAborted(ms: number, signal?: AbortSignalLike | null): Promise<void> {
  // The SDK's signal is a DOM AbortSignal at run time (AbortSignal.timeout in withRetry).
  const options = signal ? { signal: signal as unknown as AbortSignal } : {};
  return delay(ms, undefined, options);
}

/** One throttling scope's pacing: its token bucket and ARM's shared signals, per kind; its 429s. */
type ScopePacing = Record<
  'reads' | 'writes',
  { readonly bucket: TokenBucket; readonly budget: SharedBudget }
> & { throttled: number };

export class ArmRequestMeter {
  private counts = { reads: 0, writes: 0, polls: 0, throttled: 0, paced: 0 };
  /**
   * Per subscription (the scope a request's path names, so any a tag names), at most `scopeLimit`:
   * the least recently used is forgotten, and starts afresh (a full bucket) if used again.
   */
  private readonly scopes: LruMap<string, ScopePacing>;

  constructor(
    private readonly pacing: PacingSettings,
    private readonly wait: (
      ms: number,
      signal?: AbortSignalLike | null,
    ) => Promise<void> = sleepUnlessAborted,
    private readonly now: () => number = Date.now,
    private readonly sharedSettings: Readonly<
      Record<'reads' | 'writes', SharedBudgetSettings>
    > = SHARED_BUDGET,
    scopeLimit = PER_SUBSCRIPTION_LIMIT,
  ) {
    this.scopes = new LruMap(scopeLimit);
  }

  /** How many throttling scopes are paced now (bounded by the limit). */
  pacedScopes(): number {
    return this.scopes.size;
  }

  snapshot(): ArmRequestCounts {
    const { paced: _paced, ...counts } = this.counts;
    return counts;
  }

  /** 429s received for requests in this subscription (while its pacing is remembered). */
  throttledIn(subscriptionId: string): number {
    return this.scopes.get(subscriptionId.toLowerCase())?.throttled ?? 0;
  }

  /** Requests that waited for ARM's shared signals (a low remaining count, or a 429's pause). */
  pacedByArm(): number {
    return this.counts.paced;
  }

  readonly policy: PipelinePolicy = {
    name: 'acrpullArmRequestMeter',
    sendRequest: async (request, next) => {
      const { kind, budget, bucket, scope, ticket, pacing } = await this.pace(request);
      this.counts[kind === 'read' ? 'reads' : kind === 'write' ? 'writes' : 'polls'] += 1;
      const response = await next(request);
      const bucketKind = kind === 'write' ? 'writes' : 'reads';
      const remaining = response.headers.get(
        `x-ms-ratelimit-remaining-${scope === 'tenant' ? 'tenant' : 'subscription'}-${bucketKind}`,
      );
      budget.observe(
        remaining !== undefined && /^\d+$/.test(remaining) ? Number(remaining) : undefined,
        ticket,
      );
      // The process's own bucket never holds more than ARM says is left: when ARM's counts go stale,
      // it goes on from there.
      const left = budget.estimate();
      if (left !== undefined) bucket.limitTo(left);
      if (response.status === 429) {
        this.counts.throttled += 1;
        pacing.throttled += 1;
        // The whole (subscription, kind) waits, not just this request (which the retry loop repeats).
        budget.pauseFor(retryAfterMs(response.headers.get('retry-after')) ?? 1_000);
      }
      return response;
    },
  };

  private async pace(request: PipelineRequest): Promise<{
    kind: RequestKind;
    budget: SharedBudget;
    bucket: TokenBucket;
    scope: string;
    ticket: number;
    pacing: ScopePacing;
  }> {
    const path = new URL(request.url).pathname;
    const kind = requestKind(request.method, path);
    const bucketKind = kind === 'write' ? 'writes' : 'reads';
    const scope = throttlingScope(path);
    let pacing = this.scopes.get(scope);
    if (!pacing) {
      const of = (kind: 'reads' | 'writes') => ({
        bucket: new TokenBucket(this.pacing[kind], this.now),
        budget: new SharedBudget(this.sharedSettings[kind], this.now),
      });
      pacing = { reads: of('reads'), writes: of('writes'), throttled: 0 };
      this.scopes.set(scope, pacing);
    }
    const { bucket, budget } = pacing[bucketKind];
    // While ARM's fresh count says plenty is left, it alone paces (it is what every instance spends);
    // near its low water mark, or when ARM has said nothing lately, the process's own bucket (set
    // below ARM's refill, and never holding more than ARM's count) paces too.
    // The request counts against ARM's count from this decision on (not from when it goes out), so
    // requests decided together do not all see the same plenty.
    let local = 0;
    if (!budget.plenty()) {
      const left = budget.estimate();
      if (left !== undefined) bucket.limitTo(left);
      local = bucket.reserve();
    }
    const shared = budget.reserve();
    const ticket = budget.sent();
    if (shared > local) this.counts.paced += 1;
    const waitMs = Math.max(local, shared);
    if (waitMs > 0) await this.wait(waitMs, request.abortSignal);
    return { kind, budget, bucket, scope, ticket, pacing };
  }
}

function retryAfterMs(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim()) * 1000;
}
