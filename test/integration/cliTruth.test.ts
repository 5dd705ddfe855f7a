// The CLI tells the truth (issue 21): a subscription it cannot see is an error naming it (exit 1),
// never an empty fleet, and no pass that missed part of the fleet reports an identity as unused; a
// shared step that failed exits 1; every command speaks JSON; the IMDS-default warning is shown;
// without a credential it says how to sign in within seconds. Against the emulator, real SDK clients.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runDoctorCommand } from '../../src/cli/doctorCommand';
import { keepSdkLocal } from '../../src/cli/localEgress';
import { runReconcileCommand } from '../../src/cli/reconcileCommand';
import { runResetCommand } from '../../src/cli/resetCommand';
import { runStatusCommand } from '../../src/cli/statusCommand';
import { fleet } from '../support/fleet';
import { type Harness, IDENTITY_RG, identityId, OTHER_SUB, SUB, startHarness } from '../support/harness';

const TYPO = '33333333-3333-3333-3333-333333333333';

function cli(h: Harness, env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    out: (line: string) => out.push(line),
    err: (line: string) => err.push(line),
    env: {
      ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG,
      ACRPULL_ALLOWED_REGISTRIES: 'contosoapps fabrikamabac',
      ACRPULL_ARM_ENDPOINT: h.emu.armEndpoint,
      ACRPULL_ATTACH_FIRST_POLL_SECONDS: '0.05',
      ...env,
    },
    // The harness's credential: the emulator's managed-identity endpoint (DefaultAzureCredential's
    // chain otherwise, read from process.env when the command starts).
    runtime: { caCertPem: h.emu.caCertPem, pollIntervalMs: 0 },
  };
  return {
    out,
    err,
    io,
    text: () => out.join('\n'),
    json: () => JSON.parse(out.join('\n')),
    reconcile: (...args: string[]) => runReconcileCommand(['reconcile', ...args], io),
    status: (...args: string[]) => runStatusCommand(['status', ...args], io),
  };
}

describe('the CLI tells the truth', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  describe('a subscription it cannot see', () => {
    it('--subscription mistyped: exit 1 naming it, nothing read or written, no empty fleet', async () => {
      h.seedVm('vm-typo', 'contosoapps');
      for (const command of ['reconcile', 'reconcile --apply', 'status']) {
        const run = cli(h);
        h.emu.resetCounts();
        const [name, ...flags] = command.split(' ');
        const code =
          name === 'status'
            ? await run.status('--subscription', TYPO)
            : await run.reconcile(...flags, '--subscription', TYPO);
        expect({ command, code }).toEqual({ command, code: 1 });
        expect(run.err.join('\n')).toContain(`subscription ${TYPO} not found or not accessible`);
        expect(run.text()).not.toMatch(/0 VMs|tagged target/);
        expect(h.emu.counts()['graph.query']).toBe(0);
        expect(h.emu.totals().writes).toBe(0);
      }
    });

    it('one of several mistyped: exit 1 before anything is changed', async () => {
      h.seedVm('vm-partial', 'contosoapps');
      const run = cli(h);
      expect(await run.reconcile('--apply', '--subscription', SUB, '--subscription', TYPO)).toBe(1);
      expect(run.err.join('\n')).toContain(TYPO);
      expect(h.emu.totals().writes).toBe(0);
    });

    it("the sweep (the app's timer too) reports it, sweeps the rest, and flags no identity unused from the partial view", async () => {
      await h.close();
      h = await startHarness({ env: { ACRPULL_SUBSCRIPTIONS: `${TYPO},${OTHER_SUB}` } });
      h.emu.seedResourceGroup(OTHER_SUB, 'rg-apps', 'eastus');
      // The app's pull identity, held by a VM in SUB: a subscription this sweep was not told to look at
      // (by design not its view), and the mistyped one it was told to look at (its view is partial).
      const f = fleet(h.emu);
      const pull = f.appPullIdentity('contosoapps', 'eastus');
      f.pullGrant('contosoapps', pull);
      f.vm('vm-holder', { tag: 'contosoapps', identities: [pull] });
      fleet(h.emu, { subscriptionId: OTHER_SUB }).vm('vm-other', { tag: 'contosoapps' });

      const result = await h.sweep();

      expect(result.summary).toMatchObject({ finished: false, subscriptions: 1, vmsScanned: 1 });
      expect(result.summary.reason).toContain(`subscription ${TYPO} not found or not accessible`);
      expect(h.audit.records.filter((r) => r.action === 'identity-unused')).toEqual([]);
    });

    it('a subscription that exists and holds nothing is an empty fleet, exit 0', async () => {
      h.emu.seedResourceGroup(OTHER_SUB, 'rg-empty', 'eastus');
      const run = cli(h);
      expect(await run.reconcile('--subscription', OTHER_SUB)).toBe(0);
      expect(run.out.at(-1)).toMatch(/^0 VMs/);
    });
  });

  it('a shared step that failed exits 1 (the findings could not list the identity resource group)', async () => {
    h.seedVm('vm-shared', 'contosoapps');
    expect(await cli(h).reconcile('--apply')).toBe(0);
    h.emu.injectFault({ operation: 'identity.list', status: 403, code: 'AuthorizationFailed', count: 100 });

    const run = cli(h);
    expect(await run.reconcile()).toBe(1);
    expect(run.text()).toMatch(/\(shared\)\s+failed\s+failed/);
    expect(run.out.at(-1)).toMatch(/^1 VMs: 1 compliant/);

    const json = cli(h);
    expect(await json.reconcile('--output', 'json')).toBe(1);
    expect(json.json()).toMatchObject({
      exitCode: 1,
      shared: expect.arrayContaining([expect.objectContaining({ outcome: 'failed' })]),
    });
  });

  describe('--output json on every command', () => {
    it('reconcile: what-if and --apply, one document on stdout', async () => {
      const vm = h.seedVm('vm-json', 'contosoapps');
      h.seedVm('vm-json-denied', 'secretregistry');

      const whatIf = cli(h);
      expect(await whatIf.reconcile('--output', 'json')).toBe(0);
      const planned = whatIf.json();
      expect(planned).toMatchObject({ command: 'reconcile', mode: 'what-if', exitCode: 0, errors: [] });
      expect(planned.counts).toEqual({ planned: 1, rejected: 1 });
      expect(planned.targets).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            id: vm.id,
            outcome: 'planned',
            plan: [
              { step: 'ensure-pair', registry: 'contosoapps' },
              expect.objectContaining({ step: 'attach' }),
            ],
          }),
        ]),
      );
      expect(planned.changesMade).toEqual([]);

      const applied = cli(h);
      expect(await applied.reconcile('--apply', '-o', 'json')).toBe(0);
      const doc = applied.json();
      expect(doc).toMatchObject({ mode: 'apply', counts: { changed: 1, rejected: 1 } });
      expect(doc.changesMade.map((r: { action: string }) => r.action).sort()).toEqual([
        'identity-attached',
        'identity-created',
        'role-assigned',
      ]);
      expect(doc.sweep).toMatchObject({ finished: true, vmsScanned: 2 });
    });

    it('status and doctor', async () => {
      const vm = h.seedVm('vm-json-status', 'contosoapps');
      const status = cli(h);
      expect(await status.status('--output', 'json')).toBe(0);
      expect(status.json()).toMatchObject({
        command: 'status',
        exitCode: 0,
        rows: [
          expect.objectContaining({ registry: 'contosoapps', region: 'eastus', tagged: 1, toChange: 1 }),
        ],
      });

      const doctor = cli(h);
      expect(await runDoctorCommand(['doctor', vm.id, '--output', 'json'], doctor.io)).toBe(1);
      expect(doctor.json()).toMatchObject({ target: vm.id, verdict: 'cannot-pull' });
      const missing = cli(h);
      const gone = vm.id.replace('vm-json-status', 'vm-nowhere');
      expect(await runDoctorCommand(['doctor', gone, '--output', 'json'], missing.io)).toBe(2);
      expect(missing.json()).toMatchObject({
        target: gone,
        verdict: 'unknown',
        error: `${gone} was not found`,
      });
    });

    it('reset: the document says what it did, or why not', async () => {
      const vm = h.seedVm('vm-json-reset', 'contosoapps');
      const out: string[] = [];
      const io = {
        out: (l: string) => out.push(l),
        err: () => {},
        // A store that does not answer: a closed port.
        env: {
          AzureWebJobsStorage:
            'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;',
        },
      };
      expect(await runResetCommand(['reset', vm.id, '--output', 'json'], io)).toBe(1);
      expect(JSON.parse(out.join('\n'))).toMatchObject({
        command: 'reset',
        target: vm.id,
        exitCode: 1,
        error: expect.stringContaining(`reset of ${vm.id} failed`),
      });
    });
  });

  describe('the IMDS-default warning', () => {
    const env = { ACRPULL_SINGLE_IDENTITY_VMS: 'attach' };
    const WARNING =
      /WARNING: IMDS token requests without a client id now fail on this VM: its only identity was id-vm-owned/;

    it('is in the what-if table, in the --apply table and in the change --apply prints as it makes it', async () => {
      const f = fleet(h.emu);
      const vm = f.vm('vm-owned', { tag: 'contosoapps', identities: [f.identity('id-vm-owned')] });

      const whatIf = cli(h, env);
      expect(await whatIf.reconcile()).toBe(0);
      expect(whatIf.text()).toMatch(/vm-owned\s+planned\s+contosoapps\s+identity-attached \(would\)/);
      expect(whatIf.text()).toMatch(WARNING);

      const applied = cli(h, env);
      expect(await applied.reconcile('--apply', '--output', 'json')).toBe(0);
      expect(applied.json().warnings).toEqual([
        expect.objectContaining({
          registry: 'contosoapps',
          warning: expect.stringMatching(/^IMDS token requests/),
        }),
      ]);
      expect(applied.err.join('\n')).toMatch(
        /done: vm-owned: identity-attached contosoapps id-acrpull-contosoapps-eastus \(warning: IMDS token requests without a client id now fail/,
      );
      expect(
        Object.keys(h.emu.getVm(vm.id)?.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase()),
      ).toContain(identityId('contosoapps', 'eastus').toLowerCase());
    });
  });

  describe('signing in', () => {
    const saved = { ...process.env };
    let home: string;
    beforeEach(() => {
      home = mkdtempSync(path.join(tmpdir(), 'acrpull-cli-home-'));
      // Whatever the chain reaches for stays on this machine: no Azure CLI login, no IMDS.
      process.env.HOME = home;
      process.env.AZURE_CONFIG_DIR = path.join(home, '.azure');
    });
    afterEach(() => {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
      rmSync(home, { recursive: true, force: true });
    });

    /** Runs with DefaultAzureCredential (no credential handed in), as from a shell. */
    async function timed(run: () => Promise<number>) {
      const started = Date.now();
      const code = await run();
      return { code, ms: Date.now() - started };
    }

    it('no credential at all (a developer machine, not signed in): status and doctor say so in seconds', async () => {
      for (const key of ['IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'MSI_ENDPOINT', 'MSI_SECRET'])
        delete process.env[key];
      // Developer sources only (Azure CLI, PowerShell, azd, VS Code), none of them installed: nothing
      // reaches for IMDS, and no tool's first start is timed.
      process.env.AZURE_TOKEN_CREDENTIALS = 'dev';
      process.env.PATH = path.dirname(process.execPath);
      const vm = h.seedVm('vm-nobody', 'contosoapps');

      const status = cli(h);
      const looked = await timed(() =>
        runStatusCommand(['status', '--output', 'json'], {
          ...status.io,
          runtime: { caCertPem: h.emu.caCertPem },
        }),
      );
      expect({ code: looked.code, fast: looked.ms < 10_000 }).toEqual({ code: 1, fast: true });
      expect(status.json().errors[0]).toMatch(/cannot sign in[\s\S]*`az login`/);

      const doctor = cli(h);
      const diagnosed = await timed(() =>
        runDoctorCommand(['doctor', vm.id], { ...doctor.io, runtime: { caCertPem: h.emu.caCertPem } }),
      );
      expect({ code: diagnosed.code, fast: diagnosed.ms < 10_000 }).toEqual({ code: 2, fast: true });
      expect(doctor.err.join('\n')).toMatch(/`az login`/);
      expect(h.emu.totals().reads).toBe(0);
    });
  });
});

describe("the emulator's dead proxy stays in the CLI's own process", () => {
  const local = {
    ACRPULL_ARM_ENDPOINT: 'https://127.0.0.1:4443',
    APPLICATIONINSIGHTS_CONNECTION_STRING:
      'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://127.0.0.1:4444/;LiveEndpoint=https://127.0.0.1:4444/',
  };

  it('ARM and ingestion on loopback (the emulator): the SDK side channels go to a closed local port', () => {
    const env: Record<string, string | undefined> = { ...local, NO_PROXY: 'corp.example' };
    expect(keepSdkLocal(env)).toBe(true);
    expect(env).toMatchObject({
      HTTPS_PROXY: 'http://127.0.0.1:9',
      NO_PROXY: 'corp.example,127.0.0.1,localhost',
      APPLICATION_INSIGHTS_NO_STATSBEAT: 'true',
    });
  });

  it.each([
    ['real Azure', { ...local, ACRPULL_ARM_ENDPOINT: 'https://management.azure.com' }],
    [
      'a real Application Insights',
      {
        ...local,
        APPLICATIONINSIGHTS_CONNECTION_STRING:
          'InstrumentationKey=x;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/',
      },
    ],
    ['no audit trail', { ACRPULL_ARM_ENDPOINT: local.ACRPULL_ARM_ENDPOINT }],
  ])('%s: the environment is left alone', (_, given) => {
    const env: Record<string, string | undefined> = { ...given };
    expect(keepSdkLocal(env)).toBe(false);
    expect(env).toEqual(given);
  });
});
