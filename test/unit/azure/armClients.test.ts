// Per-subscription SDK clients are kept for at most 1,000 subscriptions: a tag may name a registry id
// in any subscription, and each would otherwise keep a client (and its pipeline) for good. Building a
// client makes no request, so no credential is ever asked here.
import type { TokenCredential } from '@azure/core-auth';
import { createArmClients } from '../../../src/azure/armClients';

const never: TokenCredential = {
  getToken: () => Promise.reject(new Error('no token is needed to build a client')),
};
const sub = (i: number) => `00000000-0000-0000-0000-${i.toString().padStart(12, '0')}`;

describe('ARM clients', () => {
  const clients = () =>
    createArmClients({ armEndpoint: 'https://arm.example', armAudience: 'https://arm.example' }, never);

  it('reuses the client of a subscription (any case)', () => {
    const arm = clients();
    const id = 'AAAAAAAA-0000-0000-0000-000000000000';
    expect(arm.registries(id)).toBe(arm.registries(id.toLowerCase()));
  });

  it('keeps at most 1,000 per kind, the least recently used rebuilt when needed again', () => {
    const arm = clients();
    const first = arm.registries(sub(0));
    const kept = arm.registries(sub(1));
    for (let i = 2; i <= 1000; i++) arm.registries(sub(i));
    expect(arm.registries(sub(1))).toBe(kept); // used again: now the most recent
    arm.registries(sub(1001));
    expect(arm.registries(sub(0))).not.toBe(first);
    expect(arm.registries(sub(1))).toBe(kept);
  });
});
