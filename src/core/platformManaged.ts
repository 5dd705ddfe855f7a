// A target in a resource group another service manages gets no write from the app: AKS undoes changes
// made outside its API to its node resource group and node-resource-group lockdown denies them; a
// managed application's publisher owns its managed resource group (shared/reference/azure-rest.md
// §12). What to say instead, with the supported way for AKS. Pure.

const AKS_CLUSTER =
  /^\/subscriptions\/[^/]+\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ContainerService\/managedClusters\/([^/]+)$/i;

/** Why nothing is written, and how the owner gets pull access instead. */
export function platformManagedReason(
  targetLabel: string,
  resourceGroup: string,
  managedBy: string,
  registry: string,
): string {
  const why =
    `the ${targetLabel} is in resource group ${resourceGroup}, which ${managedBy} manages (managedBy): ` +
    'changes made outside that service are undone or denied, so the app writes nothing there';
  const aks = AKS_CLUSTER.exec(managedBy);
  if (aks)
    return `${why}; give the cluster pull access with: az aks update -g ${aks[1]} -n ${aks[2]} --attach-acr ${registry}`;
  return `${why}; give it pull access through the service that manages it`;
}
