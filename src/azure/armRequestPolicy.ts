// A pipeline policy on every ARM client: counts requests by kind (for the sweep summary and the
// benchmark) and paces them with per-subscription token buckets set below ARM's own limits, so a
// fleet-wide sweep does not spend the subscription's write budget that other tools also need.
import type { PipelinePolicy, PipelineRequest } from '@azure/core-rest-pipeline';
import { type BucketSettings, TokenBucket } from '../core/tokenBucket';
import { sleep } from './retry';

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

export class ArmRequestMeter {
  private counts = { reads: 0, writes: 0, polls: 0, throttled: 0 };
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly pacing: PacingSettings,
    private readonly wait: (ms: number) => Promise<void> = sleep,
    private readonly now: () => number = Date.now,
  ) {}

  snapshot(): ArmRequestCounts {
    return { ...this.counts };
  }

  readonly policy: PipelinePolicy = {
    name: 'acrpullArmRequestMeter',
    sendRequest: async (request, next) => {
      const kind = await this.pace(request);
      this.counts[kind === 'read' ? 'reads' : kind === 'write' ? 'writes' : 'polls'] += 1;
      const response = await next(request);
      if (response.status === 429) this.counts.throttled += 1;
      return response;
    },
  };

  private async pace(request: PipelineRequest): Promise<RequestKind> {
    const path = new URL(request.url).pathname;
    const kind = requestKind(request.method, path);
    const bucketKind = kind === 'write' ? 'writes' : 'reads';
    const key = `${throttlingScope(path)}|${bucketKind}`;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(this.pacing[bucketKind], this.now);
      this.buckets.set(key, bucket);
    }
    const waitMs = bucket.reserve();
    if (waitMs > 0) await this.wait(waitMs);
    return kind;
  }
}
