import { describeExcess, excessAssignments, excessRolesRefusal } from '../../../src/core/excessRoles';
import { ACR_PULL_ROLE, REPOSITORY_READER_ROLE, roleLabel } from '../../../src/core/roles';

const SUB = '11111111-1111-1111-1111-111111111111';
const registry = (name: string, rg = 'rg-registries') =>
  `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.ContainerRegistry/registries/${name}`;
const OWNER = '8e3af657-a8ff-443c-a75c-2fe8c4bcb635';
const CONTRIBUTOR = 'b24988ac-6180-42a0-ab88-20f7382dd24c';

describe('excessAssignments', () => {
  it('a pull role exactly at a registry it serves, by id or by name, is its grant; anything else is excess', () => {
    const held = [
      { id: 'a1', scope: registry('contosoapps'), roleGuid: ACR_PULL_ROLE },
      // By name: an override named for a second registry pulls from it too.
      { id: 'a2', scope: registry('northwind', 'rg-other'), roleGuid: REPOSITORY_READER_ROLE.toUpperCase() },
      // A pull role above the registry reaches every registry there: excess.
      { id: 'a3', scope: `/subscriptions/${SUB}/resourceGroups/rg-registries`, roleGuid: ACR_PULL_ROLE },
      // At a registry it does not serve: excess.
      { id: 'a4', scope: registry('secretregistry'), roleGuid: ACR_PULL_ROLE },
      // Another role at its own registry: excess.
      { id: 'a5', scope: registry('contosoapps'), roleGuid: CONTRIBUTOR },
      // Below the registry (a repository scope map, say) is not the registry: excess.
      { id: 'a6', scope: `${registry('contosoapps')}/scopeMaps/x`, roleGuid: ACR_PULL_ROLE },
      { id: 'a7', scope: `/subscriptions/${SUB}`, roleGuid: OWNER },
    ];
    const excess = excessAssignments(held, {
      registryIds: [registry('ContosoApps')],
      registryNames: ['NorthWind'],
    });
    expect(excess.map((a) => a.id)).toEqual(['a3', 'a4', 'a5', 'a6', 'a7']);
  });

  it('counts an assignment seen from several subscriptions (inherited from a management group) once', () => {
    const inherited = {
      id: '/providers/Microsoft.Management/managementGroups/mg/ra/1',
      scope: '/providers/Microsoft.Management/managementGroups/mg',
      roleGuid: OWNER,
    };
    expect(excessAssignments([inherited, { ...inherited, id: inherited.id.toUpperCase() }], {})).toHaveLength(
      1,
    );
  });
});

describe('naming what an identity holds beyond pull', () => {
  const held = [
    { id: 'ra-1', scope: `/subscriptions/${SUB}`, roleGuid: OWNER },
    {
      id: 'ra-2',
      scope: `/subscriptions/${SUB}/resourceGroups/rg-apps`,
      roleGuid: 'f0e0d0c0-0000-4000-8000-000000000001',
    },
  ];

  it('names well-known built-in roles, and shows any other by its GUID', () => {
    expect(roleLabel(OWNER.toUpperCase())).toBe('Owner');
    expect(roleLabel(CONTRIBUTOR)).toBe('Contributor');
    expect(roleLabel('acdd72a7-3385-48ef-bd42-f606fba81ae7')).toBe('Reader');
    expect(roleLabel('f0e0d0c0-0000-4000-8000-000000000001')).toBe('f0e0d0c0-0000-4000-8000-000000000001');
  });

  it('the refusal names each role, scope and assignment, and what to change', () => {
    const override = excessRolesRefusal('/id/x', held, true);
    expect(override).toContain(`Owner at /subscriptions/${SUB} (ra-1)`);
    expect(override).toContain(
      `f0e0d0c0-0000-4000-8000-000000000001 at /subscriptions/${SUB}/resourceGroups/rg-apps (ra-2)`,
    );
    expect(override).toContain('neither granted nor attached');
    expect(override).toContain('ACRPULL_IDENTITY_OVERRIDES');
    expect(excessRolesRefusal('/id/x', held, false)).toMatch(/^the pull identity \/id\/x holds/);
    expect(describeExcess(held)).toContain(`Owner at /subscriptions/${SUB} (ra-1)`);
  });
});
