import { BUSY_BACKOFF, eventAgainstDeferral, nextDeferral } from '../../../src/core/deferral';

const T0 = Date.parse('2026-12-07T00:00:00Z');

describe('busy deferral', () => {
  it('doubles from 90 s up to the sweep period', () => {
    let d = nextDeferral(undefined, T0, 'Updating', 'e1');
    const delays = [d.dueAt - T0];
    for (let i = 0; i < 5; i++) {
      d = nextDeferral(d, T0, 'Updating', 'e1');
      delays.push(d.dueAt - T0);
    }
    expect(delays.map((ms) => ms / 1000)).toEqual([90, 180, 360, 720, 900, 900]);
    expect(d.attempt).toBe(6);
    expect(BUSY_BACKOFF.maxMs).toBe(15 * 60_000);
  });

  it('reads when nothing is deferred or the time has come', () => {
    const d = nextDeferral(undefined, T0, 'Updating', 'e1');
    expect(eventAgainstDeferral(undefined, T0, 'e1')).toBe('read');
    expect(eventAgainstDeferral(d, d.dueAt, 'e2')).toBe('read');
  });

  it('before its time: the deferring event is redelivered, any other acknowledged', () => {
    const d = nextDeferral(undefined, T0, 'Updating', 'e1');
    expect(eventAgainstDeferral(d, T0 + 1, 'e1')).toBe('redeliver');
    expect(eventAgainstDeferral(d, T0 + 1, 'e2')).toBe('acknowledge');
    expect(eventAgainstDeferral(nextDeferral(undefined, T0, 'x', undefined), T0 + 1, undefined)).toBe(
      'acknowledge',
    );
  });

  it('does not believe a due time further away than the longest delay (a forged row, a clock far ahead)', () => {
    const forged = { dueAt: T0 + BUSY_BACKOFF.maxMs + 1, attempt: 1, eventId: 'e1', reason: 'x' };
    expect(eventAgainstDeferral(forged, T0, 'e2')).toBe('read');
    expect(eventAgainstDeferral({ ...forged, dueAt: T0 + BUSY_BACKOFF.maxMs }, T0, 'e2')).toBe('acknowledge');
  });
});
