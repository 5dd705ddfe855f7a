// Microsoft.EventGrid system topics and their event subscriptions, read only (what the app's sweep
// reads to find swept subscriptions that deliver no events to it). REST spec: specification/eventgrid/
// resource-manager/Microsoft.EventGrid (SystemTopics_ListBySubscription: GET /subscriptions/{s}/
// providers/Microsoft.EventGrid/systemTopics; SystemTopicEventSubscriptions_List: GET .../
// resourceGroups/{rg}/providers/Microsoft.EventGrid/systemTopics/{t}/eventSubscriptions). A system
// topic for Azure subscription events has topicType Microsoft.Resources.Subscriptions, location
// global and source /subscriptions/{id} (Learn: event-grid/system-topics, event-schema-subscriptions).
// The test handle seeds them; a deployment creates them in Azure.
import { type Handler, pageOf } from '../armHttp';
import { resourceNotFound } from '../errors';
import type { EventSubscriptionRecord, SystemTopicRecord } from '../store';
import { requireResourceGroup, requireSubscription } from './lookup';

export function renderSystemTopic(t: SystemTopicRecord): unknown {
  return {
    id: t.id,
    name: t.name,
    type: 'Microsoft.EventGrid/systemTopics',
    location: t.location,
    tags: {},
    properties: {
      provisioningState: t.provisioningState,
      source: t.source,
      topicType: t.topicType,
      metricResourceId: t.metricResourceId,
    },
  };
}

export function renderEventSubscription(e: EventSubscriptionRecord): unknown {
  return {
    id: e.id,
    name: e.name,
    type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions',
    properties: {
      topic: e.topic,
      provisioningState: e.provisioningState,
      destination: e.destination,
      filter: e.filter,
      labels: [],
      eventDeliverySchema: 'EventGridSchema',
      retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 },
    },
  };
}

export const listSystemTopicsBySubscription: Handler = (req, ctx) => {
  const sub = req.params.subscriptionId ?? '';
  requireSubscription(ctx.store, sub);
  return pageOf(
    ctx.store.listSystemTopics().filter((t) => t.subscriptionId.toLowerCase() === sub.toLowerCase()),
    req,
    ctx,
    renderSystemTopic,
  );
};

export const listSystemTopicEventSubscriptions: Handler = (req, ctx) => {
  const sub = req.params.subscriptionId ?? '';
  const rg = req.params.resourceGroup ?? '';
  const name = req.params.name ?? '';
  requireResourceGroup(ctx.store, sub, rg);
  const topic = ctx.store
    .listSystemTopics()
    .find(
      (t) =>
        t.subscriptionId.toLowerCase() === sub.toLowerCase() &&
        t.resourceGroup.toLowerCase() === rg.toLowerCase() &&
        t.name.toLowerCase() === name.toLowerCase(),
    );
  if (!topic) throw resourceNotFound('Microsoft.EventGrid/systemTopics', name, rg);
  return pageOf(
    ctx.store.listEventSubscriptions().filter((e) => e.topicId.toLowerCase() === topic.id.toLowerCase()),
    req,
    ctx,
    renderEventSubscription,
  );
};
