// Least privilege for the one action that hands out access: roleAssignments/write, held only at the
// grant scopes and only under the template's condition (the two pull roles, to service principals).
import { ACR_PULL_ROLE, REPOSITORY_READER_ROLE } from '../../src/core/roles';
import { evaluateTemplate, GRANT_ACTION, lower, main, SAMPLE } from '../support/infraTemplates';

describe('least-privilege permissions (the template evaluated for a sample deployment over five subscriptions)', () => {
  const condition = (main.variables as Record<string, string>).roleAssignmentCondition as string;

  it('puts roleAssignments/write only in the grant role, assigned only at the grant scopes, each assignment carrying the pull-role condition', () => {
    const e = evaluateTemplate(SAMPLE);

    expect(e.roles.filter((r) => r.actions.includes(GRANT_ACTION)).map((r) => r.kind)).toEqual(['grant']);
    const granting = e.assignments.filter((a) => a.role.actions.includes(GRANT_ACTION));
    expect(granting.map((a) => a.scope).sort()).toEqual(SAMPLE.grantScopes.map(lower).sort());
    for (const a of granting) {
      expect(a.condition).toBe(condition);
      expect(a.conditionVersion).toBe('2.0');
    }
    expect(e.assignments.filter((a) => a.condition !== undefined)).toHaveLength(granting.length);
  });

  it('lets the app assign only the two pull roles, only to service principals (the condition)', () => {
    const guids = [
      ...condition.matchAll(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi),
    ].map((m) => m[0].toLowerCase());
    expect(guids.sort()).toEqual([ACR_PULL_ROLE, REPOSITORY_READER_ROLE].sort());
    expect(condition).toContain("ActionMatches{'Microsoft.Authorization/roleAssignments/write'}");
    expect(condition).toContain(
      '@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals',
    );
    expect(condition).toContain(
      "@Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {'ServicePrincipal'}",
    );
    // The whole expression, so that a flipped operator (OR for AND, a dropped negation) fails too:
    // "not a role-assignment write, or a write of one of these roles to a service principal"
    // (delegate-role-assignments-examples.md, "Constrain roles and principal types").
    expect(condition).toBe(
      "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR " +
        `(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${ACR_PULL_ROLE}, ${REPOSITORY_READER_ROLE}} AND ` +
        "@Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {'ServicePrincipal'}))",
    );
  });
});
