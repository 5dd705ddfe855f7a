// The CLI as an operator runs it: a process of its own (bin/acrpull-autopilot.js), its settings pasted
// from `npm run emulator`. Ctrl-C (a real SIGINT) during --apply prints what was already done and
// exits 130; the emulator's printed settings are shell-safe and leave no proxy in the shell.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type Harness, IDENTITY_RG, startHarness } from '../support/harness';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'acrpull-autopilot.js');

interface Child {
  readonly process: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(command: string, args: readonly string[], options: { env: NodeJS.ProcessEnv; cwd?: string }) {
  const child = spawn(command, args, { env: options.env, cwd: options.cwd ?? ROOT, stdio: 'pipe' });
  const result: Child = {
    process: child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout?.on('data', (chunk: Buffer) => {
    result.stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    result.stderr += chunk.toString();
  });
  return result;
}

async function until(what: string, test: () => boolean, child: Child, ms = 45_000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end || child.process.exitCode !== null)
      throw new Error(`${what} did not happen:\nstdout: ${child.stdout}\nstderr: ${child.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the CLI as a process', () => {
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(path.join(tmpdir(), 'acrpull-cli-process-'));
  });
  afterEach(() => {
    rmSync(work, { recursive: true, force: true });
  });

  describe('Ctrl-C during --apply', () => {
    let h: Harness;
    beforeEach(async () => {
      h = await startHarness();
    });
    afterEach(async () => {
      await h.close();
    });

    it('prints what was already done and exits 130', async () => {
      for (let i = 0; i < 3; i++) h.seedVm(`vm-ctrl-c-${i}`, 'contosoapps');
      const ca = path.join(work, 'ca.pem');
      writeFileSync(ca, h.emu.caCertPem);
      const cli = start(process.execPath, [BIN, 'reconcile', '--apply'], {
        env: {
          PATH: process.env.PATH,
          HOME: work,
          NODE_EXTRA_CA_CERTS: ca,
          ACRPULL_ARM_ENDPOINT: h.emu.armEndpoint,
          IDENTITY_ENDPOINT: h.emu.identityEndpoint,
          IDENTITY_HEADER: h.emu.identityHeader,
          AZURE_TOKEN_CREDENTIALS: 'prod',
          ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG,
          ACRPULL_ALLOWED_REGISTRIES: 'contosoapps',
          // The attaches' first poll waits this long: Ctrl-C comes while they are in flight.
          ACRPULL_ATTACH_FIRST_POLL_SECONDS: '20',
        },
      });

      await until('the grant', () => /done: \(shared\): role-assigned contosoapps/.test(cli.stderr), cli);
      const sentAt = Date.now();
      cli.process.kill('SIGINT');
      const exit = await cli.exited;

      expect(exit).toEqual({ code: 130, signal: null });
      expect(Date.now() - sentAt).toBeLessThan(10_000);
      expect(cli.stdout).toMatch(
        /^interrupted: done before Ctrl-C \(2 changes\):\n {2}\(shared\): identity-created contosoapps id-acrpull-contosoapps-eastus\n {2}\(shared\): role-assigned contosoapps id-acrpull-contosoapps-eastus\n$/,
      );
      expect(cli.stderr).toMatch(/interrupted: a request already sent may still complete in Azure/);
      // What it says it did, it did.
      expect(h.emu.listRoleAssignments()).toHaveLength(1);
    }, 60_000);
  });

  it('a credential the token endpoint refuses: exit 1 within seconds of starting, saying how to sign in, once', async () => {
    const h = await startHarness();
    try {
      h.seedVm('vm-no-token', 'contosoapps');
      const ca = path.join(work, 'ca.pem');
      writeFileSync(ca, h.emu.caCertPem);
      const cli = start(process.execPath, [BIN, 'reconcile', '--apply'], {
        env: {
          PATH: process.env.PATH,
          HOME: work,
          NODE_EXTRA_CA_CERTS: ca,
          ACRPULL_ARM_ENDPOINT: h.emu.armEndpoint,
          IDENTITY_ENDPOINT: h.emu.identityEndpoint,
          IDENTITY_HEADER: 'not-the-header',
          // The deployed-credential sources (environment, workload identity, managed identity).
          AZURE_TOKEN_CREDENTIALS: 'prod',
          ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG,
          ACRPULL_ALLOWED_REGISTRIES: 'contosoapps',
        },
      });
      // Timed from its first line (it says what it does, then signs in): Node and ts-node starting
      // are not the credential's time.
      await until('the first line', () => cli.stderr.includes('applying changes'), cli);
      const startedAt = Date.now();
      const exit = await cli.exited;

      expect(exit).toEqual({ code: 1, signal: null });
      expect(Date.now() - startedAt).toBeLessThan(10_000);
      expect(cli.stderr.match(/cannot sign in to Azure Resource Manager/g)).toHaveLength(1);
      expect(cli.stderr).toMatch(/Sign in first: `az login`/);
      expect(cli.stderr.trimEnd().split('\n').length).toBeLessThanOrEqual(5);
      expect(h.emu.totals()).toMatchObject({ reads: 0, writes: 0 });
    } finally {
      await h.close();
    }
  }, 60_000);

  it('`npm run emulator` prints export lines a shell takes as they are, with no proxy; the CLI runs from them', async () => {
    const emulator = start(
      process.execPath,
      [
        path.join(ROOT, 'node_modules', 'ts-node', 'dist', 'bin.js'),
        '--transpile-only',
        path.join(ROOT, 'packages', 'azure-emulator', 'src', 'main.ts'),
      ],
      // Its CA goes to .emulator/ under the working directory: a scratch one.
      { env: { PATH: process.env.PATH, HOME: work }, cwd: work },
    );
    try {
      await until('the emulator', () => emulator.stdout.includes('# Ctrl-C to stop.'), emulator);
      const lines = emulator.stdout.split('\n').filter((l) => /^[A-Za-z_]+=|^export /.test(l));
      expect(lines.every((l) => /^export [A-Z_]+='[^']*'$/.test(l))).toBe(true);
      expect(lines.some((l) => /HTTPS?_PROXY|NO_PROXY/.test(l))).toBe(false);
      const settings = lines.join('\n');

      const sh = promisify(execFile);
      const shell = (script: string) =>
        sh('bash', ['-c', `set -eu\n${settings}\n${script}`], {
          env: { PATH: process.env.PATH, HOME: work },
        });
      const { stdout } = await shell(
        'printenv APPLICATIONINSIGHTS_CONNECTION_STRING; printenv HTTPS_PROXY || echo "no proxy"',
      );
      expect(stdout).toMatch(
        /^InstrumentationKey=[0-9a-f-]+;IngestionEndpoint=https:\/\/127\.0\.0\.1:\d+\/;LiveEndpoint=https:\/\/127\.0\.0\.1:\d+\/\nno proxy\n$/,
      );

      const status = await shell(
        `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} status --output json`,
      );
      expect(JSON.parse(status.stdout)).toMatchObject({
        command: 'status',
        exitCode: 0,
        rows: [
          expect.objectContaining({ registry: 'contosoapps', region: 'westeurope', tagged: 1, toChange: 1 }),
        ],
      });
    } finally {
      emulator.process.kill('SIGINT');
      await emulator.exited;
    }
  }, 90_000);
});
