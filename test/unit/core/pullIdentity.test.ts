import { loadSettings } from '../../../src/config/settings';
import { isPullIdentityId, pullIdentityFor } from '../../../src/core/pullIdentity';

const SUB = '11111111-1111-1111-1111-111111111111';
const RG = `/subscriptions/${SUB}/resourceGroups/rg-identities`;
const uai = (rg: string, name: string) =>
  `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;

describe('which attached identities are the app’s pull identities', () => {
  const settings = loadSettings({
    ACRPULL_IDENTITY_RESOURCE_GROUP: RG,
    ACRPULL_IDENTITY_OVERRIDES: `teamregistry=${uai('rg-team', 'id-team-pull')}`,
  });

  it('a shared id-acrpull-… identity in the identity resource group, in any casing', () => {
    const id = pullIdentityFor(settings, 'contosoapps', 'eastus').id;
    expect(isPullIdentityId(settings, id)).toBe(true);
    expect(isPullIdentityId(settings, id.toLowerCase().replace('resourcegroups', 'resourceGroups'))).toBe(
      true,
    );
  });

  it('an operator override', () => {
    expect(isPullIdentityId(settings, uai('rg-team', 'id-team-pull'))).toBe(true);
  });

  it.each([
    ['the same name in another resource group', uai('rg-apps', 'id-acrpull-contosoapps-eastus')],
    ['another name in the identity resource group', uai('rg-identities', 'id-batch')],
    ['a name that only starts like ours', uai('rg-identities', 'id-acrpullx')],
    ['not an identity id', `${RG}/providers/Microsoft.Compute/virtualMachines/id-acrpull-x`],
  ])('not %s', (_, id) => {
    expect(isPullIdentityId(settings, id)).toBe(false);
  });
});
