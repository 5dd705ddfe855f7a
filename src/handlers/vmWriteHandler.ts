// Event Grid VM-write handling: parse the event, reconcile the VM it names, flush the audit, and
// throw only for failures another delivery may fix (Event Grid retries for up to 24 h). Terminal
// problems are audited and return normally, so a bad tag can never become a poison event.
import type { InvocationContext } from '@azure/functions';
import { Deadline } from '../azure/retry';
import { quote } from '../core/tag';
import type { ReconcileDeps } from '../reconcile/deps';
import { reconcileTarget, type TargetResult } from '../reconcile/perTarget/reconcileTarget';
import { parseTargetId } from '../targets';
import { isOwnWrite, originRefusal, parseWriteEvent, type TargetWriteEvent } from '../targets/writeEvent';

export class RetryableReconcileError extends Error {
  constructor(readonly result: TargetResult) {
    const reasons = result.records
      .filter((r) => (r.outcome === 'failed' || r.outcome === 'deferred') && r.retryable === true)
      .map((r) => `${r.outcome}: ${r.reason}`);
    super(
      `reconcile of ${result.targetId} did not finish and may on redelivery: ${[...new Set(reasons)].join('; ')}`,
    );
    this.name = 'RetryableReconcileError';
  }
}

export type VmWriteHandler = (
  event: unknown,
  context: InvocationContext,
) => Promise<TargetResult | undefined>;

export function createVmWriteHandler(deps: ReconcileDeps): VmWriteHandler {
  return async function handleVmWrite(event, context) {
    const started = (deps.now ?? Date.now)();
    const parsed = parseWriteEvent(event);
    if (parsed.kind === 'ignored') {
      context.debug(`ignored event: ${parsed.reason}`);
      return undefined;
    }
    if (parsed.kind === 'malformed') {
      context.warn(`malformed event: ${parsed.reason}`);
      deps.audit.record({
        action: 'failed',
        outcome: 'rejected',
        mode: deps.settings.mode,
        trigger: 'event',
        vmId: '',
        reason: `malformed event: ${parsed.reason}`,
      });
      await deps.audit.flush();
      return undefined;
    }
    // Before anything else, a token included: an event from a topic that is not a swept subscription's,
    // or naming a resource outside it, is refused and acknowledged (a redelivery would not change it).
    const refusal = originRefusal(parsed, deps.settings.subscriptions);
    if (refusal !== undefined) {
      context.warn(`refused event ${parsed.eventId}: ${refusal}`);
      await auditRefusedEvent(deps, parsed, refusal, started);
      return undefined;
    }

    // The echo of our own PATCH costs no ARM request: the app made the VM what it is, unless the state
    // store remembers an attach of ours that ARM accepted and nobody has seen end: then the echo is
    // what sees it end (confirmed, or sent again if it Failed). Who we are is known once any token has
    // been had (never waited for here: a token outage must not eat the budget); on an instance that
    // has not had one yet, the event is handled as any other.
    const self = deps.whoAmI.known();
    if (!self) deps.whoAmI().catch(() => {}); // learnt in the background, for the next event
    if (self && isOwnWrite(parsed, self)) {
      const pending = deps.memory ? (await deps.memory.recall(parsed.targetId))?.pending : undefined;
      if (!pending) {
        context.debug(`${parsed.targetId}: the echo of the app's own write; nothing to do`);
        return undefined;
      }
      context.debug(`${parsed.targetId}: the echo of the app's own write; its accepted attach is judged`);
    }

    let result: TargetResult;
    try {
      result = await reconcileTarget(
        { ...deps, log: context },
        {
          targetId: parsed.targetId,
          trigger: 'event',
          deadline: new Deadline(deps.settings.eventTimeBudgetMs),
          eventId: parsed.eventId,
          correlationId: parsed.correlationId,
          eventTime: parsed.eventTime,
          caller: parsed.caller,
        },
      );
    } finally {
      await deps.audit.flush();
    }
    context.info(
      `${parsed.targetId}: ${result.outcome} (${result.records.map((r) => r.action).join(', ') || 'no decision'})`,
    );
    if (result.retryable) throw new RetryableReconcileError(result);
    return result;
  };
}

/**
 * The record of an event refused for its origin. Its claims are left out of `caller`: they are what a
 * forged event says, not a principal whose write is known to have happened (the reason quotes them).
 */
async function auditRefusedEvent(
  deps: ReconcileDeps,
  event: TargetWriteEvent,
  refusal: string,
  started: number,
): Promise<void> {
  const type = parseTargetId(event.targetId)?.type;
  const claimed = event.caller ? ` (its claims name ${quote(event.caller)})` : '';
  deps.audit.record({
    action: 'event-refused',
    outcome: 'rejected',
    mode: deps.settings.mode,
    trigger: 'event',
    vmId: event.targetId,
    ...(type ? { targetType: type } : {}),
    eventId: event.eventId,
    ...(event.correlationId ? { correlationId: event.correlationId } : {}),
    ...(event.eventTime ? { eventTime: event.eventTime } : {}),
    reason: `event refused, nothing was read or written: ${refusal}${claimed}`,
    durationMs: (deps.now ?? Date.now)() - started,
  });
  await deps.audit.flush();
}
