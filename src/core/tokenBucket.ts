// ARM-style pacing (burst capacity, steady refill) as a virtual-time token bucket (GCRA): each caller
// reserves the next free slot and is told how long to wait for it. Reservations are first come,
// first served, so concurrent callers neither stampede nor starve. Pure apart from the injected clock.

export interface BucketSettings {
  /** Requests allowed at once. */
  readonly burst: number;
  /** Requests per second, sustained. */
  readonly perSecond: number;
}

export class TokenBucket {
  /** When the bucket would next be empty if every reservation so far were spent at once. */
  private theoreticalArrival: number;
  private readonly intervalMs: number;
  private readonly toleranceMs: number;
  private readonly burst: number;

  constructor(
    settings: BucketSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.intervalMs = 1000 / settings.perSecond;
    this.toleranceMs = (settings.burst - 1) * this.intervalMs;
    this.burst = settings.burst;
    this.theoreticalArrival = now();
  }

  /**
   * Someone who knows better (ARM's own count) says at most `available` requests may go now: the
   * bucket never holds more than that. It only ever lowers what the bucket holds.
   */
  limitTo(available: number): void {
    const now = this.now();
    const held = Math.max(0, Math.min(this.burst, Math.floor(available)));
    this.theoreticalArrival = Math.max(this.theoreticalArrival, now + (this.burst - held) * this.intervalMs);
  }

  /** Reserves a slot; returns the ms to wait before using it (0 = now). */
  reserve(): number {
    const now = this.now();
    const arrival = Math.max(this.theoreticalArrival, now);
    this.theoreticalArrival = arrival + this.intervalMs;
    return Math.max(0, Math.ceil(arrival - this.toleranceMs - now));
  }
}
