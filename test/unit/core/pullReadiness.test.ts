import {
  GRANT_PROPAGATION_MS,
  pullReadiness,
  type RegistryAccess,
  readinessFields,
  worseReadiness,
} from '../../../src/core/pullReadiness';

const NOW = Date.parse('2026-12-07T12:00:00Z');
const OLD = { createdOn: new Date(NOW - GRANT_PROPAGATION_MS).toISOString() };
const open: RegistryAccess = { sku: 'Premium', ipRules: [], approvedPrivateEndpoints: [] };
const codes = (access: RegistryAccess, grant = OLD) =>
  readinessFields(pullReadiness('acr', access, grant, NOW));

describe('pull readiness', () => {
  it('yes for an open registry and a grant older than 10 minutes', () => {
    expect(codes(open)).toEqual({ pullReady: 'yes' });
  });

  it('pending, with grant-propagating, for a younger grant; unknown when the registry was not read', () => {
    const young = { createdOn: new Date(NOW - GRANT_PROPAGATION_MS + 1).toISOString() };
    expect(codes(open, young)).toEqual({ pullReady: 'pending', blockers: 'grant-propagating' });
    expect(readinessFields(pullReadiness('acr', undefined, OLD, NOW))).toEqual({ pullReady: 'unknown' });
  });

  it.each<[string, RegistryAccess, string, string]>([
    [
      'public access off, no private endpoint',
      { ...open, publicNetworkAccess: 'Disabled' },
      'no',
      'public-access-disabled',
    ],
    [
      'firewall Deny, no rule, no endpoint',
      { ...open, firewallDefaultAction: 'Deny' },
      'no',
      'firewall-denies-all',
    ],
    [
      'public access off, an approved endpoint',
      { ...open, publicNetworkAccess: 'Disabled', approvedPrivateEndpoints: ['/pe'] },
      'unknown',
      'network-path-unverified',
    ],
    [
      'firewall Deny with an IP rule',
      { ...open, firewallDefaultAction: 'Deny', ipRules: ['203.0.113.7'] },
      'unknown',
      'network-path-unverified',
    ],
  ])('%s: %s, %s', (_, access, ready, code) => {
    expect(codes(access)).toEqual({ pullReady: ready, blockers: code });
  });

  it('a firewall on a Standard registry blocks nothing (network rules are Premium only)', () => {
    expect(codes({ ...open, sku: 'Standard', firewallDefaultAction: 'Deny' })).toEqual({ pullReady: 'yes' });
  });

  it('ARM-audience tokens off is a note, not a blocker', () => {
    expect(codes({ ...open, armAudienceTokens: 'disabled' })).toEqual({
      pullReady: 'yes',
      pullNotes: 'arm-audience-disabled',
    });
  });

  it('a target is as ready as its least ready registry', () => {
    expect(worseReadiness('yes', 'pending')).toBe('pending');
    expect(worseReadiness('unknown', 'pending')).toBe('unknown');
    expect(worseReadiness('no', 'unknown')).toBe('no');
  });
});
