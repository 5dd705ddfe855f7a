// A token bucket like ARM's own (burst capacity, steady refill). Pure apart from the injected clock.

export interface BucketSettings {
  /** Tokens available at once. */
  readonly burst: number;
  /** Tokens added per second. */
  readonly perSecond: number;
}

export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly settings: BucketSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = settings.burst;
    this.updatedAt = now();
  }

  /** Takes a token if one is available; otherwise returns how many ms until one will be. */
  take(): number {
    const now = this.now();
    this.tokens = Math.min(
      this.settings.burst,
      this.tokens + ((now - this.updatedAt) / 1000) * this.settings.perSecond,
    );
    this.updatedAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) / this.settings.perSecond) * 1000);
  }
}
