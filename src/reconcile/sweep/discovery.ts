// Discovery: each subscription's tagged targets, page by page from Resource Graph (paced by its quota),
// each page worked on while at most the next is fetched; then the untagged targets that hold a
// pull-named identity (their tag was removed): with revocation on each is reconciled (read, proven,
// detached), off they are counted.
import { ArmOperationError } from '../../azure/armErrors';
import { type HolderRow, QuotaExhaustedError, type TaggedVmPage } from '../../azure/resourceGraph';
import { withRetry } from '../../azure/retry';
import { attachedIdentityIds } from '../../core/identityView';
import { holdsRevocable } from '../../core/revocation';
import { findTagValue } from '../../core/tag';
import { reconcileTarget } from '../perTarget/reconcileTarget';
import { AdaptiveLimit } from './adaptiveLimit';
import type { SweepRun } from './sweepRun';
import { processPage } from './triage';

/**
 * At most this many targets in flight per subscription: ARM's 10 writes a second times the longest
 * recorded identity update (7 s) and a little more; each holds only its target's state.
 */
const MAX_TARGETS_IN_FLIGHT = 128;

export async function sweepSubscription(run: SweepRun, subscriptionId: string): Promise<void> {
  // Targets in this subscription, as many at once as ARM's write budget can use (adaptiveLimit.ts).
  const limit = new AdaptiveLimit(
    run.deps.settings.sweepConcurrency,
    Math.max(run.deps.settings.sweepConcurrency, MAX_TARGETS_IN_FLIGHT),
  );
  const fetchPage = (token: string | undefined) =>
    withRetry('query Resource Graph', run.retryEnv, (signal) =>
      run.deps.graph.taggedVmPage(
        [subscriptionId],
        run.deps.settings.tagKey,
        token,
        signal,
        run.budget.requestBudgetMs(),
      ),
    );
  let next: Promise<TaggedVmPage> | undefined = fetchPage(undefined);
  let firstPage = true;
  while (next) {
    let page: TaggedVmPage;
    try {
      page = await next;
    } catch (error) {
      if (isQuotaExhausted(error)) run.budget.stop();
      else
        run.discoveryError ??= `could not list tagged VMs in ${subscriptionId}: ${(error as Error).message}`;
      return;
    }
    if (firstPage) run.tally.total += page.totalRecords ?? page.rows.length;
    firstPage = false;
    const token = page.skipToken;
    next = token && run.budget.hasTime() && !run.budget.stopped ? fetchPage(token) : undefined;
    if (token && !next) run.budget.stop();
    // A page fetched ahead that is not used must not reject unobserved.
    next?.catch(() => {});
    await processPage(run, page.rows, limit);
  }
  if (!run.budget.stopped && run.budget.hasTime()) await sweepHolders(run, subscriptionId, limit);
}

async function sweepHolders(run: SweepRun, subscriptionId: string, limit: AdaptiveLimit) {
  const { settings } = run.deps;
  let token: string | undefined;
  do {
    let page: { rows: readonly HolderRow[]; skipToken?: string };
    try {
      page = await withRetry('query Resource Graph', run.retryEnv, (signal) =>
        run.deps.graph.pullIdentityHoldersPage(
          [subscriptionId],
          settings.identityResourceGroup.id,
          settings.tagKey,
          token,
          signal,
          run.budget.requestBudgetMs(),
        ),
      );
    } catch (error) {
      if (isQuotaExhausted(error)) run.budget.stop();
      else
        run.discoveryError ??= `could not list untagged pull identity holders in ${subscriptionId}: ${(error as Error).message}`;
      return;
    }
    const holders = page.rows.filter(
      (row) =>
        findTagValue(row.tags ?? {}, settings.tagKey) === undefined &&
        holdsRevocable(settings, attachedIdentityIds(row.identity)),
    );
    for (const row of holders) run.tally.noteHeld(row.identity);
    if (!settings.revoke) run.tally.revocable += holders.length;
    else {
      run.tally.total += holders.length;
      await Promise.all(holders.map((row) => limit.run(() => revokeHolder(run, row.id))));
    }
    token = page.skipToken;
    if (token && (!run.budget.hasTime() || run.budget.stopped)) {
      run.budget.stop();
      return;
    }
  } while (token);
}

async function revokeHolder(run: SweepRun, targetId: string): Promise<void> {
  if (!run.budget.hasTime()) {
    run.budget.stop();
    run.tally.settle(targetId, 'deferred');
    return;
  }
  const result = await reconcileTarget(run.deps, {
    targetId,
    trigger: run.trigger,
    deadline: run.budget.deadline,
  });
  run.tally.noteChanges(result.records);
  run.tally.settle(targetId, result.outcome === 'untagged' ? 'compliant' : result.outcome, result.plan);
}

function isQuotaExhausted(error: unknown): boolean {
  return (
    error instanceof QuotaExhaustedError ||
    (error instanceof ArmOperationError && error.cause instanceof QuotaExhaustedError)
  );
}
