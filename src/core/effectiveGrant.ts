// Whether a principal's role assignments let it pull from a registry, judged as Azure RBAC judges
// them: by the actions and data actions of each role's definition (wildcards, notActions), never by a
// role's name, and with deny assignments taking precedence over every grant (Learn:
// role-based-access-control/role-definitions "Wildcard permissions", deny-assignments). Which
// permission a pull needs depends on the registry's role-assignment mode: legacy registries honour the
// control-plane action `registries/pull/read` (AcrPull, AcrPush, Owner, Contributor, Reader); ABAC
// repository-permissions registries only the data action `repositories/content/read` (Container
// Registry Repository Reader and friends; AcrPull is not honoured: Learn
// container-registry-rbac-abac-repository-permissions). Pure.
import { conditionAllows } from './abacCondition';
import { isAtOrBelow, sameId } from './resourceId';

export const PULL_ACTION = 'Microsoft.ContainerRegistry/registries/pull/read';
export const CONTENT_READ_DATA_ACTION = 'Microsoft.ContainerRegistry/registries/repositories/content/read';
/** "All principals" in a deny assignment (the SystemDefined principal). */
export const EVERYONE = '00000000-0000-0000-0000-000000000000';

export interface PullPermission {
  /** A data action (ABAC mode) or a control-plane action (legacy mode). */
  readonly dataAction: boolean;
  readonly name: string;
}

export function pullPermissionFor(roleAssignmentMode: string | undefined): PullPermission {
  return roleAssignmentMode?.toLowerCase() === 'abacrepositorypermissions'
    ? { dataAction: true, name: CONTENT_READ_DATA_ACTION }
    : { dataAction: false, name: PULL_ACTION };
}

export interface PermissionSet {
  readonly actions?: readonly string[];
  readonly notActions?: readonly string[];
  readonly dataActions?: readonly string[];
  readonly notDataActions?: readonly string[];
}

export interface RoleFacts {
  readonly roleName?: string;
  readonly permissions: readonly PermissionSet[];
}

export interface AssignmentFacts {
  readonly id: string;
  readonly scope: string;
  readonly roleGuid: string;
  readonly condition?: string;
  readonly createdOn?: string;
}

export interface DenyFacts {
  readonly id: string;
  readonly name?: string;
  readonly scope: string;
  readonly permissions: readonly PermissionSet[];
  /** Principal ids (EVERYONE for all principals). */
  readonly principals: readonly string[];
  readonly excludePrincipals: readonly string[];
  readonly doNotApplyToChildScopes: boolean;
}

/** Azure RBAC's wildcard match: `*` matches any run of characters, case-insensitively. */
export function permissionMatches(pattern: string, action: string): boolean {
  const body = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${body}$`, 'i').test(action);
}

/** Whether one permission block allows the permission (allowed and not excluded). */
export function blockAllows(block: PermissionSet, permission: PullPermission): boolean {
  const allow = (permission.dataAction ? block.dataActions : block.actions) ?? [];
  const except = (permission.dataAction ? block.notDataActions : block.notActions) ?? [];
  return (
    allow.some((p) => permissionMatches(p, permission.name)) &&
    !except.some((p) => permissionMatches(p, permission.name))
  );
}

export function roleAllows(role: RoleFacts, permission: PullPermission): boolean {
  return role.permissions.some((block) => blockAllows(block, permission));
}

/** Whether a deny assignment takes the permission away from the principal at the registry. */
export function denies(
  deny: DenyFacts,
  principalId: string,
  registryId: string,
  permission: PullPermission,
): boolean {
  const applies = deny.doNotApplyToChildScopes
    ? sameId(deny.scope, registryId)
    : isAtOrBelow(registryId, deny.scope);
  if (!applies) return false;
  const named = deny.principals.some((p) => sameId(p, principalId) || sameId(p, EVERYONE));
  if (!named || deny.excludePrincipals.some((p) => sameId(p, principalId))) return false;
  return deny.permissions.some((block) => blockAllows(block, permission));
}

export interface GrantEvaluation {
  readonly permission: PullPermission;
  /** Unconditioned assignments at or above the registry whose role allows the permission. */
  readonly granting: readonly AssignmentFacts[];
  /**
   * Conditioned ones that would allow it where their condition holds (it may hold for no repository),
   * when no repository was given or their condition could not be evaluated.
   */
  readonly conditioned: readonly AssignmentFacts[];
  /** Conditioned ones whose condition does not let the given repository through. */
  readonly conditionedMiss: readonly AssignmentFacts[];
  /** Assignments of roles that grant pull in the other mode but not in this one (AcrPull on an ABAC registry). */
  readonly notHonoured: readonly AssignmentFacts[];
  /** Assignments whose role definition could not be read: unknown. */
  readonly unknownRoles: readonly AssignmentFacts[];
  readonly denying: readonly DenyFacts[];
}

/**
 * The principal's effective pull right at the registry from its assignments (at or above the registry),
 * the definitions of their roles (by role GUID, lower-case; undefined = could not be read) and the deny
 * assignments that name it.
 */
export function evaluateGrant(input: {
  readonly principalId: string;
  readonly registryId: string;
  readonly roleAssignmentMode: string | undefined;
  readonly assignments: readonly AssignmentFacts[];
  readonly roles: ReadonlyMap<string, RoleFacts | undefined>;
  readonly denyAssignments: readonly DenyFacts[];
  /** The repository pulled: conditions are evaluated for it (else a conditioned grant is undecided). */
  readonly repository?: string;
}): GrantEvaluation {
  const permission = pullPermissionFor(input.roleAssignmentMode);
  const other: PullPermission = permission.dataAction
    ? pullPermissionFor('LegacyRegistryPermissions')
    : pullPermissionFor('AbacRepositoryPermissions');
  const relevant = input.assignments.filter((a) => isAtOrBelow(input.registryId, a.scope));
  const granting: AssignmentFacts[] = [];
  const conditioned: AssignmentFacts[] = [];
  const conditionedMiss: AssignmentFacts[] = [];
  const notHonoured: AssignmentFacts[] = [];
  const unknownRoles: AssignmentFacts[] = [];
  for (const a of relevant) {
    const role = input.roles.get(a.roleGuid.toLowerCase());
    if (!role) {
      unknownRoles.push(a);
      continue;
    }
    if (roleAllows(role, permission)) {
      const allows =
        a.condition && input.repository !== undefined
          ? conditionAllows(a.condition, { action: permission.name, repository: input.repository })
          : undefined;
      if (!a.condition || allows === true) granting.push(a);
      else if (allows === false) conditionedMiss.push(a);
      else conditioned.push(a);
    } else if (roleAllows(role, other)) notHonoured.push(a);
  }
  const denying = input.denyAssignments.filter((d) =>
    denies(d, input.principalId, input.registryId, permission),
  );
  return { permission, granting, conditioned, conditionedMiss, notHonoured, unknownRoles, denying };
}
