// When to stop re-attaching an identity another writer keeps removing. The app attaches what a tag
// asks for; if someone (a person, a pipeline, an Azure Policy `modify` effect) removes it again, a
// re-attach each time is an endless fight that costs both sides writes and fills the audit trail. After
// `limit` re-attaches of the same identity to the same target that were undone within 24 hours, the
// app stops and says who it is fighting (`attach-contested`); a change of the tag, or an operator's
// `acrpull-autopilot reset`, starts afresh. Pure: the history comes from the state store.

/** What the state store remembers of one (target, identity). */
export interface AttachHistory {
  /** When the app last attached it (and saw it held afterwards); undefined: never, or since undone. */
  readonly attachedAt?: number;
  /** When the app found it removed after attaching it (the last 24 h). */
  readonly undone: readonly number[];
  /** Set once the app stopped: when, who undid it last, and the tag value it stopped under. */
  readonly contested?: { readonly at: number; readonly by: string; readonly tag: string };
}

export const CONTEST_WINDOW_MS = 24 * 60 * 60 * 1000;

export type ContestJudgement =
  /** Nothing holds it back: attach (the history, if any, is carried on as it is). */
  | { readonly kind: 'attach'; readonly history: AttachHistory; readonly undoneNow: boolean }
  /** Stopped: no PATCH for it. `newly` when this judgement stopped it (record it, store it). */
  | {
      readonly kind: 'contested';
      readonly history: AttachHistory;
      readonly newly: boolean;
      readonly by: string;
    };

/**
 * Judges an identity the target does not hold and the plan would attach. `tag` is the target's tag
 * value now; `by` who is known to have written the target last (the event's claims, or unknown).
 */
export function judgeAttach(
  history: AttachHistory | undefined,
  now: number,
  limit: number,
  tag: string,
  by: string | undefined,
): ContestJudgement {
  if (!history) return { kind: 'attach', history: { undone: [] }, undoneNow: false };
  if (history.contested) {
    if (history.contested.tag === tag)
      return { kind: 'contested', history, newly: false, by: history.contested.by };
    // The tag changed since: its owner asked again, so the app tries again, from a clean slate.
    return { kind: 'attach', history: { undone: [] }, undoneNow: false };
  }
  const recent = history.undone.filter((t) => now - t < CONTEST_WINDOW_MS);
  if (history.attachedAt === undefined)
    return { kind: 'attach', history: { undone: recent }, undoneNow: false };
  // The app attached it and it is gone: someone undid it. The first undo undid the first attach; each
  // later one undid a re-attach.
  const undone = [...recent, now];
  const who = by ?? 'unknown (the Activity Log of the target names who removed it)';
  if (undone.length > limit)
    return {
      kind: 'contested',
      history: { undone, contested: { at: now, by: who, tag } },
      newly: true,
      by: who,
    };
  return { kind: 'attach', history: { undone }, undoneNow: true };
}

/** The history after the app attached it and saw it held. */
export function attached(history: AttachHistory, now: number): AttachHistory {
  return { undone: history.undone, attachedAt: now };
}

/** An attach that ARM said succeeded but whose result, read again, lacks the identity: stop at once. */
export function stripped(history: AttachHistory, now: number, tag: string, by: string): AttachHistory {
  return { undone: [...history.undone, now], contested: { at: now, by, tag } };
}

/** Who removes an identity as it is written, when nobody is named: most likely a policy. */
export const STRIPPED_BY =
  'unknown: an Azure Policy modify or deny effect, or whoever the Activity Log names';

export function contestedReason(identityId: string, by: string, limit: number, stripped: boolean): string {
  const what = stripped
    ? `ARM reported the attach of ${identityId} as succeeded, but the target does not hold it when read again: something removes it as it is written (an Azure Policy modify effect, say; the target's Activity Log names the writer)`
    : `${identityId} was removed again after ${limit} re-attaches within 24 hours; last written by ${by}`;
  return (
    `${what}. The app stops re-attaching it until the tag changes or an operator runs ` +
    '`acrpull-autopilot reset <target id>` (settle it with whoever removes it first)'
  );
}
