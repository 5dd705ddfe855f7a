// One place that maps ARM failures to retry / terminal. Everything that talks to ARM goes through it.
import { isRestError } from '@azure/core-rest-pipeline';
import { deferralReasonOf } from '../core/busy';

export interface ArmFailure {
  readonly retryable: boolean;
  /** HTTP status, when there was a response. */
  readonly status?: number;
  /** ARM error code (body `error.code`), or a transport code such as ECONNRESET. */
  readonly code: string;
  readonly message: string;
  /** From Retry-After / retry-after-ms / x-ms-retry-after-ms, when the service asked for a pause. */
  readonly retryAfterMs?: number;
}

/** ARM error codes that are worth retrying whatever their status. */
const RETRYABLE_CODES = new Set(
  [
    'PrincipalNotFound', // a just-created identity has not replicated yet
    'AnotherOperationInProgress',
    'Conflict',
    'ConflictingConcurrentWriteNotAllowed',
    'PreconditionFailed',
    'RetryableError',
    'SubscriptionRequestsThrottled',
    'TooManyRequests',
  ].map((c) => c.toLowerCase()),
);

/** Codes that never get better by retrying, even on a status that usually would. */
const TERMINAL_CODES = new Set(
  [
    'AuthorizationFailed',
    'LinkedAuthorizationFailed',
    'InvalidAuthenticationToken',
    'RoleAssignmentLimitExceeded',
    'PropertyChangeNotAllowed',
    'ResourceGroupNotFound',
    // 409s that no retry fixes: a lock, an unregistered provider, a disabled subscription.
    'ScopeLocked',
    'MissingSubscriptionRegistration',
    'ReadOnlyDisabledSubscription',
    'SubscriptionNotRegistered',
  ].map((c) => c.toLowerCase()),
);

const TRANSPORT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'REQUEST_SEND_ERROR',
  'UND_ERR_SOCKET',
]);

/** `hh:mm:ss` (x-ms-user-quota-resets-after) in milliseconds; undefined for anything else. */
export function parseQuotaResetsAfter(value: string | undefined): number | undefined {
  const m = /^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(value?.trim() ?? '');
  if (!m) return undefined;
  return Math.ceil((Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1000);
}

function headerMs(get: (name: string) => string | undefined): number | undefined {
  const ms = get('retry-after-ms') ?? get('x-ms-retry-after-ms');
  if (ms !== undefined && /^\d+$/.test(ms)) return Number(ms);
  const after = get('retry-after');
  // Resource Graph's 429 names its quota window's reset (hh:mm:ss) rather than, or besides, Retry-After.
  if (after === undefined) return parseQuotaResetsAfter(get('x-ms-user-quota-resets-after'));
  if (/^\d+$/.test(after)) return Number(after) * 1000;
  const date = Date.parse(after);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function retryableStatus(status: number): boolean {
  return (
    status === 408 ||
    status === 409 ||
    status === 412 ||
    status === 429 ||
    (status >= 500 && status !== 501 && status !== 505)
  );
}

/** core-lro throws a plain Error for an async operation that ended Failed: "…has failed. <code>. <message>" */
const LRO_FAILED = /^The long-running operation has failed(?:\. ([^.]+)\. (.*))?$/s;

/** A condition the app detects itself that clears with time, such as an operation still running. */
export class TransientConditionError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'TransientConditionError';
  }
}

export function classifyArmError(error: unknown): ArmFailure {
  if (error instanceof TransientConditionError)
    return { retryable: true, code: error.code, message: error.message };
  // By name, not instanceof: Node's own AbortError (timers/promises, fetch) may come from another
  // realm (a vm context, as under jest), where instanceof Error is false.
  if (typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'AbortError') {
    // Our own deadline fired mid-request: another delivery (or the next sweep) continues the work.
    return {
      retryable: true,
      code: 'TimeBudgetExceeded',
      message: 'the time budget ran out during the request',
    };
  }
  if (isRestError(error)) {
    const status = error.statusCode;
    const code = error.code ?? (status ? `Http${status}` : 'RestError');
    const retryAfterMs = error.response ? headerMs((name) => error.response?.headers.get(name)) : undefined;
    const lower = code.toLowerCase();
    let retryable: boolean;
    if (TERMINAL_CODES.has(lower)) retryable = false;
    else if (RETRYABLE_CODES.has(lower)) retryable = true;
    else if (status === undefined) retryable = TRANSPORT_CODES.has(code);
    else retryable = retryableStatus(status);
    return {
      retryable,
      code,
      message: error.message,
      ...(status !== undefined ? { status } : {}),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    };
  }
  if (error instanceof Error) {
    const lro = LRO_FAILED.exec(error.message);
    if (lro) {
      // The async operation ran and failed server-side (Compute: internal errors, preemption): worth
      // another attempt within the budget, then Event Grid redelivery.
      return { retryable: true, code: lro[1] ?? 'AsyncOperationFailed', message: error.message };
    }
    const errno = (error as NodeJS.ErrnoException).code;
    if (errno && TRANSPORT_CODES.has(errno)) return { retryable: true, code: errno, message: error.message };
    if (/^Operation was canceled/.test(error.message)) {
      // core-lro's answer for an async operation that ended Canceled (Compute preempted it).
      return { retryable: true, code: 'Canceled', message: error.message };
    }
    if (
      ['AuthenticationError', 'AggregateAuthenticationError', 'CredentialUnavailableError'].includes(
        error.name,
      )
    ) {
      // The token endpoint failing (a cold start, an outage) clears with time; a misconfigured
      // credential fails every event alike and is fixed by the operator, after which Event Grid's
      // redelivery brings the backlog through.
      return { retryable: true, code: error.name, message: error.message };
    }
    // Anything else is a defect or an unexpected shape: terminal, so it is audited rather than
    // turned into an endless redelivery loop.
    return { retryable: false, code: error.name || 'Error', message: error.message };
  }
  return { retryable: false, code: 'Unknown', message: String(error) };
}

/** Carries the classification up to the reconcile, which audits it and decides throw vs return. */
export class ArmOperationError extends Error {
  /** It ended because the time budget ran out, not because ARM refused: the work is deferred. */
  readonly budgetExhausted: boolean;

  constructor(
    readonly operation: string,
    readonly failure: ArmFailure,
    readonly attempts: number,
    options?: { cause?: unknown; budgetExhausted?: boolean },
  ) {
    super(
      `${operation} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${failure.status ?? ''}${failure.status ? ' ' : ''}${failure.code}: ${failure.message}`,
      options,
    );
    this.name = 'ArmOperationError';
    this.budgetExhausted = options?.budgetExhausted === true || failure.code === 'TimeBudgetExceeded';
  }
}

/** True for a response that means "not there" (used where absence is a normal answer). */
export function isNotFound(error: unknown): boolean {
  return isRestError(error) && error.statusCode === 404;
}

/** Why a failed operation is a deferral (the target busy, the budget spent), else undefined: core/busy.ts decides. */
export function deferralReason(error: unknown): string | undefined {
  if (!(error instanceof ArmOperationError)) return undefined;
  return deferralReasonOf({ ...error.failure, attempts: error.attempts, summary: error.message });
}
