// Microsoft.ContainerRegistry/registries (2025-11-01): GET and lists. Bodies are complete, because
// the modular SDK's deserializer reads required sub-objects (sku) without null checks.
import { type Handler, ok, pageOf } from '../armHttp';
import { TYPES } from '../resourceIds';
import type { RegistryRecord } from '../store';
import { listScope, requireResource } from './lookup';

/** Premium-only features (Learn: container-registry-skus): network rules, private links, data endpoints. */
const isPremium = (r: RegistryRecord) => r.sku.name.toLowerCase() === 'premium';

export function renderRegistry(r: RegistryRecord): unknown {
  const a = r.access;
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    location: r.location,
    tags: r.tags,
    sku: r.sku,
    properties: {
      loginServer: r.loginServer,
      creationDate: r.creationDate,
      provisioningState: 'Succeeded',
      adminUserEnabled: false,
      ...(isPremium(r)
        ? {
            networkRuleSet: {
              defaultAction: a.networkRuleSet.defaultAction,
              ipRules: a.networkRuleSet.ipRules.map((rule) => ({ action: rule.action, value: rule.value })),
            },
          }
        : {}),
      policies: {
        quarantinePolicy: { status: 'disabled' },
        trustPolicy: { type: 'Notary', status: 'disabled' },
        retentionPolicy: { days: 7, lastUpdatedTime: r.creationDate, status: 'disabled' },
        exportPolicy: { status: 'enabled' },
        azureADAuthenticationAsArmPolicy: { status: a.azureADAuthenticationAsArmPolicy },
      },
      encryption: { status: 'disabled' },
      dataEndpointEnabled: a.dataEndpointEnabled,
      // One host per region the registry is replicated to; the emulator models no geo-replicas.
      dataEndpointHostNames: a.dataEndpointEnabled
        ? [`${r.name.toLowerCase()}.${r.location.toLowerCase()}.data.azurecr.io`]
        : [],
      privateEndpointConnections: a.privateEndpointConnections.map((c) => ({
        id: `${r.id}/privateEndpointConnections/${c.name}`,
        name: c.name,
        type: 'Microsoft.ContainerRegistry/registries/privateEndpointConnections',
        properties: {
          privateEndpoint: { id: c.privateEndpointId },
          privateLinkServiceConnectionState: {
            status: c.status,
            description: c.status === 'Approved' ? 'Auto-Approved' : '',
            actionsRequired: 'None',
          },
          provisioningState: 'Succeeded',
        },
      })),
      publicNetworkAccess: a.publicNetworkAccess,
      networkRuleBypassOptions: a.networkRuleBypassOptions,
      networkRuleBypassAllowedForTasks: false,
      zoneRedundancy: 'Disabled',
      anonymousPullEnabled: a.anonymousPullEnabled,
      roleAssignmentMode: r.roleAssignmentMode,
    },
  };
}

export const getRegistry: Handler = (req, ctx) =>
  ok(renderRegistry(requireResource(ctx.store, ctx.store.registries, TYPES.registry, req.params)));

export const listRegistries: Handler = (req, ctx) =>
  pageOf(listScope(ctx.store, ctx.store.registries, req.params), req, ctx, renderRegistry);
