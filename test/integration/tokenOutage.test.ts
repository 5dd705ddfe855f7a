// Its own file: the managed-identity client caches tokens per module registry, and this test needs
// the first token request of the file to meet the outage.
import { RetryableReconcileError } from '../../src/handlers/vmWriteHandler';
import { startHarness } from '../support/harness';

it('a token-endpoint outage stays within the time budget and asks for redelivery; afterwards the event succeeds', async () => {
  const h = await startHarness({ env: { ACRPULL_EVENT_TIME_BUDGET_SECONDS: '3' } });
  try {
    const vm = h.seedVm('vm-token-outage', 'contosoapps');
    h.emu.injectFault({ operation: 'token', status: 503, code: 'ServiceUnavailable', count: 10_000 });
    const started = Date.now();

    const error = await h.deliver(vm.id).catch((e: unknown) => e);

    // The budget is 3 s; unbounded, the credential's own retries take about two minutes. The bound is
    // loose on purpose (a loaded 2-core CI machine), yet far below what an unbounded wait would take.
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(error).toBeInstanceOf(RetryableReconcileError);
    expect(h.audit.records.find((r) => r.action === 'failed')).toMatchObject({ retryable: true });
    h.emu.clearFaults();
    expect((await h.deliver(vm.id))?.outcome).toBe('changed');
  } finally {
    await h.close();
  }
}, 60_000);
