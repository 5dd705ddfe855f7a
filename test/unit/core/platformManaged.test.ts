import { platformManagedReason } from '../../../src/core/platformManaged';

describe('platform-managed resource groups', () => {
  it("points an AKS node pool's owner to the cluster's own way to pull", () => {
    const cluster =
      '/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks-prod';
    expect(platformManagedReason('scale set', 'MC_rg-aks_aks-prod_eastus', cluster, 'contosoapps')).toBe(
      `the scale set is in resource group MC_rg-aks_aks-prod_eastus, which ${cluster} manages (managedBy): ` +
        'changes made outside that service are undone or denied, so the app writes nothing there; ' +
        'give the cluster pull access with: az aks update -g rg-aks -n aks-prod --attach-acr contosoapps',
    );
  });

  it('points anything else to the service that manages the group', () => {
    expect(
      platformManagedReason(
        'virtual machine',
        'mrg-1',
        '/subscriptions/x/resourceGroups/r/providers/Microsoft.Solutions/applications/a',
        'r1',
      ),
    ).toMatch(/; give it pull access through the service that manages it$/);
  });
});
