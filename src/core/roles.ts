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

/**
 * Names of well-known built-in roles by GUID, to name what a pull identity holds beyond pull (Learn:
 * role-based-access-control/built-in-roles, the ID column). Anything else is shown by its GUID.
 */
const BUILT_IN_ROLE_NAMES: Readonly<Record<string, string>> = {
  '8e3af657-a8ff-443c-a75c-2fe8c4bcb635': 'Owner',
  'b24988ac-6180-42a0-ab88-20f7382dd24c': 'Contributor',
  'acdd72a7-3385-48ef-bd42-f606fba81ae7': 'Reader',
  '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9': 'User Access Administrator',
  'f58310d9-a9f6-439a-9e8d-f62e7b41a168': 'Role Based Access Control Administrator',
  'f1a07417-d97a-45cb-824c-7a7467783830': 'Managed Identity Operator',
  '9980e02c-c2be-4d73-94e8-173b1dc7cf3c': 'Virtual Machine Contributor',
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
  'ba92f5b4-2d11-453d-a403-e96b0029c9fe': 'Storage Blob Data Contributor',
  '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1': 'Storage Blob Data Reader',
  '8311e382-0749-4cb8-b61a-304f252e45ec': 'AcrPush',
  'c2f4ef07-c644-48eb-af81-4b1b4947fb11': 'AcrDelete',
  [ACR_PULL_ROLE]: 'AcrPull',
  [REPOSITORY_READER_ROLE]: 'Container Registry Repository Reader',
};

/** A role's built-in name where it is a well-known one, else its GUID (a custom or less known role). */
export function roleLabel(roleGuid: string): string {
  const guid = roleGuid.toLowerCase();
  return BUILT_IN_ROLE_NAMES[guid] ?? guid;
}
