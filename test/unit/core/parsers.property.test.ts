// Property-based: random and hostile input never escapes the parsers as an exception, and whatever
// they accept is exactly what the grammar allows.
import fc from 'fast-check';
import { parseRegistryTag } from '../../../src/core/tag';
import { parseWriteEvent } from '../../../src/targets/writeEvent';

const SUB = '11111111-1111-1111-1111-111111111111';
const VM_ID =
  /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[-\w.()]+\/providers\/Microsoft\.Compute\/virtualMachines\/[^/?#\s]+$/;

/** Strings built from the characters that matter to the grammar: separators, path and dot tricks. */
const hostileText = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        ',',
        ';',
        ' ',
        '\t',
        '\n',
        '/',
        '.',
        '..',
        '%2e',
        '\\',
        '*',
        "'",
        '"',
        '\u0000',
        'é',
        '😀',
        '\u202e',
      ),
      fc.constantFrom(
        'contosoapps',
        'azurecr.io',
        '/subscriptions/',
        SUB,
        '/resourceGroups/rg',
        '/providers/',
      ),
      fc.constantFrom('Microsoft.ContainerRegistry/registries/', 'abcde', 'a'.repeat(51)),
      fc.string({ maxLength: 8 }),
    ),
    { maxLength: 30 },
  )
  .map((parts) => parts.join(''));

describe('tag parser properties', () => {
  it('never throws, and accepts only well-formed registry names within the cap', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 400 }), fc.string({ unit: 'grapheme', maxLength: 300 }), hostileText),
        fc.integer({ min: 1, max: 20 }),
        (value, max) => {
          const result = parseRegistryTag(value, max);
          if (result.ok) {
            expect(result.refs.length).toBeGreaterThan(0);
            expect(result.refs.length).toBeLessThanOrEqual(max);
            for (const ref of result.refs) expect(ref.name).toMatch(/^[a-z0-9]{5,50}$/);
            expect(value.length).toBeLessThanOrEqual(256);
          } else {
            expect(result.reason.length).toBeGreaterThan(0);
            // no raw control characters in reasons: hostile text is quoted (JSON-escaped)
            expect([...result.reason].some((ch) => ch.charCodeAt(0) < 0x20)).toBe(false);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('a resource-id reference is accepted only for a registry id, and never with dot segments', () => {
    fc.assert(
      fc.property(hostileText, (tail) => {
        const value = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/${tail}`;
        const result = parseRegistryTag(value, 10);
        if (result.ok) {
          for (const ref of result.refs) {
            if (ref.form === 'resourceId') expect(ref.registry.id.split('/')).not.toContain('..');
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('event parser properties', () => {
  it('never throws on any JSON value', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        const parsed = parseWriteEvent(value);
        expect(['target-write', 'ignored', 'malformed']).toContain(parsed.kind);
      }),
      { numRuns: 2000 },
    );
  });

  it('only ever hands on a strictly shaped VM id', () => {
    const event = fc.record({
      id: fc.oneof(fc.string(), fc.constant('evt')),
      eventType: fc.oneof(fc.constant('Microsoft.Resources.ResourceWriteSuccess'), fc.string()),
      subject: fc.oneof(
        hostileText,
        fc.constant(
          `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1`,
        ),
      ),
      data: fc.record({
        operationName: fc.constantFrom(
          'Microsoft.Compute/virtualMachines/write',
          'Microsoft.Resources/tags/write',
          'x',
        ),
        resourceUri: fc.oneof(
          hostileText,
          hostileText.map(
            (t) => `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/${t}`,
          ),
          hostileText.map(
            (t) =>
              `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm${t}/providers/Microsoft.Resources/tags/default`,
          ),
        ),
        claims: fc.anything(),
      }),
    });
    fc.assert(
      fc.property(event, (value) => {
        const parsed = parseWriteEvent(value);
        if (parsed.kind === 'target-write') {
          expect(parsed.targetId).toMatch(VM_ID);
          expect(parsed.targetId.split('/')).not.toContain('..');
          expect(parsed.targetId.split('/')).not.toContain('.');
        }
      }),
      { numRuns: 2000 },
    );
  });
});
