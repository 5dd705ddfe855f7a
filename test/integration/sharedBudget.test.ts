// Two app instances (two runtimes, each with its own pacing, one identity) against one emulator with
// small ARM buckets: a storm of events spread over both converges, every event delivered. Each
// instance slows on the remaining-count headers both of them drain, and pauses a bucket on a 429.

import { deliverWithRetries } from '@acrpull/azure-emulator';
import { InvocationContext } from '@azure/functions';
import { MemoryAuditSink } from '../../src/audit/auditRecord';
import { createVmWriteHandler } from '../../src/handlers/vmWriteHandler';
import { createRuntime } from '../../src/runtime';
import { drainReadsUntil, startHarness, writeSuccessEvent } from '../support/harness';

it('a 429 storm across two instances sharing one emulator converges, no event given up', async () => {
  const h = await startHarness();
  try {
    const second = createRuntime(h.runtime.settings, {
      caCertPem: h.emu.caCertPem,
      audit: new MemoryAuditSink(),
      log: { debug() {}, info() {}, warn() {}, error() {} },
      warnAtStartup: false,
    });
    const handlers = [createVmWriteHandler(h.runtime), createVmWriteHandler(second)];
    const vms = Array.from({ length: 24 }, (_, i) =>
      h.seedVm(`vm-storm-${i}`, i % 2 ? 'contosoapps' : 'fabrikamabac'),
    );
    // Buckets far smaller than ARM's, shared by both instances (same identity, same subscription).
    h.emu.setThrottle({ reads: { burst: 30, perSecond: 20 }, writes: { burst: 8, perSecond: 6 } });
    const context = () =>
      new InvocationContext({ functionName: 'vmWriteEvent', invocationId: 'storm', logHandler: () => {} });

    const delivering = Promise.all(
      vms.map((vm, i) => {
        const handler = handlers[i % 2] as (typeof handlers)[number];
        const event = writeSuccessEvent(vm.id);
        return deliverWithRetries(() => handler(event, context()), { timeScale: 0.02, maxAttempts: 30 });
      }),
    );
    // A third instance spends the reads until one of the two has met a 429: the storm is met.
    const stormMet = await drainReadsUntil(
      h.emu,
      `${vms[0]?.id}?api-version=2024-07-01`,
      () => h.runtime.meter.snapshot().throttled + second.meter.snapshot().throttled > 0,
    );
    const deliveries = await delivering;

    expect(stormMet).toBe(true);
    expect(deliveries.filter((d) => !d.delivered)).toEqual([]);
    for (const vm of vms)
      expect(Object.keys(h.emu.getVm(vm.id)?.identity?.userAssignedIdentities ?? {})).toHaveLength(1);
    expect(h.emu.throttled().total).toBeGreaterThan(0); // it was a storm
    expect(h.runtime.meter.pacedByArm() + second.meter.pacedByArm()).toBeGreaterThan(0);
  } finally {
    await h.close();
  }
}, 120_000);
