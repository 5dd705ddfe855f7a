// The echo of the app's own PATCH (Event Grid's VM write event whose claims name the app's identity)
// costs no ARM request at all; the same event from anyone else is handled as usual.
import { startHarness, writeSuccessEvent } from '../support/harness';

const CLAIM_OID = 'http://schemas.microsoft.com/identity/claims/objectidentifier';

describe('the echo of the app’s own write', () => {
  it('costs no ARM request, and a VM write by anyone else is read as usual', async () => {
    const h = await startHarness();
    try {
      const vm = h.seedVm('vm-echo', 'contosoapps');
      expect((await h.deliver(vm.id))?.outcome).toBe('changed');
      const withClaims = (claims: Record<string, string>) => {
        const e = writeSuccessEvent(vm.id);
        return { ...e, data: { ...e.data, claims } };
      };

      h.emu.resetCounts();
      const own = await h.deliverRaw(
        withClaims({ [CLAIM_OID]: h.emu.appIdentity.principalId, appid: h.emu.appIdentity.clientId }),
      );
      expect(own).toBeUndefined();
      expect(h.emu.totals()).toMatchObject({ reads: 0, writes: 0, polls: 0 });

      // Someone else's write (their object id, even with the app's client id: a different principal).
      const theirs = await h.deliverRaw(
        withClaims({
          [CLAIM_OID]: 'f00dface-0000-4000-8000-000000000001',
          appid: h.emu.appIdentity.clientId,
        }),
      );
      expect(theirs?.outcome).toBe('compliant');
      expect(h.emu.totals().reads).toBe(1);

      // A tag write is never the app's, whoever the claims name.
      h.emu.resetCounts();
      const tags = writeSuccessEvent(vm.id, { operationName: 'Microsoft.Resources/tags/write' });
      const tagEvent = {
        ...tags,
        data: { ...tags.data, claims: { [CLAIM_OID]: h.emu.appIdentity.principalId } },
      };
      expect((await h.deliverRaw(tagEvent))?.outcome).toBe('compliant');
    } finally {
      await h.close();
    }
  });
});
