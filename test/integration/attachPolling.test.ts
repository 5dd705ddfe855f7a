// How an attach learns its outcome: the app waits about as long as an identity update takes before
// its first status poll (ACRPULL_ATTACH_FIRST_POLL_SECONDS), so one poll usually finds it done, and
// a Retry-After on a poll response is honoured over the app's own interval. Operations end by
// elapsed time in the emulator, so the poll counts below follow from the waits alone.
import { startHarness } from '../support/harness';

const attached = (records: readonly { action: string; outcome: string }[] | undefined) =>
  records?.filter((r) => r.action === 'identity-attached').map((r) => r.outcome);

describe('attach polling', () => {
  it('polls once when the first poll comes after the operation’s duration', async () => {
    // Updates take 200 ms; the first poll comes 250 ms after the PATCH.
    const h = await startHarness({
      emulator: { operationDurationMs: 200 },
      env: { ACRPULL_ATTACH_FIRST_POLL_SECONDS: '0.25' },
    });
    try {
      const result = await h.deliver(h.seedVm('vm-one-poll', 'contosoapps').id);

      expect(attached(result?.records)).toEqual(['changed']);
      expect(h.emu.counts()['vm.operationStatus']).toBe(1);
    } finally {
      await h.close();
    }
  });

  it('polls at once and then on its interval when told to start polling immediately', async () => {
    // The SDK's own behaviour (a poll right after the PATCH): with 1 s updates and the harness's
    // 0 ms interval, the app would poll many times; it is the first-poll wait that saves them.
    const h = await startHarness({
      emulator: { operationDurationMs: 1_000 },
      env: { ACRPULL_ATTACH_FIRST_POLL_SECONDS: '0' },
    });
    try {
      const result = await h.deliver(h.seedVm('vm-many-polls', 'contosoapps').id);

      expect(attached(result?.records)).toEqual(['changed']);
      expect(h.emu.counts()['vm.operationStatus']).toBeGreaterThan(2);
    } finally {
      await h.close();
    }
  });

  it('honours a Retry-After on an InProgress poll instead of its own interval', async () => {
    // Updates take 1.5 s; the first poll (at 50 ms) says InProgress with Retry-After: 2, so the next
    // one comes two seconds later and finds it done: 2 polls, where the 0 ms interval would make
    // hundreds.
    const h = await startHarness({ emulator: { operationDurationMs: 1_500, pollRetryAfterSeconds: 2 } });
    try {
      const result = await h.deliver(h.seedVm('vm-retry-after', 'contosoapps').id);

      expect(attached(result?.records)).toEqual(['changed']);
      expect(h.emu.counts()['vm.operationStatus']).toBe(2);
    } finally {
      await h.close();
    }
  });
});
