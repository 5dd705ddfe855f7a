import {
  busyReason,
  deferralReasonOf,
  isTerminal,
  lastOperationFailed,
  TARGET_BUSY,
} from '../../../src/core/busy';

const failure = (status: number | undefined, code: string) => ({
  ...(status !== undefined ? { status } : {}),
  code,
  message: `m-${code}`,
  attempts: 3,
  summary: `summary-${code}`,
});

describe('the busy rule', () => {
  it('treats only Succeeded and Failed as idle', () => {
    expect(['Succeeded', 'failed'].map(isTerminal)).toEqual([true, true]);
    expect(['Creating', 'Updating', 'Deleting', undefined].map(isTerminal)).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect(lastOperationFailed('FAILED')).toBe(true);
    expect(lastOperationFailed('Succeeded')).toBe(false);
  });

  it('defers, never fails, a target that stayed busy, a 409 for another operation, and a spent budget', () => {
    expect(deferralReasonOf(failure(undefined, TARGET_BUSY))).toBe('m-VmBusy (read 3 times, never written)');
    expect(deferralReasonOf(failure(409, 'AnotherOperationInProgress'))).toBe(
      'the VM is busy: summary-AnotherOperationInProgress',
    );
    expect(deferralReasonOf(failure(409, 'OperationNotAllowed'))).toMatch(/^the VM is busy/);
    expect(deferralReasonOf(failure(undefined, 'TimeBudgetExceeded'))).toMatch(/^the time budget ran out/);
  });

  it('leaves every other failure a failure', () => {
    expect(deferralReasonOf(failure(409, 'ScopeLocked'))).toBeUndefined();
    expect(deferralReasonOf(failure(400, 'AnotherOperationInProgress'))).toBeUndefined();
    expect(deferralReasonOf(failure(500, 'InternalServerError'))).toBeUndefined();
  });

  it('says why a write now could preempt the owner', () => {
    expect(busyReason('Updating')).toMatch(/the VM is Updating: another operation is running on it/);
  });
});
