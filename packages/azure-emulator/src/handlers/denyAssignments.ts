// Microsoft.Authorization/denyAssignments (2022-04-01 and 2018-07-01-preview): GET by name and the
// filtered list at any scope the store knows. Read-only, as in ARM ("you can't directly create your
// own deny assignments", Learn role-based-access-control/deny-assignments); the test handle seeds them.
// Filters (REST spec authorization-DenyAssignmentGetCalls.json, $filter): atScope() = at or above the
// scope; principalId eq '{id}' = at, above and below the scope for that principal (a principal named
// in `principals`, or everyone); denyAssignmentName eq '{name}'.
import { type Handler, ok, pageOf } from '../armHttp';
import { ArmError } from '../errors';
import { sameId } from '../resourceIds';
import type { DenyAssignmentRecord } from '../store';
import { requireScope } from './roleAssignments';

const EVERYONE = '00000000-0000-0000-0000-000000000000';

export function renderDenyAssignment(d: DenyAssignmentRecord): unknown {
  return {
    properties: {
      denyAssignmentName: d.denyAssignmentName,
      description: d.description,
      permissions: d.permissions.map((p) => ({ ...p, condition: null, conditionVersion: null })),
      scope: d.scope,
      doNotApplyToChildScopes: d.doNotApplyToChildScopes,
      principals: d.principals,
      excludePrincipals: d.excludePrincipals,
      isSystemProtected: d.isSystemProtected,
      createdOn: d.createdOn,
      updatedOn: d.createdOn,
    },
    id: d.id,
    type: d.type,
    name: d.name,
  };
}

const atOrAbove = (a: string, scope: string) =>
  sameId(a, scope) || scope.toLowerCase().startsWith(`${a.toLowerCase()}/`);
const below = (a: string, scope: string) => a.toLowerCase().startsWith(`${scope.toLowerCase()}/`);

/** ARM's answer for a filter it does not support (the role-assignment list's wording, UnsupportedQuery). */
const unsupportedFilter = (filter: string) =>
  new ArmError(
    400,
    'UnsupportedQuery',
    `The filter '${filter}' is not supported. Supported filters are either 'atScope()', 'denyAssignmentName eq '{value}'' or 'principalId eq '{value}''.`,
  );

interface Filter {
  atScope: boolean;
  principalId?: string;
  name?: string;
}

function parseFilter(filter: string | undefined): Filter {
  const result: Filter = { atScope: false };
  if (filter === undefined || filter.trim() === '') return result;
  for (const clause of filter.trim().split(/\s+and\s+/i)) {
    const principal = /^principalId\s+eq\s+'([^']+)'$/i.exec(clause.trim());
    const name = /^denyAssignmentName\s+eq\s+'([^']+)'$/i.exec(clause.trim());
    if (/^atScope\(\)$/i.test(clause.trim()) && !result.atScope) result.atScope = true;
    else if (principal && result.principalId === undefined) result.principalId = principal[1];
    else if (name && result.name === undefined) result.name = name[1];
    else throw unsupportedFilter(filter);
  }
  return result;
}

export const getDenyAssignment: Handler = (req, ctx) => {
  const scope = req.params.scope ?? '';
  requireScope(ctx.store, scope, 'deny assignments');
  const found = ctx.store.getDenyAssignment(req.params.name ?? '');
  if (!found || !sameId(found.scope, scope))
    throw new ArmError(
      404,
      'DenyAssignmentNotFound',
      `The deny assignment '${req.params.name ?? ''}' is not found.`,
    );
  return ok(renderDenyAssignment(found));
};

export const listDenyAssignments: Handler = (req, ctx) => {
  const scope = req.params.scope ?? '';
  requireScope(ctx.store, scope, 'deny assignments');
  const filter = parseFilter(req.query.$filter);
  const items = ctx.store.listDenyAssignments().filter((d) => {
    const related = atOrAbove(d.scope, scope) || (!filter.atScope && below(d.scope, scope));
    const principal =
      filter.principalId === undefined ||
      d.principals.some((p) => sameId(p.id, filter.principalId ?? '') || sameId(p.id, EVERYONE));
    const named = filter.name === undefined || d.denyAssignmentName === filter.name;
    return related && principal && named;
  });
  return pageOf(items, req, ctx, renderDenyAssignment);
};
