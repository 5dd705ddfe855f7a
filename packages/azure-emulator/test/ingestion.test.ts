// The Application Insights ingestion endpoint: the real applicationinsights 3.x SDK sends custom
// events to it (trusting the emulator's CA, no egress), and raw requests pin down Breeze's answers:
// gzip and plain bodies, bad JSON, foreign instrumentation keys, partial success, faults.
import { gzipSync } from 'node:zlib';
import { TelemetryClient } from 'applicationinsights';
import { type Emulator, startEmulator } from '../src';
import { rawIngestion } from '../src/testing';
import { type ConnectionSpy, spyOnConnections } from './connectionSpy';

const OTHER_KEY = '11111111-2222-3333-4444-555555555555';

/**
 * What keeps the SDK from reaching beyond loopback (each checked in node_modules and by trying):
 * statsbeat and its Azure VM metadata probe (169.254.169.254) are off only with the legacy switch;
 * the dynamic-settings poll (settings.sdk.monitor.azure.com, 5–15 s after the first exporter) cannot
 * be turned off, but honours the proxy settings, so it goes to a closed local port instead.
 */
const NO_EGRESS = {
  APPLICATION_INSIGHTS_NO_STATSBEAT: 'true',
  HTTPS_PROXY: 'http://127.0.0.1:9',
  NO_PROXY: '127.0.0.1,localhost',
};

interface ExporterExtras {
  retryOptions?: { maxRetries?: number; retryDelayInMs?: number; maxRetryDelayInMs?: number };
}

/**
 * The audit sink's client: isolated providers (no global OpenTelemetry, no auto-instrumentation,
 * no live metrics), the emulator's CA, no offline storage (else a refused batch is written to the
 * temp dir and replayed by a later process with the same key).
 */
function auditClient(emu: Emulator, connectionString = emu.connectionString, extras: ExporterExtras = {}) {
  const client = new TelemetryClient(connectionString, { useGlobalProviders: false });
  // Read at the first track call; replaces the exporter options, so the connection string goes in too.
  client.config.azureMonitorOpenTelemetryOptions = {
    azureMonitorExporterOptions: {
      connectionString,
      tlsOptions: { ca: emu.caCertPem },
      disableOfflineStorage: true,
      ...extras,
    },
  };
  return client;
}

const event = (iKey: string, name: string, extra: Record<string, unknown> = {}) => ({
  name: 'Microsoft.ApplicationInsights.Event',
  time: '2026-01-01T00:00:00.000Z',
  iKey,
  data: { baseType: 'EventData', baseData: { ver: 2, name, ...extra } },
});

let emu: Emulator;
let spy: ConnectionSpy;
const clients: TelemetryClient[] = [];

beforeAll(async () => {
  // Jest gives each test file its own copy of process.env; these stay set for the timers the SDK
  // leaves behind (the dynamic-settings poll fires after this file may have finished).
  Object.assign(process.env, NO_EGRESS);
  spy = spyOnConnections();
  emu = await startEmulator();
});

afterEach(() => {
  emu.clearFaults();
  emu.clearTelemetry();
  emu.resetCounts();
});

afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.shutdown()));
  spy.stop();
  await emu.close();
});

describe('with the real applicationinsights 3.x SDK', () => {
  const track = (client: TelemetryClient, ...args: Parameters<TelemetryClient['trackEvent']>) => {
    if (!clients.includes(client)) clients.push(client);
    client.trackEvent(...args);
  };

  it('delivers a custom event with its properties and measurements on flush', async () => {
    const client = auditClient(emu);

    track(client, {
      name: 'acrpull.decision',
      properties: { vmId: '/subscriptions/s/vm-1', outcome: 'changed' },
      measurements: { durationMs: 42.5 },
    });
    await client.flush();

    expect(emu.customEvents()).toEqual([
      {
        name: 'acrpull.decision',
        time: expect.any(String),
        properties: { vmId: '/subscriptions/s/vm-1', outcome: 'changed' },
        measurements: { durationMs: 42.5 },
      },
    ]);
    const [envelope] = emu.telemetry();
    expect(envelope).toMatchObject({
      name: 'Microsoft.ApplicationInsights.Event',
      iKey: emu.instrumentationKey,
      data: { baseType: 'EventData', baseData: { name: 'acrpull.decision' } },
    });
    expect(emu.totals()).toMatchObject({ telemetry: 1, reads: 0, writes: 0 });
  });

  it('sends property values as strings: numbers, booleans and objects stringified, undefined as "undefined"', async () => {
    const client = auditClient(emu);

    track(client, { name: 'types', properties: { n: 5, b: true, o: { x: 1 }, u: undefined } });
    await client.flush();

    expect(emu.customEvents()[0]?.properties).toEqual({ n: '5', b: 'true', o: '{"x":1}', u: 'undefined' });
  });

  it('retries a 503 in its HTTP pipeline while retries are left', async () => {
    const client = auditClient(emu, undefined, { retryOptions: { maxRetries: 1, retryDelayInMs: 1 } });
    emu.injectFault({ operation: 'ingestion.track', status: 503, code: 'ServiceUnavailable' });

    track(client, { name: 'after-retry' });
    await client.flush();

    expect(emu.counts()['ingestion.track']).toBe(2);
    expect(emu.customEvents().map((e) => e.name)).toEqual(['after-retry']);
  });

  it('drops the batch silently after a 503 when no retry is left and offline storage is off', async () => {
    const client = auditClient(emu, undefined, { retryOptions: { maxRetries: 0 } });
    emu.injectFault({ operation: 'ingestion.track', status: 503, code: 'ServiceUnavailable' });

    track(client, { name: 'lost' });
    await expect(client.flush()).resolves.toBeUndefined();
    track(client, { name: 'next' });
    await client.flush();

    expect(emu.counts()['ingestion.track']).toBe(2);
    expect(emu.customEvents().map((e) => e.name)).toEqual(['next']);
  });

  it('keeps two clients in one process apart, each with its own endpoint and key', async () => {
    const other = await startEmulator({ instrumentationKey: OTHER_KEY });
    try {
      const first = auditClient(emu);
      const second = auditClient(other);

      track(first, { name: 'to-first' });
      track(second, { name: 'to-second' });
      await Promise.all([first.flush(), second.flush()]);
      await first.shutdown();
      track(second, { name: 'after-first-shut-down' });
      await second.flush();

      expect(emu.customEvents().map((e) => e.name)).toEqual(['to-first']);
      expect(other.customEvents().map((e) => e.name)).toEqual(['to-second', 'after-first-shut-down']);
      expect(other.telemetry()[0]?.iKey).toBe(OTHER_KEY);
    } finally {
      await other.close();
    }
  });

  it('has its batch refused when the connection string names another key', async () => {
    const foreign = emu.connectionString.replace(emu.instrumentationKey, OTHER_KEY);
    const client = auditClient(emu, foreign);

    track(client, { name: 'wrong-resource' });
    await client.flush();

    expect(emu.counts()['ingestion.track']).toBe(1);
    expect(emu.telemetry()).toEqual([]);
  });

  it('made no connection beyond loopback (the dynamic-settings poll goes to the closed proxy port)', () => {
    expect(spy.targets.length).toBeGreaterThan(0);
    expect(spy.nonLoopback()).toEqual([]);
  });
});

describe('Breeze answers (raw requests)', () => {
  const post = (body: string | Buffer, headers: Record<string, string> = {}, path = '/v2.1/track') =>
    rawIngestion(emu, 'POST', path, { body, headers: { 'Content-Type': 'application/json', ...headers } });
  const key = () => emu.instrumentationKey;

  it('accepts a plain JSON array without a token: 200 with the counts', async () => {
    const res = await post(JSON.stringify([event(key(), 'a'), event(key(), 'b')]));

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ itemsReceived: 2, itemsAccepted: 2, appId: null, errors: [] });
    expect(emu.customEvents().map((e) => e.name)).toEqual(['a', 'b']);
  });

  it('accepts a gzip body and newline-delimited JSON (the classic SDK) on /v2/track', async () => {
    const ndjson = [event(key(), 'one'), event(key(), 'two')].map((e) => JSON.stringify(e)).join('\n');

    const res = await post(gzipSync(ndjson), { 'Content-Encoding': 'gzip' }, '/v2/track');

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ itemsReceived: 2, itemsAccepted: 2 });
    expect(emu.telemetry()).toEqual([event(key(), 'one'), event(key(), 'two')]);
  });

  it('refuses a body that is not JSON with 400 and stores nothing', async () => {
    const res = await post('[{"name": ');

    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      itemsReceived: 0,
      itemsAccepted: 0,
      errors: [{ index: 0, statusCode: 400, message: expect.stringContaining('not valid JSON') }],
    });
    expect(emu.telemetry()).toEqual([]);
    expect(emu.counts()['ingestion.track']).toBe(1);
  });

  it('refuses bodies it cannot read: broken gzip, other encodings, no items', async () => {
    const broken = await post('not gzip', { 'Content-Encoding': 'gzip' });
    const brotli = await post('[]', { 'Content-Encoding': 'br' });
    const empty = await post('[]');

    expect([broken.status, brotli.status, empty.status]).toEqual([400, 400, 400]);
    expect(brotli.body).toMatchObject({ errors: [{ message: expect.stringContaining("'br'") }] });
  });

  it('answers 206 with the foreign-key items listed when only some items carry its key', async () => {
    const res = await post(JSON.stringify([event(key(), 'mine'), event(OTHER_KEY, 'statsbeat-like')]));

    expect(res.status).toBe(206);
    expect(res.body).toEqual({
      itemsReceived: 2,
      itemsAccepted: 1,
      appId: null,
      errors: [{ index: 1, statusCode: 400, message: 'Invalid instrumentation key' }],
    });
    expect(emu.customEvents().map((e) => e.name)).toEqual(['mine']);
  });

  it('answers "400 Invalid instrumentation key" when no item carries its key', async () => {
    const res = await post(JSON.stringify([event(OTHER_KEY, 'x')]));

    expect([res.status, res.statusMessage]).toEqual([400, 'Invalid instrumentation key']);
    expect(res.body).toEqual({
      itemsReceived: 1,
      itemsAccepted: 0,
      errors: [{ index: 0, statusCode: 400, message: 'Invalid instrumentation key' }],
    });
  });

  it('refuses items without the required envelope fields, in Breeze’s words', async () => {
    const { time: _, ...timeless } = event(key(), 'x');
    const badProperties = event(key(), 'y', { properties: { n: 1 } });

    const res = await post(JSON.stringify([timeless, badProperties, 'text']));

    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      errors: [
        {
          index: 0,
          message:
            "109: Field 'time' on type 'Envelope' is required but missing or empty. Expected: string, Actual: undefined",
        },
        { index: 1, message: expect.stringContaining("'properties' on type 'EventData'") },
        { index: 2, message: expect.stringContaining('JSON object') },
      ],
    });
  });

  it('keeps other telemetry types in telemetry() but out of customEvents()', async () => {
    const metric = {
      name: 'Microsoft.ApplicationInsights.Metric',
      time: '2026-01-01T00:00:00.000Z',
      iKey: key(),
      data: { baseType: 'MetricData', baseData: { metrics: [{ name: 'Item_Success_Count', value: 1 }] } },
    };

    await post(JSON.stringify([metric, event(key(), 'audit')]));

    expect(emu.telemetry()).toHaveLength(2);
    expect(emu.customEvents().map((e) => e.name)).toEqual(['audit']);
  });

  it('answers live-metrics pings "not subscribed", counted apart and never stored', async () => {
    const res = await rawIngestion(emu, 'POST', `/QuickPulseService.svc/ping?ikey=${key()}`, { body: '{}' });

    expect(res.status).toBe(200);
    expect(res.headers['x-ms-qps-subscribed']).toBe('false');
    expect(emu.counts()['ingestion.liveMetrics']).toBe(1);
    expect(emu.totals().telemetry).toBe(0);
    expect(emu.telemetry()).toEqual([]);
  });

  it('answers 404 elsewhere and 405 to other methods', async () => {
    const elsewhere = await rawIngestion(emu, 'POST', '/v2/other', { body: '[]' });
    const get = await rawIngestion(emu, 'GET', '/v2.1/track');

    expect([elsewhere.status, get.status]).toEqual([404, 405]);
    expect(get.headers.allow).toBe('POST');
  });

  it('answers an injected 503 with Retry-After and every item refused, then accepts again', async () => {
    emu.injectFault({
      operation: 'ingestion.track',
      status: 503,
      code: 'ServiceUnavailable',
      retryAfterSeconds: 2,
    });
    const body = JSON.stringify([event(key(), 'a'), event(key(), 'b')]);

    const faulted = await post(body);
    const next = await post(body);

    expect(faulted.status).toBe(503);
    expect(faulted.headers['retry-after']).toBe('2');
    expect(faulted.body).toMatchObject({
      itemsReceived: 2,
      itemsAccepted: 0,
      errors: [
        { index: 0, statusCode: 503 },
        { index: 1, statusCode: 503 },
      ],
    });
    expect(next.status).toBe(200);
    expect(emu.customEvents()).toHaveLength(2);
  });

  it('drops the connection on a reset fault', async () => {
    emu.injectFault({ operation: 'ingestion.track', status: 503, code: 'x', kind: 'reset' });

    await expect(post(JSON.stringify([event(key(), 'a')]))).rejects.toThrow();
    expect(emu.telemetry()).toEqual([]);
  });

  it('counts telemetry apart from ARM reads and writes', async () => {
    await post(JSON.stringify([event(key(), 'a')]));

    expect(emu.totals()).toEqual({ reads: 0, writes: 0, polls: 0, tokens: 0, telemetry: 1 });
  });

  it('publishes its endpoint, key and connection string', () => {
    expect(emu.ingestionEndpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    expect(emu.instrumentationKey).toBe('00000000-0000-0000-0000-000000000000');
    expect(emu.connectionString).toBe(
      `InstrumentationKey=${emu.instrumentationKey};IngestionEndpoint=${emu.ingestionEndpoint};LiveEndpoint=${emu.ingestionEndpoint}`,
    );
  });

  it('refuses an instrumentation key that is not a GUID', async () => {
    await expect(startEmulator({ instrumentationKey: 'not-a-key' })).rejects.toThrow(/not a GUID/);
  });
});
