// Property-based, through the real handler and SDK clients: hostile tags and hostile events never
// escape as exceptions and never cause a write.
import fc from 'fast-check';
import { type Harness, SUB, startHarness, writeSuccessEvent } from '../support/harness';

const hostileTag = fc
  .array(
    fc.oneof(
      fc.constantFrom(',', ';', ' ', '/', '.', '..', '\\', '*', "'", '"', 'é', '😀', '\u202e', '%00'),
      fc.constantFrom(
        'contosoapps',
        'secretregistry',
        '.azurecr.io',
        '/subscriptions/',
        SUB,
        '/resourceGroups/rg-registries',
      ),
      fc.constantFrom(
        '/providers/Microsoft.ContainerRegistry/registries/',
        'Microsoft.Storage/storageAccounts/',
        'abcd',
      ),
      fc.string({ maxLength: 6 }),
    ),
    { minLength: 1, maxLength: 12 },
  )
  .map((parts) => parts.join(''))
  // A tag that really names an allowed registry is a legitimate request, not hostile input.
  .filter((value) => !/(^|[\s,;/])contosoapps(\.azurecr\.io)?($|[\s,;])/i.test(value));

describe('hostile input through the handler', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('a hostile tag value never throws and never writes', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(hostileTag, async (value) => {
        const vm = h.seedVm(`vm-hostile-${n++}`, value);
        const writesBefore = h.emu.totals().writes;
        const result = await h.deliver(vm.id);
        expect(['rejected', 'untagged', 'compliant']).toContain(result?.outcome);
        expect(h.emu.totals().writes).toBe(writesBefore);
      }),
      { numRuns: 60 },
    );
  });

  it('a hostile event never throws and never writes', async () => {
    // The target would be changed by any event that reached it: allowed registry, nothing attached.
    const vm = h.seedVm('vm-target', 'contosoapps');
    const legitimate = new Set(
      [vm.id, `${vm.id}/providers/Microsoft.Resources/tags/default`].map((x) => x.toLowerCase()),
    );
    const nearMisses = fc.constantFrom(
      `${vm.id}/../../virtualMachines/other`,
      `${vm.id}/`,
      `${vm.id}%2F`,
      `${vm.id}/providers/Microsoft.Resources/tags/default/..`,
      `${vm.id}/providers/Microsoft.Resources/tags/other`,
      vm.id.replace('/virtualMachines/', '/virtualMachineScaleSets/'),
      ` ${vm.id}`,
      `${vm.id}\u0000`,
      vm.id.replace('/subscriptions/', '/subscriptions//'),
    );
    const event = fc
      .record({
        id: fc.oneof(fc.string(), fc.integer(), fc.constant(undefined)),
        eventType: fc.oneof(fc.constant('Microsoft.Resources.ResourceWriteSuccess'), fc.string()),
        subject: fc.oneof(fc.string(), nearMisses),
        data: fc.oneof(
          fc.anything(),
          fc.record({
            operationName: fc.constantFrom(
              'Microsoft.Compute/virtualMachines/write',
              'Microsoft.Resources/tags/write',
              'x',
            ),
            resourceUri: fc.oneof(fc.string(), nearMisses),
            claims: fc.anything(),
          }),
        ),
      })
      // Only hostile input: nothing that names the VM the way ARM does.
      .filter((e) => {
        const data = e.data as { resourceUri?: unknown } | null;
        const target =
          typeof data === 'object' && data !== null && typeof data.resourceUri === 'string'
            ? data.resourceUri
            : e.subject;
        return typeof target !== 'string' || !legitimate.has(target.toLowerCase());
      });
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.anything(), event), async (hostile) => {
        const writesBefore = h.emu.totals().writes;
        await h.deliverRaw(hostile);
        expect(h.emu.totals().writes).toBe(writesBefore);
      }),
      { numRuns: 200 },
    );
    // while a well-formed event for that VM does change it: the property was not vacuous
    expect((await h.deliverRaw(writeSuccessEvent(vm.id)))?.outcome).toBe('changed');
  });
});
