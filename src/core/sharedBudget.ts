// Pacing from ARM's own shared signals. ARM's buckets are per principal (every instance of the app
// spends the same ones; shared/reference/azure-rest.md §7, §11) and each response says what is left in
// this (subscription, kind) bucket: x-ms-ratelimit-remaining-subscription-reads / -writes. Below a low
// water mark every instance spaces its requests, more the lower the count, so K instances settle
// where together they spend about the refill rate, whatever K is; a 429 pauses the whole
// (subscription, kind) for its Retry-After, not just the one request. The requests this process sent
// after the one whose answer gave the newest count are taken off that count (ARM counts requests as
// they arrive, and they arrive about in the order they were sent), so many concurrent requests do not
// all go on one count that no longer holds. While a count is fresh it is what paces
// (armRequestPolicy.ts); the process's own bucket only when ARM has said nothing lately. Pure apart
// from the clock.

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
  /** Requests sent so far (each one's ticket is its number). */
  private sentCount = 0;
  /** The ticket of the request whose answer gave `remaining`. */
  private countTicket = 0;

  constructor(
    private readonly settings: SharedBudgetSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** A request goes out now: its ticket, for `observe` with its answer. */
  sent(): number {
    this.sentCount += 1;
    return this.sentCount;
  }

  /**
   * What the answer to the request with this ticket said was left (undefined: it said nothing, or
   * there was no answer). An answer to a request sent before the one that gave the count now held
   * is older news: ignored.
   */
  observe(remaining: number | undefined, ticket = this.sentCount): void {
    if (remaining === undefined || !Number.isFinite(remaining)) return;
    if (ticket < this.countTicket) return;
    this.remaining = remaining;
    this.countTicket = ticket;
    this.largest = Math.max(this.largest, remaining + 1);
    this.observedAt = this.now();
  }

  /** ARM's newest count less the requests sent after the one it answered; undefined when stale or unknown. */
  estimate(): number | undefined {
    if (this.remaining === undefined || this.now() - this.observedAt > this.settings.staleAfterMs)
      return undefined;
    return this.remaining - (this.sentCount - this.countTicket);
  }

  /** A 429: nobody in this process sends on this bucket until then. */
  pauseFor(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + Math.max(0, ms));
  }

  /** The spacing the last count calls for (0 above the low water mark or when stale). */
  gapMs(): number {
    const { maxGapMs, staleAfterMs } = this.settings;
    if (this.remaining === undefined || this.now() - this.observedAt > staleAfterMs) return 0;
    const mark = this.mark();
    if (this.remaining >= mark) return 0;
    return Math.ceil((1 - Math.max(0, this.remaining) / mark) * maxGapMs);
  }

  /**
   * Whether ARM's fresh count, less what was sent since, is above the low water mark: then nothing
   * but that count need pace a request (the process's own bucket, set below ARM's refill, would only
   * hold back what ARM would take).
   */
  plenty(): boolean {
    const left = this.estimate();
    return left !== undefined && left >= this.mark();
  }

  private mark(): number {
    return Math.min(this.settings.lowWater, Math.ceil(this.largest * LOW_WATER_SHARE));
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
