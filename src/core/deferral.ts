// One loop per busy target, not one per event. A target busy with another writer's operation is
// deferred with a due time, kept in the state store: events for it before then are acknowledged
// without an ARM request; the first one after it (or Event Grid's redelivery of the event that
// deferred it, or the sweep) reads it again. The delay doubles per busy read, from about what a short
// owner operation takes to the sweep's period, which takes up every deferred target anyway. Pure.

export interface Deferral {
  readonly dueAt: number;
  /** Busy reads so far. */
  readonly attempt: number;
  /** The event whose redeliveries keep the loop going (Event Grid redelivers while it fails). */
  readonly eventId?: string;
  readonly reason: string;
}

export interface DeferralBackoff {
  readonly firstMs: number;
  readonly maxMs: number;
}

/** 90 s, 3 min, 6 min, 12 min, 15 min (the sweep's period: it takes the target up by then anyway). */
export const BUSY_BACKOFF: DeferralBackoff = { firstMs: 90_000, maxMs: 15 * 60_000 };

export function nextDeferral(
  previous: Deferral | undefined,
  now: number,
  reason: string,
  eventId: string | undefined,
  backoff: DeferralBackoff = BUSY_BACKOFF,
): Deferral {
  const attempt = (previous?.attempt ?? 0) + 1;
  const delay = Math.min(backoff.maxMs, backoff.firstMs * 2 ** (attempt - 1));
  return { dueAt: now + delay, attempt, ...(eventId ? { eventId } : {}), reason };
}

/**
 * What an event does about a deferral: `read` (none, or it is due), `redeliver` (the deferring event
 * again, before its time: fail again without a request, so Event Grid keeps the one loop going), or
 * `acknowledge` (another event before the due time: the loop already has it).
 */
export function eventAgainstDeferral(
  deferral: Deferral | undefined,
  now: number,
  eventId: string | undefined,
  backoff: DeferralBackoff = BUSY_BACKOFF,
): 'read' | 'redeliver' | 'acknowledge' {
  // A due time further away than the longest delay was not set by this rule (a forged row, a clock
  // far ahead): it is no deferral, so nothing can silence a target's events for longer than that.
  if (!deferral || now >= deferral.dueAt || deferral.dueAt - now > backoff.maxMs) return 'read';
  if (deferral.eventId !== undefined && deferral.eventId === eventId) return 'redeliver';
  return 'acknowledge';
}
