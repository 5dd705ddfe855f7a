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
    const vm = h.seedVm('vm-target', 'secretregistry');
    const mutation = fc.record({
      id: fc.oneof(fc.string(), fc.integer(), fc.constant(undefined)),
      eventType: fc.oneof(fc.constant('Microsoft.Resources.ResourceWriteSuccess'), fc.string()),
      subject: fc.oneof(fc.string(), fc.constant(vm.id)),
      data: fc.oneof(
        fc.anything(),
        fc.record({
          operationName: fc.constantFrom(
            'Microsoft.Compute/virtualMachines/write',
            'Microsoft.Resources/tags/write',
            'x',
          ),
          resourceUri: fc.oneof(
            fc.string(),
            fc.constant(`${vm.id}/../../virtualMachines/other`),
            fc.constant(`${vm.id}/providers/Microsoft.Resources/tags/default`),
          ),
          claims: fc.anything(),
        }),
      ),
    });
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.anything(), mutation), async (event) => {
        const writesBefore = h.emu.totals().writes;
        await expect(h.deliverRaw(event)).resolves.not.toThrow();
        expect(h.emu.totals().writes).toBe(writesBefore);
      }),
      { numRuns: 150 },
    );
    // and a well-formed event for that VM is still handled (the VM asks for a denied registry)
    expect((await h.deliverRaw(writeSuccessEvent(vm.id)))?.outcome).toBe('rejected');
  });
});
