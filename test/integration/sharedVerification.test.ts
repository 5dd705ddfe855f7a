// Concurrent events of one (registry, region) pair on one instance share the pair's verification
// (identity, grant, role check) and the registry listing: a burst of tag writes costs those reads
// once per instance, not once per event.
import { startHarness } from '../support/harness';

describe('a pair verified once for concurrent events', () => {
  it('eight VMs of one pair delivered at once on a cold instance: one identity read, one role check, one registry listing per subscription', async () => {
    const h = await startHarness();
    try {
      // The pair exists (an earlier run made it); this instance has verified nothing yet.
      const first = h.seedVm('vm-first', 'contosoapps').id;
      await h.coldDeliver(first);
      const vms = Array.from({ length: 8 }, (_, i) => h.seedVm(`vm-burst-${i}`, 'contosoapps').id);
      h.emu.resetCounts();

      const cold = h.coldHandler();
      const results = await Promise.all(vms.map((vm) => cold(vm)));

      expect(results.map((r) => r?.outcome)).toEqual(vms.map(() => 'changed'));
      const counts = h.emu.counts();
      expect({
        identity: counts['identity.get'],
        grants: counts['roleAssignment.list'],
        registries: counts['registry.list'],
        patches: counts['vm.patch'],
      }).toEqual({ identity: 1, grants: expect.any(Number), registries: 1, patches: 8 });
      // The grant read and the role check's listing: one of each, not eight.
      expect(counts['roleAssignment.list']).toBeLessThanOrEqual(2);
    } finally {
      await h.close();
    }
  });
});

/** Eight regions: eight (registry, region) pairs of one registry. */
const REGIONS = [
  'eastus',
  'westus',
  'northeurope',
  'westeurope',
  'eastus2',
  'centralus',
  'uksouth',
  'japaneast',
];

describe('a burst of events meeting many pairs cold', () => {
  it('reads the pull identities from one listing of their group once reads come faster than a listing costs', async () => {
    const h = await startHarness();
    try {
      // The pairs exist (an earlier instance made them); this instance has verified none of them.
      await Promise.all(REGIONS.map((r) => h.coldDeliver(h.seedVm(`vm-made-${r}`, 'contosoapps', r).id)));
      const vms = REGIONS.map((r) => h.seedVm(`vm-burst-${r}`, 'contosoapps', r).id);
      h.emu.resetCounts();

      const cold = h.coldHandler();
      const results = await Promise.all(vms.map((vm) => cold(vm)));

      expect(results.map((r) => r?.outcome)).toEqual(vms.map(() => 'changed'));
      const counts = h.emu.counts();
      // Three single reads, then the fourth and every later one from one listing of the group.
      expect({ gets: counts['identity.get'], lists: counts['identity.list'] }).toEqual({ gets: 3, lists: 1 });
    } finally {
      await h.close();
    }
  });

  it('proves the pull identities compliant targets hold from that listing too (their echoes, say)', async () => {
    const h = await startHarness();
    try {
      const vms = REGIONS.map((r) => h.seedVm(`vm-held-${r}`, 'contosoapps', r).id);
      // Attached by an earlier instance: each VM holds its pair's pull identity, its only identity.
      await Promise.all(vms.map((vm) => h.coldDeliver(vm)));
      h.emu.resetCounts();

      const cold = h.coldHandler();
      const results = await Promise.all(vms.map((vm) => cold(vm)));

      expect(results.map((r) => r?.outcome)).toEqual(vms.map(() => 'compliant'));
      const counts = h.emu.counts();
      expect({ gets: counts['identity.get'], lists: counts['identity.list'] }).toEqual({ gets: 3, lists: 1 });
      expect(h.emu.totals().writes).toBe(0);
    } finally {
      await h.close();
    }
  });
});
