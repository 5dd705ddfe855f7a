// The plan is the single source of truth: what the CLI's what-if (audit mode) prints for a target is
// the plan that enforce mode executes, step for step, on a fleet with every situation the demo has.
import { Deadline } from '../../src/azure/retry';
import { reconcileTarget, type TargetResult } from '../../src/reconcile/perTarget/reconcileTarget';
import { describeStep, type StepName } from '../../src/reconcile/perTarget/steps';
import { type Harness, identityId, SUB, startHarness, vmId } from '../support/harness';

const placed = (name: string, location: string) => ({
  subscriptionId: SUB,
  resourceGroup: 'rg-apps',
  name,
  location,
});

/** The demo's situations, seeded the same way in any emulator; returns the targets' ids. */
function seedFleet(h: Harness): string[] {
  const { emu } = h;
  const ownerIdentity = emu.seedIdentity({
    subscriptionId: SUB,
    resourceGroup: 'rg-owner',
    name: 'id-owner-app',
    location: 'eastus',
  });
  const identity = (registry: string, region: string, createdBy?: 'app') =>
    emu.seedIdentity({
      subscriptionId: SUB,
      resourceGroup: 'rg-identities',
      name: `id-acrpull-${registry}-${region}`,
      location: region,
      ...(createdBy ? { createdBy } : {}),
    });
  identity('contosoapps', 'westus', 'app');
  identity('fabrikamabac', 'westeurope', 'app');
  identity('fabrikamabac', 'northeurope'); // planted: someone else made it under the app's name
  const seeded = [
    h.seedVm('vm-new', 'contosoapps'),
    h.seedVm('vm-abac', 'fabrikamabac'),
    emu.seedVm({
      ...placed('vm-compliant', 'westus'),
      tags: { acrPull: 'contosoapps' },
      userAssignedIdentityIds: [identityId('contosoapps', 'westus')],
    }),
    emu.seedVm({
      ...placed('vm-existing', 'eastus'),
      tags: { acrPull: 'contosoapps' },
      systemAssigned: true,
      userAssignedIdentityIds: [ownerIdentity.id],
    }),
    h.seedVm('vm-denied', 'secretregistry'),
    emu.seedVm({
      ...placed('vm-creating', 'eastus'),
      tags: { acrPull: 'contosoapps' },
      provisioning: { forMs: 600_000 },
    }),
    emu.seedVm({
      ...placed('vm-single', 'eastus'),
      tags: { acrPull: 'contosoapps' },
      userAssignedIdentityIds: [ownerIdentity.id],
    }),
    h.seedVm('vm-badtag', 'not a registry!'),
    h.seedVm('vm-planted', 'fabrikamabac', 'northeurope'),
    emu.seedScaleSet({ ...placed('vmss-web', 'eastus'), tags: { acrPull: 'contosoapps' } }),
    emu.seedVm({
      ...placed('vm-untagged', 'westeurope'),
      userAssignedIdentityIds: [identityId('fabrikamabac', 'westeurope')],
    }),
    emu.seedVm(placed('vm-plain', 'eastus')),
  ];
  return seeded.map((r) => r.id);
}

const steps = (result: TargetResult) =>
  result.plan.steps.map(describeStep).map(({ step, registry }) => `${step}${registry ? ` ${registry}` : ''}`);

describe('one plan for what-if and enforce', () => {
  let whatIf: Harness;
  let enforce: Harness;
  beforeAll(async () => {
    const env = { ACRPULL_REVOKE: 'on' };
    whatIf = await startHarness({ env: { ...env, ACRPULL_MODE: 'audit' } });
    enforce = await startHarness({ env });
  });
  afterAll(async () => {
    await whatIf.close();
    await enforce.close();
  });

  it('what-if prints, for every target of the demo fleet, the steps enforce then executes, and writes nothing', async () => {
    const ids = seedFleet(whatIf);
    expect(seedFleet(enforce)).toEqual(ids);
    whatIf.emu.resetCounts();

    const planned = new Map<string, string[]>();
    const executed = new Map<string, { plan: string[]; ran: StepName[]; names: StepName[] }>();
    for (const id of ids) {
      const request = { targetId: id, trigger: 'cli' as const, deadline: new Deadline(20_000) };
      planned.set(id, steps(await reconcileTarget(whatIf.runtime, request)));
      const applied = await reconcileTarget(enforce.runtime, request);
      executed.set(id, {
        plan: steps(applied),
        ran: [...applied.executed],
        names: applied.plan.steps.map((s) => s.step),
      });
    }

    expect(whatIf.emu.totals().writes).toBe(0);
    for (const id of ids) {
      expect({ id, steps: executed.get(id)?.plan }).toEqual({ id, steps: planned.get(id) });
      expect({ id, ran: executed.get(id)?.ran }).toEqual({ id, ran: executed.get(id)?.names });
    }
    // Every kind of step the demo's situations call for is in the fleet's plans.
    const kinds = new Set([...planned.values()].flat().map((s) => s.split(' ')[0]));
    expect([...kinds].sort()).toEqual([
      'attach',
      'defer',
      'detach',
      'ensure-pair',
      'keep',
      'nothing',
      'refuse',
    ]);
    expect(planned.get(vmId('vm-new'))).toEqual(['ensure-pair contosoapps', 'attach']);
    expect(planned.get(vmId('vm-untagged'))).toEqual(['detach']);
  });
});
