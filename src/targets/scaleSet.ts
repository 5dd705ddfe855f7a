// Virtual machine scale sets, Uniform and Flexible. The scale set's identity, tags, etag and
// provisioningState have the VM's shape and its PATCH the VM's semantics (Microsoft.Compute
// virtualMachineScaleSet.json: If-Match from 2024-03-01 on, added by azure-rest-api-specs#26368;
// long-running; userAssignedIdentities merged), so the VM's adapter serves it.
import type { TargetKind } from './kind';

const isFlexible = (orchestrationMode: string | undefined) => orchestrationMode?.toLowerCase() === 'flexible';

export const SCALE_SET: TargetKind = {
  name: 'scaleSet',
  label: 'scale set',
  armType: 'Microsoft.Compute/virtualMachineScaleSets',
  writeOperation: 'Microsoft.Compute/virtualMachineScaleSets/write',
  resourceGraphType: 'microsoft.compute/virtualmachinescalesets',
  sdkOperations: 'virtualMachineScaleSets',
  // Flexible scale sets take user-assigned identities only (Learn: virtual-machine-scale-sets
  // orchestration-modes; a SystemAssigned request is refused with 400 InvalidParameter).
  identityModel: (orchestrationMode) => (isFlexible(orchestrationMode) ? 'user-assigned' : 'both'),
  /**
   * Uniform: identities are tracked at the scale-set level, so every instance gets it without an
   * upgrade, whatever the upgrade policy (Microsoft staff in Azure/azure-cli#19813 and
   * Azure/aad-pod-identity#968; the CLI's "run update-instances" hint for Manual mode is not needed).
   * Flexible: members are VMs with identities of their own; whether a change to the scale set's
   * identity reaches existing members is not documented, so the app does not count on it: each member
   * is governed by its own tag.
   */
  attachReach: (orchestrationMode) =>
    isFlexible(orchestrationMode)
      ? "attached to the Flexible scale set's model: existing member VMs are VMs of their own and get pull access through their own acrPull tag (tag them; the app never writes a member for its scale set's tag)"
      : 'attached to the scale set: identities are tracked at the scale-set level, so every instance has it without an upgrade or update-instances, whatever the upgrade policy',
  // A Flexible scale set's GET shows its user-assigned identities without principal or client ids.
  // A mode that was not read is not taken for Uniform: no stale binding is judged then.
  reportsBoundPrincipals: (orchestrationMode) =>
    orchestrationMode !== undefined && !isFlexible(orchestrationMode),
};
