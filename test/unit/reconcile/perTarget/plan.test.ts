// plan(): the snapshot of one target and the settings → named steps. Pure: no emulator, no mocks.
import type { TargetState } from '../../../../src/azure/targetResources';
import { loadSettings } from '../../../../src/config/settings';
import { parseRegistryTag, type RegistryRef } from '../../../../src/core/tag';
import type { RegistryAuthorization } from '../../../../src/reconcile/pair/decision';
import { planTarget } from '../../../../src/reconcile/perTarget/plan';
import type { RegistryObservation, TargetSnapshot } from '../../../../src/reconcile/perTarget/snapshot';
import { describeStep } from '../../../../src/reconcile/perTarget/steps';
import { parseTargetId } from '../../../../src/targets';

const SUB = '11111111-1111-1111-1111-111111111111';
const RG = `/subscriptions/${SUB}/resourceGroups/rg-identities`;
const VM = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Compute/virtualMachines/vm-a`;
const identity = (registry: string, region = 'eastus') =>
  `${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-acrpull-${registry}-${region}`;
const registryState = (name: string) => ({
  id: `/subscriptions/${SUB}/resourceGroups/rg-registries/providers/Microsoft.ContainerRegistry/registries/${name}`,
  name,
  subscriptionId: SUB,
  loginServer: `${name}.azurecr.io`,
});

const settings = (env: Record<string, string> = {}) =>
  loadSettings({
    ACRPULL_IDENTITY_RESOURCE_GROUP: RG,
    ACRPULL_ALLOWED_REGISTRIES: 'contosoapps fabrikamabac',
    ACRPULL_MODE: 'enforce',
    ...env,
  });

const refs = (value: string): RegistryRef[] => {
  const parsed = parseRegistryTag(value, 10);
  if (!parsed.ok) throw new Error(parsed.reason);
  return [...parsed.refs];
};

const target = (tags: Record<string, string>, identities: string[] = []): TargetState => ({
  id: VM,
  location: 'eastus',
  tags,
  etag: '"1"',
  provisioningState: 'Succeeded',
  ...(identities.length
    ? {
        identity: {
          type: 'UserAssigned',
          userAssignedIdentities: Object.fromEntries(identities.map((i) => [i, {}])),
        },
      }
    : {}),
});

function idle(
  state: TargetState,
  registries: RegistryObservation[] = [],
  revocable: Extract<TargetSnapshot, { kind: 'idle' }>['revocable'] = [],
): TargetSnapshot {
  const ref = parseTargetId(VM);
  if (!ref) throw new Error('bad id');
  const value = state.tags.acrPull;
  return {
    kind: 'idle',
    ref,
    target: state,
    readAt: 0,
    tag: value === undefined ? { kind: 'untagged' } : { kind: 'refs', refs: refs(value) },
    region: 'eastus',
    registries,
    revocable,
  };
}

const authorized = (name: string, authorization: RegistryAuthorization): RegistryObservation => ({
  ref: refs(name)[0] as RegistryRef,
  identityId: identity(name),
  kind: 'authorized',
  authorization,
});

const names = (snapshot: TargetSnapshot, env?: Record<string, string>) =>
  planTarget(settings(env), snapshot, VM).steps.map((s) => {
    const d = describeStep(s);
    return d.registry ? `${d.step} ${d.registry}` : d.step;
  });

describe('plan', () => {
  it('ensures the pair, then attaches, for a registry that is allowed and not attached', () => {
    const snapshot = idle(target({ acrPull: 'contosoapps' }), [
      authorized('contosoapps', { status: 'allowed', registry: registryState('contosoapps') }),
    ]);
    expect(names(snapshot)).toEqual(['ensure-pair contosoapps', 'attach']);
  });

  it('confirms the app’s accepted attach that ended Succeeded first, for the identities the tag asks for', () => {
    const compliant: RegistryObservation = {
      ref: refs('contosoapps')[0] as RegistryRef,
      identityId: identity('contosoapps'),
      kind: 'compliant',
      fields: { registry: 'contosoapps' },
    };
    const base = idle(target({ acrPull: 'contosoapps' }, [identity('contosoapps'), identity('owner')]), [
      compliant,
    ]);
    // The row also names an identity the tag does not ask for (a forged row, or a tag changed since).
    const pending = {
      identities: [identity('contosoapps'), identity('owner')],
      acceptedAt: Date.UTC(2026, 11, 7),
    };
    const withVerdict = (verdict: unknown) =>
      ({ ...base, pendingOperation: { pending, verdict } }) as TargetSnapshot;
    const plan = planTarget(
      settings(),
      withVerdict({ kind: 'succeeded', held: [identity('contosoapps'), identity('owner')] }),
      VM,
    );
    expect(plan.steps.map((s) => s.step)).toEqual(['confirm', 'keep']);
    const confirm = plan.steps[0];
    expect(confirm?.step === 'confirm' && confirm.confirmed).toEqual([
      {
        identityId: identity('contosoapps'),
        fields: {
          identityId: identity('contosoapps'),
          registry: 'contosoapps',
          reason: expect.stringMatching(/accepted by ARM at 2026-12-07T00:00:00.000Z, has Succeeded$/),
        },
      },
    ]);
    // Failed with nothing to send again (observe found it compliant here): the row is only cleared.
    const failed = planTarget(settings(), withVerdict({ kind: 'failed', resend: new Set<string>() }), VM);
    expect(
      failed.steps.map((s) => (s.step === 'confirm' ? `confirm ${s.confirmed.length}` : s.step)),
    ).toEqual(['confirm 0', 'keep']);
    // Unproven (whose failure it is cannot be told): only cleared, with the reason.
    const unproven = planTarget(settings(), withVerdict({ kind: 'unproven', reason: 'cannot tell' }), VM);
    expect(unproven.steps[0]).toMatchObject({ step: 'confirm', confirmed: [], reason: 'cannot tell' });
  });

  it('leaves the row of a Failed accepted attach while the plan sends it again', () => {
    const snapshot = {
      ...idle(target({ acrPull: 'contosoapps' }, [identity('contosoapps')]), [
        authorized('contosoapps', { status: 'allowed', registry: registryState('contosoapps') }),
      ]),
      pendingOperation: {
        pending: { identities: [identity('contosoapps')], acceptedAt: 1 },
        verdict: { kind: 'failed', resend: new Set([identity('contosoapps').toLowerCase()]) },
      },
    } as TargetSnapshot;
    expect(names(snapshot)).toEqual(['ensure-pair contosoapps', 'attach']);
  });

  it('keeps an attached, proven, allowed registry and writes nothing', () => {
    const snapshot = idle(target({ acrPull: 'contosoapps' }, [identity('contosoapps')]), [
      {
        ref: refs('contosoapps')[0] as RegistryRef,
        identityId: identity('contosoapps'),
        kind: 'compliant',
        fields: { registry: 'contosoapps' },
      },
    ]);
    expect(names(snapshot)).toEqual(['keep contosoapps']);
  });

  it('puts refusals for the IMDS default first, then each registry in the order the tag names them', () => {
    const snapshot = idle(target({ acrPull: 'fabrikamabac,contosoapps' }), [
      authorized('fabrikamabac', { status: 'rejected', action: 'registry-denied', reason: 'no' }),
      {
        ref: refs('contosoapps')[0] as RegistryRef,
        identityId: identity('contosoapps'),
        kind: 'imds-default',
        reason: 'default',
      },
    ]);
    const plan = planTarget(settings(), snapshot, VM);
    expect(plan.steps.map((s) => s.step)).toEqual(['refuse', 'refuse']);
    expect(plan.steps.map((s) => (s.step === 'refuse' ? s.action : ''))).toEqual([
      'attach-refused',
      'registry-denied',
    ]);
  });

  it('reports a failed authorization as a failure of that registry, with the registry ARM returned', () => {
    const error = new Error('boom');
    const snapshot = idle(target({ acrPull: 'contosoapps' }), [
      authorized('contosoapps', { status: 'failed', error, registry: registryState('contosoapps') }),
    ]);
    const [step] = planTarget(settings(), snapshot, VM).steps;
    expect(step).toEqual({
      step: 'fail',
      error,
      fields: {
        registry: 'contosoapps',
        registryId: registryState('contosoapps').id,
        identityId: identity('contosoapps'),
      },
    });
  });

  it('refuses an invalid tag without a read of any registry', () => {
    const snapshot: TargetSnapshot = {
      ...(idle(target({})) as Extract<TargetSnapshot, { kind: 'idle' }>),
      tag: { kind: 'invalid', reason: 'bad' },
    };
    expect(planTarget(settings(), snapshot, VM).steps).toEqual([
      { step: 'refuse', action: 'tag-invalid', reason: 'acrPull tag: bad', fields: {} },
    ]);
  });

  it('does nothing for an untagged target holding nothing the app would revoke', () => {
    expect(names(idle(target({})))).toEqual(['nothing']);
  });

  it('detaches, under revocation, the proven identities of registries the tag no longer names, and only those', () => {
    const snapshot = idle(
      target({ acrPull: 'contosoapps' }, [
        identity('contosoapps'),
        identity('fabrikamabac'),
        identity('oldregistry'),
      ]),
      [
        {
          ref: refs('contosoapps')[0] as RegistryRef,
          identityId: identity('contosoapps'),
          kind: 'compliant',
          fields: {},
        },
      ],
      [
        {
          candidate: { identityId: identity('fabrikamabac'), registry: 'fabrikamabac' },
          proof: { proven: true },
        },
        {
          candidate: { identityId: identity('oldregistry'), registry: 'oldregistry' },
          proof: { proven: false },
        },
      ],
    );
    const plan = planTarget(settings({ ACRPULL_REVOKE: 'on' }), snapshot, VM);
    expect(plan.steps.map((s) => s.step)).toEqual(['keep', 'detach']);
    const detach = plan.steps[1];
    expect(detach?.step === 'detach' ? detach.detach.map((d) => [d.registry, d.cause]) : []).toEqual([
      ['fabrikamabac', 'not-named'],
    ]);
  });

  it('gives the revocation of an untagged target its own cause', () => {
    const snapshot = idle(
      target({}, [identity('fabrikamabac')]),
      [],
      [
        {
          candidate: { identityId: identity('fabrikamabac'), registry: 'fabrikamabac' },
          proof: { proven: true },
        },
      ],
    );
    const [step] = planTarget(settings({ ACRPULL_REVOKE: 'on' }), snapshot, VM).steps;
    expect(step?.step === 'detach' ? step.detach.map((d) => d.cause) : []).toEqual(['untagged']);
  });

  it('defers every identity of a busy target, writing nothing', () => {
    const snapshot: TargetSnapshot = {
      kind: 'busy',
      reason: 'the VM is Creating',
      target: target({ acrPull: 'contosoapps,fabrikamabac' }),
      tag: { kind: 'refs', refs: refs('contosoapps,fabrikamabac') },
      region: 'eastus',
    };
    expect(planTarget(settings(), snapshot, VM).steps).toEqual([
      {
        step: 'defer',
        action: 'identity-attached',
        reason: 'the VM is Creating',
        fields: { registry: 'contosoapps', identityId: identity('contosoapps') },
      },
      {
        step: 'defer',
        action: 'identity-attached',
        reason: 'the VM is Creating',
        fields: { registry: 'fabrikamabac', identityId: identity('fabrikamabac') },
      },
    ]);
  });

  it('skips a target that is gone, and says whether it went while the reconcile waited', () => {
    expect(names({ kind: 'gone', whileWaiting: false })).toEqual(['skip']);
    const [step] = planTarget(settings(), { kind: 'gone', whileWaiting: true }, VM).steps;
    expect(step).toEqual({ step: 'skip', reason: 'the VM was deleted while it was being reconciled' });
  });

  it('makes the same plan whatever the mode: audit mode only records its writes as planned', () => {
    const snapshot = idle(target({ acrPull: 'contosoapps' }), [
      authorized('contosoapps', { status: 'allowed', registry: registryState('contosoapps') }),
    ]);
    expect(planTarget(settings({ ACRPULL_MODE: 'audit' }), snapshot, VM)).toEqual(
      planTarget(settings(), snapshot, VM),
    );
  });

  describe('in a resource group another service manages', () => {
    const managed = (
      snapshot: TargetSnapshot,
      platform: { managedBy?: string } | { error: unknown },
    ): TargetSnapshot =>
      ({ ...(snapshot as Extract<TargetSnapshot, { kind: 'idle' }>), platform }) as TargetSnapshot;
    const allowed = idle(target({ acrPull: 'contosoapps' }), [
      authorized('contosoapps', { status: 'allowed', registry: registryState('contosoapps') }),
    ]);

    it('refuses every write, with the way to get pull access there, and keeps what needs none', () => {
      const plan = planTarget(
        settings(),
        managed(allowed, {
          managedBy: '/subscriptions/x/resourceGroups/r/providers/Microsoft.Solutions/applications/a',
        }),
        VM,
      );
      expect(plan.steps).toEqual([
        {
          step: 'refuse',
          action: 'target-platform-managed',
          reason: expect.stringMatching(
            /^the virtual machine is in resource group rg-apps, which .* manages \(managedBy\)/,
          ),
          fields: {
            registry: 'contosoapps',
            registryId: registryState('contosoapps').id,
            identityId: identity('contosoapps'),
          },
        },
      ]);
    });

    it('fails closed when the group could not be read', () => {
      const error = new Error('unreadable');
      expect(planTarget(settings(), managed(allowed, { error }), VM).steps.map((s) => s.step)).toEqual([
        'fail',
      ]);
    });

    it('refuses a revocation there too', () => {
      const snapshot = idle(
        target({}, [identity('fabrikamabac')]),
        [],
        [
          {
            candidate: { identityId: identity('fabrikamabac'), registry: 'fabrikamabac' },
            proof: { proven: true },
          },
        ],
      );
      const plan = planTarget(settings({ ACRPULL_REVOKE: 'on' }), managed(snapshot, { managedBy: '/m' }), VM);
      expect(
        plan.steps.map((s) => (s.step === 'refuse' ? `${s.action} ${s.fields.registry}` : s.step)),
      ).toEqual(['target-platform-managed fabrikamabac']);
    });

    it('changes nothing in a group nobody manages', () => {
      expect(planTarget(settings(), managed(allowed, {}), VM)).toEqual(planTarget(settings(), allowed, VM));
    });
  });
});
