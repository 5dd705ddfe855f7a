import { attached, CONTEST_WINDOW_MS, judgeAttach, stripped } from '../../../src/core/contest';

const T0 = Date.parse('2026-12-07T00:00:00Z');
const min = (n: number) => T0 + n * 60_000;

describe('judgeAttach', () => {
  it('attaches what it never attached, and remembers nothing undone', () => {
    expect(judgeAttach(undefined, T0, 3, 'a', 'bob')).toEqual({
      kind: 'attach',
      history: { undone: [] },
      undoneNow: false,
    });
  });

  it('counts a removal of what it attached as undone, and stops after `limit` undone re-attaches', () => {
    let history = attached({ undone: [] }, min(0));
    const verdicts: string[] = [];
    for (let round = 1; round <= 5; round++) {
      const judged = judgeAttach(history, min(round), 3, 'a', 'mallory');
      verdicts.push(judged.kind);
      if (judged.kind === 'contested') {
        expect(judged).toMatchObject({ newly: true, by: 'mallory' });
        history = judged.history;
        break;
      }
      history = attached(judged.history, min(round));
    }
    // The first removal undid the first attach; three re-attaches were undone after it.
    expect(verdicts).toEqual(['attach', 'attach', 'attach', 'contested']);
    expect(judgeAttach(history, min(10), 3, 'a', 'x')).toMatchObject({
      kind: 'contested',
      newly: false,
      by: 'mallory',
    });
  });

  it('forgets removals older than 24 hours', () => {
    const old = { undone: [T0, T0 + 1, T0 + 2], attachedAt: T0 + 3 };
    const judged = judgeAttach(old, T0 + CONTEST_WINDOW_MS + 10, 3, 'a', 'bob');
    expect(judged).toMatchObject({
      kind: 'attach',
      undoneNow: true,
      history: { undone: [T0 + CONTEST_WINDOW_MS + 10] },
    });
  });

  it('starts afresh when the tag changed since it stopped', () => {
    const contested = { undone: [T0], contested: { at: T0, by: 'm', tag: 'a' } };
    expect(judgeAttach(contested, min(1), 3, 'a b', 'alice')).toEqual({
      kind: 'attach',
      history: { undone: [] },
      undoneNow: false,
    });
  });

  it('names an unknown writer as such, not as nobody', () => {
    const judged = judgeAttach({ undone: [], attachedAt: T0 }, min(1), 0, 'a', undefined);
    expect(judged).toMatchObject({ kind: 'contested', by: expect.stringContaining('Activity Log') });
  });

  it('a stripped attach is contested at once', () => {
    expect(stripped({ undone: [] }, T0, 'a', 'policy')).toEqual({
      undone: [T0],
      contested: { at: T0, by: 'policy', tag: 'a' },
    });
  });
});
