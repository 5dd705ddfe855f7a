// No write where another service owns the resource group: an AKS node resource group (managedBy the
// cluster) or a managed application's resource group (shared/reference/azure-rest.md §12).
import type { RetryableReconcileError } from '../../src/handlers/vmWriteHandler';
import { SCALE_SET_WRITE } from '../../src/targets/writeEvent';
import { fleet } from '../support/fleet';
import { type Harness, identityId, SUB, startHarness } from '../support/harness';

const CLUSTER = `/subscriptions/${SUB}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks-prod`;
const NODE_RG = 'MC_rg-aks_aks-prod_eastus';
const MANAGED_APP = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Solutions/applications/app-1`;
const APP_RG = 'mrg-app-1';

describe('targets in resource groups another service manages', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    h.emu.seedResourceGroup(SUB, NODE_RG, 'eastus', { managedBy: CLUSTER });
    h.emu.seedResourceGroup(SUB, APP_RG, 'eastus', { managedBy: MANAGED_APP });
  });
  afterAll(() => h.close());

  it("leaves an AKS node pool's scale set alone, saying how to give the cluster pull access", async () => {
    const pool = fleet(h.emu).scaleSet('aks-nodepool1-vmss', { tag: 'contosoapps', resourceGroup: NODE_RG });
    h.emu.resetCounts();

    const result = await h.deliver(pool.id, { operationName: SCALE_SET_WRITE });

    expect(result?.outcome).toBe('rejected');
    expect(result?.records).toEqual([
      expect.objectContaining({
        action: 'target-platform-managed',
        outcome: 'rejected',
        registry: 'contosoapps',
        identityId: identityId('contosoapps', 'eastus'),
        targetType: 'Microsoft.Compute/virtualMachineScaleSets',
        reason: expect.stringContaining('az aks update -g rg-aks -n aks-prod --attach-acr contosoapps'),
      }),
    ]);
    expect(h.emu.totals().writes).toBe(0);
    expect(h.emu.counts()['resourceGroup.get']).toBe(1);
    expect(h.emu.getScaleSet(pool.id)?.identity).toBeUndefined();
  });

  it("leaves a managed application's VMs alone, reading their group once for all of them", async () => {
    const f = fleet(h.emu);
    const vms = [
      f.vm('vm-app-a', { tag: 'contosoapps', resourceGroup: APP_RG }),
      f.vm('vm-app-b', { tag: 'fabrikamabac', resourceGroup: APP_RG }),
    ];
    h.emu.resetCounts();

    const results = [await h.deliver(vms[0]?.id ?? ''), await h.deliver(vms[1]?.id ?? '')];

    expect(results.map((r) => r?.records.map((x) => x.action))).toEqual([
      ['target-platform-managed'],
      ['target-platform-managed'],
    ]);
    expect(results[0]?.records[0]?.reason).toMatch(
      /which .*applications\/app-1 manages \(managedBy\).*through the service that manages it/,
    );
    expect(h.emu.totals().writes).toBe(0);
    expect(h.emu.counts()['resourceGroup.get']).toBe(1);
  });

  it('reads no resource group for a target that needs no write, and writes as usual in a group nobody manages', async () => {
    const vm = fleet(h.emu).vm('vm-plain', { tag: 'contosoapps' });
    const first = await h.deliver(vm.id);
    h.emu.resetCounts();

    const again = await h.deliver(vm.id);

    expect(first?.outcome).toBe('changed');
    expect(again?.outcome).toBe('compliant');
    expect(h.emu.counts()['resourceGroup.get']).toBe(0);
  });

  it('makes no write in a managed group from the sweep either, reading a group once for targets worked on side by side', async () => {
    h.emu.seedResourceGroup(SUB, 'mrg-app-2', 'eastus', { managedBy: `${MANAGED_APP}-2` });
    const f = fleet(h.emu);
    const vms = ['vm-sweep-a', 'vm-sweep-b', 'vm-sweep-c'].map(
      (name) => f.vm(name, { tag: 'contosoapps', resourceGroup: 'mrg-app-2' }).id,
    );
    const before = h.audit.records.length;
    h.emu.resetCounts();

    const result = await h.sweep();

    const mine = h.audit.records.slice(before).filter((r) => vms.includes(r.vmId));
    expect(mine.map((r) => r.action)).toEqual([
      'target-platform-managed',
      'target-platform-managed',
      'target-platform-managed',
    ]);
    expect(vms.map((id) => h.emu.getVm(id)?.identity)).toEqual([undefined, undefined, undefined]);
    // The other groups were read by the events above and are remembered; this one is read once.
    expect(h.emu.counts()['resourceGroup.get']).toBe(1);
    expect(result.summary.failed).toBe(0);
  });

  it.each([
    [403, 'AuthorizationFailed', 'failed', false],
    [404, 'ResourceGroupNotFound', 'failed', true],
  ])(
    'writes nothing when the group cannot be read (%s %s): a failure, never taken as unmanaged',
    async (status, code, outcome, retryable) => {
      h.emu.seedResourceGroup(SUB, `rg-unreadable-${status}`, 'eastus');
      const vm = fleet(h.emu).vm(`vm-unreadable-${status}`, {
        tag: 'contosoapps',
        resourceGroup: `rg-unreadable-${status}`,
      });
      h.emu.injectFault({ operation: 'resourceGroup.get', status, code, count: 100 });
      h.emu.resetCounts();

      // A retryable failure is thrown for Event Grid to redeliver; its result says what happened.
      const result = await h.deliver(vm.id).catch((error: RetryableReconcileError) => error.result);

      h.emu.clearFaults();
      expect(result?.outcome).toBe(outcome);
      expect(result?.records.map((r) => [r.action, r.retryable])).toEqual([['failed', retryable]]);
      expect(h.emu.totals().writes).toBe(0);
      expect(h.emu.getVm(vm.id)?.identity).toBeUndefined();
    },
  );
});
