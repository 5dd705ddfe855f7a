// Does a pull identity (or an override) hold anything beyond its pull grants? Asked on the decision
// path before the identity is granted or attached, and by the sweep's finding, through the same cache
// (roleCheckCache.ts): one `assignedTo` list per subscription per principal per 15 minutes, none for a
// principal the app made within them (ARM's 201 to its PUT, or the identity's systemData).
//
// Where: every subscription the app knows of — the swept ones (ACRPULL_SUBSCRIPTIONS, else those the
// last sweep covered), the registry subscriptions, the registry's, the identity resource group's, the
// identity's own and the target's. ARM lists, for a principal at a subscription, the assignments at,
// above (management groups: inherited) and below it (Learn: rest/api/authorization/role-assignments/
// list-for-scope, "$filter=principalId eq {id} ... at, above or below the scope"; `assignedTo('{id}')`
// also covers the groups it is a member of, Learn: role-assignments-list-rest and
// Azure/azure-rest-api-specs#9661). An assignment at a resource in a subscription the app knows nothing
// of is not seen.
import type { RetryEnvironment } from '../../azure/retry';
import { withRetry } from '../../azure/retry';
import type { IdentityState } from '../../azure/userAssignedIdentities';
import type { Settings } from '../../config/settings';
import { type Assignment, excessAssignments, type PullRegistries } from '../../core/excessRoles';
import { parseUserAssignedIdentityId } from '../../core/resourceId';
import type { ReconcileDeps } from '../deps';

export interface RoleCheckScope {
  /** The subscriptions of the registries the identity pulls from. */
  readonly registrySubscriptions: readonly string[];
  readonly identityId: string;
  /** The target's subscription (the event path and the CLI; the sweep's are all swept). */
  readonly targetSubscriptionId?: string;
}

/** The subscriptions to list the principal's assignments in, each once (lower-cased). */
export function roleCheckSubscriptions(
  settings: Settings,
  swept: readonly string[],
  scope: RoleCheckScope,
): string[] {
  const all = [
    ...(settings.subscriptions.length > 0 ? settings.subscriptions : swept),
    ...settings.registrySubscriptions,
    ...scope.registrySubscriptions,
    settings.identityResourceGroup.subscriptionId,
    parseUserAssignedIdentityId(scope.identityId)?.subscriptionId,
    scope.targetSubscriptionId,
  ];
  return [...new Set(all.filter((s): s is string => !!s).map((s) => s.toLowerCase()))];
}

export interface RoleCheck extends RoleCheckScope {
  readonly identity: Pick<IdentityState, 'id' | 'principalId'>;
  readonly registries: PullRegistries;
  /** Listings older than this are made again (the sweep's start: a sweep always looks afresh). */
  readonly listedSince?: number;
  /** When the principal came to be, if the app made it (ARM's systemData): it held nothing then. */
  readonly bornAt?: number;
}

/** The identity's assignments beyond pull at its registries, from the cache or listed. */
export async function excessRolesOf(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  check: RoleCheck,
): Promise<Assignment[]> {
  const subscriptions = roleCheckSubscriptions(deps.settings, deps.roleChecks.sweptSubscriptions(), check);
  const principalId = check.identity.principalId;
  const { held } = await deps.roleChecks.held(
    principalId,
    subscriptions,
    (subscriptionId) =>
      withRetry('list role assignments', retryEnv, (signal) =>
        deps.roleAssignments.listAssignedTo(subscriptionId, principalId, signal),
      ),
    {
      ...(check.listedSince !== undefined ? { listedSince: check.listedSince } : {}),
      ...(check.bornAt !== undefined ? { bornAt: check.bornAt } : {}),
    },
  );
  return excessAssignments(held, check.registries);
}
