// How long Compute's operations run. Recorded traffic: the four identity PATCHes of azure-cli's
// test_vm_explicit_msi.yaml (recorded 2026-01-12, westus, api 2024-11-01) took 5.0, 3.3, 7.0 and
// 5.3 s from the operation's startTime to its endTime. VM creations take longer: in the same recording
// the VM's provisioning succeeded about 41 s after its deployment was accepted, in a 2019 copy of it
// the deployment took 113 s, and Compute answered the first poll of recorded creations with
// Retry-After 50 and 70 s (azure-sdk-for-js recording_virtualmachines_create_test.json,
// azure-powershell TestVirtualMachineIdentity.json). A few samples say a range, not a shape: each
// operation's duration is drawn uniformly from the recorded range. The draw is seeded, so a run
// repeats.

/** A fixed duration, or a range to draw each operation's duration from. */
export type OperationDuration = number | { readonly minMs: number; readonly maxMs: number };

/** VM and scale set identity updates: 3.3 to 7.0 s (test_vm_explicit_msi.yaml). */
export const RECORDED_UPDATE_MS = { minMs: 3_300, maxMs: 7_000 } as const;

/** VM creations: 41 to 113 s (test_vm_explicit_msi.yaml, 2026 and 2019 recordings). */
export const RECORDED_CREATE_MS = { minMs: 41_000, maxMs: 113_000 } as const;

/** A duration source for `spec`: the same number each time, or seeded uniform draws from its range. */
export function durationSource(spec: OperationDuration, seed = 1): () => number {
  if (typeof spec === 'number') {
    checkMs(spec, 'operationDurationMs');
    return () => spec;
  }
  checkMs(spec.minMs, 'operationDurationMs.minMs');
  checkMs(spec.maxMs, 'operationDurationMs.maxMs');
  if (spec.maxMs < spec.minMs)
    throw new Error(
      `emulator: operationDurationMs.maxMs (${spec.maxMs}) must not be below minMs (${spec.minMs})`,
    );
  const next = mulberry32(seed);
  return () => Math.round(spec.minMs + (spec.maxMs - spec.minMs) * next());
}

function checkMs(value: number, what: string): void {
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`emulator: ${what} must be a finite number >= 0, not ${value}`);
}

/**
 * A small seeded generator (mulberry32): a number in [0, 1) per call, the same seed giving the same
 * sequence. Written here rather than taken from a package: it is eight lines, and the emulator keeps
 * no runtime dependency for it. The fault matrix draws its scenario from it too.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
