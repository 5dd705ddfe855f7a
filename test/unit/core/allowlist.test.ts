import { decideByName, isRegistryAllowed, parseAllowlist } from '../../../src/core/allowlist';

const SUB = '11111111-1111-1111-1111-111111111111';
const OTHER = '22222222-2222-2222-2222-222222222222';
const reg = (name: string, sub = SUB, rg = 'rg-acr') => ({
  name,
  id: `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.ContainerRegistry/registries/${name}`,
});

describe('registry allowlist', () => {
  it('denies everything when empty', () => {
    expect(isRegistryAllowed(reg('contosoapps'), parseAllowlist(''))).toBe(false);
  });

  it('allows everything with *', () => {
    expect(isRegistryAllowed(reg('contosoapps'), parseAllowlist('*'))).toBe(true);
  });

  it('matches names case-insensitively', () => {
    expect(isRegistryAllowed(reg('contosoapps'), parseAllowlist('ContosoApps'))).toBe(true);
    expect(isRegistryAllowed(reg('contosoapps2'), parseAllowlist('ContosoApps'))).toBe(false);
  });

  it('matches registry ids case-insensitively', () => {
    const rules = parseAllowlist(
      reg('contosoapps').id.toUpperCase().replace('/SUBSCRIPTIONS', '/subscriptions'),
    );
    expect(isRegistryAllowed(reg('contosoapps'), rules)).toBe(true);
    expect(isRegistryAllowed(reg('contosoapps', OTHER), rules)).toBe(false);
  });

  it('matches scope prefixes on segment boundaries only', () => {
    const rules = parseAllowlist(`/subscriptions/${SUB}/resourceGroups/rg-acr`);
    expect(isRegistryAllowed(reg('contosoapps'), rules)).toBe(true);
    expect(isRegistryAllowed(reg('contosoapps', SUB, 'rg-acr-evil'), rules)).toBe(false);
    expect(isRegistryAllowed(reg('contosoapps', OTHER), rules)).toBe(false);
  });

  it('accepts a subscription scope', () => {
    expect(isRegistryAllowed(reg('contosoapps'), parseAllowlist(`/subscriptions/${SUB}`))).toBe(true);
  });

  it.each(['my-registry', '/subscriptions/not-a-guid', `/subscriptions/${SUB}/resourceGroups/../x`, '**'])(
    'refuses the entry %s at startup',
    (entry) => {
      expect(() => parseAllowlist(entry)).toThrow(/is not a registry name, a registry resource id, a scope/);
    },
  );

  it('decides by name alone only when a name rule or * decides', () => {
    expect(decideByName('contosoapps', parseAllowlist('contosoapps'))).toBe('allowed');
    expect(decideByName('other12', parseAllowlist('contosoapps'))).toBe('denied');
    expect(decideByName('other12', parseAllowlist(`contosoapps /subscriptions/${SUB}`))).toBe('needs-id');
    expect(decideByName('other12', parseAllowlist('*'))).toBe('allowed');
  });
});
