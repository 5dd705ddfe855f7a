// How many targets a sweep works on at once in one subscription. A target that needs a PATCH holds
// its place for the whole Compute operation (3-7 s for an identity update), but spends ARM's write
// budget only for the PATCH itself: with a fixed handful of places the sweep waits on operations
// while ARM would take 10 writes a second. So the places are the configured floor (enough for the
// requests themselves, as before) plus, by Little's law, ARM's write refill per subscription times
// how long a writing target holds its place without spending budget (the attach's wait for its
// operation, measured by the targets' adapter), with some headroom, up to a ceiling. A
// target's own wall time is not the measure: it includes waits for ARM's budget, which more places
// would only lengthen. It grows a few places per target that wrote, and halves (once per new 429)
// when ARM throttled a request in the subscription: the places track the budget, never race it.
// Requests are still paced by ARM's counts and the process's buckets (armRequestPolicy.ts): more
// places never means more than ARM allows, only that the sweep is not the one holding back. Written
// here rather than taken from p-limit: p-limit 3 (the last CommonJS release) cannot change its
// concurrency.

/** ARM's write refill per subscription and principal (shared/reference/azure-rest.md §7). */
export const ARM_WRITES_PER_SECOND = 10;
/** Headroom over Little's law, for the spread of operation times. */
const HEADROOM = 1.25;
/** The moving average's weight of the newest sample. */
const WEIGHT = 0.2;
/** At most this many more places per target that wrote. */
const STEP = 2;

export class AdaptiveLimit {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private averageMs: number | undefined;
  private current: number;
  /** The subscription's 429 count when the places were last halved. */
  private throttledAtHalving = 0;

  constructor(
    private readonly floor: number,
    private readonly ceiling: number,
    private readonly writesPerSecond = ARM_WRITES_PER_SECOND,
  ) {
    if (!(floor >= 1 && ceiling >= floor)) throw new Error(`AdaptiveLimit: need 1 <= ${floor} <= ${ceiling}`);
    this.current = floor;
  }

  /** Places now. */
  get concurrency(): number {
    return this.current;
  }

  /** Runs `task` once a place is free (first come, first served). */
  run<T>(task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.active += 1;
        Promise.resolve()
          .then(task)
          .then(resolve, reject)
          .finally(() => {
            this.active -= 1;
            this.startWaiting();
          });
      };
      if (this.active < this.current) start();
      else this.waiting.push(start);
    });
  }

  /** A target that wrote waited this long for its operation (spending no ARM budget): the places follow. */
  observeWrite(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.averageMs = this.averageMs === undefined ? ms : this.averageMs + WEIGHT * (ms - this.averageMs);
    const wanted = this.floor + Math.ceil(((this.writesPerSecond * this.averageMs) / 1000) * HEADROOM);
    const next = wanted > this.current ? Math.min(wanted, this.current + STEP) : wanted;
    this.current = Math.max(this.floor, Math.min(this.ceiling, next));
    this.startWaiting();
  }

  /**
   * The subscription's 429 count now: if it grew since the last halving, half the places (those
   * running finish; no new ones start until fewer run).
   */
  observeThrottled(count: number): void {
    if (count <= this.throttledAtHalving) return;
    this.throttledAtHalving = count;
    this.current = Math.max(this.floor, Math.floor(this.current / 2));
  }

  private startWaiting(): void {
    while (this.active < this.current) {
      const next = this.waiting.shift();
      if (!next) return;
      next();
    }
  }
}
