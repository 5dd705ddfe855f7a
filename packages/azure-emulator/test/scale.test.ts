// The emulator at the benchmark's scale: 10,000 VMs seeded and queried quickly, async operations
// indexed by VM and bounded in number. Time limits are generous (a shared CI machine is noisy): they
// catch accidental quadratic work, not small regressions.
import { type Emulator, startEmulator } from '../src';
import { FINISHED_OPERATIONS_KEPT, Store } from '../src/store';
import { rawArm } from '../src/testing';

const SUBS = [
  '00000000-0000-0000-0000-000000000001',
  '00000000-0000-0000-0000-000000000002',
  '00000000-0000-0000-0000-000000000003',
];
const QUERY = [
  'resources',
  "| where type =~ 'microsoft.compute/virtualmachines'",
  '| mv-expand bagexpansion=array tags',
  "| where tostring(tags[0]) =~ 'acrPull'",
  '| project id, location, tagKey = tostring(tags[0]), tagValue = tostring(tags[1]), identity',
].join('\n');

describe('a 10,000-VM fleet', () => {
  let emu: Emulator;
  let seedMs = 0;

  beforeAll(async () => {
    emu = await startEmulator();
    const started = performance.now();
    for (let i = 0; i < 10_000; i += 1) {
      emu.seedVm({
        subscriptionId: SUBS[i % 3] ?? '',
        resourceGroup: `rg-${i % 10}`,
        name: `vm-${i}`,
        location: 'westeurope',
        tags: { acrPull: `registry${i % 4}` },
      });
    }
    seedMs = performance.now() - started;
  });

  afterAll(() => emu.close());

  it('seeds in well under a second', () => {
    expect(emu.listVms()).toHaveLength(10_000);
    expect(seedMs).toBeLessThan(1500);
  });

  it('answers 1,000-row Resource Graph pages quickly, the first of a sweep included', async () => {
    const timings: number[] = [];
    let skipToken: string | undefined;
    let rows = 0;
    do {
      const started = performance.now();
      const res = await rawArm(
        emu,
        'POST',
        '/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01',
        {
          body: {
            query: QUERY,
            subscriptions: SUBS,
            options: { $top: 1000, ...(skipToken ? { $skipToken: skipToken } : {}) },
          },
        },
      );
      timings.push(performance.now() - started);
      rows += (res.body.data as unknown[]).length;
      skipToken = res.body.$skipToken as string | undefined;
    } while (skipToken);

    expect(rows).toBe(10_000);
    expect(timings).toHaveLength(10);
    expect(Math.max(...timings)).toBeLessThan(500);
  });
});

describe('async operations', () => {
  it('finds a VM’s running operation without scanning, and forgets the oldest finished ones', () => {
    const store = new Store('tenant');
    store.addResourceGroup(SUBS[0] ?? '', 'rg', 'westeurope');
    const vm = store.createVm({
      subscriptionId: SUBS[0] ?? '',
      resourceGroup: 'rg',
      name: 'vm',
      location: 'westeurope',
    });
    const names: string[] = [];
    let indexed = true;

    const started = performance.now();
    for (let i = 0; i < FINISHED_OPERATIONS_KEPT + 2000; i += 1) {
      indexed &&= store.runningOperationFor(vm) === undefined;
      const op = store.startOperation(vm, {
        kind: 'update',
        startedBy: 'test',
        durationMs: 60_000,
      });
      indexed &&= store.runningOperationFor(vm) === op;
      op.deadlineMs = 0; // its time has passed: the next poll finishes it
      store.pollOperation(op);
      names.push(op.name);
    }
    const elapsed = performance.now() - started;

    expect(indexed).toBe(true);
    expect(store.getOperation(names[0] ?? '')).toBeUndefined();
    expect(store.getOperation(names[names.length - 1] ?? '')?.status).toBe('Succeeded');
    expect(store.getOperation(names[names.length - FINISHED_OPERATIONS_KEPT + 1000] ?? '')).toBeDefined();
    expect(elapsed).toBeLessThan(1000);
  });
});
