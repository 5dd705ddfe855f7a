// Pacing from ARM's own shared signals. ARM's buckets are per principal (every instance of the app
// spends the same ones; shared/reference/azure-rest.md §7, §11) and each response says what is left in
// this (subscription, kind) bucket: x-ms-ratelimit-remaining-subscription-reads / -writes. Below a low
// water mark every instance spaces its requests, more the lower the count, so K instances settle
// where together they spend about the refill rate, whatever K is; a 429 pauses the whole
// (subscription, kind) for its Retry-After, not just the one request. Pure apart from the clock.

export interface SharedBudgetSettings {
  /** Below this count left, requests are spaced. */
  readonly lowWater: number;
  /** The spacing when nothing is left. */
  readonly maxGapMs: number;
  /** A count older than this says nothing any more (the bucket has refilled since). */
  readonly staleAfterMs: number;
}

/** ARM: reads 250 burst / 25 s⁻¹, writes 200 / 10 s⁻¹ per subscription and principal. */
export const SHARED_BUDGET: Readonly<Record<'reads' | 'writes', SharedBudgetSettings>> = {
  reads: { lowWater: 100, maxGapMs: 1_000, staleAfterMs: 5_000 },
  writes: { lowWater: 80, maxGapMs: 2_000, staleAfterMs: 5_000 },
};

/** The low water mark is at most this share of the bucket's size as the counts show it. */
const LOW_WATER_SHARE = 0.4;

export class SharedBudget {
  private remaining: number | undefined;
  /** The most ever seen left: the bucket's size, about (a smaller bucket lowers the mark with it). */
  private largest = 0;
  private observedAt = 0;
  private pausedUntil = 0;
  private nextSlot = 0;

  constructor(
    private readonly settings: SharedBudgetSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** What a response said was left (undefined: it said nothing). */
  observe(remaining: number | undefined): void {
    if (remaining === undefined || !Number.isFinite(remaining)) return;
    this.remaining = remaining;
    this.largest = Math.max(this.largest, remaining + 1);
    this.observedAt = this.now();
  }

  /** A 429: nobody in this process sends on this bucket until then. */
  pauseFor(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + Math.max(0, ms));
  }

  /** The spacing the last count calls for (0 above the low water mark or when stale). */
  gapMs(): number {
    const { lowWater, maxGapMs, staleAfterMs } = this.settings;
    if (this.remaining === undefined || this.now() - this.observedAt > staleAfterMs) return 0;
    const mark = Math.min(lowWater, Math.ceil(this.largest * LOW_WATER_SHARE));
    if (this.remaining >= mark) return 0;
    return Math.ceil((1 - Math.max(0, this.remaining) / mark) * maxGapMs);
  }

  /** Reserves the next slot; the ms to wait before sending (0 = now). */
  reserve(): number {
    const now = this.now();
    const start = Math.max(now, this.pausedUntil);
    const gap = this.gapMs();
    if (gap === 0) return start - now;
    const slot = Math.max(start, this.nextSlot);
    this.nextSlot = slot + gap;
    return slot - now;
  }
}
