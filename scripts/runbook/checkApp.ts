// After the manual runbook (scripts/runbook/run.sh): delivers the VM's write event to the app, against
// the same standalone emulator (`npm run emulator`), and checks that the app finds the VM compliant
// with one ARM read and no write: the runbook's identity, named to the app in
// ACRPULL_IDENTITY_OVERRIDES, is attached, so nothing is left to do. Settings come from the
// environment: the lines `npm run emulator` prints, plus ACRPULL_IDENTITY_OVERRIDES.
// Usage: ts-node --transpile-only scripts/runbook/checkApp.ts <VM resource id>
import { readFileSync } from 'node:fs';
import { resourceWriteSuccessEvent } from '@acrpull/azure-emulator';
import { InvocationContext } from '@azure/functions';
import { MemoryAuditSink } from '../../src/audit/auditRecord';
import { loadSettings } from '../../src/config/settings';
import { createVmWriteHandler } from '../../src/handlers/vmWriteHandler';
import { createRuntime } from '../../src/runtime';

async function main(): Promise<number> {
  const vmId = process.argv[2];
  if (!vmId) throw new Error('usage: checkApp.ts <VM resource id>');
  const settings = loadSettings({ ...process.env, ACRPULL_MODE: 'enforce' });
  const audit = new MemoryAuditSink();
  const caPath = process.env.NODE_EXTRA_CA_CERTS;
  const runtime = createRuntime(settings, {
    ...(caPath ? { caCertPem: readFileSync(caPath, 'utf8') } : {}),
    audit,
    log: {
      debug() {},
      info() {},
      warn: (m: string) => console.warn(m),
      error: (m: string) => console.error(m),
    },
  });
  const handle = createVmWriteHandler(runtime);
  const event = resourceWriteSuccessEvent(vmId, {
    id: 'runbook-check-1',
    operationName: 'Microsoft.Compute/virtualMachines/write',
    claims: { 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn': 'platform-team@contoso.com' },
  });
  const before = runtime.meter.snapshot();
  const result = await handle(
    event,
    new InvocationContext({
      functionName: 'vmWriteEvent',
      invocationId: 'runbook-check',
      logHandler: () => {},
    }),
  );
  const after = runtime.meter.snapshot();
  const reads = after.reads - before.reads;
  const writes = after.writes - before.writes;
  const actions = audit.records.map((r) => `${r.action}${'reason' in r && r.reason ? ` (${r.reason})` : ''}`);
  console.log(`app: ${vmId}`);
  console.log(`app: outcome=${result?.outcome ?? 'none'} ARM reads=${reads} writes=${writes}`);
  for (const action of actions) console.log(`app: audit ${action}`);
  const ok = result?.outcome === 'compliant' && reads === 1 && writes === 0;
  console.log(
    ok ? 'app: PASS compliant for one read' : 'app: FAIL expected outcome=compliant, 1 read, 0 writes',
  );
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
