// The built-in role definitions the emulator knows. A role assignment naming any other role is
// rejected like ARM rejects an unknown role (RoleDefinitionDoesNotExist).

export const BUILT_IN_ROLES: Readonly<Record<string, string>> = {
  '7f951dda-4ed3-4680-a7ca-43fe172d538d': 'AcrPull',
  '8311e382-0749-4cb8-b61a-304f252e45ec': 'AcrPush',
  'c2f4ef07-c644-48eb-af81-4b1b4947fb11': 'AcrDelete',
  // Seen in public scripts as the pull role for registries in ABAC repository-permissions mode.
  'b93aa761-3e63-49ed-ac28-beffa264f7ac': 'Container Registry Repository Reader',
  'acdd72a7-3385-48ef-bd42-f606fba81ae7': 'Reader',
  'b24988ac-6180-42a0-ab88-20f7382dd24c': 'Contributor',
  '8e3af657-a8ff-443c-a75c-2fe8c4bcb635': 'Owner',
  '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9': 'User Access Administrator',
  'f58310d9-a9f6-439a-9e8d-f62e7b41a168': 'Role Based Access Control Administrator',
  'f1a07417-d97a-45cb-824c-7a7467783830': 'Managed Identity Operator',
  '9980e02c-c2be-4d73-94e8-173b1dc7cf3c': 'Virtual Machine Contributor',
};

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
