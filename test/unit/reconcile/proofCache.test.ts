import { PROOF_TTL_MS, ProofCache } from '../../../src/reconcile/proofCache';

const ID =
  '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-acrpull-a-eastus';

describe('proofs of ownership', () => {
  it('forgets the old principal once the identity is proven for a new one (deleted and re-created)', () => {
    const cache = new ProofCache(() => 0);
    cache.remember(ID, 'old-principal');
    expect(cache.has(ID, 'old-principal')).toBe(true);
    cache.remember(ID.toUpperCase(), 'new-principal');
    expect(cache.has(ID, 'old-principal')).toBe(false);
    expect(cache.has(ID, 'new-principal')).toBe(true);
    expect(cache.has(ID, undefined)).toBe(true);
  });

  it('trusts a proof for its lifetime only', () => {
    let now = 0;
    const cache = new ProofCache(() => now);
    cache.remember(ID, 'p');
    now = PROOF_TTL_MS;
    expect(cache.has(ID, 'p')).toBe(false);
  });
});
