// Effective pull rights judged by actions (wildcards, notActions), data actions in ABAC mode, and
// deny assignments. Pure.
import {
  type DenyFacts,
  EVERYONE,
  evaluateGrant,
  permissionMatches,
  type RoleFacts,
} from '../../../src/core/effectiveGrant';

const SUB = '11111111-1111-1111-1111-111111111111';
const REGISTRY = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/reg12`;
const roles = new Map<string, RoleFacts | undefined>([
  [
    'acrpull',
    { roleName: 'AcrPull', permissions: [{ actions: ['Microsoft.ContainerRegistry/registries/pull/read'] }] },
  ],
  ['reader', { roleName: 'Reader', permissions: [{ actions: ['*/read'] }] }],
  [
    'contrib',
    {
      roleName: 'Contributor',
      permissions: [{ actions: ['*'], notActions: ['Microsoft.Authorization/*/Write'] }],
    },
  ],
  [
    'nopull',
    {
      roleName: 'Custom',
      permissions: [
        {
          actions: ['Microsoft.ContainerRegistry/*'],
          notActions: ['Microsoft.ContainerRegistry/registries/pull/*'],
        },
      ],
    },
  ],
  [
    'repo-reader',
    {
      roleName: 'Container Registry Repository Reader',
      permissions: [{ dataActions: ['Microsoft.ContainerRegistry/registries/repositories/content/read'] }],
    },
  ],
  ['unknown', undefined],
]);
const at = (roleGuid: string, scope = REGISTRY, condition?: string) => ({
  id: `${scope}/ra/${roleGuid}`,
  scope,
  roleGuid,
  ...(condition ? { condition } : {}),
});
const evaluate = (assignments: ReturnType<typeof at>[], mode?: string, denyAssignments: DenyFacts[] = []) =>
  evaluateGrant({
    principalId: 'p',
    registryId: REGISTRY,
    roleAssignmentMode: mode,
    assignments,
    roles,
    denyAssignments,
  });

describe('effective pull grant', () => {
  it('matches wildcards case-insensitively', () => {
    expect(permissionMatches('*/read', 'Microsoft.ContainerRegistry/registries/pull/read')).toBe(true);
    expect(
      permissionMatches('microsoft.containerregistry/*', 'Microsoft.ContainerRegistry/registries/pull/read'),
    ).toBe(true);
    expect(
      permissionMatches(
        'Microsoft.ContainerRegistry/registries/push/*',
        'Microsoft.ContainerRegistry/registries/pull/read',
      ),
    ).toBe(false);
  });

  it.each([
    ['acrpull', 1],
    ['reader', 1],
    ['contrib', 1],
    ['nopull', 0],
    ['repo-reader', 0],
  ])('legacy mode: %s grants pull: %d', (role, n) => {
    expect(evaluate([at(role)]).granting).toHaveLength(n);
  });

  it('ABAC mode honours only the data action: AcrPull and Owner-like roles do not count', () => {
    const e = evaluate([at('acrpull'), at('contrib'), at('repo-reader')], 'AbacRepositoryPermissions');
    expect(e.granting.map((a) => a.roleGuid)).toEqual(['repo-reader']);
    expect(e.notHonoured.map((a) => a.roleGuid)).toEqual(['acrpull', 'contrib']);
  });

  it('an assignment above the registry counts; one elsewhere does not', () => {
    expect(evaluate([at('acrpull', `/subscriptions/${SUB}`)]).granting).toHaveLength(1);
    expect(evaluate([at('acrpull', `/subscriptions/${SUB}/resourceGroups/other`)]).granting).toHaveLength(0);
  });

  it('conditioned and unknown roles are kept apart', () => {
    const e = evaluate([at('acrpull', REGISTRY, 'cond'), at('unknown')]);
    expect(e.granting).toEqual([]);
    expect(e.conditioned).toHaveLength(1);
    expect(e.unknownRoles).toHaveLength(1);
  });

  it('a deny assignment for the principal or everyone, at or above, covering the action, denies', () => {
    const deny = (d: Partial<DenyFacts>): DenyFacts => ({
      id: 'd',
      scope: `/subscriptions/${SUB}`,
      permissions: [{ actions: ['*/read'] }],
      principals: ['p'],
      excludePrincipals: [],
      doNotApplyToChildScopes: false,
      ...d,
    });
    expect(evaluate([at('acrpull')], undefined, [deny({})]).denying).toHaveLength(1);
    expect(evaluate([at('acrpull')], undefined, [deny({ principals: [EVERYONE] })]).denying).toHaveLength(1);
    expect(
      evaluate([at('acrpull')], undefined, [deny({ principals: [EVERYONE], excludePrincipals: ['p'] })])
        .denying,
    ).toHaveLength(0);
    expect(evaluate([at('acrpull')], undefined, [deny({ principals: ['q'] })]).denying).toHaveLength(0);
    expect(
      evaluate([at('acrpull')], undefined, [deny({ doNotApplyToChildScopes: true })]).denying,
    ).toHaveLength(0);
    expect(
      evaluate([at('acrpull')], undefined, [
        deny({ permissions: [{ actions: ['*'], notActions: ['*/read'] }] }),
      ]).denying,
    ).toHaveLength(0);
    // A data-action deny does not touch a legacy registry's control-plane pull, and vice versa.
    expect(
      evaluate([at('acrpull')], undefined, [deny({ permissions: [{ dataActions: ['*'] }] })]).denying,
    ).toHaveLength(0);
    expect(
      evaluate([at('repo-reader')], 'AbacRepositoryPermissions', [
        deny({ permissions: [{ dataActions: ['*'] }] }),
      ]).denying,
    ).toHaveLength(1);
  });
});
