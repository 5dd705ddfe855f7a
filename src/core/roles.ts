// The role that actually grants pull on a registry depends on its role-assignment mode.

/** AcrPull: honoured by registries in the legacy RBAC registry-permissions mode. */
export const ACR_PULL_ROLE = '7f951dda-4ed3-4680-a7ca-43fe172d538d';
/** Container Registry Repository Reader: what grants pull on ABAC repository-permissions registries. */
export const REPOSITORY_READER_ROLE = 'b93aa761-3e63-49ed-ac28-beffa264f7ac';

export type RoleAssignmentMode = 'LegacyRegistryPermissions' | 'AbacRepositoryPermissions' | string;

export interface PullRole {
  readonly guid: string;
  readonly name: 'AcrPull' | 'Container Registry Repository Reader';
}

export function pullRoleFor(mode: RoleAssignmentMode | undefined): PullRole {
  return mode?.toLowerCase() === 'abacrepositorypermissions'
    ? { guid: REPOSITORY_READER_ROLE, name: 'Container Registry Repository Reader' }
    : { guid: ACR_PULL_ROLE, name: 'AcrPull' };
}

export function roleDefinitionId(subscriptionId: string, roleGuid: string): string {
  return `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${roleGuid}`;
}

/** Role definitions are compared by their trailing GUID: ARM echoes them in more than one form. */
export function roleGuidOf(roleDefinitionId: string): string {
  return (roleDefinitionId.split('/').pop() ?? '').toLowerCase();
}
