// ARM answers the emulator only produces on request: a lost status URL, a lock.
import { type Harness, startHarness } from '../support/harness';

describe('ARM edge cases', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('a status URL that answers 404 is not mistaken for a deleted VM', async () => {
    const vm = h.seedVm('vm-lost-status', 'contosoapps');
    h.emu.injectFault({
      operation: 'vm.operationStatus',
      status: 404,
      code: 'NotFound',
      message: 'The entity was not found in this Azure location.',
    });

    const result = await h.deliver(vm.id);

    expect(result?.outcome).toBe('changed');
    expect(result?.records.some((r) => r.action === 'vm-not-found')).toBe(false);
    expect(Object.keys(h.emu.getVm(vm.id)?.identity?.userAssignedIdentities ?? {})).toHaveLength(1);
  });

  it('a lock on the VM is terminal: audited once, no retries, no redelivery', async () => {
    const vm = h.seedVm('vm-locked', 'contosoapps');
    h.emu.injectFault({
      operation: 'vm.patch',
      status: 409,
      code: 'ScopeLocked',
      message:
        "The scope '/subscriptions/…/resourceGroups/rg-apps' cannot perform write operation because following scope(s) are locked.",
      count: 100,
    });

    const result = await h.deliver(vm.id);

    expect(result).toMatchObject({ outcome: 'failed', retryable: false });
    expect(h.emu.counts()['vm.patch']).toBe(1);
    expect(result?.records.find((r) => r.action === 'failed')?.reason).toMatch(/ScopeLocked/);
  });
});
