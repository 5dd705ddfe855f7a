// The audit trail through the real applicationinsights SDK to the emulator's ingestion endpoint:
// every action arrives as a custom event with the documented dimensions, and the shipped KQL only
// uses dimensions the app emits.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DECISION_EVENT, SWEEP_EVENT } from '../../src/audit/appInsightsAuditSink';
import type { AuditAction } from '../../src/audit/auditRecord';
import { createVmWriteHandler } from '../../src/handlers/vmWriteHandler';
import { fleet } from '../support/fleet';
import {
  type Harness,
  identityId,
  ownWriteEvent,
  SUB,
  startHarness,
  writeSuccessEvent,
} from '../support/harness';

type CustomEvent = { name: string; properties: Record<string, string>; measurements: Record<string, number> };

const COMMON = ['action', 'outcome', 'mode', 'trigger', 'vmId'];
const EVENT_CONTEXT = ['eventId', 'correlationId', 'caller', 'eventTime'];
/** What each action must carry besides the common dimensions (README "Querying the audit log"). */
const REQUIRED: Record<AuditAction, string[]> = {
  'identity-created': ['registry', 'registryId', 'identityId', 'principalId', 'clientId'],
  'identity-reused': ['registry', 'registryId', 'identityId', 'principalId', 'clientId'],
  'role-assigned': ['registry', 'registryId', 'identityId', 'principalId', 'role'],
  'role-present': ['registry', 'registryId', 'identityId', 'principalId', 'role'],
  'identity-attached': ['registry', 'registryId', 'identityId', 'principalId', 'clientId'],
  'attach-confirmed': ['registry', 'identityId', 'reason'],
  'attach-refused': ['registry', 'identityId', 'reason'],
  'target-platform-managed': ['registry', 'identityId', 'reason'],
  'target-out-of-scope': ['registry', 'identityId', 'reason'],
  'identity-rebound': ['registry', 'registryId', 'identityId', 'principalId', 'clientId', 'reason'],
  'grant-orphaned': ['registry', 'registryId', 'identityId', 'principalId', 'reason'],
  'grant-conditioned': ['registry', 'registryId', 'identityId', 'principalId', 'role', 'reason'],
  'identity-refused': ['registry', 'registryId', 'identityId', 'identityCreatedBy', 'reason'],
  'identity-excess-roles': ['registry', 'identityId', 'principalId', 'clientId', 'reason'],
  'identity-detached': ['registry', 'identityId', 'reason'],
  'identity-unused': ['registry', 'identityId', 'principalId', 'clientId', 'reason'],
  'identity-foreign': ['identityId', 'principalId', 'identityCreatedBy', 'reason'],
  'region-denied': ['registry', 'registryId', 'identityId', 'reason'],
  'identity-limit-reached': ['registry', 'registryId', 'identityId', 'reason'],
  'attach-contested': ['registry', 'identityId', 'reason'],
  'events-missing': ['subscriptionId', 'reason'],
  'already-compliant': ['registry', 'identityId', 'clientId'],
  'tag-invalid': ['reason'],
  // No registryId when the name alone decides (no lookup is made to refuse it).
  'registry-denied': ['registry', 'reason'],
  'vm-not-found': ['reason'],
  // No caller: the claims of an event refused for its origin are what it says, not a known write.
  'event-refused': ['eventId', 'eventTime', 'reason'],
  failed: ['reason', 'retryable'],
};

describe('audit trail in Application Insights', () => {
  const events: CustomEvent[] = [];
  let h: Harness;
  beforeAll(async () => {
    // No egress: statsbeat off; the SDK's settings poll goes to a closed local proxy port.
    process.env.APPLICATION_INSIGHTS_NO_STATSBEAT = 'true';
    process.env.HTTPS_PROXY = 'http://127.0.0.1:9';
    process.env.NO_PROXY = '127.0.0.1,localhost';
    h = await startHarness({
      appInsights: true,
      // No event subscription wired: the sweep's events-missing finding is one of the decisions.
      events: false,
      // A state store: the event path answers once ARM accepts an attach, and its echo confirms it.
      state: true,
      env: {
        ACRPULL_REVOKE: 'on',
        ACRPULL_WRITE_RESOURCE_GROUPS: `/subscriptions/${SUB}/resourceGroups/rg-apps,/subscriptions/${SUB}/resourceGroups/MC_rg-aks_aks-1_eastus`,
      },
    });

    // Act: one of every decision, through the event path and a sweep.
    const f = fleet(h.emu);
    const seed = (name: string, tag: string) => f.vm(name, { tag }).id;
    const first = seed('vm-new', 'contosoapps');
    await h.deliver(first, { upn: 'alice@contoso.com' }); // identity-created, role-assigned, identity-attached
    await h.runtime.whoAmI();
    await h.deliverRaw(ownWriteEvent(first, h.emu.appIdentity)); // attach-confirmed: the echo of the app's own write
    const second = seed('vm-second', 'contosoapps');
    await h.deliver(second); // identity-reused, role-present, identity-attached
    await h.deliver(second); // already-compliant
    await h.deliver(seed('vm-bad', 'not a registry!')); // tag-invalid
    await h.deliver(seed('vm-denied', 'secretregistry')); // registry-denied
    const gone = seed('vm-gone', 'contosoapps');
    h.emu.deleteVm(gone);
    await h.deliver(gone); // vm-not-found
    const owners = f.identity('id-owners-app');
    const single = f.vm('vm-single-identity', { tag: 'contosoapps', identities: [owners] }).id;
    await h.deliver(single); // attach-refused
    h.emu.updateVmOutOfBand(second, (vm) => {
      vm.tags = { acrPull: 'contosoapps fabrikamabac' };
    });
    await h.deliver(second); // identity-attached with a warning: one user-assigned identity → two
    h.emu.injectFault({ operation: 'vm.patch', status: 403, code: 'AuthorizationFailed' });
    await h.deliver(seed('vm-forbidden', 'fabrikamabac')); // failed
    f.plantedPullIdentity('contosoapps', 'westus');
    const planted = f.vm('vm-west', { tag: 'contosoapps', location: 'westus' }).id;
    await h.deliver(planted); // identity-refused: someone else made the pull identity's name
    const cluster = `/subscriptions/${SUB}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks-1`;
    h.emu.seedResourceGroup(SUB, 'MC_rg-aks_aks-1_eastus', 'eastus', { managedBy: cluster });
    await h.deliver(f.vm('vm-aks-node', { tag: 'contosoapps', resourceGroup: 'MC_rg-aks_aks-1_eastus' }).id); // target-platform-managed
    const pull = h.emu.listIdentities().find((i) => i.name === 'id-acrpull-contosoapps-eastus');
    h.emu.seedRoleAssignment({
      scope: `/subscriptions/${SUB}`,
      roleDefinitionId: 'b24988ac-6180-42a0-ab88-20f7382dd24c', // Contributor
      principalId: pull?.principalId ?? '',
    });
    const revoked = f.vm('vm-revoked', { tag: 'fabrikamabac', location: 'westeurope' }).id;
    await h.deliver(revoked);
    h.emu.updateVmOutOfBand(revoked, (vm) => {
      vm.tags = {};
    });
    await h.deliver(revoked); // identity-detached (ACRPULL_REVOKE=on)
    const conditioned = f.appPullIdentity('contosoapps', 'northeurope');
    h.emu.seedRoleAssignment({
      scope: `/subscriptions/${SUB}/resourceGroups/rg-registries/providers/Microsoft.ContainerRegistry/registries/contosoapps`,
      roleDefinitionId: '7f951dda-4ed3-4680-a7ca-43fe172d538d', // AcrPull
      principalId: conditioned.principalId,
      condition: "@Resource[Microsoft.ContainerRegistry/registries/repositories:name] StringEquals 'none'",
    });
    await h.deliver(f.vm('vm-conditioned', { tag: 'contosoapps', location: 'northeurope' }).id); // grant-conditioned
    const forged = writeSuccessEvent(seed('vm-forged', 'contosoapps'));
    await h.deliverRaw({
      ...forged,
      topic: `${forged.topic}/resourceGroups/rg/providers/Microsoft.EventGrid/topics/t`,
    }); // event-refused
    h.emu.seedResourceGroup(SUB, 'rg-elsewhere', 'eastus');
    await h.deliver(f.vm('vm-elsewhere', { tag: 'contosoapps', resourceGroup: 'rg-elsewhere' }).id); // target-out-of-scope
    const stripped = f.vm('vm-policy-stripped', { tag: 'contosoapps', location: 'centralus' }).id;
    h.emu.assignModifyPolicy({
      scope: stripped,
      removeUserAssignedIdentities: [identityId('contosoapps', 'centralus')],
    });
    await h.deliver(stripped); // attach-contested: a modify policy removes it as it is written
    // The caps, through a handler whose settings list two regions and allow one pull identity:
    const capped = createVmWriteHandler({
      ...h.runtime,
      settings: { ...h.runtime.settings, regions: ['eastus', 'eastus2'], maxPullIdentities: 1 },
    });
    const quiet = { debug() {}, info() {}, warn() {}, error() {} } as never;
    const elsewhere = f.vm('vm-japan', { tag: 'contosoapps', location: 'japaneast' }).id;
    await capped(writeSuccessEvent(elsewhere), quiet); // region-denied
    const newPair = f.vm('vm-east2', { tag: 'fabrikamabac', location: 'eastus2' }).id;
    await capped(writeSuccessEvent(newPair), quiet); // identity-limit-reached
    await h.deliver(f.vm('vm-recreated', { tag: 'contosoapps', location: 'westus3' }).id);
    h.emu.deleteIdentity(identityId('contosoapps', 'westus3')); // re-created by the sweep:
    await h.sweep(); // AcrPullSweep, identity-excess-roles, identity-unused (fabrikamabac in westeurope), identity-rebound, grant-orphaned, identity-foreign (the planted one)
    events.push(...(h.emu.customEvents() as CustomEvent[]));
  });
  afterAll(async () => {
    await h.close();
  });

  it('sends every decision before the invocation returns, one custom event each', () => {
    // Assess: the handler flushed; nothing had to be waited for.
    const decisions = events.filter((e) => e.name === DECISION_EVENT);
    expect(decisions.length).toBe(h.audit.records.length);
    expect(events.filter((e) => e.name === SWEEP_EVENT)).toHaveLength(1);
  });

  it.each(Object.keys(REQUIRED) as AuditAction[])('%s carries its documented dimensions', (action) => {
    const matching = events.filter((e) => e.name === DECISION_EVENT && e.properties.action === action);
    expect(matching.length).toBeGreaterThan(0);
    for (const event of matching) {
      for (const key of [...COMMON, ...REQUIRED[action]])
        expect([key, event.properties[key]]).toEqual([key, expect.any(String)]);
      expect(event.measurements.durationMs).toEqual(expect.any(Number));
      if (event.properties.trigger === 'event' && action !== 'event-refused') {
        for (const key of EVENT_CONTEXT)
          expect([key, event.properties[key]]).toEqual([key, expect.any(String)]);
      }
    }
  });

  it('records who tagged the VM on the grant chain', () => {
    const attached = events.find(
      (e) => e.properties.action === 'identity-attached' && e.properties.vmId.endsWith('/vm-new'),
    );
    expect(attached?.properties).toMatchObject({
      caller: 'alice@contoso.com',
      outcome: 'changed',
      trigger: 'event',
      mode: 'enforce',
    });
  });

  it('warns, on the attach that takes a VM from one user-assigned identity to two, that IMDS calls without a client id now fail', () => {
    const attached = events.filter(
      (e) => e.properties.action === 'identity-attached' && e.properties.vmId.endsWith('/vm-second'),
    );
    expect(attached.map((e) => [e.properties.registry, e.properties.warning])).toEqual([
      ['contosoapps', undefined],
      ['fabrikamabac', expect.stringMatching(/^IMDS token requests without a client id now fail on this VM/)],
    ]);
  });

  it('sends sweep summaries with numbers as measurements', () => {
    const sweep = events.find((e) => e.name === SWEEP_EVENT);
    expect(sweep?.properties).toMatchObject({ finished: 'true', mode: 'enforce', trigger: 'reconcile' });
    for (const key of [
      'vmsScanned',
      'changed',
      'failed',
      'rejected',
      'deferred',
      'armReads',
      'armWrites',
      'armPolls',
      'durationMs',
    ]) {
      expect([key, sweep?.measurements[key]]).toEqual([key, expect.any(Number)]);
    }
  });

  it('every dimension and measurement the shipped KQL uses is one the app emits', () => {
    const dimensions = new Set(events.flatMap((e) => Object.keys(e.properties)));
    const measurements = new Set(events.flatMap((e) => Object.keys(e.measurements)));
    const dir = path.join(__dirname, '..', '..', 'queries');
    const files = readdirSync(dir).filter((f) => f.endsWith('.kql'));
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const file of files) {
      const kql = readFileSync(path.join(dir, file), 'utf8');
      for (const m of kql.matchAll(/customDimensions(?:\.|\[["'])(\w+)/g))
        expect([file, m[1], dimensions.has(m[1] as string)]).toEqual([file, m[1], true]);
      for (const m of kql.matchAll(/customMeasurements(?:\.|\[["'])(\w+)/g))
        expect([file, m[1], measurements.has(m[1] as string)]).toEqual([file, m[1], true]);
      for (const m of kql.matchAll(/name == "(\w+)"/g)) expect([DECISION_EVENT, SWEEP_EVENT]).toContain(m[1]);
    }
  });
});
