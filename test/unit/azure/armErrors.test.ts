import { setTimeout as delay } from 'node:timers/promises';
import { runInNewContext } from 'node:vm';
import { createHttpHeaders, createPipelineRequest, RestError } from '@azure/core-rest-pipeline';
import { classifyArmError } from '../../../src/azure/armErrors';

function restError(status: number, code: string, headers: Record<string, string> = {}) {
  const request = createPipelineRequest({ url: 'https://127.0.0.1/x' });
  return new RestError(`${code} message`, {
    statusCode: status,
    code,
    request,
    response: { status, headers: createHttpHeaders(headers), request },
  });
}

describe('ARM error classification', () => {
  it.each([
    [429, 'SubscriptionRequestsThrottled'],
    [500, 'InternalServerError'],
    [503, 'ServiceUnavailable'],
    [409, 'Conflict'],
    [409, 'AnotherOperationInProgress'],
    [409, 'OperationNotAllowed'],
    [412, 'PreconditionFailed'],
    [400, 'PrincipalNotFound'],
    [408, 'RequestTimeout'],
  ])('retries %i %s', (status, code) => {
    expect(classifyArmError(restError(status, code))).toMatchObject({ retryable: true, status, code });
  });

  it.each([
    [403, 'AuthorizationFailed'],
    [400, 'InvalidRoleAssignmentId'],
    [400, 'UnmatchedPrincipalType'],
    [404, 'ResourceNotFound'],
    [404, 'ResourceGroupNotFound'],
    [401, 'InvalidAuthenticationToken'],
    [409, 'PropertyChangeNotAllowed'],
    [501, 'NotImplemented'],
    [400, 'RoleAssignmentLimitExceeded'],
    [409, 'ScopeLocked'],
    [409, 'MissingSubscriptionRegistration'],
  ])('does not retry %i %s', (status, code) => {
    expect(classifyArmError(restError(status, code))).toMatchObject({ retryable: false, status, code });
  });

  it('reads Retry-After in seconds, and the millisecond headers first', () => {
    expect(classifyArmError(restError(429, 'TooManyRequests', { 'retry-after': '7' })).retryAfterMs).toBe(
      7000,
    );
    expect(
      classifyArmError(restError(429, 'TooManyRequests', { 'retry-after-ms': '250', 'retry-after': '7' }))
        .retryAfterMs,
    ).toBe(250);
    expect(classifyArmError(restError(503, 'x', { 'x-ms-retry-after-ms': '40' })).retryAfterMs).toBe(40);
  });

  it('retries transport failures without a response', () => {
    const request = createPipelineRequest({ url: 'https://127.0.0.1/x' });
    const reset = new RestError('socket hang up', { code: 'ECONNRESET', request });
    expect(classifyArmError(reset)).toMatchObject({ retryable: true, code: 'ECONNRESET' });
  });

  it('retries an async operation that ended Failed, keeping its code', () => {
    const lro = new Error(
      'The long-running operation has failed. InternalExecutionError. An internal error occurred.',
    );
    expect(classifyArmError(lro)).toMatchObject({ retryable: true, code: 'InternalExecutionError' });
  });

  it('retries an async operation that ended Canceled', () => {
    expect(classifyArmError(new Error('Operation was canceled'))).toMatchObject({
      retryable: true,
      code: 'Canceled',
    });
  });

  it('retries a failure to get a token (the managed-identity endpoint can be briefly unavailable)', () => {
    const error = new Error('ManagedIdentityCredential: 503');
    error.name = 'AuthenticationError';
    expect(classifyArmError(error)).toMatchObject({ retryable: true, code: 'AuthenticationError' });
  });

  it('treats a programming error as terminal so it cannot become an endless redelivery loop', () => {
    expect(classifyArmError(new TypeError('x is undefined'))).toMatchObject({
      retryable: false,
      code: 'TypeError',
    });
  });
});

describe('an abandoned request', () => {
  it('is a retryable TimeBudgetExceeded whatever realm its AbortError comes from (Node’s own, under a vm)', async () => {
    const foreign = runInNewContext("Object.assign(new Error('aborted'), { name: 'AbortError' })");
    expect(foreign instanceof Error).toBe(false); // another realm's Error
    const nodeOwn = await delay(10, undefined, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    for (const error of [foreign, nodeOwn])
      expect(classifyArmError(error)).toMatchObject({ retryable: true, code: 'TimeBudgetExceeded' });
  });
});
