// Event Grid's side of a swept subscription: its system topic for Azure subscription events (topicType
// Microsoft.Resources.Subscriptions, source /subscriptions/{id}) and that topic's event subscriptions,
// read over the real @azure/arm-eventgrid client. The sweep asks it whether a swept subscription still
// delivers write events to the app, so a subscription added later is never silently sweep-only.
import type { ArmClients } from './armClients';

/** One event subscription of a subscription's system topic, as far as the sweep needs it. */
export interface EventDelivery {
  readonly id: string;
  readonly provisioningState?: string;
  readonly endpointType?: string;
  /** For an Azure Function destination: the function's resource id. */
  readonly functionId?: string;
  readonly includedEventTypes?: readonly string[];
}

const SUBSCRIPTION_TOPIC_TYPE = 'microsoft.resources.subscriptions';

export class EventSubscriptions {
  constructor(private readonly clients: ArmClients) {}

  /** Every event subscription of the subscription's own system topics (none: no topic, or none there). */
  async ofSubscription(subscriptionId: string, abortSignal?: AbortSignal): Promise<EventDelivery[]> {
    const client = this.clients.eventGrid(subscriptionId);
    const options = abortSignal ? { abortSignal } : {};
    const deliveries: EventDelivery[] = [];
    for await (const topic of client.systemTopics.listBySubscription(options)) {
      if (topic.topicType?.toLowerCase() !== SUBSCRIPTION_TOPIC_TYPE) continue;
      if (topic.source?.toLowerCase() !== `/subscriptions/${subscriptionId.toLowerCase()}`) continue;
      const group = /\/resourceGroups\/([^/]+)\//i.exec(topic.id ?? '')?.[1];
      if (!group || !topic.name) continue;
      for await (const sub of client.systemTopicEventSubscriptions.listBySystemTopic(
        group,
        topic.name,
        options,
      )) {
        const destination = sub.destination as { endpointType?: string; resourceId?: string } | undefined;
        deliveries.push({
          id: sub.id ?? '',
          ...(sub.provisioningState ? { provisioningState: sub.provisioningState } : {}),
          ...(destination?.endpointType ? { endpointType: destination.endpointType } : {}),
          ...(destination?.resourceId ? { functionId: destination.resourceId } : {}),
          ...(sub.filter?.includedEventTypes ? { includedEventTypes: sub.filter.includedEventTypes } : {}),
        });
      }
    }
    return deliveries;
  }
}
