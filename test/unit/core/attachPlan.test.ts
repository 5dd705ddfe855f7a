import { decide, decideAttach, decideRebind, planAttach } from '../../../src/core/attachPlan';
import { identityFacts } from '../../../src/core/identityView';
import { imdsDefaultAtRisk } from '../../../src/core/imdsDefault';

const id = (name: string) =>
  `/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;

describe('attach plan', () => {
  it('adds only the missing identity, as UserAssigned on a VM without identities', () => {
    expect(planAttach(undefined, [id('a')])).toEqual({ type: 'UserAssigned', add: [id('a')], remove: [] });
  });

  it('keeps a system-assigned identity: type becomes "SystemAssigned, UserAssigned"', () => {
    const plan = planAttach({ type: 'SystemAssigned' }, [id('a')]);
    expect(plan).toEqual({ type: 'SystemAssigned, UserAssigned', add: [id('a')], remove: [] });
  });

  it('never mentions identities the VM already has (ARM keeps unmentioned keys)', () => {
    const plan = planAttach(
      { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [id('x')]: {}, [id('y')]: {} } },
      [id('a')],
    );
    expect(plan).toEqual({ type: 'SystemAssigned, UserAssigned', add: [id('a')], remove: [] });
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
      remove: [],
    });
  });
});

describe('deciding the attach', () => {
  const pull = (name: string) => name.startsWith('id-acrpull-');
  const keep = {
    singleIdentityVms: 'keep' as const,
    isPullIdentity: (i: string) => pull(i.split('/').pop() ?? ''),
  };
  const optIn = { ...keep, singleIdentityVms: 'attach' as const };
  const idle = (identity?: { type?: string; userAssignedIdentities?: Record<string, unknown> }) => ({
    provisioningState: 'Succeeded',
    identity,
  });
  const ours = id('id-acrpull-contosoapps-eastus');

  it.each(['Creating', 'Updating', 'Deleting', 'Migrating', 'Stopping', undefined])(
    'defers, never writes, while the VM is %s',
    (provisioningState) => {
      const decision = decideAttach({ provisioningState }, [ours], keep);
      expect(decision).toMatchObject({
        action: 'defer',
        reason: expect.stringContaining('could preempt it'),
      });
    },
  );

  it('defers an attached identity while an operation still runs: its outcome is not known yet', () => {
    const vm = {
      provisioningState: 'Updating',
      identity: { type: 'UserAssigned', userAssignedIdentities: { [ours]: {} } },
    };
    expect(decideAttach(vm, [ours], keep)).toMatchObject({
      action: 'defer',
      reason: expect.stringContaining('not finished'),
    });
  });

  it('writes to a VM whose last operation Failed (a terminal state)', () => {
    expect(decideAttach({ provisioningState: 'Failed' }, [ours], keep)).toMatchObject({ action: 'attach' });
  });

  it('does nothing when everything is attached on an idle VM', () => {
    expect(
      decideAttach(idle({ type: 'UserAssigned', userAssignedIdentities: { [ours]: {} } }), [ours], keep),
    ).toEqual({
      action: 'nothing',
    });
  });

  it('refuses, under keep, a VM whose only identity is its owner’s user-assigned one', () => {
    const decision = decideAttach(
      idle({ type: 'UserAssigned', userAssignedIdentities: { [id('id-app')]: {} } }),
      [ours],
      keep,
    );
    expect(decision).toMatchObject({
      action: 'refuse',
      imdsDefault: { identityId: id('id-app'), isPullIdentity: false },
      reason: expect.stringContaining('ACRPULL_SINGLE_IDENTITY_VMS=attach'),
    });
  });

  it('attaches with a warning, under attach, to the same VM', () => {
    const decision = decideAttach(
      idle({ type: 'UserAssigned', userAssignedIdentities: { [id('id-app')]: {} } }),
      [ours],
      optIn,
    );
    expect(decision).toMatchObject({
      action: 'attach',
      warning: expect.stringMatching(/^IMDS token requests without a client id/),
    });
  });

  it('attaches with a warning when the only identity is one of ours (a tag going from a to a,b), even under keep', () => {
    const other = id('id-acrpull-fabrikam-eastus');
    const decision = decideAttach(
      idle({ type: 'UserAssigned', userAssignedIdentities: { [ours]: {} } }),
      [ours, other],
      keep,
    );
    expect(decision).toEqual({
      action: 'attach',
      patch: { type: 'UserAssigned', add: [other], remove: [] },
      warning: expect.stringContaining('id-acrpull-contosoapps-eastus'),
    });
  });

  it.each([
    ['a system-assigned identity stays the default', { type: 'SystemAssigned' }],
    [
      'system-assigned and one user-assigned: the system one is the default',
      { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [id('id-app')]: {} } },
    ],
    ['no identity: nothing relied on a default', undefined],
    [
      'two user-assigned: there was no default',
      { type: 'UserAssigned', userAssignedIdentities: { [id('x')]: {}, [id('y')]: {} } },
    ],
  ])('attaches without a warning when %s', (_, identity) => {
    const decision = decideAttach(idle(identity), [ours], keep);
    expect(decision).toMatchObject({ action: 'attach' });
    expect(decision).not.toHaveProperty('warning');
  });

  it('re-sending the one identity the VM lists after our failed update changes no default', () => {
    const decision = decideAttach(
      {
        provisioningState: 'Failed',
        identity: { type: 'UserAssigned', userAssignedIdentities: { [ours]: {} } },
      },
      [ours],
      { ...keep, resendListed: true },
    );
    expect(decision).toEqual({ action: 'attach', patch: { type: 'UserAssigned', add: [ours], remove: [] } });
  });
});

describe('the IMDS default at risk', () => {
  it('compares ids case-insensitively: re-adding the only identity takes nothing away', () => {
    const only = id('id-app');
    expect(
      imdsDefaultAtRisk(
        { type: 'UserAssigned', userAssignedIdentities: { [only]: {} } },
        [only.toLowerCase()],
        () => false,
      ),
    ).toBeUndefined();
  });
});

describe('one plan for both directions (revocation)', () => {
  const ua = (...ids: string[]) => Object.fromEntries(ids.map((i) => [i, {}]));

  it('removes an unwanted identity and keeps the others and the type', () => {
    const identity = {
      type: 'SystemAssigned, UserAssigned',
      userAssignedIdentities: ua(id('own'), id('pull')),
    };
    expect(planAttach(identity, [], { unwanted: [id('pull')] })).toEqual({
      type: 'SystemAssigned, UserAssigned',
      add: [],
      remove: [id('pull')],
    });
  });

  it('says SystemAssigned when the last user-assigned identity goes and a system one stays', () => {
    const identity = { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: ua(id('pull')) };
    expect(planAttach(identity, [], { unwanted: [id('pull')] })?.type).toBe('SystemAssigned');
  });

  it('says None when the last identity goes', () => {
    const identity = { type: 'UserAssigned', userAssignedIdentities: ua(id('pull')) };
    expect(planAttach(identity, [], { unwanted: [id('pull')] })).toEqual({
      type: 'None',
      add: [],
      remove: [id('pull')],
    });
  });

  it('adds and removes in one PATCH (a tag edited from a to b)', () => {
    const identity = { type: 'UserAssigned', userAssignedIdentities: ua(id('a')) };
    expect(planAttach(identity, [id('b')], { unwanted: [id('a')] })).toEqual({
      type: 'UserAssigned',
      add: [id('b')],
      remove: [id('a')],
    });
  });

  it('never removes what is wanted, nor what is not attached', () => {
    const identity = { type: 'UserAssigned', userAssignedIdentities: ua(id('a')) };
    expect(planAttach(identity, [id('a')], { unwanted: [id('a'), id('gone')] })).toBeUndefined();
  });

  it('refuses a removal that would make the owner’s identity the IMDS default under keep; warns under attach', () => {
    const identity = { type: 'UserAssigned', userAssignedIdentities: ua(id('own'), id('pull')) };
    const vm = { provisioningState: 'Succeeded', identity };
    const policy = { isPullIdentity: (i: string) => i === id('pull'), unwanted: [id('pull')] };

    const kept = decideAttach(vm, [], { ...policy, singleIdentityVms: 'keep' });
    const allowed = decideAttach(vm, [], { ...policy, singleIdentityVms: 'attach' });

    expect(kept).toMatchObject({ action: 'refuse', imdsDefault: { identityId: id('own') } });
    expect(allowed).toEqual({
      action: 'detach',
      patch: { type: 'UserAssigned', add: [], remove: [id('pull')] },
      warning: expect.stringContaining('now get own'),
    });
  });

  it('detaches plainly when no IMDS default appears: a system identity stays, or several remain', () => {
    const policy = {
      singleIdentityVms: 'keep' as const,
      isPullIdentity: () => false,
      unwanted: [id('pull')],
    };
    const withSystem = decideAttach(
      {
        provisioningState: 'Succeeded',
        identity: { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: ua(id('own'), id('pull')) },
      },
      [],
      policy,
    );
    const several = decideAttach(
      {
        provisioningState: 'Succeeded',
        identity: { type: 'UserAssigned', userAssignedIdentities: ua(id('a'), id('b'), id('pull')) },
      },
      [],
      policy,
    );
    expect([withSystem.action, several.action]).toEqual(['detach', 'detach']);
  });

  it('defers a removal on a busy VM like an attach', () => {
    const identity = { type: 'UserAssigned', userAssignedIdentities: ua(id('pull')) };
    const decision = decideAttach({ provisioningState: 'Updating', identity }, [], {
      singleIdentityVms: 'keep',
      isPullIdentity: () => true,
      unwanted: [id('pull')],
    });
    expect(decision.action).toBe('defer');
  });
});

describe('re-binding a stale entry', () => {
  const PULL =
    '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-acrpull-a-eastus';
  const OWNER =
    '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-owner';
  const facts = (...ids: string[]) =>
    identityFacts({
      type: 'UserAssigned',
      userAssignedIdentities: Object.fromEntries(ids.map((id) => [id, {}])),
    });
  const policy = { singleIdentityVms: 'keep' as const, isPullIdentity: (id: string) => id === PULL };

  it('detaches only the stale identity, keeping every other one and a system-assigned one', () => {
    const withSystem = identityFacts({
      type: 'SystemAssigned, UserAssigned',
      userAssignedIdentities: { [PULL]: {}, [OWNER]: {} },
    });
    expect(decideRebind('Succeeded', withSystem, [PULL], policy)).toEqual({
      action: 'detach',
      patch: { type: 'SystemAssigned, UserAssigned', add: [], remove: [PULL] },
    });
  });

  it('never while another operation runs', () => {
    expect(decideRebind('Updating', facts(PULL), [PULL], policy)).toMatchObject({ action: 'defer' });
  });

  it("asks the IMDS-default rule: the owner's identity left alone for a moment needs consent", () => {
    expect(decideRebind('Succeeded', facts(PULL, OWNER), [PULL], policy)).toMatchObject({ action: 'refuse' });
    expect(
      decideRebind('Succeeded', facts(PULL, OWNER), [PULL], { ...policy, singleIdentityVms: 'attach' }),
    ).toMatchObject({ action: 'detach', warning: expect.any(String) });
  });

  it('putting the identity back (restore) is not asked the rule again; anything else is', () => {
    // After the detach the owner's identity is alone: adding the pull identity back restores the two.
    expect(decide('Succeeded', facts(OWNER), [PULL], { ...policy, restore: [PULL] })).toMatchObject({
      action: 'attach',
    });
    expect(decide('Succeeded', facts(OWNER), [PULL], policy)).toMatchObject({ action: 'refuse' });
  });
});
