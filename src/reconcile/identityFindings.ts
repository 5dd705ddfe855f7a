// The sweep's findings about the pull identities it used: role assignments beyond their pull grants.
// One list per identity per swept subscription (ARM filters by `assignedTo`), each audited once.
import pLimit from 'p-limit';
import type { Auditor } from '../audit/auditor';
import { type RetryEnvironment, withRetry } from '../azure/retry';
import { describeExcess, excessAssignments } from '../core/excessRoles';
import type { ReconcileDeps } from './reconcileDeps';
import type { RegistryDecision } from './registryAccess';

type Ready = Extract<RegistryDecision, { status: 'ready' }>;

/** Flags every pull identity that holds more than pull on its registries; returns how many. */
export async function reportExcessRoles(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  auditor: Auditor,
  decisions: readonly Ready[],
  subscriptions: readonly string[],
): Promise<number> {
  // Identities that exist (in audit mode a planned one does not yet), with the registries they serve.
  const byPrincipal = new Map<string, { ready: Ready; registryIds: string[] }>();
  for (const d of decisions) {
    if (!d.identity) continue;
    const key = d.identity.principalId.toLowerCase();
    const entry = byPrincipal.get(key) ?? { ready: d, registryIds: [] };
    entry.registryIds.push(d.registry.id);
    byPrincipal.set(key, entry);
  }
  let flagged = 0;
  // Identities in parallel (as the sweep's pairs are); each one's lists in turn.
  const limit = pLimit(deps.settings.sweepConcurrency);
  const check = async ({ ready, registryIds }: { ready: Ready; registryIds: string[] }) => {
    const identity = ready.identity;
    if (!identity) return;
    const fields = {
      registry: ready.registry.name,
      identityId: identity.id,
      principalId: identity.principalId,
      clientId: identity.clientId,
    };
    try {
      const held = [];
      for (const subscriptionId of subscriptions) {
        held.push(
          ...(await withRetry('list role assignments', retryEnv, (signal) =>
            deps.roleAssignments.listAssignedTo(subscriptionId, identity.principalId, signal),
          )),
        );
      }
      const excess = excessAssignments(held, registryIds);
      if (excess.length === 0) return;
      flagged += 1;
      auditor.record('identity-excess-roles', 'flagged', { ...fields, reason: describeExcess(excess) });
    } catch (error) {
      auditor.failed(error, fields);
    }
  };
  await Promise.all([...byPrincipal.values()].map((entry) => limit(() => check(entry))));
  return flagged;
}
