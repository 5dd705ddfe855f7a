// The sweep's findings about the pull identities: role assignments beyond their pull grants (one list
// per identity per swept subscription, ARM filtering by `assignedTo`), and pull identities of the
// app's own that no VM or scale set in the swept subscriptions holds any more (one identity list).
import pLimit from 'p-limit';
import type { Auditor } from '../../audit/auditor';
import { type RetryEnvironment, withRetry } from '../../azure/retry';
import { describeExcess, excessAssignments } from '../../core/excessRoles';
import { parseIdentityName } from '../../core/names';
import { ownershipOf } from '../../core/ownership';
import { idKey } from '../../core/resourceId';
import type { ReconcileDeps } from '../deps';
import type { ReadyRegistry } from '../pair/decision';

type Ready = ReadyRegistry;

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
    const key = idKey(d.identity.principalId);
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

/**
 * Flags each pull identity the app made (ARM's systemData) that no VM or scale set the sweep saw
 * holds (`used`: lower-cased ids). Its grants and the identity stay: other subscriptions' VMs may hold
 * it, and removing it is the operator's call (README "Uninstalling" shows how). Returns how many.
 */
export async function reportUnusedIdentities(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  auditor: Auditor,
  used: ReadonlySet<string>,
): Promise<number> {
  const rg = deps.settings.identityResourceGroup;
  let flagged = 0;
  try {
    const identities = await withRetry('list identities', retryEnv, (signal) =>
      deps.identities.list(rg, signal),
    );
    const self = await deps.whoAmI();
    for (const identity of identities) {
      const parsed = parseIdentityName(identity.name);
      if (!parsed || used.has(idKey(identity.id))) continue;
      if (!ownershipOf(identity, self, deps.settings.trustedCreators).owned) continue;
      flagged += 1;
      auditor.record('identity-unused', 'flagged', {
        registry: parsed.registry,
        identityId: identity.id,
        principalId: identity.principalId,
        clientId: identity.clientId,
        reason: `no VM or scale set in the swept subscriptions holds this pull identity for ${parsed.registry} in ${parsed.region} any more; it and its grants are kept (VMs elsewhere may use it): delete its role assignments and the identity if nothing needs it`,
      });
    }
  } catch (error) {
    auditor.failed(error, { identityId: rg.id });
  }
  return flagged;
}
