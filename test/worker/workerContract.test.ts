// The app as the Functions Node worker runs it: built with the project's build step, loaded through
// package.json `main` by a stand-in for the worker (test/worker/functionsWorker.js) that injects
// `@azure/functions-core`, and invoked through the library's own invocation model with the worker's
// RPC shapes, against the emulator. A wrong `main` glob, a missing build step or a binding mistake
// fails here.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Emulator, startEmulator } from '@acrpull/azure-emulator';

const ROOT = path.resolve(__dirname, '..', '..');
const SUB = '11111111-1111-1111-1111-111111111111';
const WORKER = path.join(__dirname, 'functionsWorker.js');

interface WorkerOutput {
  registered: {
    name: string;
    bindings: Record<string, { type: string; direction: string; schedule?: string }>;
  }[];
  files: string[];
  results: { response?: { invocationId: string }; error?: string }[];
}

let emu: Emulator;
let caDir: string;
let env: NodeJS.ProcessEnv;

/** The worker stand-in in a child process (asynchronously: the emulator answers from this one). */
function runWorker(
  invocations: unknown[],
  extraArgs: string[] = [],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, ROOT, ...extraArgs], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill(), 50_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin.end(JSON.stringify(invocations));
  });
}

/** The stand-in's result line, among the app's own output (its audit log lines). */
function resultOf(stdout: string): WorkerOutput {
  const line = stdout.split('\n').find((l) => l.startsWith('functions-worker-result '));
  if (!line) throw new Error(`the worker stand-in printed no result: ${stdout.slice(0, 500)}`);
  return JSON.parse(line.slice('functions-worker-result '.length)) as WorkerOutput;
}

const vmId = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Compute/virtualMachines/${name}`;
const attached = (name: string) => Object.keys(emu.getVm(vmId(name))?.identity?.userAssignedIdentities ?? {});

beforeAll(async () => {
  // The project's build step, as `npm start` and the deployment run it.
  execFileSync(
    process.execPath,
    [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: ROOT,
      stdio: 'pipe',
    },
  );
  emu = await startEmulator({ operationDurationMs: 20 });
  emu.seedResourceGroup(SUB, 'rg-identities', 'eastus');
  emu.seedRegistry({ subscriptionId: SUB, resourceGroup: 'rg-registries', name: 'contosoapps' });
  for (const name of ['vm-eg', 'vm-cloudevents'])
    emu.seedVm({
      subscriptionId: SUB,
      resourceGroup: 'rg-apps',
      name,
      location: 'eastus',
      tags: { acrPull: 'contosoapps' },
    });
  caDir = mkdtempSync(path.join(tmpdir(), 'acrpull-worker-'));
  writeFileSync(path.join(caDir, 'ca.pem'), emu.caCertPem);
  env = {
    PATH: process.env.PATH,
    NODE_EXTRA_CA_CERTS: path.join(caDir, 'ca.pem'),
    IDENTITY_ENDPOINT: emu.identityEndpoint,
    IDENTITY_HEADER: emu.identityHeader,
    ACRPULL_MODE: 'enforce',
    ACRPULL_IDENTITY_RESOURCE_GROUP: `/subscriptions/${SUB}/resourceGroups/rg-identities`,
    ACRPULL_ALLOWED_REGISTRIES: 'contosoapps',
    ACRPULL_ARM_ENDPOINT: emu.armEndpoint,
    ACRPULL_ATTACH_FIRST_POLL_SECONDS: '0.05',
    ACRPULL_RECONCILE_SCHEDULE: '0 */15 * * * *',
  };
}, 120_000);

afterAll(async () => {
  await emu?.close();
  if (caDir) rmSync(caDir, { recursive: true, force: true });
});

describe('the app under the Functions worker', () => {
  it('registers an Event Grid trigger and a timer on %ACRPULL_RECONCILE_SCHEDULE% from the files main names', async () => {
    const run = await runWorker([]);

    expect([run.status, run.stderr]).toEqual([0, expect.not.stringMatching(/functions worker stand-in/)]);
    const out = resultOf(run.stdout);
    expect(out.files.sort()).toEqual([
      'dist/src/functions/reconcileSweep.js',
      'dist/src/functions/vmWriteEvent.js',
    ]);
    const byName = Object.fromEntries(out.registered.map((f) => [f.name, Object.values(f.bindings)]));
    expect(byName.vmWriteEvent).toEqual([
      expect.objectContaining({ type: 'eventGridTrigger', direction: 'in' }),
    ]);
    expect(byName.reconcileSweep).toEqual([
      expect.objectContaining({
        type: 'timerTrigger',
        direction: 'in',
        schedule: '%ACRPULL_RECONCILE_SCHEDULE%',
      }),
    ]);
  }, 60_000);

  it('handles events in the Event Grid and CloudEvents schemas and the timer payload, as typed JSON data', async () => {
    const eventGrid = {
      id: 'evt-worker-1',
      topic: `/subscriptions/${SUB}`,
      subject: vmId('vm-eg'),
      eventType: 'Microsoft.Resources.ResourceWriteSuccess',
      eventTime: new Date().toISOString(),
      dataVersion: '2',
      metadataVersion: '1',
      data: { operationName: 'Microsoft.Compute/virtualMachines/write', resourceUri: vmId('vm-eg') },
    };
    const cloudEvent = {
      specversion: '1.0',
      id: 'evt-worker-2',
      source: `/subscriptions/${SUB}`,
      subject: vmId('vm-cloudevents'),
      type: 'Microsoft.Resources.ResourceWriteSuccess',
      time: new Date().toISOString(),
      data: { operationName: 'Microsoft.Compute/virtualMachines/write', resourceUri: vmId('vm-cloudevents') },
    };
    // The host hands the timer as PascalCase JSON; the library camel-cases it.
    const timer = { Schedule: { AdjustForDST: true }, ScheduleStatus: null, IsPastDue: false };

    const run = await runWorker([
      { function: 'vmWriteEvent', data: { json: JSON.stringify(eventGrid) } },
      { function: 'vmWriteEvent', data: { json: JSON.stringify(cloudEvent) } },
      { function: 'reconcileSweep', data: { json: JSON.stringify(timer) } },
    ]);

    expect(run.status).toBe(0);
    const out = resultOf(run.stdout);
    expect(out.results.map((r) => r.error)).toEqual([undefined, undefined, undefined]);
    expect(out.results.map((r) => r.response?.invocationId)).toEqual([
      'invocation-0',
      'invocation-1',
      'invocation-2',
    ]);
    expect(attached('vm-eg')).toHaveLength(1);
    expect(attached('vm-cloudevents')).toHaveLength(1);
    // Without Application Insights the audit goes to the function log, one line per decision.
    expect(run.stdout).toMatch(/acrpull-audit \{.*"action":"identity-attached"/);
    expect(run.stdout).toMatch(/acrpull-sweep \{/);
  }, 60_000);

  it('fails when main points at no file', async () => {
    const run = await runWorker([], ['--main', 'dist/src/function/*.js']);

    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/main "dist\/src\/function\/\*\.js" matches no file/);
  }, 60_000);
});
