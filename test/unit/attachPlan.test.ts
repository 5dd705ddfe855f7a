import { planAttach } from '../../src/core/attachPlan';

const id = (name: string) =>
  `/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;

describe('attach plan', () => {
  it('adds only the missing identity, as UserAssigned on a VM without identities', () => {
    expect(planAttach(undefined, [id('a')])).toEqual({ type: 'UserAssigned', add: [id('a')] });
  });

  it('keeps a system-assigned identity: type becomes "SystemAssigned, UserAssigned"', () => {
    const plan = planAttach({ type: 'SystemAssigned' }, [id('a')]);
    expect(plan).toEqual({ type: 'SystemAssigned, UserAssigned', add: [id('a')] });
  });

  it('never mentions identities the VM already has (ARM keeps unmentioned keys)', () => {
    const plan = planAttach(
      { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [id('x')]: {}, [id('y')]: {} } },
      [id('a')],
    );
    expect(plan).toEqual({ type: 'SystemAssigned, UserAssigned', add: [id('a')] });
  });

  it('compares ids case-insensitively (ARM may return resourcegroups in lower case)', () => {
    const returned = id('a').replace('resourceGroups', 'resourcegroups').toLowerCase();
    expect(
      planAttach({ type: 'UserAssigned', userAssignedIdentities: { [returned]: {} } }, [id('a')]),
    ).toBeUndefined();
  });

  it('asks for no write at all when everything is attached', () => {
    expect(
      planAttach({ type: 'UserAssigned', userAssignedIdentities: { [id('a')]: {} } }, [id('a')]),
    ).toBeUndefined();
  });
});

describe('attach plan after a failed operation', () => {
  it('re-sends identities the model lists when the last operation Failed', () => {
    const identity = { type: 'UserAssigned', userAssignedIdentities: { [id('a')]: {} } };
    expect(planAttach(identity, [id('a')], { lastOperationFailed: true })).toEqual({
      type: 'UserAssigned',
      add: [id('a')],
    });
  });
});
