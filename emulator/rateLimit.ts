// ARM's x-ms-ratelimit-remaining-* headers. Buckets count down per subscription and operation type
// and refill over time like ARM's token bucket, but nothing is ever throttled (see README).

type Kind = 'reads' | 'writes' | 'deletes';

const BUCKETS: Record<Kind, { size: number; refillPerSecond: number }> = {
  reads: { size: 250, refillPerSecond: 25 },
  writes: { size: 200, refillPerSecond: 10 },
  deletes: { size: 200, refillPerSecond: 10 },
};

export function kindOf(method: string): Kind {
  if (method === 'GET' || method === 'HEAD') return 'reads';
  return method === 'DELETE' ? 'deletes' : 'writes';
}

export class RateLimitHeaders {
  private readonly buckets = new Map<string, { remaining: number; atMs: number }>();

  /** Takes one token for this request and returns the header ARM would send. */
  take(subscriptionId: string | undefined, method: string): Record<string, string> {
    const kind = kindOf(method);
    const scope = subscriptionId ? 'subscription' : 'tenant';
    const key = `${scope}/${subscriptionId?.toLowerCase() ?? ''}/${kind}`;
    const { size, refillPerSecond } = BUCKETS[kind];
    const now = Date.now();
    const bucket = this.buckets.get(key) ?? { remaining: size, atMs: now };
    const refilled = Math.min(
      size,
      bucket.remaining + Math.floor(((now - bucket.atMs) / 1000) * refillPerSecond),
    );
    const remaining = Math.max(0, refilled - 1);
    this.buckets.set(key, { remaining, atMs: refilled > bucket.remaining ? now : bucket.atMs });
    return { [`x-ms-ratelimit-remaining-${scope}-${kind}`]: String(remaining) };
  }
}
