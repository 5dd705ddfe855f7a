// The one place SDK clients are built from settings. Clients are per subscription (the SDKs bind a
// subscription id at construction), built lazily and reused across invocations; at most
// PER_SUBSCRIPTION_LIMIT per kind are kept (a tag may name a registry id in any subscription), the
// least recently used rebuilt when needed again.
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { ComputeManagementClient } from '@azure/arm-compute';
import { type ComputeManagementContext, createComputeManagement } from '@azure/arm-compute/api';
import { ContainerRegistryManagementClient } from '@azure/arm-containerregistry';
import { EventGridManagementClient } from '@azure/arm-eventgrid';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import type { NetworkManagementClient } from '@azure/arm-network';
import type { PrivateDnsManagementClient } from '@azure/arm-privatedns';
import { ResourceGraphClient } from '@azure/arm-resourcegraph';
import { ResourceManagementClient } from '@azure/arm-resources';
import { SubscriptionClient } from '@azure/arm-resources-subscriptions';
import type { TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { LruMap, PER_SUBSCRIPTION_LIMIT } from '../core/lru';
import { idKey } from '../core/resourceId';
import { abortableCredential } from './abortableCredential';

export interface ArmConnection {
  /** e.g. https://management.azure.com, https://management.usgovcloudapi.net, or the emulator. */
  readonly armEndpoint: string;
  /** Token audience; the scope requested is `<audience>/.default`. */
  readonly armAudience: string;
  /** Extra CA to trust for the ARM endpoint (Azure Stack Hub, a TLS-inspecting proxy, the emulator). */
  readonly caCertPem?: string;
}

export interface ArmClients {
  compute(subscriptionId: string): ComputeManagementClient;
  /** The compute client's low-level context (same pipeline), for the attach's own long-running handling. */
  computeContext(subscriptionId: string): ComputeManagementContext;
  identities(subscriptionId: string): ManagedServiceIdentityClient;
  authorization(subscriptionId: string): AuthorizationManagementClient;
  registries(subscriptionId: string): ContainerRegistryManagementClient;
  /** Resource groups (whether another service manages one). */
  resources(subscriptionId: string): ResourceManagementClient;
  /** NICs, VNets, peerings, private endpoints, public IPs (read only: the doctor's network path). */
  network(subscriptionId: string): NetworkManagementClient;
  /** Private DNS zones, their VNet links and record sets (read only). */
  privateDns(subscriptionId: string): PrivateDnsManagementClient;
  /** Event Grid system topics and their event subscriptions (read only: the sweep's events-missing). */
  eventGrid(subscriptionId: string): EventGridManagementClient;
  /** Tenant-level clients: Resource Graph and the subscriptions list. */
  graph(): ResourceGraphClient;
  subscriptions(): SubscriptionClient;
}

export const USER_AGENT = 'acrpull-autopilot/0.1.0';

function cached<T>(build: (subscriptionId: string) => T): (subscriptionId: string) => T {
  const clients = new LruMap<string, T>(PER_SUBSCRIPTION_LIMIT);
  return (subscriptionId) => {
    const key = idKey(subscriptionId);
    let client = clients.get(key);
    if (!client) {
      client = build(key);
      clients.set(key, client);
    }
    return client;
  };
}

function once<T>(build: () => T): () => T {
  let client: T | undefined;
  return () => {
    client ??= build();
    return client;
  };
}

/** `policies` run on every request of every client (e.g. the request meter and pacing). */
export function createArmClients(
  connection: ArmConnection,
  rawCredential: TokenCredential,
  policies: readonly PipelinePolicy[] = [],
): ArmClients {
  const credential = abortableCredential(rawCredential);
  const scope = `${connection.armAudience.replace(/\/+$/, '')}/.default`;
  const common = {
    endpoint: connection.armEndpoint,
    // Retries are ours (retry.ts): budget-aware and classified in one place.
    retryOptions: { maxRetries: 0 },
    userAgentOptions: { userAgentPrefix: USER_AGENT },
    ...(connection.caCertPem ? { tlsOptions: { ca: connection.caCertPem } } : {}),
    additionalPolicies: policies.map((policy) => ({ policy, position: 'perRetry' as const })),
  };
  // Modular clients (compute, container registry, network, private DNS) take `credentials.scopes`; classic ones `credentialScopes`.
  const modular = { ...common, credentials: { scopes: [scope] } };
  const classic = { ...common, credentialScopes: [scope] };
  return {
    compute: cached((sub) => new ComputeManagementClient(credential, sub, modular)),
    computeContext: cached((sub) => createComputeManagement(credential, sub, modular)),
    registries: cached((sub) => new ContainerRegistryManagementClient(credential, sub, modular)),
    resources: cached((sub) => new ResourceManagementClient(credential, sub, modular)),
    // Loaded on first use: only the doctor reads networks and DNS zones, so the function app never
    // loads (or holds in memory) these two large SDKs.
    network: cached((sub) => new (networkSdk().NetworkManagementClient)(credential, sub, modular)),
    privateDns: cached((sub) => new (privateDnsSdk().PrivateDnsManagementClient)(credential, sub, modular)),
    identities: cached((sub) => new ManagedServiceIdentityClient(credential, sub, classic)),
    authorization: cached((sub) => new AuthorizationManagementClient(credential, sub, classic)),
    eventGrid: cached((sub) => new EventGridManagementClient(credential, sub, classic)),
    graph: once(() => new ResourceGraphClient(credential, modular)),
    subscriptions: once(() => new SubscriptionClient(credential, modular)),
  };
}

const networkSdk = (): typeof import('@azure/arm-network') => require('@azure/arm-network');
const privateDnsSdk = (): typeof import('@azure/arm-privatedns') => require('@azure/arm-privatedns');
