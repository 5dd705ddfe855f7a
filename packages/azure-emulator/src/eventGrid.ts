// Event Grid's push delivery, as far as the app can tell: an event handed to the subscriber is
// retried when the subscriber fails (the Functions host answers non-2xx when the function throws),
// on Event Grid's fixed schedule — 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, then
// every 12 h — for at most 30 attempts within 24 h, each step with a small random jitter
// (learn.microsoft.com/azure/event-grid/delivery-and-retry). Tests and the demo scale the schedule
// down with `timeScale`; the order of the steps is Azure's.

export const EVENT_GRID_RETRY_SCHEDULE_MS: readonly number[] = [
  10_000, 30_000, 60_000, 300_000, 600_000, 1_800_000, 3_600_000, 10_800_000, 21_600_000,
];
const EVERY_12_HOURS_MS = 43_200_000;
const DEFAULT_MAX_ATTEMPTS = 30;
const DEFAULT_TTL_MS = 86_400_000;

export interface DeliveryOptions {
  /** Multiplies every wait (default 1: Azure's schedule). */
  readonly timeScale?: number;
  /** Event Grid's maxDeliveryAttempts (default 30). */
  readonly maxAttempts?: number;
  /** Event Grid's eventTimeToLiveInMinutes, in ms of the scaled clock (default 24 h, scaled). */
  readonly ttlMs?: number;
  /** Jitter in [0, 1) of a step's 10% (default Math.random). */
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called before each redelivery with the error that caused it. */
  readonly onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
}

export interface Delivery<T> {
  /** The subscriber's last answer, when one attempt succeeded. */
  readonly result?: T;
  readonly delivered: boolean;
  readonly attempts: number;
  /** What each failed attempt threw, in order. */
  readonly errors: readonly unknown[];
}

/** The wait before redelivery number `retry` (1-based), before jitter and scaling. */
export function retryDelayMs(retry: number): number {
  return EVENT_GRID_RETRY_SCHEDULE_MS[retry - 1] ?? EVERY_12_HOURS_MS;
}

/** Delivers until the subscriber succeeds, attempts run out or the event expires (then: dead-letter). */
export async function deliverWithRetries<T>(
  deliver: () => Promise<T>,
  options: DeliveryOptions = {},
): Promise<Delivery<T>> {
  const scale = options.timeScale ?? 1;
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS * scale;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const errors: unknown[] = [];
  let waited = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return { result: await deliver(), delivered: true, attempts: attempt, errors };
    } catch (error) {
      errors.push(error);
      const step = retryDelayMs(attempt);
      const delayMs = Math.round((step + step * 0.1 * random()) * scale);
      if (attempt >= maxAttempts || waited + delayMs > ttlMs) {
        return { delivered: false, attempts: attempt, errors };
      }
      options.onRetry?.(attempt, delayMs, error);
      waited += delayMs;
      await sleep(delayMs);
    }
  }
}

export const TAGS_WRITE_OPERATION = 'Microsoft.Resources/tags/write';

export interface ResourceWriteEventOptions {
  readonly id: string;
  /** `Microsoft.Compute/virtualMachines/write`, `…/virtualMachineScaleSets/write`, or a tags write. */
  readonly operationName: string;
  /** The writer's token claims, as ARM copies them into the event (upn, oid, appid…). */
  readonly claims?: Readonly<Record<string, string>>;
  readonly correlationId?: string;
}

/**
 * A `Microsoft.Resources.ResourceWriteSuccess` event in the Event Grid schema, as a subscription's
 * system topic sends it (learn.microsoft.com/azure/event-grid/event-schema-subscriptions): `subject`
 * and `data.resourceUri` name the written resource, or its tags scope
 * (`<id>/providers/Microsoft.Resources/tags/default`) for a tags write.
 */
export function resourceWriteSuccessEvent(resourceId: string, options: ResourceWriteEventOptions) {
  const subscriptionId = resourceId.split('/')[2] ?? '';
  const resourceUri =
    options.operationName === TAGS_WRITE_OPERATION
      ? `${resourceId}/providers/Microsoft.Resources/tags/default`
      : resourceId;
  return {
    id: options.id,
    topic: `/subscriptions/${subscriptionId}`,
    subject: resourceUri,
    eventType: 'Microsoft.Resources.ResourceWriteSuccess',
    eventTime: new Date().toISOString(),
    dataVersion: '2',
    metadataVersion: '1',
    data: {
      operationName: options.operationName,
      resourceUri,
      ...(options.correlationId ? { correlationId: options.correlationId } : {}),
      status: 'Succeeded',
      subscriptionId,
      claims: { ...options.claims },
    },
  };
}
