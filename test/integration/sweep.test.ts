// The timer sweep end to end: real SDK clients (Resource Graph included) against the emulator.

import { InvocationContext } from '@azure/functions';
import { createSweepHandler, SweepFailedError } from '../../src/handlers/sweepHandler';
import { fleet } from '../support/fleet';
import { drainReadsUntil, type Harness, identityId, startHarness } from '../support/harness';

const attachedKeys = (h: Harness, vmId: string) =>
  Object.keys(h.emu.getVm(vmId)?.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase());

function seedFleet(
  h: Harness,
  count: number,
  options: { prefix?: string; tag?: string; location?: string } = {},
) {
  const f = fleet(h.emu);
  return Array.from({ length: count }, (_, i) =>
    f.vm(`${options.prefix ?? 'vm'}-${String(i).padStart(3, '0')}`, {
      tag: options.tag ?? 'contosoapps',
      location: options.location ?? (i % 2 === 0 ? 'eastus' : 'westeurope'),
    }),
  );
}

describe('sweep', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('brings a new fleet to compliance with one identity and grant per (registry, region)', async () => {
    const fleet = seedFleet(h, 20);

    const { summary } = await h.sweep();

    expect(summary).toMatchObject({
      vmsScanned: 20,
      changed: 20,
      failed: 0,
      deferred: 0,
      finished: true,
      pairs: 2,
    });
    expect(
      h.emu
        .listIdentities()
        .map((i) => i.name)
        .sort(),
    ).toEqual(['id-acrpull-contosoapps-eastus', 'id-acrpull-contosoapps-westeurope']);
    expect(h.emu.listRoleAssignments()).toHaveLength(2);
    for (const vm of fleet) {
      expect(attachedKeys(h, vm.id)).toEqual([identityId('contosoapps', vm.location).toLowerCase()]);
    }
    expect(h.audit.sweeps).toEqual([summary]);
  });

  it('repairs drift: a detached identity is re-attached and a deleted grant re-created', async () => {
    const [a, b] = seedFleet(h, 4);
    await h.sweep();
    const grant = h.emu.listRoleAssignments().find((g) => g.scope.toLowerCase().includes('contosoapps'));
    h.emu.deleteRoleAssignment(grant?.id ?? '');
    h.emu.updateVmOutOfBand(a?.id ?? '', (vm) => {
      vm.identity = undefined;
    });
    h.emu.resetCounts();
    h.audit.records.length = 0;

    const { summary } = await h.sweep();

    expect(summary).toMatchObject({ changed: 1, compliant: 3, failed: 0, finished: true });
    expect(attachedKeys(h, a?.id ?? '')).toHaveLength(1);
    expect(attachedKeys(h, b?.id ?? '')).toHaveLength(1);
    expect(h.emu.listRoleAssignments()).toHaveLength(2);
    expect(h.emu.counts()['roleAssignment.put']).toBe(1);
    expect(h.emu.counts()['vm.patch']).toBe(1);
    const actions = h.audit.records.map((r) => `${r.action}:${r.outcome}`);
    expect(actions).toContain('role-assigned:changed');
    expect(actions).toContain('identity-attached:changed');
  });

  it('ignores untagged VMs', async () => {
    seedFleet(h, 3);
    const untagged = fleet(h.emu).vm('vm-plain');

    const result = await h.sweep();

    expect(result.summary.vmsScanned).toBe(3);
    expect(result.targets.map((t) => t.targetId)).not.toContain(untagged.id);
    expect(h.emu.getVm(untagged.id)?.identity).toBeUndefined();
  });

  it('respects the allowlist and audits the refusal against the VM', async () => {
    const denied = h.seedVm('vm-secret', 'secretregistry');
    const invalid = h.seedVm('vm-typo', { acrpull: 'bad name!' });

    const { summary } = await h.sweep();

    expect(summary).toMatchObject({ rejected: 2, changed: 0 });
    expect(h.emu.totals().writes).toBe(0);
    expect(h.audit.records).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ vmId: denied.id, action: 'registry-denied', trigger: 'reconcile' }),
        expect.objectContaining({ vmId: invalid.id, action: 'tag-invalid', trigger: 'reconcile' }),
      ]),
    );
  });

  it('re-reads a VM the Resource Graph snapshot shows non-compliant, and writes nothing if ARM says it is done', async () => {
    const [vm] = seedFleet(h, 1);
    h.emu.freezeResourceGraph(); // the snapshot still shows the VM without its identity
    await h.deliver(vm?.id ?? ''); // the event path attaches it meanwhile
    h.emu.resetCounts();

    const { summary } = await h.sweep();

    h.emu.thawResourceGraph();
    expect(summary).toMatchObject({ compliant: 1, changed: 0 });
    expect(h.emu.counts()['vm.get']).toBe(1);
    expect(h.emu.totals().writes).toBe(0);
  });

  it('continues past one VM’s terminal error', async () => {
    const fleet = seedFleet(h, 6, { location: 'eastus' });
    const victim = fleet[2];
    h.emu.injectFault({
      operation: 'vm.patch',
      status: 403,
      code: 'AuthorizationFailed',
      count: 10,
      match: (req) => req.path.toLowerCase().endsWith(`/${victim?.name}`),
    });

    const { summary } = await h.sweep();

    expect(summary).toMatchObject({ changed: 5, failed: 1, finished: true });
    expect(h.audit.records.find((r) => r.vmId === victim?.id && r.action === 'failed')).toMatchObject({
      retryable: false,
    });
    expect(attachedKeys(h, victim?.id ?? '')).toHaveLength(0);
  });

  it('stops before its time budget, says so, and the next sweep finishes the rest', async () => {
    const fleet = seedFleet(h, 30, { location: 'eastus' });
    h.emu.setLatency(25);

    const first = await h.sweep({ budgetMs: 600, marginMs: 100 });

    expect(first.summary.finished).toBe(false);
    expect(first.summary.reason).toMatch(/time budget/);
    expect(first.summary.deferred).toBeGreaterThan(0);
    expect(first.summary.changed + first.summary.deferred).toBe(30);

    h.emu.setLatency(0);
    const second = await h.sweep();

    expect(second.summary).toMatchObject({ finished: true, failed: 0, deferred: 0 });
    // A VM whose PATCH landed just before the budget ran out is deferred in the first sweep (its outcome
    // was not seen) and compliant in the second.
    expect(second.summary.changed).toBeGreaterThan(0);
    expect(second.summary.changed).toBeLessThanOrEqual(first.summary.deferred);
    expect(second.summary.changed + second.summary.compliant).toBe(30);
    for (const vm of fleet) expect(attachedKeys(h, vm.id)).toHaveLength(1);
  });

  it('defers, not fails, the VMs of a pair check the time budget cut short', async () => {
    seedFleet(h, 4, { location: 'eastus' });
    // ARM asks to come back in 30 s: past the budget, so the check ends without an ARM refusal.
    h.emu.injectFault({
      operation: 'identity.get',
      status: 429,
      code: 'SubscriptionRequestsThrottled',
      retryAfterSeconds: 30,
      count: 10,
    });

    const { summary } = await h.sweep({ budgetMs: 3_000, marginMs: 100 });

    expect(summary).toMatchObject({ failed: 0, deferred: 4, finished: false });
    expect(h.audit.records.filter((r) => r.outcome === 'failed')).toEqual([]);
  });

  it('writes nothing in audit mode and reports the plan', async () => {
    const dry = await startHarness({ env: { ACRPULL_MODE: 'audit' } });
    try {
      seedFleet(dry, 4);
      const { summary } = await dry.sweep();
      expect(summary).toMatchObject({ planned: 4, changed: 0, mode: 'audit' });
      expect(dry.emu.totals().writes).toBe(0);
    } finally {
      await dry.close();
    }
  });
});

describe('sweep under throttling', () => {
  it('converges every VM through a 429 storm', async () => {
    const h = await startHarness();
    try {
      const fleet = seedFleet(h, 40, { location: 'eastus' });
      // Buckets far smaller than ARM's, so the sweep must ride out many 429s.
      h.emu.setThrottle({ reads: { burst: 15, perSecond: 60 }, writes: { burst: 5, perSecond: 40 } });
      // Another instance of the app (same identity, so the same buckets) spends the reads until the
      // sweep has met a 429, whatever its own pacing would have done.
      const sweeping = h.sweep();
      const stormMet = await drainReadsUntil(
        h.emu,
        `${fleet[0]?.id}?api-version=2024-07-01`,
        () => h.runtime.meter.snapshot().throttled > 0,
      );

      const { summary } = await sweeping;

      expect(stormMet).toBe(true);
      expect(summary).toMatchObject({ changed: 40, failed: 0, finished: true });
      expect(summary.armThrottled).toBeGreaterThan(0);
      for (const vm of fleet) expect(attachedKeys(h, vm.id)).toHaveLength(1);
    } finally {
      await h.close();
    }
    // Buckets of 5 writes and 15 reads, another instance spending the reads: the sweep yields to it
    // (ARM's counts space its requests, up to 2 s apart at an empty count), so how long it takes
    // varies widely (8-50 s on a 2-core machine); the assertions, not the time, are the test.
  }, 120_000);
});

describe('sweep request accounting', () => {
  it('costs the lower bound in the steady state and counts its requests like ARM does', async () => {
    const h = await startHarness();
    try {
      // 50 VMs over 2 registries × 2 regions
      for (let i = 0; i < 50; i++) {
        h.seedVm(
          `vm-acct-${i}`,
          i % 4 < 2 ? 'contosoapps' : 'fabrikamabac',
          i % 2 === 0 ? 'eastus' : 'westeurope',
        );
      }
      await h.sweep();
      h.emu.resetCounts();

      const { summary } = await h.sweep();

      // 1 Resource Graph page + 1 page of untagged pull-identity holders + subscriptions list + 1
      // registry list + 4 pairs × (identity GET + grant list) + 4 identities × 1 swept subscription ×
      // one `assignedTo` list (the excess-roles finding) + 1 identity list (the unused finding)
      const counts = h.emu.counts();
      expect(counts['graph.query']).toBe(1 + 1); // the tagged page, the untagged-holders page
      expect(counts['identity.list']).toBe(1); // the unused-identities finding
      expect(counts['registry.list']).toBe(1);
      expect(counts['identity.get']).toBe(4);
      expect(counts['roleAssignment.list']).toBe(4 + 4);
      expect(counts['vm.get']).toBe(0);
      expect(summary).toMatchObject({ compliant: 50, pairs: 4, armWrites: 0, armPolls: 0 });
      expect(summary.armReads).toBe(h.emu.totals().reads);
      expect(h.emu.totals().writes).toBe(0);
    } finally {
      await h.close();
    }
  });
});

describe('timer handler', () => {
  const timer = {
    isPastDue: false,
    schedule: { adjustForDST: true },
    scheduleStatus: { last: '', next: '', lastUpdated: '' },
  };
  const context = () =>
    new InvocationContext({ functionName: 'reconcileSweep', invocationId: 'test', logHandler: () => {} });

  it('runs a sweep and records its summary', async () => {
    const h = await startHarness();
    try {
      seedFleet(h, 3);
      const result = await createSweepHandler(h.runtime)(timer, context());
      expect(result.summary).toMatchObject({ changed: 3, finished: true, trigger: 'reconcile' });
      expect(h.audit.sweeps).toHaveLength(1);
    } finally {
      await h.close();
    }
  });

  it('fails the invocation, after recording why, when the tagged VMs cannot be listed', async () => {
    const h = await startHarness();
    try {
      seedFleet(h, 3);
      h.emu.injectFault({ operation: 'graph.query', status: 403, code: 'AuthorizationFailed' });

      const error = await createSweepHandler(h.runtime)(timer, context()).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(SweepFailedError);
      expect(h.audit.sweeps[0]).toMatchObject({ finished: false, vmsScanned: 0 });
      expect(h.audit.sweeps[0]?.reason).toMatch(/could not list tagged VMs in .*: .*AuthorizationFailed/);
      expect(h.emu.totals().writes).toBe(0);
    } finally {
      await h.close();
    }
  });
});

describe('sweep against a lagging snapshot', () => {
  it('counts a VM deleted since the snapshot as skipped, not failed', async () => {
    const h = await startHarness();
    try {
      const [gone] = seedFleet(h, 3);
      h.emu.freezeResourceGraph();
      h.emu.deleteVm(gone?.id ?? '');

      const { summary } = await h.sweep();

      h.emu.thawResourceGraph();
      expect(summary).toMatchObject({ vmsScanned: 3, changed: 2, skipped: 1, failed: 0 });
      expect(h.audit.records.find((r) => r.vmId === gone?.id)).toMatchObject({
        action: 'vm-not-found',
        outcome: 'skipped',
      });
    } finally {
      await h.close();
    }
  });
});
