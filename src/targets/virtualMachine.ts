// Virtual machines: system-assigned and user-assigned identities (Microsoft.Compute
// virtualMachine.json, `identity.type` SystemAssigned, UserAssigned or both), no members.
import type { TargetKind } from './kind';

export const VIRTUAL_MACHINE: TargetKind = {
  name: 'vm',
  label: 'virtual machine',
  armType: 'Microsoft.Compute/virtualMachines',
  writeOperation: 'Microsoft.Compute/virtualMachines/write',
  resourceGraphType: 'microsoft.compute/virtualmachines',
  sdkOperations: 'virtualMachines',
  identityModel: () => 'both',
  attachReach: () => undefined,
  reportsBoundPrincipals: () => true,
};
