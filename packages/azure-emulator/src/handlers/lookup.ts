// Existence checks in ARM's order: subscription, then resource group, then the resource itself.

import { type Handler, ok, pageOf } from '../armHttp';
import {
  invalidSubscriptionId,
  resourceGroupNotFound,
  resourceNotFound,
  subscriptionNotFound,
} from '../errors';
import { isGuid } from '../resourceIds';
import type { ResourceGroupRecord, Store } from '../store';

export function requireSubscription(store: Store, sub: string): void {
  if (!isGuid(sub)) throw invalidSubscriptionId(sub);
  if (!store.hasSubscription(sub)) throw subscriptionNotFound(sub);
}

export function requireResourceGroup(store: Store, sub: string, rg: string): ResourceGroupRecord {
  requireSubscription(store, sub);
  const group = store.getResourceGroup(sub, rg);
  if (!group) throw resourceGroupNotFound(rg);
  return group;
}

interface Table<T> {
  get(sub: string, rg: string, name: string): T | undefined;
}

/** A resource in an existing resource group, or ARM's 404 for it. */
export function requireResource<T>(
  store: Store,
  table: Table<T>,
  type: string,
  params: Record<string, string>,
): T {
  const sub = params.subscriptionId ?? '';
  const rg = params.resourceGroup ?? '';
  const name = params.name ?? '';
  requireResourceGroup(store, sub, rg);
  const found = table.get(sub, rg, name);
  if (!found) throw resourceNotFound(type, name, rg);
  return found;
}

/** The items of a list route: per resource group when the route has one, else per subscription. */
export function listScope<T>(
  store: Store,
  table: { list(sub?: string, rg?: string): T[] },
  params: Record<string, string>,
): T[] {
  const sub = params.subscriptionId ?? '';
  if (params.resourceGroup !== undefined) requireResourceGroup(store, sub, params.resourceGroup);
  else requireSubscription(store, sub);
  return table.list(sub, params.resourceGroup);
}

/**
 * GET by name and the resource-group and subscription lists of a tracked type: one pair of handlers
 * for every flat type (ARM answers them alike: the group's and subscription's existence first, then
 * the resource's 404, the lists paged).
 */
export function trackedReads<T>(
  tableOf: (store: Store) => Table<T> & { list(sub?: string, rg?: string): T[] },
  type: string,
  render: (store: Store, row: T) => unknown,
): { get: Handler; list: Handler } {
  return {
    get: (req, ctx) =>
      ok(render(ctx.store, requireResource(ctx.store, tableOf(ctx.store), type, req.params))),
    list: (req, ctx) =>
      pageOf(listScope(ctx.store, tableOf(ctx.store), req.params), req, ctx, (row: T) =>
        render(ctx.store, row),
      ),
  };
}
