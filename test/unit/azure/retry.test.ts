import { createHttpHeaders, createPipelineRequest, RestError } from '@azure/core-rest-pipeline';
import { ArmOperationError } from '../../../src/azure/armErrors';
import { backoffDelay, DEFAULT_RETRY_POLICY, Deadline, withRetry } from '../../../src/azure/retry';

function throttled(retryAfterSeconds?: number) {
  const request = createPipelineRequest({ url: 'https://127.0.0.1/x' });
  const headers = createHttpHeaders(
    retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) },
  );
  return new RestError('throttled', {
    statusCode: 429,
    code: 'TooManyRequests',
    request,
    response: { status: 429, headers, request },
  });
}
function forbidden() {
  const request = createPipelineRequest({ url: 'https://127.0.0.1/x' });
  return new RestError('no', {
    statusCode: 403,
    code: 'AuthorizationFailed',
    request,
    response: { status: 403, headers: createHttpHeaders(), request },
  });
}

describe('retry with budget', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('honours Retry-After, then succeeds', async () => {
    // Prepare
    let calls = 0;
    const delays: number[] = [];
    const op = jest.fn(async () => {
      calls++;
      if (calls === 1) throw throttled(3);
      return 'ok';
    });
    // Act
    const promise = withRetry(
      'op',
      { deadline: new Deadline(60_000), random: () => 0, onRetry: (i) => delays.push(i.delayMs) },
      op,
    );
    await jest.advanceTimersByTimeAsync(3_000);
    // Assess
    await expect(promise).resolves.toBe('ok');
    expect(delays).toEqual([3_000]);
    expect(op).toHaveBeenCalledTimes(2);
  });

  it('does not retry a terminal error', async () => {
    const op = jest.fn(async () => {
      throw forbidden();
    });
    const error = await withRetry('grant', { deadline: new Deadline(60_000) }, op).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArmOperationError);
    expect((error as ArmOperationError).failure).toMatchObject({
      retryable: false,
      code: 'AuthorizationFailed',
    });
    expect(op).toHaveBeenCalledTimes(1);
  });

  it('gives up without sleeping when Retry-After would outlive the budget', async () => {
    const op = jest.fn(async () => {
      throw throttled(120);
    });
    const error = await withRetry('op', { deadline: new Deadline(25_000) }, op).catch((e: unknown) => e);
    expect((error as ArmOperationError).failure.retryable).toBe(true);
    expect((error as Error).message).toMatch(/would exceed the time budget/);
    expect(op).toHaveBeenCalledTimes(1);
  });

  it('stops after the attempt cap, reporting the last failure as retryable', async () => {
    const op = jest.fn(async () => {
      throw throttled(0);
    });
    const promise = withRetry(
      'op',
      { deadline: new Deadline(600_000), policy: { ...DEFAULT_RETRY_POLICY, maxAttempts: 3 } },
      op,
    ).catch((e: unknown) => e);
    await jest.advanceTimersByTimeAsync(10_000);
    const error = (await promise) as ArmOperationError;
    expect(error.attempts).toBe(3);
    expect(error.failure.retryable).toBe(true);
    expect(op).toHaveBeenCalledTimes(3);
  });
});

describe('backoff', () => {
  it('grows exponentially with jitter and is capped', () => {
    const policy = { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 1_000 };
    expect(backoffDelay(1, policy, () => 0)).toBe(50);
    expect(backoffDelay(1, policy, () => 1)).toBe(100);
    expect(backoffDelay(3, policy, () => 1)).toBe(400);
    expect(backoffDelay(9, policy, () => 1)).toBe(1_000);
  });
});
