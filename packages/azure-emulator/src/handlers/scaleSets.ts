// Microsoft.Compute/virtualMachineScaleSets (the api-versions of Compute): GET, lists, and PATCH as a
// long-running operation, with the VM's identity semantics. The scale set's REST shape (specification
// compute/resource-manager Microsoft.Compute ComputeRP virtualMachineScaleSet.json): top-level
// `identity` (same VirtualMachineScaleSetIdentity type, userAssignedIdentities dictionary), `etag`,
// `sku.capacity`, and `properties.orchestrationMode`, `upgradePolicy.mode` (Uniform only),
// `provisioningState`, `uniqueId`, `timeCreated`. The PATCH takes If-Match / If-None-Match like the
// VM's and answers 200 with the model and Azure-AsyncOperation. Instances are not modelled: a Uniform
// scale set's instances and their latestModelApplied are not emulated (see README.md).
// Flexible scale sets take user-assigned identities only (a system-assigned one is refused, see
// errors.ts), and their GET shows each user-assigned identity without principalId and clientId
// (hashicorp/vault-plugin-auth-azure path_login.go: "Principal ID is nil for VMSS flex
// orchestration mode, so we must look up the user-assigned identity using the MSI client").
import { type Handler, ok, pageOf } from '../armHttp';
import { flexibleSystemIdentity } from '../errors';
import { TYPES } from '../resourceIds';
import type { VmIdentity, VmRecord } from '../store';
import { listScope, requireResource } from './lookup';
import { patchCompute, renderIdentity } from './virtualMachines';

export function renderScaleSet(vmss: VmRecord): unknown {
  const mode = vmss.scaleSet?.orchestrationMode ?? 'Uniform';
  return {
    name: vmss.name,
    id: vmss.id,
    type: vmss.type,
    location: vmss.location,
    ...(Object.keys(vmss.tags).length > 0 ? { tags: vmss.tags } : {}),
    ...(vmss.identity ? { identity: renderScaleSetIdentity(vmss) } : {}),
    etag: vmss.etag,
    sku: { name: vmss.vmSize, tier: 'Standard', capacity: vmss.scaleSet?.capacity ?? 0 },
    properties: {
      orchestrationMode: mode,
      ...(mode === 'Uniform' ? { upgradePolicy: { mode: vmss.scaleSet?.upgradeMode ?? 'Manual' } } : {}),
      ...(vmss.scaleSetSubnetId
        ? { virtualMachineProfile: { networkProfile: scaleSetNetworkProfile(vmss) } }
        : {}),
      provisioningState: vmss.provisioningState,
      uniqueId: vmss.vmId,
      timeCreated: vmss.timeCreated,
    },
  };
}

/**
 * The network part of the scale set's model, when seeded (network/model.ts attachScaleSetSubnet): one
 * primary NIC configuration with one IP configuration in that subnet (VirtualMachineScaleSetNetworkProfile
 * in virtualMachineScaleSet.json). The rest of virtualMachineProfile is not modelled.
 */
function scaleSetNetworkProfile(vmss: VmRecord): unknown {
  return {
    networkInterfaceConfigurations: [
      {
        name: `${vmss.name.slice(0, 8)}Nic`,
        properties: {
          primary: true,
          enableAcceleratedNetworking: false,
          enableIPForwarding: false,
          ipConfigurations: [
            {
              name: `${vmss.name.slice(0, 8)}IPConfig`,
              properties: { subnet: { id: vmss.scaleSetSubnetId }, privateIPAddressVersion: 'IPv4' },
            },
          ],
        },
      },
    ],
  };
}

/** The identity as the scale set's GET (and Resource Graph) shows it; null when it has none. */
export function renderScaleSetIdentity(vmss: VmRecord): unknown {
  if (!vmss.identity) return null;
  return vmss.scaleSet?.orchestrationMode === 'Flexible'
    ? withoutIds(vmss.identity)
    : renderIdentity(vmss.identity);
}

function withoutIds(identity: VmIdentity): unknown {
  return {
    type: identity.type,
    userAssignedIdentities: Object.fromEntries(
      Object.keys(identity.userAssignedIdentities).map((id) => [id, { principalId: null, clientId: null }]),
    ),
  };
}

export const getScaleSet: Handler = (req, ctx) => {
  const vmss = ctx.store.currentVm(
    requireResource(ctx.store, ctx.store.scaleSets, TYPES.scaleSet, req.params),
  );
  return ok(renderScaleSet(vmss), { ETag: vmss.etag });
};

export const listScaleSets: Handler = (req, ctx) =>
  pageOf(listScope(ctx.store, ctx.store.scaleSets, req.params), req, ctx, (vmss: VmRecord) =>
    renderScaleSet(ctx.store.currentVm(vmss)),
  );

export const patchScaleSet: Handler = (req, ctx) => {
  const vmss = requireResource(ctx.store, ctx.store.scaleSets, TYPES.scaleSet, req.params);
  const identity = (req.body as { identity?: { type?: unknown } } | undefined)?.identity;
  const type = typeof identity?.type === 'string' ? identity.type : '';
  if (vmss.scaleSet?.orchestrationMode === 'Flexible' && /systemassigned/i.test(type))
    throw flexibleSystemIdentity(type);
  return patchCompute(req, ctx, vmss, renderScaleSet);
};
