// ARM's request limits: token buckets per subscription (or tenant) × caller × operation kind, which
// feed the x-ms-ratelimit-remaining-* headers, and Resource Graph's own per-caller quota window
// (x-ms-user-quota-*). Buckets always count; they refuse requests only when the throttle is on.

export type Kind = 'reads' | 'writes' | 'deletes';

export interface TokenBucketSettings {
  /** Bucket size: how many requests may come at once. */
  burst: number;
  /** Tokens added per second (fractions accumulate). */
  perSecond: number;
}

export interface ResourceGraphQuota {
  /** Queries a caller may send per window. */
  queries: number;
  windowMs: number;
  /**
   * Whether a 429 also carries Retry-After (default true). Microsoft's guidance for throttled Resource
   * Graph requests names only x-ms-user-quota-remaining and x-ms-user-quota-resets-after; whether the
   * front door adds Retry-After is not documented, so the emulator can do either.
   */
  retryAfter: boolean;
}

export interface ThrottleSettings {
  reads?: Partial<TokenBucketSettings>;
  writes?: Partial<TokenBucketSettings>;
  deletes?: Partial<TokenBucketSettings>;
  resourceGraph?: Partial<ResourceGraphQuota>;
}

interface Limits {
  reads: TokenBucketSettings;
  writes: TokenBucketSettings;
  deletes: TokenBucketSettings;
  resourceGraph: ResourceGraphQuota;
}

/** ARM's documented defaults (per subscription and per tenant alike) and Resource Graph's quota. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  reads: Object.freeze({ burst: 250, perSecond: 25 }),
  writes: Object.freeze({ burst: 200, perSecond: 10 }),
  deletes: Object.freeze({ burst: 200, perSecond: 10 }),
  resourceGraph: Object.freeze({ queries: 15, windowMs: 5000, retryAfter: true }),
});

export function kindOf(method: string): Kind {
  if (method === 'GET' || method === 'HEAD') return 'reads';
  return method === 'DELETE' ? 'deletes' : 'writes';
}

function positive(value: number, what: string, integer: boolean): number {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`throttle: ${what} must be a positive ${integer ? 'integer' : 'number'} (got ${value})`);
  }
  return value;
}

function resolveLimits(settings: ThrottleSettings): Limits {
  const bucket = (kind: Kind): TokenBucketSettings => {
    const merged = { ...DEFAULT_LIMITS[kind], ...settings[kind] };
    return {
      burst: positive(merged.burst, `${kind}.burst`, true),
      perSecond: positive(merged.perSecond, `${kind}.perSecond`, false),
    };
  };
  const graph = { ...DEFAULT_LIMITS.resourceGraph, ...settings.resourceGraph };
  return {
    reads: bucket('reads'),
    writes: bucket('writes'),
    deletes: bucket('deletes'),
    resourceGraph: {
      queries: positive(graph.queries, 'resourceGraph.queries', true),
      windowMs: positive(graph.windowMs, 'resourceGraph.windowMs', false),
      retryAfter: graph.retryAfter !== false,
    },
  };
}

/** What the limiter decided: the headers to send, and when refused, the seconds to wait. */
export interface Admission {
  headers: Record<string, string>;
  refusedForSeconds?: number;
}

/** `hh:mm:ss`, as in x-ms-user-quota-resets-after; seconds rounded up. */
export function hhmmss(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(total / 3600))}:${pad(Math.floor(total / 60) % 60)}:${pad(total % 60)}`;
}

const retrySeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export class RequestLimiter {
  private enforcing = false;
  private limits: Limits = DEFAULT_LIMITS;
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();
  private readonly graphWindows = new Map<string, { used: number; startMs: number }>();

  /** Off (false/undefined), on with the defaults (true), or on with these numbers. Starts every bucket full. */
  configure(setting: boolean | ThrottleSettings | undefined): void {
    this.enforcing = setting !== undefined && setting !== false;
    this.limits = typeof setting === 'object' ? resolveLimits(setting) : DEFAULT_LIMITS;
    this.buckets.clear();
    this.graphWindows.clear();
  }

  /** One ARM request: takes a token from the caller's bucket for this subscription (or the tenant). */
  admitArm(subscriptionId: string | undefined, actor: string, method: string): Admission {
    const kind = kindOf(method);
    const scope = subscriptionId ? 'subscription' : 'tenant';
    const header = `x-ms-ratelimit-remaining-${scope}-${kind}`;
    const { burst, perSecond } = this.limits[kind];
    const key = `${scope}/${subscriptionId?.toLowerCase() ?? ''}/${actor}/${kind}`;
    const now = Date.now();
    const bucket = this.buckets.get(key) ?? { tokens: burst, atMs: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.atMs) / 1000) * perSecond);
    bucket.atMs = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { headers: { [header]: String(Math.floor(bucket.tokens)) } };
    }
    const headers = { [header]: '0' };
    if (!this.enforcing) return { headers };
    return { headers, refusedForSeconds: retrySeconds(((1 - bucket.tokens) / perSecond) * 1000) };
  }

  get graphRetryAfter(): boolean {
    return this.limits.resourceGraph.retryAfter;
  }

  /** One Resource Graph query: counts against the caller's fixed window. */
  admitGraph(actor: string): Admission {
    const { queries, windowMs } = this.limits.resourceGraph;
    const now = Date.now();
    let window = this.graphWindows.get(actor);
    if (!window || now - window.startMs >= windowMs) {
      window = { used: 0, startMs: now };
      this.graphWindows.set(actor, window);
    }
    const resetsInMs = window.startMs + windowMs - now;
    const refused = window.used >= queries;
    if (!refused) window.used += 1;
    const headers = {
      'x-ms-user-quota-remaining': String(queries - window.used),
      'x-ms-user-quota-resets-after': hhmmss(resetsInMs),
    };
    if (!refused || !this.enforcing) return { headers };
    return { headers, refusedForSeconds: retrySeconds(resetsInMs) };
  }
}
