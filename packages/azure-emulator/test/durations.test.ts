// Operation durations: drawn from the recorded range by default (durations.ts), fixed when told.

import { durationSource, RECORDED_CREATE_MS, RECORDED_UPDATE_MS, startEmulator } from '../src';
import { rawArm } from '../src/testing';

const SUB = '11111111-1111-1111-1111-111111111111';

describe('durationSource', () => {
  it('a number is the same every time', () => {
    const next = durationSource(250);
    expect([next(), next(), next()]).toEqual([250, 250, 250]);
  });

  it('a range is drawn within its bounds, spread over it, the same for the same seed', () => {
    const draws = Array.from({ length: 2_000 }, durationSource(RECORDED_UPDATE_MS, 7));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(3_300);
    expect(Math.max(...draws)).toBeLessThanOrEqual(7_000);
    // Spread: each third of the range gets a fair share (uniform: about 667 each).
    const thirds = [0, 0, 0];
    for (const d of draws) {
      const third = Math.min(2, Math.floor(((d - 3_300) / 3_700) * 3));
      thirds[third] = (thirds[third] ?? 0) + 1;
    }
    for (const count of thirds) expect(count).toBeGreaterThan(550);
    expect(Array.from({ length: 2_000 }, durationSource(RECORDED_UPDATE_MS, 7))).toEqual(draws);
    expect(Array.from({ length: 20 }, durationSource(RECORDED_UPDATE_MS, 8))).not.toEqual(draws.slice(0, 20));
  });

  it('refuses a range that is upside down or not a duration', () => {
    expect(() => durationSource({ minMs: 5, maxMs: 1 })).toThrow(/must not be below/);
    expect(() => durationSource(-1)).toThrow(/finite number >= 0/);
    expect(() => durationSource({ minMs: 0, maxMs: Number.NaN })).toThrow(/finite number >= 0/);
  });
});

describe("the emulator's operations", () => {
  it('by default, each update runs as long as recorded identity updates (3.3-7.0 s), not all alike', async () => {
    const emu = await startEmulator();
    try {
      emu.seedResourceGroup(SUB, 'rg', 'eastus');
      for (let i = 0; i < 10; i++) {
        const vm = emu.seedVm({
          subscriptionId: SUB,
          resourceGroup: 'rg',
          name: `vm-${i}`,
          location: 'eastus',
        });
        const res = await rawArm(emu, 'PATCH', `${vm.id}?api-version=2024-11-01`, {
          body: { tags: { a: 'b' } },
        });
        expect(res.status).toBe(200);
      }
      const runs = emu.vmOperations().map((op) => op.runsForMs);
      expect(runs).toHaveLength(10);
      for (const ms of runs) {
        expect(ms).toBeGreaterThanOrEqual(RECORDED_UPDATE_MS.minMs);
        expect(ms).toBeLessThanOrEqual(RECORDED_UPDATE_MS.maxMs);
      }
      expect(new Set(runs).size).toBeGreaterThan(5);
    } finally {
      await emu.close();
    }
  });

  it('a creation seeded without its length runs as long as recorded creations', async () => {
    const emu = await startEmulator();
    try {
      emu.seedResourceGroup(SUB, 'rg', 'eastus');
      const vm = emu.seedVm({
        subscriptionId: SUB,
        resourceGroup: 'rg',
        name: 'vm-new',
        location: 'eastus',
        provisioning: {},
      });
      const [op] = emu.vmOperations(vm.id);
      expect(op).toMatchObject({ kind: 'create', status: 'InProgress' });
      expect(op?.runsForMs).toBeGreaterThanOrEqual(RECORDED_CREATE_MS.minMs);
      expect(op?.runsForMs).toBeLessThanOrEqual(RECORDED_CREATE_MS.maxMs);
    } finally {
      await emu.close();
    }
  });
});
