// The sweep's findings about the identities: pull identities holding role assignments beyond their
// pull grants (one `assignedTo` list per identity per subscription, shared with the decision path
// through roleCheckCache.ts: what the sweep's pairs listed is not listed again), pull identities of the
// app's own that no VM or scale set in the swept subscriptions holds any more, and identities in the
// identity resource group the app did not make (one identity list for both).
import pLimit from 'p-limit';
import type { Auditor } from '../../audit/auditor';
import { type RetryEnvironment, withRetry } from '../../azure/retry';
import type { IdentityState } from '../../azure/userAssignedIdentities';
import { describeExcess } from '../../core/excessRoles';
import { foreignIdentities, foreignReason } from '../../core/identityGroup';
import { parseIdentityName } from '../../core/names';
import { ownershipOf } from '../../core/ownership';
import { overrideRegistries } from '../../core/pullIdentity';
import { idKey } from '../../core/resourceId';
import type { ReconcileDeps } from '../deps';
import { excessRolesOf } from '../pair/roleCheck';

/** A pull identity the sweep's pairs read (ready, or refused for its roles), with a registry it serves. */
export interface CheckedIdentity {
  readonly identity: IdentityState;
  readonly registry: { readonly id: string; readonly name: string; readonly subscriptionId: string };
}

interface Served {
  readonly identity: IdentityState;
  readonly registries: CheckedIdentity['registry'][];
}

/**
 * Flags every pull identity that holds more than pull on its registries (those refused for it on the
 * decision path too: targets that already hold it keep it); returns how many. Listings made since
 * `listedSince` (the sweep's start) are reused, older ones made again.
 */
export async function reportExcessRoles(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  auditor: Auditor,
  checked: readonly CheckedIdentity[],
  listedSince: number,
): Promise<number> {
  const byPrincipal = new Map<string, Served>();
  for (const c of checked) {
    const key = idKey(c.identity.principalId);
    const entry = byPrincipal.get(key) ?? { identity: c.identity, registries: [] };
    entry.registries.push(c.registry);
    byPrincipal.set(key, entry);
  }
  let flagged = 0;
  // Identities in parallel (as the sweep's pairs are); each one's lists in turn.
  const limit = pLimit(deps.settings.sweepConcurrency);
  const check = async ({ identity, registries }: Served) => {
    const fields = {
      registry: registries[0]?.name,
      identityId: identity.id,
      principalId: identity.principalId,
      clientId: identity.clientId,
    };
    try {
      const excess = await excessRolesOf(deps, retryEnv, {
        identity,
        identityId: identity.id,
        registries: {
          registryIds: registries.map((r) => r.id),
          registryNames: [
            ...registries.map((r) => r.name),
            ...overrideRegistries(deps.settings, identity.id),
          ],
        },
        registrySubscriptions: registries.map((r) => r.subscriptionId),
        listedSince,
      });
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
 * From one list of the identity resource group: flags each pull identity the app made (ARM's
 * systemData) that no VM or scale set the sweep saw holds (`used`: lower-cased ids) — its grants and
 * the identity stay: other subscriptions' VMs may hold it, and removing it is the operator's call
 * (README "Uninstalling" shows how) — and each identity the app did not make that is not an override
 * (identity-foreign: the group is meant to be the app's alone). Returns how many of each.
 */
export async function reportIdentityGroup(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  auditor: Auditor,
  used: ReadonlySet<string>,
): Promise<{ unused: number; foreign: number }> {
  const rg = deps.settings.identityResourceGroup;
  let unused = 0;
  let foreign = 0;
  try {
    const identities = await withRetry('list identities', retryEnv, (signal) =>
      deps.identities.list(rg, signal),
    );
    const self = await deps.whoAmI();
    for (const identity of identities) {
      const parsed = parseIdentityName(identity.name);
      if (!parsed || used.has(idKey(identity.id))) continue;
      if (!ownershipOf(identity, self, deps.settings.trustedCreators).owned) continue;
      unused += 1;
      auditor.record('identity-unused', 'flagged', {
        registry: parsed.registry,
        identityId: identity.id,
        principalId: identity.principalId,
        clientId: identity.clientId,
        reason: `no VM or scale set in the swept subscriptions holds this pull identity for ${parsed.registry} in ${parsed.region} any more; it and its grants are kept (VMs elsewhere may use it): delete its role assignments and the identity if nothing needs it`,
      });
    }
    for (const { identity, creator } of foreignIdentities(identities, self, deps.settings)) {
      foreign += 1;
      const lookalike = parseIdentityName(identity.name);
      auditor.record('identity-foreign', 'flagged', {
        ...(lookalike ? { registry: lookalike.registry } : {}),
        identityId: identity.id,
        principalId: identity.principalId,
        clientId: identity.clientId,
        identityCreatedBy: creator,
        reason: foreignReason(identity.id, creator),
      });
    }
  } catch (error) {
    auditor.failed(error, { identityId: rg.id });
  }
  return { unused, foreign };
}
