// Timer handling: run one sweep within the time budget, flush the audit, and fail the invocation
// only when the tagged VMs could not be listed at all (so monitoring sees a broken sweep).
import type { InvocationContext, Timer } from '@azure/functions';
import { Deadline } from '../azure/retry';
import { type SweepDeps, type SweepResult, sweep } from '../reconcile/sweep/sweep';

export class SweepFailedError extends Error {
  constructor(readonly result: SweepResult) {
    super(`sweep ${result.summary.sweepId} failed: ${result.summary.reason ?? 'unknown reason'}`);
    this.name = 'SweepFailedError';
  }
}

export type SweepHandler = (timer: Timer, context: InvocationContext) => Promise<SweepResult>;

export function createSweepHandler(deps: SweepDeps): SweepHandler {
  return async function handleSweep(timer, context) {
    if (timer.isPastDue)
      context.warn('the sweep is running late (the previous one overran, or the app was down)');
    let result: SweepResult;
    try {
      result = await sweep(
        { ...deps, log: context },
        { deadline: new Deadline(deps.settings.sweepTimeBudgetMs) },
      );
    } finally {
      await deps.audit.flush();
    }
    if (result.discoveryFailed) throw new SweepFailedError(result);
    return result;
  };
}
