// The sweep's events-missing finding: a swept subscription whose Event Grid system topic has no live
// event subscription delivering resource writes to the app is swept only (a change waits up to a
// sweep period instead of seconds). Each sweep looks, so a subscription added to the sweep later, or
// one whose event subscription was deleted or failed to provision, is reported rather than silently
// sweep-only. Reads only: the app creates no event subscriptions (the template does).
import type { Auditor } from '../../audit/auditor';
import type { EventDelivery } from '../../azure/eventSubscriptions';
import { type RetryEnvironment, withRetry } from '../../azure/retry';
import type { SweepDeps } from './sweepRun';

const WRITE_SUCCESS = 'microsoft.resources.resourcewritesuccess';

/** Whether this event subscription delivers VM writes to the app (to its function, when known). */
export function deliversToApp(d: EventDelivery, functionAppId: string | undefined): boolean {
  if (d.provisioningState !== 'Succeeded') return false;
  if (d.endpointType !== 'AzureFunction') return false;
  if (
    functionAppId &&
    !(d.functionId ?? '').toLowerCase().startsWith(`${functionAppId.toLowerCase()}/functions/`)
  )
    return false;
  const types = d.includedEventTypes ?? [];
  return types.length === 0 || types.some((t) => t.toLowerCase() === WRITE_SUCCESS);
}

/** Flags each swept subscription that delivers no write events to the app; returns how many. */
export async function reportMissingEvents(
  deps: SweepDeps,
  retryEnv: RetryEnvironment,
  auditor: Auditor,
  subscriptions: readonly string[],
): Promise<number> {
  const reader = deps.eventSubscriptions;
  if (!reader) return 0;
  const target = deps.settings.functionAppId;
  let flagged = 0;
  for (const subscriptionId of subscriptions) {
    try {
      const deliveries = await withRetry('list event subscriptions', retryEnv, (signal) =>
        reader.ofSubscription(subscriptionId, signal),
      );
      if (deliveries.some((d) => deliversToApp(d, target))) continue;
      flagged += 1;
      const seen = deliveries.length
        ? `its system topic has ${deliveries.length} event subscription(s), none live to ${target ?? 'an Azure Function'} for ResourceWriteSuccess (${deliveries.map((d) => `${d.id}: ${d.provisioningState ?? '?'}`).join('; ')})`
        : 'it has no Event Grid system topic for its events, or no event subscription on it';
      auditor.record('events-missing', 'flagged', {
        subscriptionId,
        reason:
          `subscription ${subscriptionId} is swept but sends no VM write events to the app: ${seen}. Its ` +
          'targets are reconciled only by the sweep (every 15 minutes by default); redeploy the template with ' +
          'it in sweepSubscriptions (it creates the system topic and the event subscription)',
      });
    } catch (error) {
      auditor.failed(error, { subscriptionId });
    }
  }
  return flagged;
}
