import {
  kindByWriteOperation,
  parseTargetId,
  resourceGraphTypes,
  TARGET_KINDS,
  targetIdFromTagsScope,
} from '../../../src/targets';

const SUB = '11111111-1111-1111-1111-111111111111';
const base = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers`;

describe('resource kinds as targets', () => {
  it('declares each kind once, with its ARM type, event, Resource Graph type and SDK operations', () => {
    expect(
      TARGET_KINDS.map((k) => [k.name, k.armType, k.writeOperation, k.resourceGraphType, k.sdkOperations]),
    ).toEqual([
      [
        'vm',
        'Microsoft.Compute/virtualMachines',
        'Microsoft.Compute/virtualMachines/write',
        'microsoft.compute/virtualmachines',
        'virtualMachines',
      ],
      [
        'scaleSet',
        'Microsoft.Compute/virtualMachineScaleSets',
        'Microsoft.Compute/virtualMachineScaleSets/write',
        'microsoft.compute/virtualmachinescalesets',
        'virtualMachineScaleSets',
      ],
    ]);
  });

  it('parses either kind case-insensitively into a normalised ref, and nothing else', () => {
    expect(parseTargetId(`${base}/microsoft.compute/VIRTUALMACHINES/vm-a`)).toEqual({
      subscriptionId: SUB,
      resourceGroup: 'rg-apps',
      name: 'vm-a',
      id: `${base}/Microsoft.Compute/virtualMachines/vm-a`,
      kind: 'vm',
      type: 'Microsoft.Compute/virtualMachines',
    });
    expect(parseTargetId(`${base}/Microsoft.Compute/virtualMachineScaleSets/ss-a`)?.kind).toBe('scaleSet');
    expect(parseTargetId(`${base}/Microsoft.Compute/virtualMachineScaleSets/ss-a`, 'vm')).toBeUndefined();
    expect(parseTargetId(`${base}/Microsoft.Compute/disks/d-a`)).toBeUndefined();
    expect(
      parseTargetId(`${base}/Microsoft.Compute/virtualMachines/../virtualMachines/vm-a`),
    ).toBeUndefined();
  });

  it('finds the target of a tags scope, and the kind of a write operation', () => {
    expect(
      targetIdFromTagsScope(
        `${base}/Microsoft.Compute/virtualMachines/vm-a/providers/Microsoft.Resources/tags/default`,
      ),
    ).toBe(`${base}/Microsoft.Compute/virtualMachines/vm-a`);
    expect(
      targetIdFromTagsScope(
        `${base}/Microsoft.Storage/storageAccounts/sa/providers/Microsoft.Resources/tags/default`,
      ),
    ).toBeUndefined();
    expect(kindByWriteOperation('microsoft.compute/virtualmachinescalesets/write')?.name).toBe('scaleSet');
    expect(kindByWriteOperation('Microsoft.Compute/disks/write')).toBeUndefined();
  });

  it('knows each kind identity model and what an attached identity reaches', () => {
    const [vm, scaleSet] = TARGET_KINDS;
    expect(vm?.identityModel(undefined)).toBe('both');
    expect(scaleSet?.identityModel('Uniform')).toBe('both');
    expect(scaleSet?.identityModel('Flexible')).toBe('user-assigned');
    expect(vm?.attachReach(undefined)).toBeUndefined();
    expect(scaleSet?.attachReach('Uniform')).toMatch(/every instance has it without an upgrade/);
    expect(scaleSet?.attachReach('Flexible')).toMatch(/through their own acrPull tag/);
  });

  it("lists every kind's Resource Graph type for the queries", () => {
    expect(resourceGraphTypes()).toBe(
      "'microsoft.compute/virtualmachines', 'microsoft.compute/virtualmachinescalesets'",
    );
  });
});
