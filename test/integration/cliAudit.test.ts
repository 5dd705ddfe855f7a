// `acrpull-autopilot reconcile --apply` leaves the same audit trail as the app: every decision to
// Application Insights (the emulator's ingestion endpoint, through the real SDK), trigger `cli`,
// attributed to the operator the CLI runs as. Without a connection string it says so before it
// changes anything; a what-if run records nowhere.
import { DECISION_EVENT, SWEEP_EVENT } from '../../src/audit/appInsightsAuditSink';
import { runReconcileCommand } from '../../src/cli/reconcileCommand';
import { type Harness, IDENTITY_RG, startHarness } from '../support/harness';

function cli(h: Harness, env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    run: (...args: string[]) =>
      runReconcileCommand(['reconcile', ...args], {
        out: (line) => out.push(line),
        err: (line) => err.push(line),
        env: {
          ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG,
          ACRPULL_ALLOWED_REGISTRIES: 'contosoapps fabrikamabac',
          ACRPULL_ARM_ENDPOINT: h.emu.armEndpoint,
          ACRPULL_ATTACH_FIRST_POLL_SECONDS: '0.05',
          ...env,
        },
        runtime: { caCertPem: h.emu.caCertPem, pollIntervalMs: 0 },
      }),
  };
}

const decisions = (h: Harness) => h.emu.customEvents().filter((e) => e.name === DECISION_EVENT);

describe('the CLI in the audit trail', () => {
  let h: Harness;
  beforeAll(() => {
    // No egress: statsbeat off; the SDK's settings poll goes to a closed local proxy port.
    process.env.APPLICATION_INSIGHTS_NO_STATSBEAT = 'true';
    process.env.HTTPS_PROXY = 'http://127.0.0.1:9';
    process.env.NO_PROXY = '127.0.0.1,localhost';
  });
  beforeEach(async () => {
    h = await startHarness({ emulator: { ingestionAuth: 'entra' } });
    h.seedVm('vm-cli-a', 'contosoapps');
    h.seedVm('vm-cli-b', 'contosoapps');
    h.seedVm('vm-cli-denied', 'secretregistry');
  });
  afterEach(async () => {
    await h.close();
  });

  it('--apply sends every decision and the sweep summary, trigger cli, caller the operator, with its Entra token', async () => {
    const run = cli(h, { APPLICATIONINSIGHTS_CONNECTION_STRING: h.emu.connectionString });

    expect(await run.run('--apply')).toBe(0);

    const sent = decisions(h);
    expect(sent.map((e) => e.properties.action)).toEqual(
      expect.arrayContaining([
        'identity-created',
        'role-assigned',
        'identity-attached',
        'identity-attached',
        'registry-denied',
      ]),
    );
    // The operator here is the emulator's managed identity: a principal with no sign-in name, so its
    // client id (as the event path falls back to the claims' app id).
    for (const event of sent)
      expect(event.properties).toMatchObject({
        trigger: 'cli',
        mode: 'enforce',
        caller: h.emu.appIdentity.clientId,
      });
    const sweeps = h.emu.customEvents().filter((e) => e.name === SWEEP_EVENT);
    expect(sweeps.map((e) => e.properties)).toEqual([
      expect.objectContaining({ trigger: 'cli', mode: 'enforce', finished: 'true' }),
    ]);
    expect(run.err.join('\n')).not.toMatch(/audit trail/);
  });

  it('--apply --vm records the one target it reconciles', async () => {
    const vm = h.emu.listVms().find((v) => v.name === 'vm-cli-a')?.id ?? '';
    const run = cli(h, { APPLICATIONINSIGHTS_CONNECTION_STRING: h.emu.connectionString });

    expect(await run.run('--apply', '--vm', vm)).toBe(0);

    expect(decisions(h).map((e) => [e.properties.action, e.properties.vmId, e.properties.caller])).toEqual([
      ['identity-created', vm, h.emu.appIdentity.clientId],
      ['role-assigned', vm, h.emu.appIdentity.clientId],
      ['identity-attached', vm, h.emu.appIdentity.clientId],
    ]);
  });

  it('--apply without a connection string says, before any change, that the changes will not be in the audit trail', async () => {
    const run = cli(h);

    expect(await run.run('--apply')).toBe(0);

    // After the line that says what the run does, before the first change it makes.
    expect(run.err[0]).toMatch(/^acrpull-autopilot: applying changes/);
    expect(run.err[1]).toMatch(
      /^acrpull-autopilot: APPLICATIONINSIGHTS_CONNECTION_STRING is not set: the changes this run makes will not be in the audit trail/,
    );
    expect(run.err.findIndex((l) => l.includes('done:'))).toBeGreaterThan(1);
    expect(run.out.at(-1)).toBe('3 VMs: 2 changed, 1 rejected');
    expect(h.emu.totals().telemetry).toBe(0);
  });

  it('what-if records nowhere and says nothing about the trail', async () => {
    const run = cli(h, { APPLICATIONINSIGHTS_CONNECTION_STRING: h.emu.connectionString });

    expect(await run.run()).toBe(0);

    expect(h.emu.totals().telemetry).toBe(0);
    expect(run.err.join('\n')).not.toMatch(/audit trail/);
  });
});
