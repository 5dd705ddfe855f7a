// judgePending: the app's accepted attach, and the target read now → running, succeeded (confirmed
// identities) or failed (sent again). Pure.
import { identityFacts } from '../../../src/core/identityView';
import { judgePending, type PendingOperation } from '../../../src/core/pendingOperation';

const RG = '/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-identities';
const id = (name: string) => `${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
const pending: PendingOperation = {
  identities: [id('id-acrpull-a-eastus'), id('id-acrpull-b-eastus')],
  acceptedAt: 1,
};
const holding = (...names: string[]) =>
  identityFacts({
    type: 'UserAssigned',
    userAssignedIdentities: Object.fromEntries(names.map((n) => [id(n).toUpperCase(), {}])),
  });

describe('judgePending', () => {
  it.each(['Updating', 'Creating', 'Deleting', undefined])('%s: still running, nothing decided', (state) => {
    expect(judgePending(pending, state, holding('id-acrpull-a-eastus'))).toEqual({ kind: 'running' });
  });

  it('Succeeded: confirms the pending identities the target holds (any case), not those removed since', () => {
    expect(judgePending(pending, 'Succeeded', holding('id-acrpull-a-eastus', 'owner'))).toEqual({
      kind: 'succeeded',
      held: [id('id-acrpull-a-eastus')],
    });
  });

  it('Failed, and the operation’s own status Failed (or Canceled): every pending identity is sent again', () => {
    for (const status of ['Failed', 'Canceled']) {
      const verdict = judgePending(pending, 'failed', holding('id-acrpull-a-eastus'), status);
      expect(verdict.kind).toBe('failed');
      expect(verdict.kind === 'failed' && [...verdict.resend]).toEqual(
        pending.identities.map((i) => i.toLowerCase()),
      );
    }
  });

  it('Failed, but the operation Succeeded: a later writer’s failure, not sent again; what it attached is confirmed', () => {
    expect(judgePending(pending, 'Failed', holding('id-acrpull-a-eastus'), 'Succeeded')).toEqual({
      kind: 'succeeded',
      held: [id('id-acrpull-a-eastus')],
    });
  });

  it.each([undefined, 'unknown'])('Failed, the operation’s status %s: unproven, nothing sent', (status) => {
    const verdict = judgePending(pending, 'Failed', holding(), status);
    expect(verdict).toEqual({
      kind: 'unproven',
      reason: expect.stringMatching(/not sent again, since the failure may be another writer's$/),
    });
  });
});
