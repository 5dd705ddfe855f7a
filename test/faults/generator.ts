// The fault matrix's scenario, drawn from a fixed seed: the fleet (VMs and scale sets, some with
// identities of their own, some still being created), its tags and regions, and the order its events
// arrive in. Every draw here comes from the one seeded PRNG the faults also draw from, so the order
// of the calls (see runner.ts) is part of the scenario: the same seed gives the same run.
import { type IdentityRecord, mulberry32, type VmRecord } from '@acrpull/azure-emulator';
import { type Harness, SUB } from '../support/harness';

/** The seeded PRNG: a number in [0, 1) per call. */
export type Rng = () => number;

/** mulberry32 (the emulator's): small, fast, seeded — the same seed gives the same run. */
export const prng = (seed: number): Rng => mulberry32(seed);

/** One item of `items`, drawn with one call of `rng`. */
export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)] as T;
}

/** The registries the app's allowlist names. */
export const ALLOWED = ['contosoapps', 'fabrikamabac'];
const TAGS = [
  'contosoapps',
  'fabrikamabac',
  'contosoapps;fabrikamabac',
  'ContosoApps.azurecr.io',
  'secretregistry', // not allowed
  'contosoapps secretregistry', // one allowed, one not
  'bad-name!', // invalid
  'nosuchregistry', // does not exist
];
const REGIONS = ['eastus', 'westeurope', 'westus'];
/** Someone else made this pull identity's name before the app (ARM's systemData says so): never used. */
export const PLANTED = { registry: 'fabrikamabac', region: 'westus' };
/**
 * The app made this pull identity in an earlier run, and someone gave it a role beyond pull (drawn:
 * Contributor or Owner, at the subscription or a resource group): never granted or attached again.
 */
export const TAINTED = { registry: 'contosoapps', region: 'westus' };
const TAINTS = [
  { role: 'b24988ac-6180-42a0-ab88-20f7382dd24c', scope: `/subscriptions/${SUB}` }, // Contributor
  { role: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635', scope: `/subscriptions/${SUB}` }, // Owner
  { role: 'b24988ac-6180-42a0-ab88-20f7382dd24c', scope: `/subscriptions/${SUB}/resourceGroups/rg-apps` },
];

export interface Fleet {
  /** Identities other writers attach mid-run (see faultDraw.ts). */
  readonly writerIdentities: readonly IdentityRecord[];
  /** The planted pull identity's id, lower-cased. */
  readonly planted: string;
  /** The tainted pull identity's id, lower-cased, and the role assignment that taints it. */
  readonly tainted: { readonly id: string; readonly principalId: string; readonly assignmentId: string };
  readonly vms: readonly VmRecord[];
  readonly scaleSets: readonly VmRecord[];
  /** VMs, then scale sets, as seeded. */
  readonly members: readonly VmRecord[];
  /** Lower-cased ids of the scale sets. */
  readonly isScaleSet: ReadonlySet<string>;
  /** The tag each member has now (changed mid-run for some), by lower-cased id. */
  readonly tagNow: Map<string, string>;
  /** The user-assigned identities each member had when seeded (lower-cased), by lower-cased id. */
  readonly hadBefore: ReadonlyMap<string, string[]>;
  /** Whether each member had a system-assigned identity when seeded, by lower-cased id. */
  readonly hadSystem: ReadonlyMap<string, boolean>;
}

/** Prepare: a mixed fleet, some VMs with identities of their own. */
export function generateFleet(h: Harness, size: number, rng: Rng): Fleet {
  const own = [1, 2, 3].map((i) =>
    h.emu.seedIdentity({
      subscriptionId: SUB,
      resourceGroup: 'rg-apps',
      name: `id-app-${i}`,
      location: 'eastus',
    }),
  );
  const writerIdentities = [1, 2].map((i) =>
    h.emu.seedIdentity({
      subscriptionId: SUB,
      resourceGroup: 'rg-apps',
      name: `id-other-writer-${i}`,
      location: 'eastus',
    }),
  );
  const planted = h.emu
    .seedIdentity({
      subscriptionId: SUB,
      resourceGroup: 'rg-identities',
      name: `id-acrpull-${PLANTED.registry}-${PLANTED.region}`,
      location: PLANTED.region,
    })
    .id.toLowerCase();
  const vms = seedVms(h, size, rng, own, planted);
  const scaleSets = seedScaleSets(h, size, rng, own);
  const members = [...vms, ...scaleSets];
  return {
    writerIdentities,
    planted,
    tainted: seedTainted(h, rng),
    vms,
    scaleSets,
    members,
    isScaleSet: new Set(scaleSets.map((s) => s.id.toLowerCase())),
    tagNow: new Map(members.map((m) => [m.id.toLowerCase(), Object.values(m.tags ?? {})[0] ?? ''])),
    hadBefore: new Map(
      members.map((vm) => [
        vm.id.toLowerCase(),
        Object.keys(vm.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase()),
      ]),
    ),
    hadSystem: new Map(
      members.map((vm) => [vm.id.toLowerCase(), vm.identity?.type?.includes('SystemAssigned') ?? false]),
    ),
  };
}

/** The app's own pull identity for the tainted pair, and the role beyond pull someone gave it. */
function seedTainted(h: Harness, rng: Rng): Fleet['tainted'] {
  const identity = h.emu.seedIdentity({
    subscriptionId: SUB,
    resourceGroup: 'rg-identities',
    name: `id-acrpull-${TAINTED.registry}-${TAINTED.region}`,
    location: TAINTED.region,
    createdBy: 'app',
  });
  const taint = pick(rng, TAINTS);
  const assignment = h.emu.seedRoleAssignment({
    scope: taint.scope,
    roleDefinitionId: taint.role,
    principalId: identity.principalId,
  });
  return { id: identity.id.toLowerCase(), principalId: identity.principalId, assignmentId: assignment.id };
}

/**
 * Another writer's operations: some VMs are still being created when their events arrive (as Event
 * Grid may send them).
 */
function seedVms(
  h: Harness,
  size: number,
  rng: Rng,
  own: readonly IdentityRecord[],
  planted: string,
): VmRecord[] {
  return Array.from({ length: size }, (_, i) => {
    // Some already carry the planted identity (whoever could assign it did): it stays theirs, and a VM
    // with it as its only identity keeps it as its IMDS default.
    const draw = rng();
    const existing = draw < 0.3 ? [pick(rng, own).id] : draw < 0.36 ? [planted] : [];
    const stillCreating = rng() < 0.1;
    return h.emu.seedVm({
      subscriptionId: SUB,
      resourceGroup: 'rg-apps',
      name: `vm-chaos-${String(i).padStart(4, '0')}`,
      location: pick(rng, REGIONS),
      tags: { [rng() < 0.5 ? 'acrPull' : 'ACRPULL']: pick(rng, TAGS) },
      systemAssigned: rng() < 0.3,
      userAssignedIdentityIds: existing,
      ...(stillCreating ? { provisioning: { forMs: 1_000 + Math.floor(rng() * 2_000) } } : {}),
    });
  });
}

/** Scale sets, a tenth of the fleet: the same rules on the scale set's own identity. */
function seedScaleSets(h: Harness, size: number, rng: Rng, own: readonly IdentityRecord[]): VmRecord[] {
  return Array.from({ length: Math.max(2, Math.floor(size / 10)) }, (_, i) => {
    const draw = rng();
    return h.emu.seedScaleSet({
      subscriptionId: SUB,
      resourceGroup: 'rg-apps',
      name: `ss-chaos-${String(i).padStart(3, '0')}`,
      location: pick(rng, REGIONS),
      tags: { acrPull: pick(rng, TAGS) },
      systemAssigned: rng() < 0.3,
      userAssignedIdentityIds: draw < 0.3 ? [pick(rng, own).id] : [],
      upgradeMode: pick(rng, ['Automatic', 'Rolling', 'Manual'] as const),
    });
  });
}

/**
 * The events, one per member: duplicated, reordered, some delivered twice at the same moment (see the
 * runner). Event Grid may send a VM's write event at the start of its creation: those come first.
 */
export function eventOrder(fleet: Fleet, rng: Rng): string[] {
  const events = fleet.members.flatMap((vm) => (rng() < 0.15 ? [vm.id, vm.id] : [vm.id]));
  events.sort(() => rng() - 0.5);
  const creatingIds = new Set(
    fleet.members.filter((vm) => vm.provisioningState === 'Creating').map((vm) => vm.id),
  );
  events.sort((a, b) => Number(creatingIds.has(b)) - Number(creatingIds.has(a)));
  return events;
}

/**
 * Revocation: some owners remove their tag or cut it down to one registry (on the emulator, out of
 * band, keeping an owner's own tag). Returns the ids of the members retagged, in fleet order.
 */
export function retagMembers(h: Harness, fleet: Fleet, deleted: ReadonlySet<string>, rng: Rng): string[] {
  const retagged: string[] = [];
  for (const member of fleet.members) {
    if (deleted.has(member.id.toLowerCase()) || rng() >= 0.25) continue;
    const before = fleet.tagNow.get(member.id.toLowerCase()) ?? '';
    const after = rng() < 0.5 ? undefined : before.split(/[\s,;]+/)[0];
    fleet.tagNow.set(member.id.toLowerCase(), after ?? '');
    h.emu.updateVmOutOfBand(member.id, (v) => {
      const { owner } = v.tags;
      v.tags = { ...(after ? { acrPull: after } : {}), ...(owner ? { owner } : {}) };
    });
    retagged.push(member.id);
  }
  return retagged;
}

/** A member of the fleet as it is now in the emulator (undefined once deleted). */
export function currentTarget(h: Harness, id: string): VmRecord | undefined {
  return h.emu.getVm(id) ?? h.emu.getScaleSet(id);
}

/** The member of the fleet an ARM request's path names, as it is now. */
export function targetOf(h: Harness, path: string): VmRecord | undefined {
  return currentTarget(h, path.split('?')[0] ?? '');
}
