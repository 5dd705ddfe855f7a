import {
  appPullIdentityCount,
  foreignIdentities,
  identityLimitReason,
  isAppPullIdentity,
} from '../../../src/core/identityGroup';
import { identityOverride } from '../../../src/core/pullIdentity';
import { regionAllowed, regionDeniedReason } from '../../../src/core/regions';

describe('ACRPULL_REGIONS', () => {
  it('an empty list allows every region; otherwise only those listed, compared as ARM writes location', () => {
    expect(regionAllowed([], 'japaneast')).toBe(true);
    expect(regionAllowed(['eastus', 'westeurope'], 'West Europe')).toBe(true);
    expect(regionAllowed(['eastus'], 'eastus2')).toBe(false);
    expect(regionDeniedReason(['eastus'], 'Japan East', 'contosoapps')).toMatch(
      /^the target is in japaneast, which ACRPULL_REGIONS \(eastus\) does not list/,
    );
  });
});

describe('the identity resource group', () => {
  const SUB = '11111111-1111-1111-1111-111111111111';
  const rg = `/subscriptions/${SUB}/resourceGroups/rg-identities`;
  const id = (name: string) => `${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
  const self = { clientId: 'app-client', objectId: 'app-object' };
  const made = (name: string, createdBy = 'app-client') => ({ id: id(name), name, createdBy });
  const override = identityOverride({
    subscriptionId: SUB,
    resourceGroup: 'rg-identities',
    name: 'id-team-pull',
  });
  const settings = {
    trustedCreators: ['pipeline@contoso.com'],
    identityOverrides: new Map([['contosoapps', override]]),
  };
  const identities = [
    made('id-acrpull-contosoapps-eastus'),
    made('id-acrpull-contosoapps-westus', 'app-object'),
    made('id-acrpull-fabrikam01-eastus', 'pipeline@contoso.com'), // a trusted creator counts as the app
    made('id-acrpull-fabrikam01-westus', 'mallory@contoso.com'), // a look-alike
    made('id-something-else'), // the app's, not a pull identity
    made('id-team-pull', 'alice@contoso.com'), // an override
    made('id-build-agent', 'bob@contoso.com'),
  ];

  it('counts the app’s pull identities only (name and systemData), trusted creators included', () => {
    expect(appPullIdentityCount(identities, self, settings.trustedCreators)).toBe(3);
    expect(isAppPullIdentity(made('id-acrpull-fabrikam01-westus', 'mallory@contoso.com'), self, [])).toBe(
      false,
    );
    expect(identityLimitReason(200, 200, 'id-acrpull-x1234-eastus', rg)).toContain(
      'ACRPULL_MAX_PULL_IDENTITIES=200',
    );
  });

  it('reports as foreign every identity the app did not make that is not an override', () => {
    const foreign = foreignIdentities(identities, self, settings);
    expect(foreign.map((f) => [f.identity.name, f.creator])).toEqual([
      ['id-acrpull-fabrikam01-westus', 'mallory@contoso.com'],
      ['id-build-agent', 'bob@contoso.com'],
    ]);
  });
});
