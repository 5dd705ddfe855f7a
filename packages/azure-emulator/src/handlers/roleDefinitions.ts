// Role definitions (Microsoft.Authorization/roleDefinitions): GET by id and list with
// `$filter=roleName eq '…'` (or `type eq 'BuiltInRole'`), what `az role assignment create --role
// AcrPull` calls to resolve a role name. Built-in roles only (roleDefinitions.ts), read-only. Shape:
// specification/authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/
// authorization-RoleDefinitionsCalls.json (RoleDefinition {id, name, type, properties: {roleName,
// description, type, permissions[{actions, notActions, dataActions, notDataActions}],
// assignableScopes, createdOn, updatedOn, createdBy, updatedBy}}). A definition read at a scope inside
// a subscription carries the subscription-qualified id, as role assignments name it; read at the
// tenant root (`/providers/Microsoft.Authorization/roleDefinitions/{id}`) the bare one.
import { type Handler, ok, pageOf } from '../armHttp';
import { notImplemented, roleDefinitionNotFound } from '../errors';
import { parseScope } from '../resourceIds';
import { type BuiltInRole, ROLE_DEFINITIONS, roleDefinitionIdFor } from '../roleDefinitions';
import { requireScope } from './roleAssignments';

function render(guid: string, role: BuiltInRole, subscriptionId: string | undefined): unknown {
  return {
    id: roleDefinitionIdFor(subscriptionId, guid),
    type: 'Microsoft.Authorization/roleDefinitions',
    name: guid,
    properties: {
      roleName: role.roleName,
      type: 'BuiltInRole',
      description: role.description,
      assignableScopes: ['/'],
      permissions: [
        {
          actions: [...role.actions],
          notActions: [...(role.notActions ?? [])],
          dataActions: [...(role.dataActions ?? [])],
          notDataActions: [],
        },
      ],
      createdBy: null,
      updatedBy: null,
    },
  };
}

/** The subscription of the scope ('' for the tenant root); an unknown scope answers ARM's 404s. */
function subscriptionOfScope(store: Parameters<Handler>[1]['store'], scope: string): string | undefined {
  if (scope === '/' || scope === '') return undefined;
  requireScope(store, scope, 'role definitions');
  return parseScope(scope).subscriptionId;
}

export const getRoleDefinition: Handler = (req, ctx) => {
  const sub = subscriptionOfScope(ctx.store, req.params.scope ?? '');
  const guid = (req.params.name ?? '').toLowerCase();
  const role = ROLE_DEFINITIONS[guid];
  if (!role) throw roleDefinitionNotFound(guid);
  return ok(render(guid, role, sub));
};

/** `roleName eq '…'` and `type eq '…'`, as the REST spec documents the list's $filter. */
function parseFilter(filter: string | undefined): (role: BuiltInRole) => boolean {
  if (filter === undefined || filter.trim() === '') return () => true;
  const match = /^\s*(roleName|type)\s+eq\s+'((?:[^']|'')*)'\s*$/i.exec(filter);
  if (!match)
    throw notImplemented(`the role definition filter '${filter}' (supported: roleName eq, type eq)`);
  const value = (match[2] ?? '').replace(/''/g, "'");
  if ((match[1] ?? '').toLowerCase() === 'type') return () => value.toLowerCase() === 'builtinrole';
  return (role) => role.roleName.toLowerCase() === value.toLowerCase();
}

export const listRoleDefinitions: Handler = (req, ctx) => {
  const sub = subscriptionOfScope(ctx.store, req.params.scope ?? '');
  const keep = parseFilter(req.query.$filter);
  const items = Object.entries(ROLE_DEFINITIONS).filter(([, role]) => keep(role));
  return pageOf(items, req, ctx, ([guid, role]) => render(guid, role, sub));
};
