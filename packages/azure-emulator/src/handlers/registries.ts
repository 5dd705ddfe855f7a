// Microsoft.ContainerRegistry/registries (2025-11-01): GET and lists. Bodies are complete, because
// the modular SDK's deserializer reads required sub-objects (sku) without null checks.
import { type Handler, ok, pageOf } from '../armHttp';
import { TYPES } from '../resourceIds';
import type { RegistryRecord } from '../store';
import { listScope, requireResource } from './lookup';

export function renderRegistry(r: RegistryRecord): unknown {
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
      networkRuleSet: { defaultAction: 'Allow', ipRules: [] },
      policies: {
        quarantinePolicy: { status: 'disabled' },
        trustPolicy: { type: 'Notary', status: 'disabled' },
        retentionPolicy: { days: 7, lastUpdatedTime: r.creationDate, status: 'disabled' },
        exportPolicy: { status: 'enabled' },
        azureADAuthenticationAsArmPolicy: { status: 'enabled' },
      },
      encryption: { status: 'disabled' },
      dataEndpointEnabled: false,
      dataEndpointHostNames: [],
      privateEndpointConnections: [],
      publicNetworkAccess: 'Enabled',
      networkRuleBypassOptions: 'AzureServices',
      networkRuleBypassAllowedForTasks: false,
      zoneRedundancy: 'Disabled',
      anonymousPullEnabled: false,
      roleAssignmentMode: r.roleAssignmentMode,
    },
  };
}

export const getRegistry: Handler = (req, ctx) =>
  ok(renderRegistry(requireResource(ctx.store, ctx.store.registries, TYPES.registry, req.params)));

export const listRegistries: Handler = (req, ctx) =>
  pageOf(listScope(ctx.store, ctx.store.registries, req.params), req, ctx, renderRegistry);
