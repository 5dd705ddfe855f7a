import { identityName, roleAssignmentName } from '../../../src/core/names';

describe('deterministic names', () => {
  it('names one identity per registry and region', () => {
    expect(identityName('ContosoApps', 'East US')).toBe('id-acrpull-contosoapps-eastus');
  });

  it('gives the same role-assignment GUID for the same (scope, principal, role), whatever the case', () => {
    const a = roleAssignmentName('/subscriptions/X/rg', 'ABC', '7F951DDA-4ED3-4680-A7CA-43FE172D538D');
    const b = roleAssignmentName('/subscriptions/x/RG', 'abc', '7f951dda-4ed3-4680-a7ca-43fe172d538d');
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('gives different GUIDs for a different principal or role', () => {
    const base = roleAssignmentName('/s', 'p1', 'r1');
    expect(roleAssignmentName('/s', 'p2', 'r1')).not.toBe(base);
    expect(roleAssignmentName('/s', 'p1', 'r2')).not.toBe(base);
  });
});
