// The Event Grid path end to end: real handler, real SDK clients, the emulator over HTTPS.
import type { AuditRecord } from '../../src/audit/auditRecord';
import { RetryableReconcileError } from '../../src/handlers/vmWriteHandler';
import { fleet } from '../support/fleet';
import { type Harness, IDENTITY_RG, identityId, OTHER_SUB, SUB, startHarness } from '../support/harness';

const ACR_PULL = '7f951dda-4ed3-4680-a7ca-43fe172d538d';
const REPOSITORY_READER = 'b93aa761-3e63-49ed-ac28-beffa264f7ac';

const actions = (records: readonly AuditRecord[]) => records.map((r) => `${r.action}:${r.outcome}`);
const writes = (h: Harness) => h.emu.totals().writes;

describe('Event Grid: a tagged VM gets pull access', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('creates the identity, grants AcrPull as ServicePrincipal and attaches it to a new VM', async () => {
    // Prepare
    const vm = h.seedVm('vm-new', 'contosoapps');
    // Act
    const result = await h.deliver(vm.id, { upn: 'bob@contoso.com' });
    // Assess
    expect(result?.outcome).toBe('changed');
    expect(actions(result?.records ?? [])).toEqual([
      'identity-created:changed',
      'role-assigned:changed',
      'identity-attached:changed',
    ]);
    const identity = h.emu.listIdentities().find((i) => i.name === 'id-acrpull-contosoapps-eastus');
    expect(identity).toBeDefined();
    const grants = h.emu.listRoleAssignments().filter((a) => a.principalId === identity?.principalId);
    expect(grants).toHaveLength(1);
    expect(grants[0]).toMatchObject({ principalType: 'ServicePrincipal' });
    expect(grants[0]?.roleDefinitionId.toLowerCase()).toMatch(new RegExp(`${ACR_PULL}$`));
    expect(grants[0]?.scope.toLowerCase()).toBe(
      `/subscriptions/${SUB}/resourcegroups/rg-registries/providers/microsoft.containerregistry/registries/contosoapps`,
    );
    const attached = Object.keys(h.emu.getVm(vm.id)?.identity?.userAssignedIdentities ?? {}).map((k) =>
      k.toLowerCase(),
    );
    expect(attached).toEqual([identityId('contosoapps', 'eastus').toLowerCase()]);
    const attachRecord = result?.records.find((r) => r.action === 'identity-attached');
    expect(attachRecord).toMatchObject({
      clientId: identity?.clientId,
      principalId: identity?.principalId,
      caller: 'bob@contoso.com',
      trigger: 'event',
      mode: 'enforce',
      correlationId: 'corr-test',
    });
  });

  it('reuses the identity and grant for a second VM in the same region: zero new grants', async () => {
    const first = h.seedVm('vm-a', 'contosoapps');
    const second = h.seedVm('vm-b', 'contosoapps');
    await h.deliver(first.id);
    const identitiesBefore = h.emu.listIdentities().length;
    const grantsBefore = h.emu.listRoleAssignments().length;
    h.emu.resetCounts();

    const result = await h.deliver(second.id);

    expect(actions(result?.records ?? [])).toEqual([
      'identity-reused:unchanged',
      'role-present:unchanged',
      'identity-attached:changed',
    ]);
    expect(h.emu.listIdentities()).toHaveLength(identitiesBefore);
    expect(h.emu.listRoleAssignments()).toHaveLength(grantsBefore);
    expect(h.emu.counts()['identity.put']).toBe(0);
    expect(h.emu.counts()['roleAssignment.put']).toBe(0);
    expect(h.emu.counts()['vm.patch']).toBe(1);
  });

  it('keeps a system-assigned identity and two other user-assigned identities', async () => {
    const f = fleet(h.emu);
    const other1 = f.identity('id-app-1');
    const other2 = f.identity('id-app-2');
    const vm = f.vm('vm-busy', { tag: 'contosoapps', systemAssigned: true, identities: [other1, other2] });
    const systemPrincipal = h.emu.getVm(vm.id)?.identity?.principalId;

    await h.deliver(vm.id);

    const after = h.emu.getVm(vm.id);
    expect(after?.identity?.type).toBe('SystemAssigned, UserAssigned');
    expect(after?.identity?.principalId).toBe(systemPrincipal);
    const keys = Object.keys(after?.identity?.userAssignedIdentities ?? {})
      .map((k) => k.toLowerCase())
      .sort();
    expect(keys).toEqual(
      [other1.id, other2.id, identityId('contosoapps', 'eastus')].map((k) => k.toLowerCase()).sort(),
    );
  });

  it('handles the event caused by its own PATCH with exactly one ARM read and no write', async () => {
    const vm = h.seedVm('vm-echo', 'contosoapps');
    await h.deliver(vm.id);
    h.emu.resetCounts();

    const result = await h.deliver(vm.id);

    expect(actions(result?.records ?? [])).toEqual(['already-compliant:unchanged']);
    expect(h.emu.totals()).toMatchObject({ reads: 1, writes: 0, polls: 0 });
    expect(h.emu.counts()['vm.get']).toBe(1);
    expect(result?.records[0]?.clientId).toBe(h.emu.listIdentities()[0]?.clientId);
  });

  it('reacts to a later tags write on a VM', async () => {
    const vm = fleet(h.emu).vm('vm-tagged-later');
    expect((await h.deliver(vm.id))?.outcome).toBe('untagged');
    h.emu.updateVmOutOfBand(vm.id, (v) => {
      v.tags = { acrPull: 'contosoapps' };
    });

    const result = await h.deliver(vm.id, { operationName: 'Microsoft.Resources/tags/write' });

    expect(result?.outcome).toBe('changed');
  });

  it('grants Container Registry Repository Reader on an ABAC-mode registry', async () => {
    const vm = h.seedVm('vm-abac', 'fabrikamabac', 'westeurope');

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('changed');
    const grant = h.emu.listRoleAssignments()[0];
    expect(grant?.roleDefinitionId.toLowerCase()).toMatch(new RegExp(`${REPOSITORY_READER}$`));
    expect(result?.records.find((r) => r.action === 'role-assigned')?.role).toBe(
      'Container Registry Repository Reader',
    );
    expect(h.emu.listIdentities()[0]?.name).toBe('id-acrpull-fabrikamabac-westeurope');
  });
});

describe('Event Grid: tag forms', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({
      env: {
        ACRPULL_ALLOWED_REGISTRIES: `contosoapps fabrikamabac /subscriptions/${OTHER_SUB}/resourceGroups/rg-shared`,
        ACRPULL_REGISTRY_SUBSCRIPTIONS: OTHER_SUB,
      },
    });
    fleet(h.emu).registry('sharedimages', { subscriptionId: OTHER_SUB, resourceGroup: 'rg-shared' });
  });
  afterEach(async () => {
    await h.close();
  });

  it('matches the tag key in another case (ACRPULL)', async () => {
    const vm = h.seedVm('vm-upper', { ACRPULL: 'contosoapps' });
    expect((await h.deliver(vm.id))?.outcome).toBe('changed');
  });

  it('accepts the login-server form', async () => {
    const vm = h.seedVm('vm-login', 'ContosoApps.azurecr.io');
    const result = await h.deliver(vm.id);
    expect(result?.outcome).toBe('changed');
    expect(result?.records.every((r) => r.registry === 'contosoapps')).toBe(true);
  });

  it('accepts the resource-id form for a registry in another subscription', async () => {
    const registryId = `/subscriptions/${OTHER_SUB}/resourceGroups/rg-shared/providers/Microsoft.ContainerRegistry/registries/sharedimages`;
    const vm = h.seedVm('vm-xsub', registryId);

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('changed');
    const grant = h.emu.listRoleAssignments()[0];
    expect(grant?.scope.toLowerCase()).toBe(registryId.toLowerCase());
    expect(grant?.roleDefinitionId.toLowerCase()).toBe(
      `/subscriptions/${OTHER_SUB}/providers/microsoft.authorization/roledefinitions/${ACR_PULL}`,
    );
    // The identity lives in the operator's identity resource group, whatever the registry's subscription.
    expect(h.emu.listIdentities()[0]?.id.toLowerCase()).toBe(
      identityId('sharedimages', 'eastus').toLowerCase(),
    );
  });

  it('with a scope allowlist, an echo event costs one read on a warm instance; a cold one also lists the subscriptions searched and proves the identity is its own', async () => {
    // Prepare: allowed only through the scope rule, named by name in the tag
    const vm = h.seedVm('vm-scope', 'sharedimages');
    expect((await h.deliver(vm.id))?.outcome).toBe('changed');

    // Act + Assess: warm (the registry was resolved moments ago)
    h.emu.resetCounts();
    expect((await h.deliver(vm.id))?.outcome).toBe('compliant');
    expect(h.emu.totals()).toMatchObject({ reads: 1, writes: 0 });

    // Act + Assess: cold (a new instance must look the registry up once)
    h.emu.resetCounts();
    expect((await h.coldDeliver(vm.id))?.outcome).toBe('compliant');
    expect(h.emu.totals().writes).toBe(0);
    expect(h.emu.counts()['vm.get']).toBe(1);
    // the VM, the attached identity (its systemData, once per instance: a name proves nothing), then
    // the registry looked up by name: its own subscription, then the configured one
    expect(h.emu.counts()['identity.get']).toBe(1);
    expect(h.emu.counts()['registry.list']).toBe(2);
    expect(h.emu.totals().reads).toBe(4);
  });

  it('attaches several registries from one tag in a single PATCH', async () => {
    const vm = h.seedVm('vm-multi', 'contosoapps; fabrikamabac');

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('changed');
    expect(h.emu.counts()['vm.patch']).toBe(1);
    expect(Object.keys(h.emu.getVm(vm.id)?.identity?.userAssignedIdentities ?? {})).toHaveLength(2);
    expect(h.emu.listRoleAssignments()).toHaveLength(2);
  });
});

describe('Event Grid: bad input is audited and writes nothing', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });
  beforeEach(() => {
    h.emu.resetCounts();
    h.audit.records.length = 0;
  });

  it.each([
    ['empty', '', /tag value is empty/],
    ['too short', 'abcd', /"abcd" is not a registry name/],
    ['path-like', '../../../subscriptions', /is not a registry name, login server or resource id/],
    ['300 characters', 'a'.repeat(300), /300 characters/],
    ['non-ASCII', 'contosoäpps', /outside printable ASCII/],
  ])('rejects an invalid tag (%s) with the reason', async (label, value, reason) => {
    const vm = fleet(h.emu).vm(`vm-bad-${label.replace(/\W/g, '')}`, { tag: value });

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('rejected');
    expect(result?.records).toHaveLength(1);
    expect(result?.records[0]).toMatchObject({ action: 'tag-invalid', outcome: 'rejected' });
    expect(result?.records[0]?.reason).toMatch(reason);
    expect(writes(h)).toBe(0);
  });

  it('denies a registry that is not allowed', async () => {
    const vm = h.seedVm('vm-denied', 'secretregistry');

    const result = await h.deliver(vm.id);

    expect(result?.records).toEqual([
      expect.objectContaining({
        action: 'registry-denied',
        outcome: 'rejected',
        registry: 'secretregistry',
        reason: expect.stringMatching(/not in ACRPULL_ALLOWED_REGISTRIES/),
      }),
    ]);
    expect(writes(h)).toBe(0);
  });

  it('rejects a registry that does not exist (the allowlist names a scope, so it is looked up)', async () => {
    const scoped = await startHarness({ env: { ACRPULL_ALLOWED_REGISTRIES: `/subscriptions/${SUB}` } });
    try {
      const vm = scoped.seedVm('vm-ghost', 'nosuchregistry');

      const result = await scoped.deliver(vm.id);

      expect(result?.records).toEqual([
        expect.objectContaining({
          action: 'tag-invalid',
          outcome: 'rejected',
          reason: expect.stringMatching(/"nosuchregistry" was not found/),
        }),
      ]);
      expect(writes(scoped)).toBe(0);
    } finally {
      await scoped.close();
    }
  });

  it('refuses ten registries the allowlist cannot allow by name with one ARM read: the VM', async () => {
    const names = Array.from({ length: 10 }, (_, i) => `unknownreg${i}`);
    const vm = h.seedVm('vm-ten-unknown', names.join(','));
    h.emu.resetCounts();

    const result = await h.deliver(vm.id);

    expect(h.emu.totals()).toMatchObject({ reads: 1, writes: 0 });
    expect(result?.records.map((r) => [r.action, r.registry])).toEqual(
      names.map((n) => ['registry-denied', n]),
    );
  });

  it('with a scope allowlist, ten unknown registries cost one listing per subscription, then nothing for a minute', async () => {
    const scoped = await startHarness({ env: { ACRPULL_ALLOWED_REGISTRIES: `/subscriptions/${SUB}` } });
    try {
      const vm = scoped.seedVm(
        'vm-ten-unknown-scoped',
        Array.from({ length: 10 }, (_, i) => `unknownreg${i}`).join(' '),
      );
      scoped.emu.resetCounts();

      const first = await scoped.deliver(vm.id);
      const firstCounts = { ...scoped.emu.counts() };
      scoped.emu.resetCounts();
      await scoped.deliver(vm.id);

      expect(first?.records.every((r) => r.action === 'tag-invalid')).toBe(true);
      expect(firstCounts).toMatchObject({ 'vm.get': 1, 'registry.list': 1 });
      expect(scoped.emu.totals()).toMatchObject({ reads: 1, writes: 0 });
    } finally {
      await scoped.close();
    }
  });

  it('skips a VM deleted before processing, without throwing', async () => {
    const vm = h.seedVm('vm-gone', 'contosoapps');
    h.emu.deleteVm(vm.id);

    const result = await h.deliver(vm.id);

    expect(result?.records).toEqual([
      expect.objectContaining({ action: 'vm-not-found', outcome: 'skipped' }),
    ]);
    expect(writes(h)).toBe(0);
  });

  it('ignores an event that is not about a VM, with a debug log and no ARM call', async () => {
    const event = {
      id: 'evt-storage',
      eventType: 'Microsoft.Resources.ResourceWriteSuccess',
      subject: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x`,
      data: {
        operationName: 'Microsoft.Storage/storageAccounts/write',
        resourceUri: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x`,
      },
    };

    await expect(h.deliverRaw(event)).resolves.toBeUndefined();

    expect(
      h.logs.some((l) =>
        /debug ignored event: operation "Microsoft.Storage\/storageAccounts\/write" is not handled/.test(l),
      ),
    ).toBe(true);
    expect(h.emu.totals().reads + h.emu.totals().writes).toBe(0);
  });

  it('audits a malformed event and returns normally', async () => {
    await expect(
      h.deliverRaw({ eventType: 'Microsoft.Resources.ResourceWriteSuccess' }),
    ).resolves.toBeUndefined();
    expect(h.audit.records).toEqual([
      expect.objectContaining({
        action: 'failed',
        outcome: 'rejected',
        reason: 'malformed event: event has no id',
      }),
    ]);
    expect(h.logs.some((l) => /^warn(ing)? malformed event: event has no id/.test(l))).toBe(true);
  });
});

describe('Event Grid: audit mode', () => {
  it('reports the same plan as enforce mode and writes nothing', async () => {
    const audit = await startHarness({ env: { ACRPULL_MODE: 'audit' } });
    const enforce = await startHarness();
    try {
      for (const h of [audit, enforce]) {
        h.seedVm('vm-plan', 'contosoapps,secretregistry');
      }
      const planned = await audit.deliver(audit.emu.listVms()[0]?.id ?? '');
      const done = await enforce.deliver(enforce.emu.listVms()[0]?.id ?? '');

      expect(audit.emu.totals().writes).toBe(0);
      expect(audit.emu.listIdentities()).toHaveLength(0);
      expect(planned?.outcome).toBe('planned');
      const shape = (r: AuditRecord) =>
        `${r.registry}:${r.action}:${r.outcome === 'planned' ? 'changed' : r.outcome}`;
      expect(planned?.records.map(shape)).toEqual(done?.records.map(shape));
      expect(planned?.records.every((r) => r.mode === 'audit')).toBe(true);
    } finally {
      await audit.close();
      await enforce.close();
    }
  });
});

describe('Event Grid: faults converge', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });
  const newVm = (name: string) => fleet(h.emu).vm(name, { tag: 'contosoapps' });

  it.each([
    ['vm.get', 3],
    ['registry.list', 3],
    ['identity.get', 3],
    ['identity.put', 3],
    ['roleAssignment.list', 3],
    ['roleAssignment.put', 3],
    ['vm.patch', 3],
    // A throttled poll loses the poller: the retry re-reads the VM and waits for the operation's
    // outcome there instead of polling again.
    ['vm.operationStatus', 1],
  ] as const)('converges after 429 with Retry-After on %s', async (operation, minRequests) => {
    const vm = newVm(`vm-429-${operation.replace('.', '-')}`);
    h.emu.injectFault({
      operation,
      status: 429,
      code: 'SubscriptionRequestsThrottled',
      retryAfterMs: 20,
      count: 2,
    });

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('changed');
    expect(h.emu.counts()[operation]).toBeGreaterThanOrEqual(minRequests);
    expect(h.logs.some((l) => l.includes('after SubscriptionRequestsThrottled'))).toBe(true);
    expect(h.emu.getVm(vm.id)?.provisioningState).toBe('Succeeded');
  });

  it('honours a Retry-After given in seconds', async () => {
    const vm = newVm('vm-429-seconds');
    h.emu.injectFault({
      operation: 'identity.put',
      status: 429,
      code: 'SubscriptionRequestsThrottled',
      retryAfterSeconds: 1,
    });
    const started = Date.now();

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('changed');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('waits out a VM that is still being created, reading only, and attaches it once it is done', async () => {
    const vm = fleet(h.emu).vm('vm-provisioning', { tag: 'contosoapps', creatingForMs: 150 });
    const statesAtPatch: string[] = [];
    h.emu.onBeforeOperation('vm.patch', () =>
      statesAtPatch.push(h.emu.getVm(vm.id)?.provisioningState ?? ''),
    );

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('changed');
    expect(statesAtPatch).toEqual(['Succeeded']);
    expect(h.emu.counts()['vm.get']).toBeGreaterThan(1);
    expect(h.emu.preemptions()).toEqual([]);
    expect(result?.records.some((r) => r.outcome === 'failed')).toBe(false);
  });

  it('defers, rather than fails, a VM still provisioning when the budget runs out; redelivery attaches it', async () => {
    const slow = await startHarness({ env: { ACRPULL_EVENT_TIME_BUDGET_SECONDS: '1' } });
    try {
      const vm = fleet(slow.emu).vm('vm-still-creating', { tag: 'contosoapps', creatingForMs: 1_500 });

      const error = await slow.deliver(vm.id).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(RetryableReconcileError);
      const records = (error as RetryableReconcileError).result.records;
      expect(records.some((r) => r.outcome === 'failed')).toBe(false);
      expect(records.find((r) => r.action === 'identity-attached')).toMatchObject({
        outcome: 'deferred',
        retryable: true,
      });
      await new Promise((resolve) => setTimeout(resolve, 1_600));
      expect((await slow.deliver(vm.id))?.outcome).toBe('changed');
    } finally {
      await slow.close();
    }
  });

  it('keeps a system-assigned identity a concurrent writer enables between our read and our PATCH', async () => {
    const vm = newVm('vm-race-system');
    h.emu.onBeforeOperation(
      'vm.patch',
      () =>
        h.emu.updateVmOutOfBand(vm.id, (v) => {
          v.identity = {
            type: 'SystemAssigned',
            principalId: '99999999-0000-0000-0000-000000000001',
            tenantId: h.emu.tenantId,
            userAssignedIdentities: {},
          };
        }),
      true,
    );

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('changed');
    const after = h.emu.getVm(vm.id);
    expect(after?.identity?.type).toBe('SystemAssigned, UserAssigned');
    expect(after?.identity?.principalId).toBe('99999999-0000-0000-0000-000000000001');
    expect(h.emu.counts()['vm.patch']).toBe(2);
  });

  it('keeps a concurrent writer’s identity after a 412 etag race', async () => {
    // System-assigned, so the writer's identity does not become the VM's IMDS default (that case is
    // in ownerOperations.test.ts: the VM is then left alone).
    const f = fleet(h.emu);
    const vm = f.vm('vm-race', { tag: 'contosoapps', systemAssigned: true });
    const theirs = f.identity('id-theirs');
    h.emu.onBeforeOperation(
      'vm.patch',
      () =>
        h.emu.updateVmOutOfBand(vm.id, (v) => {
          v.identity = {
            ...v.identity,
            type: 'SystemAssigned, UserAssigned',
            userAssignedIdentities: {
              [theirs.id]: { principalId: theirs.principalId, clientId: theirs.clientId },
            },
          };
        }),
      true,
    );

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('changed');
    const keys = Object.keys(h.emu.getVm(vm.id)?.identity?.userAssignedIdentities ?? {})
      .map((k) => k.toLowerCase())
      .sort();
    expect(keys).toEqual([theirs.id, identityId('contosoapps', 'eastus')].map((k) => k.toLowerCase()).sort());
    expect(h.emu.counts()['vm.patch']).toBe(2);
    expect(h.logs.some((l) => l.includes('after PreconditionFailed'))).toBe(true);
  });

  it('converges through PrincipalNotFound (replication delay)', async () => {
    const vm = newVm('vm-replication');
    h.emu.injectFault({ operation: 'roleAssignment.put', status: 400, code: 'PrincipalNotFound', count: 2 });

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('changed');
    expect(h.emu.counts()['roleAssignment.put']).toBe(3);
    expect(h.emu.listRoleAssignments()).toHaveLength(1);
  });

  it('is not held up by directory replication: principalType lets ARM accept a just-created identity', async () => {
    const slow = await startHarness({ emulator: { principalReplicationDelayMs: 60_000 } });
    try {
      const vm = fleet(slow.emu).vm('vm-fresh', { tag: 'contosoapps' });
      const result = await slow.deliver(vm.id);
      expect(result?.outcome).toBe('changed');
      expect(slow.emu.counts()['roleAssignment.put']).toBe(1);
    } finally {
      await slow.close();
    }
  });

  it('converges when the async attach operation first ends Failed', async () => {
    const vm = newVm('vm-async-failed');
    h.emu.injectFault({
      operation: 'vm.patch',
      kind: 'asyncFailed',
      status: 500,
      code: 'InternalExecutionError',
    });

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('changed');
    expect(h.emu.counts()['vm.patch']).toBe(2);
  });

  it('two invocations for one VM at once end with one identity, one grant, one attachment', async () => {
    const vm = newVm('vm-twice');

    const results = await Promise.all([h.deliver(vm.id), h.deliver(vm.id)]);

    expect(results.map((r) => r?.outcome).every((o) => o === 'changed' || o === 'compliant')).toBe(true);
    expect(h.emu.listIdentities()).toHaveLength(1);
    expect(h.emu.listRoleAssignments()).toHaveLength(1);
    expect(Object.keys(h.emu.getVm(vm.id)?.identity?.userAssignedIdentities ?? {})).toHaveLength(1);
  });

  it('audits a terminal 403 and returns normally (no poison event)', async () => {
    const vm = newVm('vm-forbidden');
    h.emu.injectFault({
      operation: 'roleAssignment.put',
      status: 403,
      code: 'AuthorizationFailed',
      message:
        "The client 'x' does not have authorization to perform action 'Microsoft.Authorization/roleAssignments/write'.",
    });

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('failed');
    expect(result?.retryable).toBe(false);
    const failure = result?.records.find((r) => r.action === 'failed');
    expect(failure).toMatchObject({ outcome: 'failed', retryable: false, registry: 'contosoapps' });
    expect(failure?.reason).toMatch(/AuthorizationFailed/);
    expect(h.emu.counts()['roleAssignment.put']).toBe(1);
    expect(h.emu.counts()['vm.patch']).toBe(0); // never attach without the grant
  });

  it('throws for Event Grid to redeliver when a retryable fault outlasts the retries', async () => {
    const vm = newVm('vm-outage');
    h.emu.injectFault({ operation: 'identity.put', status: 503, code: 'ServiceUnavailable', count: 100 });

    const error = await h.deliver(vm.id).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RetryableReconcileError);
    expect(h.audit.records.find((r) => r.action === 'failed')).toMatchObject({ retryable: true });
    // The redelivery, once the outage is over, converges.
    h.emu.clearFaults();
    expect((await h.deliver(vm.id))?.outcome).toBe('changed');
  });

  it('stores identities in the configured identity resource group', async () => {
    const vm = newVm('vm-where');
    await h.deliver(vm.id);
    expect(h.emu.listIdentities()[0]?.id.toLowerCase().startsWith(IDENTITY_RG.toLowerCase())).toBe(true);
  });
});

describe('Event Grid: bring your own identity', () => {
  it('uses the operator’s identity for that registry: granted and attached, never created', async () => {
    const ownId = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-team-pull`;
    const h = await startHarness({ env: { ACRPULL_IDENTITY_OVERRIDES: `contosoapps=${ownId}` } });
    try {
      const own = fleet(h.emu).identity('id-team-pull');
      const vm = h.seedVm('vm-byo', 'contosoapps', 'westeurope');

      const result = await h.deliver(vm.id);

      expect(actions(result?.records ?? [])).toEqual([
        'identity-reused:unchanged',
        'role-assigned:changed',
        'identity-attached:changed',
      ]);
      expect(h.emu.counts()['identity.put']).toBe(0);
      expect(h.emu.listRoleAssignments()[0]?.principalId).toBe(own.principalId);
      expect(
        Object.keys(h.emu.getVm(vm.id)?.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase()),
      ).toEqual([own.id.toLowerCase()]);
      // and the echo of our own PATCH is still one read
      h.emu.resetCounts();
      expect((await h.deliver(vm.id))?.outcome).toBe('compliant');
      expect(h.emu.totals()).toMatchObject({ reads: 1, writes: 0 });
    } finally {
      await h.close();
    }
  });

  it('fails terminally, creating nothing, when the operator’s identity does not exist', async () => {
    const missing = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-gone`;
    const h = await startHarness({ env: { ACRPULL_IDENTITY_OVERRIDES: `contosoapps=${missing}` } });
    try {
      const vm = h.seedVm('vm-byo-missing', 'contosoapps');

      const result = await h.deliver(vm.id);

      expect(result).toMatchObject({ outcome: 'failed', retryable: false });
      expect(result?.records[0]?.reason).toMatch(
        /id-gone, set for contosoapps in ACRPULL_IDENTITY_OVERRIDES, does not exist/,
      );
      expect(h.emu.totals().writes).toBe(0);
    } finally {
      await h.close();
    }
  });
});

describe('Event Grid: the time budget', () => {
  it('bounds a slow operation too: the invocation gives up in time and asks for redelivery', async () => {
    const h = await startHarness({
      env: { ACRPULL_EVENT_TIME_BUDGET_SECONDS: '1' },
      emulator: { operationDurationMs: 6_000, latencyMs: 50 },
    });
    try {
      const vm = h.seedVm('vm-slow', 'contosoapps');
      const started = Date.now();

      const error = await h.deliver(vm.id).catch((e: unknown) => e);

      expect(Date.now() - started).toBeLessThan(2_500);
      expect(error).toBeInstanceOf(RetryableReconcileError);
      // Our own attach is still running: not a failure, its outcome is seen on redelivery.
      expect(h.audit.records.find((r) => r.action === 'identity-attached')).toMatchObject({
        outcome: 'deferred',
        retryable: true,
        reason: expect.stringMatching(/^the time budget ran out before the operation's outcome was seen/),
      });
      expect((error as Error).message).toMatch(/deferred.*time budget/);
    } finally {
      await h.close();
    }
  });
});
