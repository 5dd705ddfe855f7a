// The sweep's time: a deadline, a margin under which no new work starts, and whether the sweep has
// had to stop early (the rest is left for the next sweep, reported as not finished).
import type { Deadline } from '../../azure/retry';

export class SweepBudget {
  private stoppedEarly = false;

  constructor(
    readonly deadline: Deadline,
    readonly marginMs: number,
  ) {}

  hasTime(): boolean {
    return this.deadline.remainingMs() > this.marginMs;
  }

  /** Time left for a request that must end before the margin. */
  requestBudgetMs(): number {
    return this.deadline.remainingMs() - this.marginMs;
  }

  stop(): void {
    this.stoppedEarly = true;
  }

  get stopped(): boolean {
    return this.stoppedEarly;
  }
}
