// Subscriptions (Microsoft.Resources, 2022-12-01): GET /subscriptions (tenant level) and
// GET /subscriptions/{id}. A subscription exists once a resource group was seeded in it.
import { type Handler, ok, pageOf } from '../armHttp';
import { subscriptionId as subscriptionResourceId } from '../resourceIds';
import type { Store } from '../store';
import { requireSubscription } from './lookup';

function renderSubscription(store: Store, sub: string): unknown {
  return {
    id: subscriptionResourceId(sub),
    authorizationSource: 'RoleBased',
    managedByTenants: [],
    subscriptionId: sub,
    tenantId: store.tenantId,
    displayName: `Emulated subscription ${sub}`,
    state: 'Enabled',
    subscriptionPolicies: {
      locationPlacementId: 'Public_2014-09-01',
      quotaId: 'PayAsYouGo_2014-09-01',
      spendingLimit: 'Off',
    },
  };
}

export const listSubscriptions: Handler = (req, ctx) => {
  const subscriptions = ctx.store.listSubscriptions();
  const page = pageOf(subscriptions, req, ctx, (sub) => renderSubscription(ctx.store, sub));
  return ok({ ...(page.body as object), count: { type: 'Total', value: subscriptions.length } });
};

export const getSubscription: Handler = (req, ctx) => {
  const sub = req.params.subscriptionId ?? '';
  requireSubscription(ctx.store, sub);
  return ok(renderSubscription(ctx.store, ctx.store.subscription(sub) ?? sub));
};
