// Does a principal hold the right to pull a repository of a registry, as ACR decides it when it
// issues its own access token (Azure/acr docs/AAD-OAuth.md: the AAD token is used "to query for the
// set of permissions that the user has for the container registry resource")?
//
// - Which permission counts depends on the registry's role assignment permissions mode (Learn:
//   container-registry-rbac-abac-repository-permissions). "RBAC Registry Permissions"
//   (LegacyRegistryPermissions): the control-plane action Microsoft.ContainerRegistry/registries/pull/read
//   (AcrPull, AcrPush; Owner, Contributor and Reader through `*` and `*/read`: Learn
//   container-registry-roles' table gives all five "Pull image", and says Reader and Contributor "allow
//   docker pull"). "RBAC Registry + ABAC Repository
//   Permissions" (AbacRepositoryPermissions): only the data action
//   Microsoft.ContainerRegistry/registries/repositories/content/read; "AcrPull, AcrPush, and AcrDelete
//   are not honored", and Owner/Contributor/Reader "only grant control plane permissions" — which
//   falls out of Azure RBAC itself: `*` in actions never grants a data action.
// - Role assignments at the registry's scope or above, for the principal itself (groups are not
//   modelled), whose condition (if any) holds for this repository (conditions.ts; unevaluable = no).
// - An assignment younger than the propagation delay does not count yet (Learn
//   role-based-access-control/troubleshooting: changes can take up to 10 minutes to take effect).
// - A deny assignment covering the action for the principal (or for everyone,
//   00000000-0000-0000-0000-000000000000, minus its excludePrincipals) beats every grant (Learn
//   role-based-access-control/deny-assignments: "deny assignments take precedence over role
//   assignments"); doNotApplyToChildScopes limits it to its own scope.

import { sameId } from '../resourceIds';
import { ROLE_DEFINITIONS, roleGuidOf } from '../roleDefinitions';
import type { DenyAssignmentRecord, RegistryRecord, RoleAssignmentRecord, Store } from '../store';
import { evaluateCondition } from './conditions';

export const PULL_ACTION = 'Microsoft.ContainerRegistry/registries/pull/read';
export const CONTENT_READ_DATA_ACTION = 'Microsoft.ContainerRegistry/registries/repositories/content/read';
export const REPOSITORY_NAME_ATTRIBUTE = 'Microsoft.ContainerRegistry/registries/repositories:name';
/** "All principals" in a deny assignment (Learn deny-assignments: the SystemDefined principal). */
export const ALL_PRINCIPALS = '00000000-0000-0000-0000-000000000000';

/** The permission a pull needs in this registry's mode: a control-plane action or a data action. */
export function pullPermission(registry: RegistryRecord): { dataAction: boolean; name: string } {
  return registry.roleAssignmentMode === 'AbacRepositoryPermissions'
    ? { dataAction: true, name: CONTENT_READ_DATA_ACTION }
    : { dataAction: false, name: PULL_ACTION };
}

/** Azure RBAC's wildcard match: `*` anywhere, case-insensitive (Learn role-definitions: "Wildcard permissions"). */
export function permissionMatches(pattern: string, action: string): boolean {
  const body = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${body}$`, 'i').test(action);
}

function allowedBy(allow: readonly string[], except: readonly string[], action: string): boolean {
  return allow.some((p) => permissionMatches(p, action)) && !except.some((p) => permissionMatches(p, action));
}

/** `a` is at `scope` or at one of its ancestors. */
const atOrAbove = (a: string, scope: string) =>
  sameId(a, scope) || scope.toLowerCase().startsWith(`${a.replace(/\/+$/, '').toLowerCase()}/`);

export interface PullDecision {
  allowed: boolean;
  /** Why not (or which assignment allowed it), for logs and test messages. */
  reason: string;
}

export interface AuthorizationContext {
  store: Store;
  /** Assignments created less than this long ago do not count yet. */
  rbacPropagationDelayMs: number;
  now?: number;
}

function grantingAssignment(
  ctx: AuthorizationContext,
  principalId: string,
  registry: RegistryRecord,
  repository: string,
): RoleAssignmentRecord | undefined {
  const permission = pullPermission(registry);
  const now = ctx.now ?? Date.now();
  return ctx.store.listRoleAssignments().find((a) => {
    if (!sameId(a.principalId, principalId) || !atOrAbove(a.scope, registry.id)) return false;
    if (now - Date.parse(a.createdOn) < ctx.rbacPropagationDelayMs) return false;
    const role = ROLE_DEFINITIONS[roleGuidOf(a.roleDefinitionId) ?? ''];
    if (!role) return false;
    const grants = permission.dataAction
      ? allowedBy(role.dataActions ?? [], [], permission.name)
      : allowedBy(role.actions, role.notActions ?? [], permission.name);
    if (!grants) return false;
    if (a.condition === null || a.condition.trim() === '') return true;
    const result = evaluateCondition(a.condition, {
      action: permission.name,
      attributes: { [REPOSITORY_NAME_ATTRIBUTE]: [repository] },
    });
    return result.ok && result.value;
  });
}

function denyingAssignment(
  store: Store,
  principalId: string,
  registry: RegistryRecord,
): DenyAssignmentRecord | undefined {
  const permission = pullPermission(registry);
  return store.listDenyAssignments().find((d) => {
    const applies = d.doNotApplyToChildScopes
      ? sameId(d.scope, registry.id)
      : atOrAbove(d.scope, registry.id);
    if (!applies) return false;
    const named = d.principals.some((p) => sameId(p.id, principalId) || sameId(p.id, ALL_PRINCIPALS));
    if (!named || d.excludePrincipals.some((p) => sameId(p.id, principalId))) return false;
    return d.permissions.some((p) =>
      permission.dataAction
        ? allowedBy(p.dataActions, p.notDataActions, permission.name)
        : allowedBy(p.actions, p.notActions, permission.name),
    );
  });
}

/** The principal's effective right to pull `repository` from the registry. */
export function decidePull(
  ctx: AuthorizationContext,
  principalId: string,
  registry: RegistryRecord,
  repository: string,
): PullDecision {
  const deny = denyingAssignment(ctx.store, principalId, registry);
  if (deny) return { allowed: false, reason: `deny assignment ${deny.id}` };
  const grant = grantingAssignment(ctx, principalId, registry, repository);
  if (grant) return { allowed: true, reason: `role assignment ${grant.id}` };
  return {
    allowed: false,
    reason: `no role assignment grants ${pullPermission(registry).name} on ${registry.id} for ${repository}`,
  };
}
