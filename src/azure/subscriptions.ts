// Subscriptions adapter: every subscription the app's identity can see, when none are configured, and
// which configured ones it cannot see.

import { idKey } from '../core/resourceId';
import type { ArmClients } from './armClients';

export class Subscriptions {
  constructor(private readonly clients: ArmClients) {}

  /** Enabled subscriptions only: ARM refuses writes in disabled or warned ones anyway. */
  async listEnabledIds(abortSignal?: AbortSignal): Promise<string[]> {
    const ids: string[] = [];
    for await (const subscription of this.clients
      .subscriptions()
      .subscriptions.list(abortSignal ? { abortSignal } : {})) {
      if (subscription.subscriptionId && (subscription.state ?? 'Enabled') === 'Enabled') {
        ids.push(idKey(subscription.subscriptionId));
      }
    }
    return ids;
  }

  /**
   * Of these subscriptions, those the credential cannot see (mistyped, deleted, or no role in them):
   * one list of the visible ones, whatever their state.
   */
  async unseen(subscriptionIds: readonly string[], abortSignal?: AbortSignal): Promise<string[]> {
    const visible = new Set<string>();
    for await (const subscription of this.clients
      .subscriptions()
      .subscriptions.list(abortSignal ? { abortSignal } : {})) {
      if (subscription.subscriptionId) visible.add(idKey(subscription.subscriptionId));
    }
    return subscriptionIds.filter((id) => !visible.has(idKey(id)));
  }
}
