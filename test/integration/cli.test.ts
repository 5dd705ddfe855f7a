// The operator CLI against the emulator: what-if first, then apply; exit codes tell success.
import { runReconcileCommand } from '../../src/cli/reconcileCommand';
import { type Harness, IDENTITY_RG, startHarness } from '../support/harness';

function io(h: Harness) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      out: (line: string) => out.push(line),
      err: (line: string) => err.push(line),
      env: {
        ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG,
        ACRPULL_ALLOWED_REGISTRIES: 'contosoapps fabrikamabac',
        ACRPULL_ARM_ENDPOINT: h.emu.armEndpoint,
        IDENTITY_ENDPOINT: h.emu.identityEndpoint,
        IDENTITY_HEADER: h.emu.identityHeader,
      },
      runtime: { caCertPem: h.emu.caCertPem, pollIntervalMs: 0 },
    },
  };
}

describe('acrpull-autopilot reconcile', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
    for (let i = 0; i < 3; i++) {
      h.seedVm(`vm-cli-${i}`, 'contosoapps');
    }
    h.seedVm('vm-cli-denied', 'secretregistry');
  });
  afterEach(async () => {
    await h.close();
  });

  it('what-if (the default) reports the plan and writes nothing', async () => {
    const run = io(h);
    const code = await runReconcileCommand(['reconcile'], run.io);
    expect(code).toBe(0);
    expect(h.emu.totals().writes).toBe(0);
    const table = run.out.join('\n');
    expect(table).toMatch(/vm-cli-0\s+planned\s+contosoapps\s+identity-attached \(would\)/);
    expect(table).toMatch(/\(shared\)\s+planned\s+contosoapps\s+identity-created \(would\)/);
    expect(table).toMatch(/vm-cli-denied\s+rejected\s+secretregistry\s+registry-denied/);
    // The steps --apply would execute, for each target the sweep reconciles (the denied one needs none).
    const plan = run.out.slice(run.out.indexOf('plan (what --apply would execute):') + 1, -2);
    expect([...plan].sort()).toEqual([0, 1, 2].map((i) => `  vm-cli-${i}: ensure-pair contosoapps, attach`));
    expect(run.out.at(-1)).toBe(
      '4 VMs: 3 planned, 1 rejected (what-if: nothing was changed; run with --apply to make the changes)',
    );
    expect(run.err.join('\n')).toMatch(/what-if: nothing will be changed/);
    expect(run.err.join('\n')).toMatch(/4\/4 VMs/);
  });

  it('--apply makes the changes, then a second run has nothing to change', async () => {
    const first = io(h);
    expect(await runReconcileCommand(['reconcile', '--apply'], first.io)).toBe(0);
    expect(first.out.at(-1)).toBe('4 VMs: 3 changed, 1 rejected');
    expect(
      h.emu.listVms().filter((vm) => Object.keys(vm.identity?.userAssignedIdentities ?? {}).length === 1),
    ).toHaveLength(3);

    const second = io(h);
    expect(await runReconcileCommand(['reconcile', '--apply'], second.io)).toBe(0);
    expect(second.out.at(-1)).toBe('4 VMs: 3 compliant, 1 rejected');
    expect(h.audit.records).toEqual([]); // the CLI keeps its own records, not the app's sink
  });

  it('--vm reconciles only that VM, without a sweep', async () => {
    const vmId = h.emu.listVms().find((vm) => vm.name === 'vm-cli-1')?.id ?? '';
    const run = io(h);
    expect(await runReconcileCommand(['reconcile', '--apply', '--vm', vmId], run.io)).toBe(0);
    expect(run.out.at(-1)).toBe('1 VMs: 1 changed');
    expect(h.emu.counts()['graph.query']).toBe(0);
    expect(h.emu.counts()['vm.patch']).toBe(1);
  });

  it('--vm checks the whole chain: a grant deleted under an attached identity is reported, then made again', async () => {
    const vmId = h.emu.listVms().find((vm) => vm.name === 'vm-cli-2')?.id ?? '';
    expect(await runReconcileCommand(['reconcile', '--apply', '--vm', vmId], io(h).io)).toBe(0);
    const grant = h.emu.listRoleAssignments()[0];
    h.emu.deleteRoleAssignment(grant?.id ?? '');

    const whatIf = io(h);
    expect(await runReconcileCommand(['reconcile', '--vm', vmId], whatIf.io)).toBe(0);
    const applied = io(h);
    expect(await runReconcileCommand(['reconcile', '--apply', '--vm', vmId], applied.io)).toBe(0);
    const again = io(h);
    expect(await runReconcileCommand(['reconcile', '--vm', vmId], again.io)).toBe(0);

    expect(whatIf.out.join('\n')).toMatch(/vm-cli-2\s+planned\s+contosoapps\s+role-assigned \(would\)/);
    expect(whatIf.out.at(-1)).toBe(
      '1 VMs: 1 planned (what-if: nothing was changed; run with --apply to make the changes)',
    );
    expect(applied.out.at(-1)).toBe('1 VMs: 1 changed');
    expect(h.emu.listRoleAssignments()).toHaveLength(1);
    expect(again.out.at(-1)).toBe(
      '1 VMs: 1 compliant (what-if: nothing was changed; run with --apply to make the changes)',
    );
  });

  it('--subscription limits the sweep', async () => {
    h.emu.seedResourceGroup('22222222-2222-2222-2222-222222222222', 'rg-empty', 'eastus');
    const run = io(h);
    expect(
      await runReconcileCommand(
        ['reconcile', '--subscription', '22222222-2222-2222-2222-222222222222'],
        run.io,
      ),
    ).toBe(0);
    expect(run.out.at(-1)).toMatch(/^0 VMs/);
  });

  it('exits 1 when anything failed', async () => {
    h.emu.injectFault({ operation: 'identity.put', status: 403, code: 'AuthorizationFailed' });
    const run = io(h);
    expect(await runReconcileCommand(['reconcile', '--apply'], run.io)).toBe(1);
    expect(run.out.join('\n')).toMatch(/failed/);
  });

  it.each([
    [['reconcile', '--apply', '--what-if'], /choose one of --what-if and --apply/],
    [['deploy'], /unknown command "deploy"/],
    [['reconcile', '--vm', '/subscriptions/x'], /is not a virtual machine or scale set resource id/],
    [['reconcile', '--bogus'], /Unknown option '--bogus'/],
  ])('exits 2 on bad usage: %j', async (argv, message) => {
    const run = io(h);
    expect(await runReconcileCommand(argv, run.io)).toBe(2);
    expect(run.err.join('\n')).toMatch(message);
    expect(h.emu.totals().reads).toBe(0);
  });

  it('exits 2 naming the variable when a setting is missing', async () => {
    const run = io(h);
    const { ACRPULL_IDENTITY_RESOURCE_GROUP: _omit, ...env } = run.io.env;
    expect(await runReconcileCommand(['reconcile'], { ...run.io, env })).toBe(2);
    expect(run.err[0]).toMatch(/ACRPULL_IDENTITY_RESOURCE_GROUP: is required/);
  });
});
