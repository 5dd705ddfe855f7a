// Microsoft.Authorization/roleAssignments (2022-04-01) at any scope the store knows: PUT, GET, DELETE
// by name and the filtered list. Names are GUIDs unique across the tenant; roles compare by GUID.
import { type ArmRequest, type Handler, type HandlerContext, ok, pageOf, requireObject } from '../armHttp';
import {
  invalidPrincipalId,
  invalidPrincipalType,
  invalidRoleAssignmentId,
  invalidRoleDefinitionId,
  notImplemented,
  principalNotFound,
  resourceNotFound,
  roleAssignmentExists,
  roleAssignmentNotFound,
  roleAssignmentUpdateNotPermitted,
  roleDefinitionDoesNotExist,
  unmatchedPrincipalType,
  unsupportedRoleAssignmentFilter,
} from '../errors';
import { isGuid, managementGroupOf, parseScope, sameId, TYPES } from '../resourceIds';
import { BUILT_IN_ROLES, roleGuidOf } from '../roleDefinitions';
import type { RoleAssignmentRecord, Store } from '../store';
import { requireResourceGroup, requireSubscription } from './lookup';

const PRINCIPAL_TYPES = ['User', 'Group', 'ServicePrincipal', 'ForeignGroup', 'Device'];

export function renderRoleAssignment(a: RoleAssignmentRecord): unknown {
  return {
    properties: {
      roleDefinitionId: a.roleDefinitionId,
      principalId: a.principalId,
      principalType: a.principalType,
      scope: a.scope,
      condition: a.condition,
      conditionVersion: a.conditionVersion,
      createdOn: a.createdOn,
      updatedOn: a.updatedOn,
      createdBy: a.createdBy,
      updatedBy: a.updatedBy,
      delegatedManagedIdentityResourceId: null,
      description: a.description,
    },
    id: a.id,
    type: a.type,
    name: a.name,
  };
}

/**
 * The scope must exist: subscription, resource group, or a resource the emulator holds. Unknown
 * resources get ARM's 404 ResourceNotFound; shapes the emulator does not model get 501.
 */
export function requireScope(store: Store, scope: string, what = 'role assignments'): void {
  const s = parseScope(scope);
  if (s.unsupported)
    throw notImplemented(`${what} at scope '${scope}' (supported: subscription, resource group, resource)`);
  const sub = s.subscriptionId ?? '';
  if (s.resourceGroup === undefined) {
    requireSubscription(store, sub);
    return;
  }
  requireResourceGroup(store, sub, s.resourceGroup);
  if (s.type === undefined || s.name === undefined) return;
  const tables = {
    [TYPES.vm]: store.vms,
    [TYPES.scaleSet]: store.scaleSets,
    [TYPES.identity]: store.identities,
    [TYPES.registry]: store.registries,
  };
  const table = Object.entries(tables).find(([type]) => sameId(type, s.type ?? ''))?.[1];
  if (!table?.get(sub, s.resourceGroup, s.name)) throw resourceNotFound(s.type, s.name, s.resourceGroup);
}

/** `a` is at `scope` or at one of its ancestors. */
const atOrAbove = (a: string, scope: string) =>
  sameId(a, scope) || scope.toLowerCase().startsWith(`${a.toLowerCase()}/`);
const below = (a: string, scope: string) => a.toLowerCase().startsWith(`${scope.toLowerCase()}/`);

interface ListFilter {
  atScope: boolean;
  principalId?: string;
}

/** `atScope()`, `principalId eq '{id}'`, `assignedTo('{id}')`, combined with `and`. Anything else: 400. */
function parseFilter(filter: string | undefined): ListFilter {
  const result: ListFilter = { atScope: false };
  if (filter === undefined || filter.trim() === '') return result;
  for (const clause of filter.trim().split(/\s+and\s+/i)) {
    const principal = /^(?:principalId\s+eq\s+'([^']+)'|assignedTo\('([^']+)'\))$/i.exec(clause.trim());
    if (/^atScope\(\)$/i.test(clause.trim()) && !result.atScope) result.atScope = true;
    else if (principal && result.principalId === undefined) result.principalId = principal[1] ?? principal[2];
    else throw unsupportedRoleAssignmentFilter(filter);
  }
  return result;
}

function readPrincipalType(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const known = PRINCIPAL_TYPES.find(
    (t) => typeof value === 'string' && t.toLowerCase() === value.toLowerCase(),
  );
  if (!known) throw invalidPrincipalType(String(value));
  return known;
}

const optionalString = (v: unknown) => (typeof v === 'string' ? v : null);

/** PrincipalNotFound unless the principal is in the directory (and replicated), or the caller named its type. */
function resolvePrincipalType(ctx: HandlerContext, principalId: string, given: string | undefined): string {
  const principal = ctx.store.getPrincipal(principalId);
  const replicated =
    principal !== undefined && Date.now() - principal.createdAtMs >= ctx.settings.principalReplicationDelayMs;
  if (given !== undefined) {
    if (replicated && principal.type !== given)
      throw unmatchedPrincipalType(principalId, principal.type, given);
    return given;
  }
  if (!replicated) throw principalNotFound(principalId, ctx.store.tenantId);
  return principal.type;
}

function requireName(req: ArmRequest): string {
  const name = req.params.name ?? '';
  if (!isGuid(name)) throw invalidRoleAssignmentId(name);
  return name;
}

function atScope(store: Store, name: string, scope: string): RoleAssignmentRecord | undefined {
  const found = store.getRoleAssignment(name);
  return found && sameId(found.scope, scope) ? found : undefined;
}

export const putRoleAssignment: Handler = (req, ctx) => {
  const { store } = ctx;
  const name = requireName(req);
  const scope = req.params.scope ?? '';
  requireScope(store, scope);
  const properties = requireObject(requireObject(req.body).properties, 'properties');
  const roleDefinitionId = String(properties.roleDefinitionId ?? '');
  const roleGuid = roleGuidOf(roleDefinitionId);
  if (!roleGuid) throw invalidRoleDefinitionId(roleDefinitionId);
  if (!BUILT_IN_ROLES[roleGuid]) throw roleDefinitionDoesNotExist(roleGuid);
  const principalId = properties.principalId;
  if (!isGuid(principalId)) throw invalidPrincipalId();
  const givenType = readPrincipalType(properties.principalType);

  const sameName = store.getRoleAssignment(name);
  if (sameName) {
    const unchanged =
      sameId(sameName.scope, scope) &&
      sameId(sameName.principalId, principalId) &&
      roleGuidOf(sameName.roleDefinitionId) === roleGuid;
    if (!unchanged) throw roleAssignmentUpdateNotPermitted();
    // A PUT to an existing assignment's name with the same role, principal and scope updates what may
    // change: its condition and description (Learn: conditions-role-assignments-rest, "Edit a
    // condition": the same Role Assignments - Create call; az role assignment update does this).
    sameName.condition = optionalString(properties.condition);
    sameName.conditionVersion = sameName.condition ? optionalString(properties.conditionVersion) : null;
    sameName.description = optionalString(properties.description);
    sameName.updatedOn = new Date().toISOString();
    sameName.updatedBy = req.caller.objectId;
    return ok(renderRoleAssignment(sameName));
  }
  // One assignment per principal, role and scope, whatever its condition: a second one with another
  // (or no) condition is refused too (hashicorp/terraform-provider-azurerm#24045: 409
  // RoleAssignmentExists when adding conditions in a second assignment).
  const duplicate = store
    .listRoleAssignments()
    .find(
      (a) =>
        sameId(a.scope, scope) &&
        sameId(a.principalId, principalId) &&
        roleGuidOf(a.roleDefinitionId) === roleGuid,
    );
  if (duplicate) throw roleAssignmentExists(duplicate.name);

  const created = store.createRoleAssignment({
    scope,
    name,
    roleGuid,
    principalId,
    principalType: resolvePrincipalType(ctx, principalId, givenType),
    createdBy: req.caller.objectId,
    condition: optionalString(properties.condition),
    conditionVersion: optionalString(properties.conditionVersion),
    description: optionalString(properties.description),
  });
  return { status: 201, body: renderRoleAssignment(created) };
};

export const getRoleAssignment: Handler = (req, ctx) => {
  const name = requireName(req);
  requireScope(ctx.store, req.params.scope ?? '');
  const found = atScope(ctx.store, name, req.params.scope ?? '');
  if (!found) throw roleAssignmentNotFound(name);
  return ok(renderRoleAssignment(found));
};

export const deleteRoleAssignment: Handler = (req, ctx) => {
  const name = requireName(req);
  requireScope(ctx.store, req.params.scope ?? '');
  const found = atScope(ctx.store, name, req.params.scope ?? '');
  if (!found) return { status: 204 };
  ctx.store.deleteRoleAssignment(found.name);
  return ok(renderRoleAssignment(found));
};

/**
 * An assignment at a management group the listed scope's subscription lies under: above the scope, so
 * listed with it, as ARM lists assignments "at, above or below the scope" for a principal and those
 * "at or above" for atScope() (Learn: rest/api/authorization/role-assignments/list-for-scope, $filter).
 */
function inheritedFromGroup(store: Store, a: RoleAssignmentRecord, scope: string): boolean {
  const group = managementGroupOf(a.scope);
  const sub = parseScope(scope).subscriptionId;
  return group !== undefined && sub !== undefined && store.isUnderManagementGroup(group, sub);
}

export const listRoleAssignments: Handler = (req, ctx) => {
  const scope = req.params.scope ?? '';
  requireScope(ctx.store, scope);
  const filter = parseFilter(req.query.$filter);
  const items = ctx.store.listRoleAssignments().filter((a) => {
    const related =
      atOrAbove(a.scope, scope) ||
      inheritedFromGroup(ctx.store, a, scope) ||
      (!filter.atScope && below(a.scope, scope));
    return related && (filter.principalId === undefined || sameId(a.principalId, filter.principalId));
  });
  return pageOf(items, req, ctx, renderRoleAssignment);
};
