// Role assignment names are unique across the tenant (shared/reference/azure-rest.md §11), so anyone
// who can create a role assignment anywhere can take the deterministic name of ours first. The grant
// must still be made, exactly once, and the audit must say the name was taken.

import { roleAssignmentName } from '../../src/core/names';
import { ACR_PULL_ROLE } from '../../src/core/roles';
import { fleet } from '../support/fleet';
import { type Harness, SUB, startHarness } from '../support/harness';

const REGISTRY = `/subscriptions/${SUB}/resourceGroups/rg-registries/providers/Microsoft.ContainerRegistry/registries/contosoapps`;
const ELSEWHERE = `/subscriptions/${SUB}/resourceGroups/rg-registries/providers/Microsoft.ContainerRegistry/registries/secretregistry`;

describe('a squatted role assignment name', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  /** The pull identity exists (so its principal, hence the grant's name, is known) and the name is taken. */
  function squat() {
    const identity = fleet(h.emu).appPullIdentity('contosoapps', 'eastus');
    const squatter = '5a5a5a5a-0000-4000-8000-000000000001';
    h.emu.seedPrincipal(squatter, 'User');
    const name = roleAssignmentName(REGISTRY, identity.principalId, ACR_PULL_ROLE);
    h.emu.seedRoleAssignment({
      scope: ELSEWHERE,
      roleDefinitionId: ACR_PULL_ROLE,
      principalId: squatter,
      name,
    });
    return { identity, name };
  }

  const grantsFor = (principalId: string) =>
    h.emu
      .listRoleAssignments()
      .filter((a) => a.principalId === principalId && a.scope.toLowerCase() === REGISTRY.toLowerCase());

  it('grants under a fresh name, once, and audits that the deterministic name was taken', async () => {
    const { identity, name } = squat();
    const vm = h.seedVm('vm-squatted', 'contosoapps');

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('changed');
    const grants = grantsFor(identity.principalId);
    expect(grants).toHaveLength(1);
    expect(grants[0]?.name).not.toBe(name);
    expect(result?.records.find((r) => r.action === 'role-assigned')).toMatchObject({
      outcome: 'changed',
      reason: expect.stringContaining(`${name} is taken by another assignment`),
    });
    // The squatter's assignment is untouched.
    expect(h.emu.listRoleAssignments().find((a) => a.name === name)?.scope).toBe(ELSEWHERE);
  });

  it('two invocations meeting the squatted name at once still end with one grant', async () => {
    const { identity } = squat();
    const a = h.seedVm('vm-squat-a', 'contosoapps');
    const b = h.seedVm('vm-squat-b', 'contosoapps');

    await Promise.all([h.deliver(a.id), h.deliver(b.id)]);

    expect(grantsFor(identity.principalId)).toHaveLength(1);
  });

  it('the sweep makes the grant the same way', async () => {
    const { identity } = squat();
    h.seedVm('vm-squat-sweep', 'contosoapps');

    const { summary } = await h.sweep();

    expect(summary).toMatchObject({ changed: 1, failed: 0 });
    expect(grantsFor(identity.principalId)).toHaveLength(1);
  });
});
