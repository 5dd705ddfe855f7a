// What the app remembers of a target between invocations and instances, in the state store
// (azure/stateTable.ts): its busy deferral (core/deferral.ts) and, per identity, the history of its
// attaches that others undid (core/contest.ts), in one partition per target, so one query recalls it
// all; and the attach whose operation ARM accepted but nobody has seen end yet
// (core/pendingOperation.ts), in one partition of all such rows (keyed by the target), so the sweep
// lists them with one query and a recall reads the target's with one point read beside its partition.
// Everything here is rebuildable: when the store cannot answer, the caller goes on as if it remembered
// nothing (costing reads and PATCHes, never safety), and after a failure the store is left alone for a
// while so that an outage does not cost every event its timeout.
import { createHash } from 'node:crypto';
import { type StateRow, type StateTable, StateUnavailableError } from '../azure/stateTable';
import type { AttachHistory } from '../core/contest';
import type { Deferral } from '../core/deferral';
import type { Logger } from '../core/logger';
import { PENDING_LIFETIME_MS, type PendingOperation } from '../core/pendingOperation';
import { idKey } from '../core/resourceId';

export type RecalledHistory = AttachHistory & { readonly identityId: string };

/** What one query of the target's partition said. */
export interface TargetRecall {
  readonly deferral?: Deferral;
  /** Per identity (idKey), its attach history (with the identity's id as written). */
  readonly attaches: ReadonlyMap<string, RecalledHistory>;
  /** The app's accepted attach whose operation nobody has seen end (absent: none, or too old). */
  readonly pending?: PendingOperation;
}

/** How far ahead of this instance's clock a remembered time may be (another instance's clock). */
export const CLOCK_SKEW_MS = 60_000;

/** After a failure, the store is not asked again for this long (per instance). */
export const PAUSE_AFTER_FAILURE_MS = 30_000;

const DEFERRAL_ROW = 'deferral';
const REFUSALS_ROW = 'refusals';
/** The partition of pending operations: one row per target, its row key the target's hash. */
const PENDING_PARTITION = 'pending-operations';
/** The sweep reads at most this many pending rows per run (a flood of forged rows cannot stall it). */
export const MAX_PENDING_LISTED = 5_000;
const hash = (value: string) => createHash('sha256').update(idKey(value)).digest('hex');
const partitionOf = (targetId: string) => hash(targetId);
const attachRow = (identityId: string) => `attach-${hash(identityId).slice(0, 40)}`;

export class TargetMemory {
  private pausedUntil = 0;

  constructor(
    private readonly table: StateTable,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    private readonly pauseAfterFailureMs = PAUSE_AFTER_FAILURE_MS,
  ) {}

  /**
   * The target's deferral and attach histories; undefined when the store cannot answer (the caller
   * then goes on as without a store). Times after now (a forged row, a clock ahead) count as absent.
   */
  async recall(targetId: string): Promise<TargetRecall | undefined> {
    const found = await this.guard('recall', () =>
      Promise.all([
        this.table.list(partitionOf(targetId)),
        this.table.get(PENDING_PARTITION, partitionOf(targetId)),
      ]),
    );
    if (!found) return undefined;
    const [rows, pendingRow] = found;
    const now = this.now();
    let deferral: Deferral | undefined;
    const pending = pendingRow && sameTarget(pendingRow, targetId) ? toPending(pendingRow, now) : undefined;
    const attaches = new Map<string, RecalledHistory>();
    for (const row of rows) {
      const identityId = row.properties.identityId;
      if (row.rowKey === DEFERRAL_ROW) deferral = toDeferral(row);
      else if (row.rowKey.startsWith('attach-') && typeof identityId === 'string')
        attaches.set(idKey(identityId), { ...believable(toHistory(row), now), identityId });
    }
    return { ...(deferral ? { deferral } : {}), attaches, ...(pending ? { pending } : {}) };
  }

  /**
   * Remembers an attach ARM accepted, before anyone has seen its operation end. False when the store
   * did not take it: the caller then waits for the operation itself.
   */
  async rememberPending(targetId: string, pending: PendingOperation): Promise<boolean> {
    const done = await this.guard('remember pending operation', async () => {
      await this.table.put({
        partitionKey: PENDING_PARTITION,
        rowKey: partitionOf(targetId),
        properties: {
          targetId,
          identities: JSON.stringify(pending.identities),
          acceptedAt: pending.acceptedAt,
          eventId: pending.eventId ?? '',
          operation: pending.operation ?? '',
        },
      });
      return true;
    });
    return done === true;
  }

  /**
   * Clears the pending row as recalled (its etag): 'cleared'; 'lost' when someone cleared or rewrote
   * it since (another invocation confirmed it, or a newer attach was accepted); 'unavailable' when the
   * store did not answer.
   */
  async clearPending(
    targetId: string,
    pending: PendingOperation,
  ): Promise<'cleared' | 'lost' | 'unavailable'> {
    const done = await this.guard('clear pending operation', () =>
      this.table.deleteIf(PENDING_PARTITION, partitionOf(targetId), pending.etag ?? '*'),
    );
    return done === undefined ? 'unavailable' : done ? 'cleared' : 'lost';
  }

  /**
   * Every target with an accepted attach nobody has seen end (the sweep takes them up), at most
   * MAX_PENDING_LISTED; undefined when the store cannot answer. One query of one partition.
   */
  async pendingTargets(): Promise<Map<string, PendingOperation> | undefined> {
    const rows = await this.guard('list pending operations', () =>
      this.table.list(PENDING_PARTITION, MAX_PENDING_LISTED),
    );
    if (!rows) return undefined;
    const now = this.now();
    const found = new Map<string, PendingOperation>();
    for (const row of rows) {
      const targetId = row.properties.targetId;
      const pending = sameTarget(row, targetId) ? toPending(row, now) : undefined;
      if (typeof targetId === 'string' && pending) found.set(idKey(targetId), pending);
    }
    return found;
  }

  async defer(targetId: string, deferral: Deferral): Promise<void> {
    await this.guard('defer', () =>
      this.table.put({
        partitionKey: partitionOf(targetId),
        rowKey: DEFERRAL_ROW,
        properties: {
          targetId,
          dueAt: deferral.dueAt,
          attempt: deferral.attempt,
          eventId: deferral.eventId ?? '',
          reason: deferral.reason,
        },
      }),
    );
  }

  async clearDeferral(targetId: string): Promise<void> {
    await this.guard('clear deferral', () => this.table.delete(partitionOf(targetId), DEFERRAL_ROW));
  }

  async rememberAttach(targetId: string, identityId: string, history: AttachHistory): Promise<void> {
    await this.guard('remember attach', () =>
      this.table.put({
        partitionKey: partitionOf(targetId),
        rowKey: attachRow(identityId),
        properties: {
          targetId,
          identityId,
          attachedAt: history.attachedAt ?? 0,
          undone: JSON.stringify(history.undone),
          contestedAt: history.contested?.at ?? 0,
          contestedBy: history.contested?.by ?? '',
          contestedTag: history.contested?.tag ?? '',
        },
      }),
    );
  }

  /** When each refusal the sweep recorded for the target was last recorded (fingerprint → ms). */
  async refusals(targetId: string): Promise<Map<string, number> | undefined> {
    // Wrapped, so that "no row" (nothing recorded yet) is told from "no answer" (undefined).
    const found = await this.guard('recall refusals', async () => ({
      row: await this.table.get(partitionOf(targetId), REFUSALS_ROW),
    }));
    if (!found) return undefined;
    const row = found.row;
    if (!row) return new Map();
    try {
      const parsed: unknown = JSON.parse(String(row.properties.recorded ?? '{}'));
      const limit = this.now() + CLOCK_SKEW_MS;
      return new Map(
        Object.entries(parsed as Record<string, unknown>).filter(
          (e): e is [string, number] => typeof e[1] === 'number' && e[1] <= limit,
        ),
      );
    } catch {
      return new Map();
    }
  }

  async rememberRefusals(targetId: string, recorded: ReadonlyMap<string, number>): Promise<void> {
    await this.guard('remember refusals', () =>
      recorded.size === 0
        ? this.table.delete(partitionOf(targetId), REFUSALS_ROW)
        : this.table.put({
            partitionKey: partitionOf(targetId),
            rowKey: REFUSALS_ROW,
            properties: { targetId, recorded: JSON.stringify(Object.fromEntries(recorded)) },
          }),
    );
  }

  /** Forgets everything about the target (the operator's reset); returns how many rows went. */
  async forget(targetId: string): Promise<number> {
    // The operator asked: failures are theirs to see, not degraded.
    const rows = await this.table.list(partitionOf(targetId));
    for (const row of rows) await this.table.delete(row.partitionKey, row.rowKey);
    return rows.length;
  }

  private async guard<T>(what: string, run: () => Promise<T>): Promise<T | undefined> {
    if (this.now() < this.pausedUntil) return undefined;
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof StateUnavailableError)) throw error;
      // A lost race (another instance wrote first) says nothing about the store's health.
      if (!error.conflict) this.pausedUntil = this.now() + this.pauseAfterFailureMs;
      this.log.warn(`acrpull-autopilot: ${what}: ${error.message}; going on without the state store`);
      return undefined;
    }
  }
}

/** A pending row is filed under its target's hash; one that is not was not written by the app. */
function sameTarget(row: StateRow, targetId: unknown): boolean {
  return (
    typeof targetId === 'string' &&
    row.properties.targetId === targetId &&
    row.rowKey === partitionOf(targetId)
  );
}

/**
 * A pending row as far as it can be believed: accepted in the last PENDING_LIFETIME_MS and not ahead of
 * the clock, naming identities. Anything else is no pending operation. What a row can make the app do
 * is bounded elsewhere: a re-send only of identities the tag asks for, only onto a target whose
 * accepted operation's own status says Failed (core/pendingOperation.ts).
 */
function toPending(row: StateRow, now: number): PendingOperation | undefined {
  const { identities, acceptedAt, eventId, operation } = row.properties;
  if (typeof acceptedAt !== 'number' || acceptedAt > now + CLOCK_SKEW_MS) return undefined;
  if (now - acceptedAt > PENDING_LIFETIME_MS) return undefined;
  let ids: string[] = [];
  try {
    const parsed: unknown = JSON.parse(String(identities ?? '[]'));
    if (Array.isArray(parsed)) ids = parsed.filter((i): i is string => typeof i === 'string');
  } catch {
    return undefined;
  }
  if (ids.length === 0) return undefined;
  return {
    identities: ids,
    acceptedAt,
    ...(typeof eventId === 'string' && eventId ? { eventId } : {}),
    ...(typeof operation === 'string' && operation ? { operation } : {}),
    ...(row.etag ? { etag: row.etag } : {}),
  };
}

function toDeferral(row: StateRow): Deferral | undefined {
  const { dueAt, attempt, eventId, reason } = row.properties;
  if (typeof dueAt !== 'number' || typeof attempt !== 'number') return undefined;
  return {
    dueAt,
    attempt,
    ...(typeof eventId === 'string' && eventId ? { eventId } : {}),
    reason: typeof reason === 'string' ? reason : '',
  };
}

/**
 * A history as far as it can be believed: times ahead of now are dropped (a contest stamped in the
 * future is no contest), so a forged or skewed row can at most cost a re-attach, never block one for
 * ever. A real contest always lies in the past.
 */
function believable(history: AttachHistory, now: number): AttachHistory {
  const limit = now + CLOCK_SKEW_MS;
  const undone = history.undone.filter((t) => t <= limit);
  const attachedAt =
    history.attachedAt !== undefined && history.attachedAt <= limit ? history.attachedAt : undefined;
  const contested = history.contested && history.contested.at <= limit ? history.contested : undefined;
  return { undone, ...(attachedAt ? { attachedAt } : {}), ...(contested ? { contested } : {}) };
}

function toHistory(row: StateRow): AttachHistory {
  const p = row.properties;
  let undone: number[] = [];
  try {
    const parsed: unknown = JSON.parse(String(p.undone ?? '[]'));
    if (Array.isArray(parsed)) undone = parsed.filter((t): t is number => typeof t === 'number');
  } catch {
    // A row the app cannot read is a row it does not remember.
  }
  const attachedAt = typeof p.attachedAt === 'number' && p.attachedAt > 0 ? p.attachedAt : undefined;
  const contested =
    typeof p.contestedAt === 'number' && p.contestedAt > 0
      ? { at: p.contestedAt, by: String(p.contestedBy ?? ''), tag: String(p.contestedTag ?? '') }
      : undefined;
  return { undone, ...(attachedAt ? { attachedAt } : {}), ...(contested ? { contested } : {}) };
}
