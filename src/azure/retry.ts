// Capped, jittered retries that honour Retry-After and never outlive the invocation's time budget.
// The SDK pipeline's own retry policy is switched off (see armClients.ts) so this is the one place
// that decides; the pipeline's policy cannot see our budget and would sleep through a long Retry-After.
import { ArmOperationError, classifyArmError } from './armErrors';

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 6, baseDelayMs: 500, maxDelayMs: 15_000 };

/** A point in time work must finish by. */
export class Deadline {
  private readonly endsAt: number;
  constructor(
    budgetMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.endsAt = now() + budgetMs;
  }
  remainingMs(): number {
    return Math.max(0, this.endsAt - this.now());
  }
  expired(): boolean {
    return this.remainingMs() === 0;
  }
}

export interface RetryEnvironment {
  readonly deadline: Deadline;
  readonly policy?: RetryPolicy;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  /** Called before each pause, e.g. to count retries or log them. */
  readonly onRetry?: (info: { operation: string; attempt: number; delayMs: number; code: string }) => void;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Pure: how long to wait before attempt `attempt + 1`. Full jitter over an exponential cap. */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  random: () => number,
  retryAfterMs?: number,
): number {
  if (retryAfterMs !== undefined) {
    // The service named a time; add a little jitter so a fleet of callers does not return in lockstep.
    return retryAfterMs + Math.floor(random() * Math.min(1000, policy.baseDelayMs));
  }
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(cap / 2 + (random() * cap) / 2);
}

/**
 * Runs `attempt` until it succeeds, fails terminally, runs out of attempts or would outlive the
 * deadline. Always throws ArmOperationError carrying the classification of the last failure.
 */
export async function withRetry<T>(
  operation: string,
  env: RetryEnvironment,
  attempt: (abortSignal: AbortSignal) => Promise<T>,
): Promise<T> {
  const policy = env.policy ?? DEFAULT_RETRY_POLICY;
  const wait = env.sleep ?? sleep;
  const random = env.random ?? Math.random;
  for (let n = 1; ; n++) {
    try {
      // The budget bounds each attempt too: a hung request or a slow operation is abandoned in time.
      return await attempt(AbortSignal.timeout(Math.max(1, env.deadline.remainingMs())));
    } catch (error) {
      const failure = classifyArmError(error);
      if (!failure.retryable || n >= policy.maxAttempts) {
        throw new ArmOperationError(operation, failure, n, { cause: error });
      }
      const delayMs = backoffDelay(n, policy, random, failure.retryAfterMs);
      if (delayMs >= env.deadline.remainingMs()) {
        throw new ArmOperationError(
          operation,
          {
            ...failure,
            message: `${failure.message} (next retry in ${delayMs} ms would exceed the time budget)`,
          },
          n,
          { cause: error, budgetExhausted: true },
        );
      }
      env.onRetry?.({ operation, attempt: n, delayMs, code: failure.code });
      await wait(delayMs);
    }
  }
}
