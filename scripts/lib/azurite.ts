// Azurite's Table service for tests, the demo and CI: the real Table storage emulator (the `azurite`
// npm package), in memory, bound to 127.0.0.1, with its telemetry off (it phones home otherwise), on a
// free port. The app reaches it through an `AzureWebJobsStorage` connection string, as the Functions
// host does with `UseDevelopmentStorage=true`.
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

/** Azurite's well-known development account (Learn: storage/common/storage-use-azurite#connection-strings). */
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  readonly port: number;
  /** An `AzureWebJobsStorage` value for this Azurite. */
  readonly connectionString: string;
  /** Stops the process (the state is lost: it is in memory). */
  stop(): Promise<void>;
}

/** A connection string for an Azurite Table endpoint on this port (a proxy's, for fault injection). */
export function azuriteConnectionString(port: number): string {
  return (
    `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};` +
    `TableEndpoint=http://127.0.0.1:${port}/${DEV_ACCOUNT};`
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function startAzurite(): Promise<Azurite> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      const child = await spawnAzurite(port);
      return {
        port,
        connectionString: azuriteConnectionString(port),
        stop: () => stopChild(child),
      };
    } catch (error) {
      // Another process took the port between our probe and Azurite's listen: try another.
      if (attempt >= 3) throw error;
    }
  }
}

function spawnAzurite(port: number): Promise<ChildProcess> {
  const main = path.join(path.dirname(require.resolve('azurite/package.json')), 'dist/src/table/main.js');
  const child = spawn(
    process.execPath,
    [
      main,
      '--tableHost',
      '127.0.0.1',
      '--tablePort',
      String(port),
      '--inMemoryPersistence',
      '--disableTelemetry',
      '--skipApiVersionCheck',
      '--silent',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => fail(new Error(`Azurite did not start within 20 s: ${output}`)), 20_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('successfully started')) {
        clearTimeout(timer);
        child.stdout?.removeAllListeners('data');
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child);
      } else if (/EADDRINUSE|error/i.test(output)) fail(new Error(`Azurite: ${output.trim()}`));
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => fail(new Error(`Azurite exited (${code}): ${output.trim()}`)));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill();
  });
}
