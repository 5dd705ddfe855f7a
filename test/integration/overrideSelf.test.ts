// An operator override that names the app's own identity is refused: attached to VMs, it would give
// every workload on them the app's permissions. In its own file because the app must run as a
// user-assigned identity here, and MSAL remembers a process's managed-identity endpoint from its
// first request (a second emulator in the same file would have a different one).
import type { AuditRecord } from '../../src/audit/auditRecord';
import { fleet } from '../support/fleet';
import { SUB, startHarness } from '../support/harness';

const actions = (records: readonly AuditRecord[]) => records.map((r) => `${r.action}:${r.outcome}`);

describe('identity overrides', () => {
  it('refuses an override that is the app’s own identity: every VM would get the app’s permissions', async () => {
    // The app runs as a user-assigned identity (as deployed); the operator names it as an override.
    const appUai = `/subscriptions/${SUB}/resourceGroups/rg-acrpull-app/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-acrpull-app`;
    const h = await startHarness({ env: { ACRPULL_IDENTITY_OVERRIDES: `contosoapps=${appUai}` } });
    const saved = process.env.AZURE_CLIENT_ID;
    try {
      const own = fleet(h.emu).identity('id-acrpull-app', { resourceGroup: 'rg-acrpull-app' });
      process.env.AZURE_CLIENT_ID = own.clientId; // read when a runtime starts (coldDeliver: a new one)
      const vm = h.seedVm('vm-override', 'contosoapps', 'eastus');
      h.emu.resetCounts();

      const result = await h.coldDeliver(vm.id);

      expect(actions(result?.records ?? [])).toEqual(['identity-refused:rejected']);
      expect(result?.records[0]?.reason).toContain("names the app's own identity");
      expect(h.emu.totals().writes).toBe(0);
    } finally {
      if (saved === undefined) delete process.env.AZURE_CLIENT_ID;
      else process.env.AZURE_CLIENT_ID = saved;
      await h.close();
    }
  });
});
