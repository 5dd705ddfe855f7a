// The built-in role definitions the emulator knows: served by GET and list (handlers/roleDefinitions.ts),
// and the only roles a role assignment may name (any other is rejected like ARM rejects an unknown
// role: RoleDefinitionDoesNotExist).

export interface BuiltInRole {
  roleName: string;
  description: string;
  actions: readonly string[];
  notActions?: readonly string[];
  dataActions?: readonly string[];
}

/**
 * The built-in roles the emulator knows, by role GUID. Checked against a source: AcrPull, AcrPush and
 * AcrDelete (learn.microsoft.com/azure/role-based-access-control/built-in-roles/containers), Reader
 * (an azure-cli recording, test_role_assignment_create_using_principal_type.yaml). The others' names
 * and GUIDs are the well-known ones; their descriptions and permission lists are given as the
 * built-in roles reference publishes them but were not re-checked here, and Contributor's and Virtual
 * Machine Contributor's lists are abridged (the leading entries only). ARM enforces none of them on
 * its callers; the registry data plane evaluates them for pulls (registry/authorization.ts reads the
 * wildcards of Owner, Contributor and Reader and the ACR roles' actions and data actions).
 */
export const ROLE_DEFINITIONS: Readonly<Record<string, BuiltInRole>> = {
  '7f951dda-4ed3-4680-a7ca-43fe172d538d': {
    roleName: 'AcrPull',
    description: 'acr pull',
    actions: ['Microsoft.ContainerRegistry/registries/pull/read'],
  },
  '8311e382-0749-4cb8-b61a-304f252e45ec': {
    roleName: 'AcrPush',
    description: 'acr push',
    actions: [
      'Microsoft.ContainerRegistry/registries/pull/read',
      'Microsoft.ContainerRegistry/registries/push/write',
    ],
  },
  'c2f4ef07-c644-48eb-af81-4b1b4947fb11': {
    roleName: 'AcrDelete',
    description: 'acr delete',
    actions: ['Microsoft.ContainerRegistry/registries/artifacts/delete'],
  },
  // The pull role for registries in ABAC repository-permissions mode.
  'b93aa761-3e63-49ed-ac28-beffa264f7ac': {
    roleName: 'Container Registry Repository Reader',
    description:
      'Allows for read access to Azure Container Registry repositories, including tags and metadata. This role is compatible with Microsoft Entra ABAC conditions.',
    actions: [],
    dataActions: [
      'Microsoft.ContainerRegistry/registries/repositories/metadata/read',
      'Microsoft.ContainerRegistry/registries/repositories/content/read',
    ],
  },
  'acdd72a7-3385-48ef-bd42-f606fba81ae7': {
    roleName: 'Reader',
    description: 'View all resources, but does not allow you to make any changes.',
    actions: ['*/read'],
  },
  'b24988ac-6180-42a0-ab88-20f7382dd24c': {
    roleName: 'Contributor',
    description:
      'Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.',
    actions: ['*'],
    notActions: [
      'Microsoft.Authorization/*/Delete',
      'Microsoft.Authorization/*/Write',
      'Microsoft.Authorization/elevateAccess/Action',
    ],
  },
  '8e3af657-a8ff-443c-a75c-2fe8c4bcb635': {
    roleName: 'Owner',
    description:
      'Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.',
    actions: ['*'],
  },
  '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9': {
    roleName: 'User Access Administrator',
    description: 'Lets you manage user access to Azure resources.',
    actions: ['*/read', 'Microsoft.Authorization/*', 'Microsoft.Support/*'],
  },
  'f58310d9-a9f6-439a-9e8d-f62e7b41a168': {
    roleName: 'Role Based Access Control Administrator',
    description:
      'Manage access to Azure resources by assigning roles using Azure RBAC. This role does not allow you to manage access using other ways, such as Azure Policy.',
    actions: [
      'Microsoft.Authorization/roleAssignments/write',
      'Microsoft.Authorization/roleAssignments/delete',
      '*/read',
      'Microsoft.Support/*',
    ],
  },
  'f1a07417-d97a-45cb-824c-7a7467783830': {
    roleName: 'Managed Identity Operator',
    description: 'Read and Assign User Assigned Identity',
    actions: [
      'Microsoft.ManagedIdentity/userAssignedIdentities/*/read',
      'Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action',
      'Microsoft.Authorization/*/read',
      'Microsoft.Insights/alertRules/*',
      'Microsoft.Resources/subscriptions/resourceGroups/read',
      'Microsoft.Resources/deployments/*',
      'Microsoft.Support/*',
    ],
  },
  '9980e02c-c2be-4d73-94e8-173b1dc7cf3c': {
    roleName: 'Virtual Machine Contributor',
    description:
      'Create and manage virtual machines, manage disks, install and run software, reset password of the root user of the virtual machine using VM extensions, and manage local user accounts using VM extensions. This role does not grant you management access to the virtual network or storage account the virtual machines are connected to. This role does not allow you to assign roles in Azure RBAC.',
    actions: [
      'Microsoft.Authorization/*/read',
      'Microsoft.Compute/availabilitySets/*',
      'Microsoft.Compute/locations/*',
      'Microsoft.Compute/virtualMachines/*',
      'Microsoft.Compute/virtualMachineScaleSets/*',
    ],
  },
};

/** Role GUID → role name. */
export const BUILT_IN_ROLES: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(ROLE_DEFINITIONS).map(([guid, role]) => [guid, role.roleName]),
);

const ROLE_DEFINITION_ID =
  /^(?:\/subscriptions\/([0-9a-f-]{36}))?\/providers\/Microsoft\.Authorization\/roleDefinitions\/([0-9a-f-]{36})$/i;

/** The role GUID of a role definition id, or undefined when the id is malformed. Roles compare by this GUID. */
export function roleGuidOf(roleDefinitionId: string): string | undefined {
  return ROLE_DEFINITION_ID.exec(roleDefinitionId)?.[2]?.toLowerCase();
}

/** The subscription-qualified form ARM returns for a role definition at a scope in `subscriptionId`. */
export function roleDefinitionIdFor(subscriptionId: string | undefined, guid: string): string {
  const prefix = subscriptionId ? `/subscriptions/${subscriptionId}` : '';
  return `${prefix}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
}
