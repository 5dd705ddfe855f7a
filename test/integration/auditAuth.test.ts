// An audit trail nobody can forge: with local auth disabled on the Application Insights component
// (the emulator's `ingestionAuth: 'entra'`), only telemetry carrying an Entra token is ingested. The
// app's decisions arrive, sent with its managed identity's token; anything sent with the connection
// string alone is refused.
import https from 'node:https';
import { AppInsightsAuditSink, DECISION_EVENT } from '../../src/audit/appInsightsAuditSink';
import { type Harness, startHarness } from '../support/harness';

function postTrack(h: Harness, headers: Record<string, string>): Promise<number> {
  const url = new URL('v2.1/track', h.emu.ingestionEndpoint);
  const body = JSON.stringify([
    {
      name: 'Microsoft.ApplicationInsights.Event',
      time: new Date().toISOString(),
      iKey: h.emu.instrumentationKey,
      data: {
        baseType: 'EventData',
        baseData: { ver: 2, name: DECISION_EVENT, properties: { action: 'forged' } },
      },
    },
  ]);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        ca: h.emu.caCertPem,
        headers: { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('audit events to an Application Insights component with local auth disabled', () => {
  let h: Harness;
  beforeAll(async () => {
    // No egress: statsbeat off; the SDK's settings poll goes to a closed local proxy port.
    process.env.APPLICATION_INSIGHTS_NO_STATSBEAT = 'true';
    process.env.HTTPS_PROXY = 'http://127.0.0.1:9';
    process.env.NO_PROXY = '127.0.0.1,localhost';
    h = await startHarness({ appInsights: true, emulator: { ingestionAuth: 'entra' } });
  });
  afterAll(async () => {
    await h.close();
  });

  it("ingests the app's decisions: sent with its managed identity's token", async () => {
    const vm = h.seedVm('vm-audited', 'contosoapps');

    await h.deliver(vm.id);

    const received = h.emu.customEvents().filter((e) => e.name === DECISION_EVENT);
    expect(received.map((e) => e.properties.action)).toEqual(
      h.audit.records.filter((r) => r.vmId === vm.id).map((r) => r.action),
    );
    expect(received.length).toBeGreaterThanOrEqual(3);
  });

  it('refuses events sent with the connection string alone, through the real SDK too', async () => {
    h.emu.clearTelemetry();
    const keyOnly = new AppInsightsAuditSink(h.emu.connectionString, {
      caCertPem: h.emu.caCertPem,
      disableOfflineStorage: true,
    });
    const tracked = h.emu.counts()['ingestion.track'];

    keyOnly.record({
      action: 'identity-attached',
      outcome: 'changed',
      mode: 'enforce',
      trigger: 'event',
      vmId: '/forged',
    });
    await keyOnly.flush();
    await keyOnly.shutdown();

    expect(h.emu.counts()['ingestion.track']).toBeGreaterThan(tracked);
    expect(h.emu.customEvents()).toEqual([]);
    expect(await postTrack(h, {})).toBe(401);
    expect(await postTrack(h, { authorization: `Bearer ${h.emu.issueToken()}` })).toBe(401); // an ARM token
    expect(h.emu.customEvents()).toEqual([]);
  });
});
