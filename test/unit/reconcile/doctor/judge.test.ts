// The doctor's judge, from facts alone: no emulator, no mocks. Each case changes one fact of a
// compliant VM and names the check that must say so, and what the verdict becomes.
import { loadSettings } from '../../../../src/config/settings';
import { ACR_PULL_ROLE } from '../../../../src/core/roles';
import { type Check, exitCodeOf, verdictOf } from '../../../../src/reconcile/doctor/checks';
import type { DoctorFacts } from '../../../../src/reconcile/doctor/facts';
import { judge } from '../../../../src/reconcile/doctor/judge';
import { chooseRegistry, readTagFacts } from '../../../../src/reconcile/doctor/observe';
import { parseTargetId } from '../../../../src/targets';

const SUB = '11111111-1111-1111-1111-111111111111';
const RG = `/subscriptions/${SUB}/resourceGroups/rg-identities`;
const VM = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Compute/virtualMachines/vm1`;
const REGISTRY = `/subscriptions/${SUB}/resourceGroups/rg-registries/providers/Microsoft.ContainerRegistry/registries/contosoapps`;
const IDENTITY = `${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-acrpull-contosoapps-eastus`;
const NOW = Date.parse('2026-01-01T12:00:00Z');
const OLD = '2026-01-01T11:00:00.000Z';
const APP = {
  objectId: 'aaaaaaaa-0000-0000-0000-000000000001',
  clientId: 'aaaaaaaa-0000-0000-0000-000000000002',
};

const settings = loadSettings({
  ACRPULL_IDENTITY_RESOURCE_GROUP: RG,
  ACRPULL_ALLOWED_REGISTRIES: 'contosoapps',
});
const ref = parseTargetId(VM) as NonNullable<ReturnType<typeof parseTargetId>>;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A compliant VM's facts; `change` edits a copy. */
function facts(change: (f: Mutable<DoctorFacts>) => void = () => {}): DoctorFacts {
  const tag = readTagFacts({ acrPull: 'contosoapps' }, 'acrPull', 10);
  const f: Mutable<DoctorFacts> = {
    now: NOW,
    target: {
      ref,
      label: 'virtual machine',
      region: 'eastus',
      reportsBoundPrincipals: true,
      state: {
        id: VM,
        location: 'eastus',
        tags: { acrPull: 'contosoapps' },
        provisioningState: 'Succeeded',
        identity: {
          type: 'UserAssigned',
          userAssignedIdentities: { [IDENTITY]: { principalId: 'p-1', clientId: 'c-1' } },
        },
      },
    },
    resourceGroup: { ok: true, value: {} },
    tag,
    choice: chooseRegistry(tag, undefined),
    registry: {
      ok: true,
      value: {
        found: true,
        registry: {
          id: REGISTRY,
          name: 'contosoapps',
          subscriptionId: SUB,
          loginServer: 'contosoapps.azurecr.io',
          roleAssignmentMode: 'LegacyRegistryPermissions',
          access: { ipRules: [], approvedPrivateEndpoints: [], publicNetworkAccess: 'Enabled' },
        },
      },
    },
    self: { ok: true, value: APP },
    identity: {
      expected: {
        id: IDENTITY,
        name: 'id-acrpull-contosoapps-eastus',
        resourceGroup: settings.identityResourceGroup,
        broughtByOperator: false,
      },
      read: {
        ok: true,
        value: {
          id: IDENTITY,
          name: 'id-acrpull-contosoapps-eastus',
          location: 'eastus',
          principalId: 'p-1',
          clientId: 'c-1',
          createdBy: APP.clientId,
          createdByType: 'Application',
        },
      },
    },
    held: {
      ok: true,
      value: [{ id: `${REGISTRY}/ra/1`, scope: REGISTRY, roleGuid: ACR_PULL_ROLE, principalId: 'p-1' }],
    },
    grants: {
      ok: true,
      value: [
        {
          id: `${REGISTRY}/ra/1`,
          name: '1',
          scope: REGISTRY,
          roleGuid: ACR_PULL_ROLE,
          principalId: 'p-1',
          createdOn: OLD,
        },
      ],
    },
    roles: new Map([
      [
        ACR_PULL_ROLE,
        {
          roleName: 'AcrPull',
          permissions: [{ actions: ['Microsoft.ContainerRegistry/registries/pull/read'] }],
        },
      ],
    ]),
    denies: { ok: true, value: [] },
  };
  change(f);
  return f;
}

const byId = (checks: readonly Check[]) => Object.fromEntries(checks.map((c) => [c.id, c]));
const run = (f: DoctorFacts, options = {}) => {
  const checks = judge(f, settings, options);
  return { checks, c: byId(checks), verdict: verdictOf(checks) };
};

describe('doctor judge', () => {
  it('a compliant VM: every check passes but audit, can-pull', () => {
    const { checks, verdict } = run(facts());
    expect(checks.filter((c) => c.status !== 'pass').map((c) => c.id)).toEqual(['audit']);
    expect(verdict).toBe('can-pull');
    expect(exitCodeOf(verdict)).toBe(0);
  });

  it('a busy target warns "busy" and decides nothing else differently', () => {
    const { c, verdict } = run(
      facts((f) => {
        f.target = { ...f.target, state: { ...f.target.state, provisioningState: 'Updating' } };
      }),
    );
    expect(c.target).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/^busy: the VM is Updating/),
    });
    expect(verdict).toBe('can-pull');
  });

  it('an invalid tag fails tag and leaves nothing to check', () => {
    const { c, verdict } = run(
      facts((f) => {
        f.tag = readTagFacts({ acrPull: 'a/b' }, 'acrPull', 10);
        f.choice = chooseRegistry(f.tag, undefined);
        delete f.registry;
        delete f.identity;
      }),
    );
    expect(c.tag?.status).toBe('fail');
    expect(c.tag?.detail).toMatch(/is invalid/);
    for (const id of [
      'allowlist',
      'registry',
      'identity',
      'binding',
      'attached',
      'imds',
      'grant',
      'grant-age',
      'network-path',
    ])
      expect(c[id]?.status).toBe('skipped');
    expect(verdict).toBe('cannot-pull');
  });

  it('a resource group that cannot be read: platform undecided, verdict unknown', () => {
    const { c, verdict } = run(
      facts((f) => {
        f.resourceGroup = { ok: false, error: '403 AuthorizationFailed' };
      }),
    );
    expect(c.platform).toMatchObject({ status: 'warn', undecided: true });
    expect(verdict).toBe('unknown');
    expect(exitCodeOf(verdict)).toBe(2);
  });

  it('a managed application group: fails platform, through the service that manages it', () => {
    const managedBy = `/subscriptions/${SUB}/resourceGroups/x/providers/Microsoft.Solutions/applications/app1`;
    const { c } = run(
      facts((f) => {
        f.resourceGroup = { ok: true, value: { managedBy } };
      }),
    );
    expect(c.platform).toMatchObject({
      status: 'fail',
      fix: 'give it pull access through the service that manages it',
    });
  });

  it('an identity created by another user is refused: fails identity', () => {
    const { c } = run(
      facts((f) => {
        const read = f.identity?.read;
        if (f.identity && read?.ok && read.value)
          f.identity = {
            ...f.identity,
            read: {
              ok: true,
              value: { ...read.value, createdBy: 'mallory@contoso.example', createdByType: 'User' },
            },
          };
      }),
    );
    expect(c.identity?.status).toBe('fail');
    expect(c.identity?.fix).toMatch(/ACRPULL_TRUSTED_CREATORS/);
  });

  it('an identity created by another managed identity: warns, and --app-principal proves it', () => {
    const other = facts((f) => {
      const read = f.identity?.read;
      if (f.identity && read?.ok && read.value)
        f.identity = {
          ...f.identity,
          read: { ok: true, value: { ...read.value, createdBy: 'app-mi', createdByType: 'Application' } },
        };
    });
    expect(run(other).c.identity).toMatchObject({
      status: 'warn',
      fix: expect.stringMatching(/--app-principal/),
    });
    expect(run(other, { appPrincipals: ['APP-MI'] }).c.identity?.status).toBe('pass');
  });

  it('a Flexible scale set: binding skipped (it reports no principals)', () => {
    const { c } = run(
      facts((f) => {
        f.target = { ...f.target, reportsBoundPrincipals: false };
      }),
    );
    expect(c.binding).toMatchObject({
      status: 'skipped',
      detail: expect.stringMatching(/Flexible scale set/),
    });
  });

  it('an entry bound to no principal is stale', () => {
    const { c } = run(
      facts((f) => {
        f.target = {
          ...f.target,
          state: {
            ...f.target.state,
            identity: { type: 'UserAssigned', userAssignedIdentities: { [IDENTITY]: {} } },
          },
        };
      }),
    );
    expect(c.binding).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/bound to no principal/),
    });
  });

  it('the owner’s single identity under keep: attached fails saying the app will not attach', () => {
    const own = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-own`;
    const { c } = run(
      facts((f) => {
        f.target = {
          ...f.target,
          state: {
            ...f.target.state,
            identity: {
              type: 'UserAssigned',
              userAssignedIdentities: { [own]: { principalId: 'o', clientId: 'o' } },
            },
          },
        };
      }),
    );
    expect(c.attached).toMatchObject({
      status: 'fail',
      fix: expect.stringMatching(/ACRPULL_SINGLE_IDENTITY_VMS=attach/),
    });
  });

  it('a system-assigned identity beside it: imds passes, naming the client id to use', () => {
    const { c } = run(
      facts((f) => {
        f.target = {
          ...f.target,
          state: {
            ...f.target.state,
            identity: {
              type: 'SystemAssigned, UserAssigned',
              userAssignedIdentities: { [IDENTITY]: { principalId: 'p-1', clientId: 'c-1' } },
            },
          },
        };
      }),
    );
    expect(c.imds).toMatchObject({ status: 'pass', detail: expect.stringMatching(/client_id=c-1/) });
  });

  it('excess roles warn (they do not stop the pull)', () => {
    const { c, verdict } = run(
      facts((f) => {
        f.held = {
          ok: true,
          value: [
            {
              id: `/subscriptions/${SUB}/ra/2`,
              scope: `/subscriptions/${SUB}`,
              roleGuid: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
              principalId: 'p-1',
            },
          ],
        };
      }),
    );
    expect(c['identity-roles']).toMatchObject({
      status: 'warn',
      fix: expect.stringMatching(/az role assignment delete --ids/),
    });
    expect(verdict).toBe('can-pull');
  });

  it('an unreadable role definition leaves the grant undecided', () => {
    const { c, verdict } = run(
      facts((f) => {
        f.roles = new Map([[ACR_PULL_ROLE, undefined]]);
      }),
    );
    expect(c.grant).toMatchObject({ status: 'warn', undecided: true });
    expect(verdict).toBe('unknown');
  });

  it('a grant of unknown age counts as propagated', () => {
    const { c } = run(
      facts((f) => {
        if (f.grants?.ok) f.grants = { ok: true, value: f.grants.value.map(({ createdOn: _c, ...g }) => g) };
      }),
    );
    expect(c['grant-age']?.status).toBe('pass');
  });

  it('a grant made 3 minutes ago is pending until 10 minutes after it was made', () => {
    const { c } = run(
      facts((f) => {
        if (f.grants?.ok)
          f.grants = {
            ok: true,
            value: f.grants.value.map((g) => ({ ...g, createdOn: new Date(NOW - 3 * 60_000).toISOString() })),
          };
      }),
    );
    expect(c['grant-age']).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/^pending: the grant was made 3 min ago/),
      fix: `wait until ${new Date(NOW + 7 * 60_000).toISOString()}; nothing to change`,
    });
  });

  it('a private registry: the network-path hook decides; without it, unknown', () => {
    const privateRegistry = (f: Mutable<DoctorFacts>) => {
      if (f.registry?.ok && f.registry.value.found) {
        const r = f.registry.value.registry;
        f.registry = {
          ok: true,
          value: {
            found: true,
            registry: {
              ...r,
              access: {
                ...r.access,
                ipRules: [],
                publicNetworkAccess: 'Disabled',
                approvedPrivateEndpoints: ['/pe/1'],
              },
            },
          },
        };
      }
    };
    const unchecked = run(facts(privateRegistry));
    expect(unchecked.c['registry-network']?.status).toBe('warn');
    expect(unchecked.c['network-path']).toMatchObject({
      status: 'skipped',
      detail: 'network path not checked',
      undecided: true,
    });
    expect(unchecked.verdict).toBe('unknown');

    const reached = run(
      facts((f) => {
        privateRegistry(f);
        f.network = {
          status: 'pass',
          detail: 'the VM’s VNet reaches the private endpoint',
          evidence: ['10.0.0.5'],
        };
      }),
    );
    expect(reached.c['network-path']).toMatchObject({ status: 'pass', evidence: ['10.0.0.5'] });
    expect(reached.verdict).toBe('can-pull');

    const blocked = run(
      facts((f) => {
        privateRegistry(f);
        f.network = { status: 'fail', detail: 'no path', fix: 'peer the VNets' };
      }),
    );
    expect(blocked.c['network-path']).toMatchObject({ status: 'fail', fix: 'peer the VNets' });
    expect(blocked.verdict).toBe('cannot-pull');
  });

  it('--registry naming a registry the tag does not name: fails tag, still checks the rest', () => {
    const { c } = run(
      facts((f) => {
        f.choice = chooseRegistry(f.tag, { form: 'name', name: 'other12', text: 'other12' });
      }),
    );
    expect(c.tag).toMatchObject({
      status: 'fail',
      fix: expect.stringMatching(/acrPull=contosoapps,other12$/),
    });
  });
});

describe('verdictOf', () => {
  const c = (status: Check['status'], undecided = false): Check => ({
    id: 'grant',
    status,
    detail: '',
    ...(undecided ? { undecided } : {}),
  });
  it.each([
    [[c('pass'), c('warn')], 'can-pull'],
    [[c('pass'), c('skipped')], 'can-pull'],
    [[c('pass'), c('skipped', true)], 'unknown'],
    [[c('warn', true), c('fail')], 'cannot-pull'],
  ] as const)('%j → %s', (checks, verdict) => {
    expect(verdictOf(checks)).toBe(verdict);
  });
});
