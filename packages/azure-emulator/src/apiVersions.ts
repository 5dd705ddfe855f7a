// Every published api-version of each emulated type: real ARM accepts all of them (clients such as
// the Azure CLI send versions years old), and the emulator answers each with the same shapes.
// Listed from the REST specs (Azure/azure-rest-api-specs, the stable/ and preview/ folders and
// the readme.md package tags named below), ascending. ARM itself accepts a few more that have no
// spec folder (Compute: 2015-05-01-preview, 2016-08-30, 2017-10-30-preview, azure-rest-api-specs
// #27695); those are left out here, as undocumented.

/** specification/compute/resource-manager/Microsoft.Compute (compute.json, then virtualMachine.json /
 * virtualMachineScaleSet.json, then ComputeRP.json); Compute/readme.md and service.yaml. */
export const COMPUTE = [
  '2015-06-15',
  '2016-03-30',
  '2016-04-30-preview',
  '2017-03-30',
  '2017-12-01',
  '2018-04-01',
  '2018-06-01',
  '2018-10-01',
  '2019-03-01',
  '2019-07-01',
  '2019-12-01',
  '2020-06-01',
  '2020-12-01',
  '2021-03-01',
  '2021-04-01',
  '2021-07-01',
  '2021-11-01',
  '2022-03-01',
  '2022-08-01',
  '2022-11-01',
  '2023-03-01',
  '2023-07-01',
  '2023-09-01',
  '2024-03-01',
  '2024-07-01',
  '2024-11-01',
  '2025-04-01',
  '2025-11-01',
  '2026-03-01',
  '2026-04-01',
] as const;

/** specification/msi/resource-manager/Microsoft.ManagedIdentity/ManagedIdentity/readme.md. */
export const MANAGED_IDENTITY = [
  '2015-08-31-preview',
  '2018-11-30',
  '2021-09-30-preview',
  '2022-01-31-preview',
  '2023-01-31',
  '2023-07-31-preview',
  '2024-11-30',
  '2025-01-31-preview',
  '2025-05-31-preview',
  '2026-05-31',
] as const;

/** specification/authorization/resource-manager/Microsoft.Authorization (authorization-RoleAssignmentsCalls.json). */
export const ROLE_ASSIGNMENTS = [
  '2015-07-01',
  '2017-10-01-preview',
  '2018-01-01-preview',
  '2018-09-01-preview',
  '2020-03-01-preview',
  '2020-04-01-preview',
  '2020-08-01-preview',
  '2020-10-01-preview',
  '2022-04-01',
] as const;

/** specification/containerregistry/resource-manager (containerregistry.json); Registry/readme.md, service.yaml. */
export const CONTAINER_REGISTRY = [
  '2016-06-27-preview',
  '2017-03-01',
  '2017-06-01-preview',
  '2017-10-01',
  '2019-05-01',
  '2019-12-01-preview',
  '2020-11-01-preview',
  '2021-06-01-preview',
  '2021-08-01-preview',
  '2021-09-01',
  '2021-12-01-preview',
  '2022-02-01-preview',
  '2022-12-01',
  '2023-01-01-preview',
  '2023-06-01-preview',
  '2023-07-01',
  '2023-08-01-preview',
  '2023-11-01-preview',
  '2024-11-01-preview',
  '2025-03-01-preview',
  '2025-04-01',
  '2025-05-01-preview',
  '2025-11-01',
  '2026-03-01-preview',
] as const;

/** specification/resourcegraph/resource-manager/Microsoft.ResourceGraph (resourcegraph.json). */
export const RESOURCE_GRAPH = [
  '2018-09-01-preview',
  '2019-04-01',
  '2020-04-01-preview',
  '2021-03-01',
  '2021-06-01-preview',
  '2022-10-01',
  '2023-09-01-preview',
  '2024-04-01',
] as const;

/** specification/resources/resource-manager/Microsoft.Resources/subscriptions (subscriptions.json). */
export const SUBSCRIPTIONS = [
  '2015-11-01',
  '2016-06-01',
  '2018-06-01',
  '2019-06-01',
  '2019-11-01',
  '2020-01-01',
  '2021-01-01',
  '2022-12-01',
] as const;

/**
 * ARM's own resource groups and generic resource lists: specification/resources/resource-manager/
 * Microsoft.Resources/resources/stable/{version}/resources.json (older ones under Microsoft.Resources/stable).
 */
export const RESOURCES = [
  '2015-01-01',
  '2015-11-01',
  '2016-02-01',
  '2016-07-01',
  '2016-09-01',
  '2017-05-10',
  '2018-02-01',
  '2018-05-01',
  '2018-07-01',
  '2019-03-01',
  '2019-05-01',
  '2019-05-10',
  '2019-07-01',
  '2019-08-01',
  '2019-10-01',
  '2020-06-01',
  '2020-08-01',
  '2020-10-01',
  '2021-01-01',
  '2021-04-01',
  '2022-09-01',
  '2023-07-01',
  '2024-03-01',
  '2024-07-01',
  '2024-11-01',
  '2025-03-01',
  '2025-04-01',
] as const;

/**
 * specification/authorization/resource-manager/Microsoft.Authorization: 2015-07-01 and
 * 2017-10-01-preview (authorization.json, examples GetRoleDefinitionById / GetRoleDefinitionByName),
 * 2018-01-01-preview, 2022-03-01, 2022-04-01 and 2022-05-01-preview (authorization-RoleDefinitionsCalls.json).
 */
export const ROLE_DEFINITIONS = [
  '2015-07-01',
  '2017-10-01-preview',
  '2018-01-01-preview',
  '2022-03-01',
  '2022-04-01',
  '2022-05-01-preview',
] as const;

/**
 * ARM's cloud metadata endpoint (GET /metadata/endpoints, no token): not in the REST specs. The
 * versions clients send and public stubs of the endpoint answer: 2015-01-01 (msrestazure, `az cloud
 * register` in azure-cli 2.45), 2018-01-01, 2019-05-01 (azure-cli's ARM_CLOUD_METADATA_URL),
 * 2022-09-01 (later azure-cli and the SDKs). See
 * handlers/metadata.ts for the shapes.
 */
export const METADATA = ['2015-01-01', '2018-01-01', '2019-05-01', '2022-09-01'] as const;

/**
 * Microsoft.Network's stable api-versions: specification/network/resource-manager/Microsoft.Network/
 * Network/stable/{version} (network.json and the per-type files: virtualNetwork.json,
 * networkInterface.json, publicIpAddress.json, privateEndpoint.json; from 2025-07-01 the TypeSpec
 * virtualNetwork.json) and the package tags of Network/readme.md. There is no 2016-10-01 or
 * 2016-11-01 folder. Virtual networks, subnets, NICs and public IPs exist in every one.
 */
export const NETWORK = [
  '2015-06-15',
  '2016-03-30',
  '2016-06-01',
  '2016-09-01',
  '2016-12-01',
  '2017-03-01',
  '2017-06-01',
  '2017-08-01',
  '2017-09-01',
  '2017-10-01',
  '2017-11-01',
  '2018-01-01',
  '2018-02-01',
  '2018-04-01',
  '2018-06-01',
  '2018-07-01',
  '2018-08-01',
  '2018-10-01',
  '2018-11-01',
  '2018-12-01',
  '2019-02-01',
  '2019-04-01',
  '2019-06-01',
  '2019-07-01',
  '2019-08-01',
  '2019-09-01',
  '2019-11-01',
  '2019-12-01',
  '2020-03-01',
  '2020-04-01',
  '2020-05-01',
  '2020-06-01',
  '2020-07-01',
  '2020-08-01',
  '2020-11-01',
  '2021-02-01',
  '2021-03-01',
  '2021-05-01',
  '2021-08-01',
  '2022-01-01',
  '2022-05-01',
  '2022-07-01',
  '2022-09-01',
  '2022-11-01',
  '2023-02-01',
  '2023-04-01',
  '2023-05-01',
  '2023-06-01',
  '2023-09-01',
  '2023-11-01',
  '2024-01-01',
  '2024-03-01',
  '2024-05-01',
  '2024-07-01',
  '2024-10-01',
  '2025-01-01',
  '2025-03-01',
  '2025-05-01',
  '2025-07-01',
  '2025-09-01',
  '2026-01-01',
] as const;

/** virtualNetworkPeerings came with 2016-06-01 (network.json of that version). */
export const NETWORK_PEERINGS = NETWORK.filter((v) => v >= '2016-06-01');

/**
 * privateEndpoints came with 2019-04-01 (privateEndpoint.json); 2018-08-01 … 2019-02-01 had their
 * forerunner, interfaceEndpoints (examples InterfaceEndpointCreate/List in stable/2019-02-01).
 */
export const NETWORK_PRIVATE_ENDPOINTS = NETWORK.filter((v) => v >= '2019-04-01');

/**
 * specification/privatedns/resource-manager/Microsoft.Network/PrivateDns/readme.md: package-2018-09,
 * -2020-01, -2020-06, -2024-06 (stable/{version}/privatedns.json) and package-2026-06-preview.
 */
export const PRIVATE_DNS = [
  '2018-09-01',
  '2020-01-01',
  '2020-06-01',
  '2024-06-01',
  '2026-06-01-preview',
] as const;

/**
 * Microsoft.Authorization/denyAssignments (read-only): authorization-DenyAssignmentGetCalls.json in
 * preview/2018-07-01-preview and stable/2022-04-01 (authorization/resource-manager readme.md package
 * tags). @azure/arm-authorization 9.0.0 sends 2022-04-01 (its apiVersion1 parameter, checked in
 * node_modules).
 */
export const DENY_ASSIGNMENTS = ['2018-07-01-preview', '2022-04-01'] as const;

/**
 * Microsoft.EventGrid/systemTopics and their eventSubscriptions (read here): every EventGrid.json in
 * specification/eventgrid/resource-manager since system topics appeared (2020-04-01-preview), stable
 * and preview (readme.md package tags). @azure/arm-eventgrid 14.1.0 sends 2022-06-15 (its
 * apiVersion, checked in node_modules).
 */
export const EVENT_GRID = [
  '2020-04-01-preview',
  '2020-10-15-preview',
  '2021-06-01-preview',
  '2021-10-15-preview',
  '2021-12-01',
  '2022-06-15',
  '2023-06-01-preview',
  '2023-12-15-preview',
  '2024-06-01-preview',
  '2024-12-15-preview',
  '2025-02-15',
  '2025-04-01-preview',
  '2025-07-15-preview',
] as const;
