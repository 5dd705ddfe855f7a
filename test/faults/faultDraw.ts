// The fault draw: which faults the emulator injects on which ARM operations, each drawn at random,
// as its request arrives, from the scenario's seeded PRNG (see generator.ts), and counted by kind.
// Besides ARM's error answers, other writers act on the fleet: owners start updates right before the
// app reads a VM, a concurrent writer adds an identity right before the app's PATCH lands (→ 412), or
// the VM is deleted mid-flight.
import type { FaultRequest, OperationName } from '@acrpull/azure-emulator';
import type { Harness } from '../support/harness';
import { type Fleet, pick, type Rng, targetOf } from './generator';

const READ_OPS: OperationName[] = [
  'vm.get',
  'vmss.get',
  'registry.list',
  'identity.get',
  'roleAssignment.list',
  'graph.query',
  'vm.operationStatus',
];
const WRITE_OPS: OperationName[] = ['identity.put', 'roleAssignment.put', 'vm.patch', 'vmss.patch'];
/** A fault's count that never runs out. */
const FOREVER = 1_000_000_000;

/** The faults armed on the emulator, and what they did. */
export interface FaultDraw {
  /** Faults injected so far, by kind (in the order each kind first met a request). */
  readonly injected: Record<string, number>;
  /** The identity a concurrent writer attached to a VM (lower-cased), by lower-cased VM id. */
  readonly writerAdded: ReadonlyMap<string, string>;
  /** Lower-cased ids of the VMs deleted mid-flight. */
  readonly deleted: ReadonlySet<string>;
  /** Faults off, for the clean round: no further draw is made. */
  readonly stop: () => void;
}

/**
 * An observer: sees every matching request as it arrives (before the faults armed after it) and never
 * answers it; the armed fault's status and code are never sent.
 */
export function observe(h: Harness, operation: OperationName, see: (req: FaultRequest) => void): void {
  h.emu.injectFault({
    operation,
    status: 500,
    code: 'unused',
    count: FOREVER,
    match: (req) => {
      see(req);
      return false;
    },
  });
}

/**
 * Faults: every ARM request may meet one, at random from the seed, with probability `rate` in all.
 * Arms them on the emulator in a fixed order (the order they are tried in, and so the draw order).
 */
export function armFaults(h: Harness, fleet: Fleet, rng: Rng, rate: number): FaultDraw {
  const injected: Record<string, number> = {};
  const writerAdded = new Map<string, string>();
  const deleted = new Set<string>();
  let faultsOn = true;
  const count = (kind: string) => {
    injected[kind] = (injected[kind] ?? 0) + 1;
  };
  const roll = (kind: string, p: number) => {
    if (!faultsOn || rng() >= p) return false;
    count(kind);
    return true;
  };
  const draw: Roll = { rng, rate, roll, count, on: () => faultsOn };
  armOwnerUpdates(h, draw);
  armPrincipalNotFound(h, draw);
  armArmErrors(h, draw);
  armConcurrentWriters(h, draw, fleet, writerAdded, deleted);
  return {
    injected,
    writerAdded,
    deleted,
    stop: () => {
      faultsOn = false;
    },
  };
}

interface Roll {
  readonly rng: Rng;
  readonly rate: number;
  /** One draw: true (and counted) if a fault of this kind is injected, with probability p. */
  readonly roll: (kind: string, p: number) => boolean;
  /** Counts one fault of this kind, with no draw. */
  readonly count: (kind: string) => void;
  readonly on: () => boolean;
}

/**
 * Right before the app reads a VM, its owner may start an update that then runs for a while. A VM
 * still being created counts as met (once) when the app reads it so.
 */
function armOwnerUpdates(h: Harness, { rng, rate, roll, count, on }: Roll): void {
  const metCreating = new Set<string>();
  const ownerMayStart = (req: FaultRequest) => {
    const vm = targetOf(h, req.path);
    if (vm?.provisioningState === 'Creating' && on() && !metCreating.has(vm.id)) {
      metCreating.add(vm.id);
      count('creation in progress by another writer');
    }
    if (!vm || !['Succeeded', 'Failed'].includes(vm.provisioningState)) return;
    if (roll('update in progress by another writer', rate / 2)) {
      h.emu.startVmOperation(vm.id, {
        forMs: 50 + Math.floor(rng() * 300),
        change: (v) => (v.tags = { ...v.tags, owner: 'terraform' }),
      });
    }
  };
  observe(h, 'vm.get', ownerMayStart);
  observe(h, 'vmss.get', ownerMayStart);
}

/**
 * Few grants are made (one per registry and region), so a replication window hits half of them, and
 * always the first (a draw of ~6 could otherwise miss it altogether).
 */
function armPrincipalNotFound(h: Harness, { roll, count, on }: Roll): void {
  let grantPuts = 0;
  h.emu.injectFault({
    operation: 'roleAssignment.put',
    status: 400,
    code: 'PrincipalNotFound',
    count: FOREVER,
    match: () => {
      grantPuts++;
      if (grantPuts === 1 && on()) {
        count('PrincipalNotFound');
        return true;
      }
      return roll('PrincipalNotFound', 0.5);
    },
  });
}

/** ARM's error answers: throttling, server errors and resets on every operation; conflicts on PATCH. */
function armArmErrors(h: Harness, { rate, roll }: Roll): void {
  for (const operation of [...READ_OPS, ...WRITE_OPS]) {
    h.emu.injectFault({
      operation,
      status: 429,
      code: 'SubscriptionRequestsThrottled',
      retryAfterMs: 10,
      count: FOREVER,
      match: () => roll('429 with Retry-After', rate / 4),
    });
    h.emu.injectFault({
      operation,
      status: 429,
      code: 'SubscriptionRequestsThrottled',
      count: FOREVER,
      match: () => roll('429 without Retry-After', rate / 8),
    });
    h.emu.injectFault({
      operation,
      status: 500,
      code: 'InternalServerError',
      count: FOREVER,
      match: () => roll('500', rate / 8),
    });
    h.emu.injectFault({
      operation,
      status: 503,
      code: 'ServiceUnavailable',
      count: FOREVER,
      match: () => roll('503', rate / 8),
    });
    h.emu.injectFault({
      operation,
      kind: 'reset',
      status: 0,
      code: 'ECONNRESET',
      count: FOREVER,
      match: () => roll('connection reset', rate / 8),
    });
  }
  h.emu.injectFault({
    operation: 'vm.patch',
    status: 409,
    code: 'Conflict',
    count: FOREVER,
    match: () => roll('409 conflict on PATCH', rate / 2),
  });
  h.emu.injectFault({
    operation: 'vm.patch',
    kind: 'asyncFailed',
    status: 500,
    code: 'InternalExecutionError',
    count: FOREVER,
    match: () => roll('async operation Failed', rate / 3),
  });
}

/** Side effects right before a PATCH lands: a concurrent writer (→ 412), or the VM deleted. */
function armConcurrentWriters(
  h: Harness,
  { rng, rate, roll }: Roll,
  fleet: Fleet,
  writerAdded: Map<string, string>,
  deleted: Set<string>,
): void {
  observe(h, 'vm.patch', (req) => {
    const vm = targetOf(h, req.path);
    if (vm && !writerAdded.has(vm.id.toLowerCase()) && roll('412 race with a concurrent writer', rate)) {
      const theirs = pick(rng, fleet.writerIdentities);
      writerAdded.set(vm.id.toLowerCase(), theirs.id.toLowerCase());
      h.emu.updateVmOutOfBand(vm.id, (v) => {
        const map = {
          ...(v.identity?.userAssignedIdentities ?? {}),
          [theirs.id]: { principalId: theirs.principalId, clientId: theirs.clientId },
        };
        v.identity = {
          ...(v.identity ?? {}),
          type: v.identity?.type?.includes('SystemAssigned')
            ? 'SystemAssigned, UserAssigned'
            : 'UserAssigned',
          userAssignedIdentities: map,
        };
      });
    } else if (vm && roll('VM deleted mid-flight', rate / 10)) {
      deleted.add(vm.id.toLowerCase());
      h.emu.deleteVm(vm.id);
    }
  });
}
