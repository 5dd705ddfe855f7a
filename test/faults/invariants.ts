// The fault matrix's invariants: what must hold, whatever faults were drawn. While the run goes on,
// every PATCH the app sends is checked as it arrives (nothing sent while another writer's operation
// runs, no planted identity, no identity holding a role beyond pull, no second identity for a VM whose
// only identity is its owner's, nothing detached that the app does not own); after the event path,
// every event that returned normally left
// its VM converged or a terminal failure audited; and at the end: no identity lost, nothing
// unallowed granted, revocations converged, refusals audited, no preemption, every allowed VM
// converged. Any breach is a violation: a clean run has 0.
import type { FaultRequest, IdentityRecord, VmRecord } from '@acrpull/azure-emulator';
import type { AuditRecord } from '../../src/audit/auditRecord';
import { hasSystemAssigned } from '../../src/core/identityView';
import { ACR_PULL_ROLE, REPOSITORY_READER_ROLE } from '../../src/core/roles';
import type { Harness } from '../support/harness';
import { observe } from './faultDraw';
import { ALLOWED, currentTarget, type Fleet, PLANTED, TAINTED, targetOf } from './generator';

/** The allowed registries a tag asks for (lower-cased, without `.azurecr.io`). */
function allowedIn(tag: string): string[] {
  return tag
    .toLowerCase()
    .split(/[\s,;]+/)
    .map((t) => t.replace(/\.azurecr\.io$/, ''))
    .filter((t) => ALLOWED.includes(t));
}

/** A pull role exactly at an allowed registry: the only role assignment the app ever makes. */
function isPullGrant(g: { roleDefinitionId: string; scope: string }): boolean {
  const role = g.roleDefinitionId.split('/').pop()?.toLowerCase();
  return (
    (role === ACR_PULL_ROLE || role === REPOSITORY_READER_ROLE) &&
    ALLOWED.some((r) => g.scope.toLowerCase().endsWith(`/registries/${r}`))
  );
}

/** The role assignments an identity's principal holds now beyond pull (`<role guid> at <scope>`). */
function beyondPull(h: Harness, identityId: string): string[] {
  const principal = h.emu.listIdentities().find((i) => i.id.toLowerCase() === identityId)?.principalId;
  if (!principal) return [];
  return h.emu
    .listRoleAssignments()
    .filter((g) => g.principalId === principal && !isPullGrant(g))
    .map((g) => `${g.roleDefinitionId.split('/').pop()} at ${g.scope}`);
}

/** The pair the tainted identity (a role beyond pull) serves: refused, never converged on. */
const isTaintedPair = (registry: string, region: string) =>
  registry === TAINTED.registry && region === TAINTED.region;

/** The user-assigned identities attached to a VM or scale set, lower-cased. */
function attachedTo(target: VmRecord): string[] {
  return Object.keys(target.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase());
}

/** What the PATCH watch saw while the run went on. */
export interface PatchWatch {
  /** Identities the app removed from VMs and scale sets so far. */
  readonly detached: () => number;
  readonly removalViolations: readonly string[];
  readonly patchViolations: readonly string[];
}

/**
 * Arms the PATCH watch. It must be armed first on vm.patch and vmss.patch (before any fault), so it
 * sees every PATCH the app sends as the VM is when it arrives.
 */
export function watchPatches(h: Harness, planted: string): PatchWatch {
  // Every identity the app takes off a VM or scale set must be one it made: an id-acrpull- identity
  // of the identity resource group, never the planted look-alike, an owner's or another writer's.
  let detachedCount = 0;
  const removalViolations: string[] = [];
  for (const operation of ['vm.patch', 'vmss.patch'] as const) {
    observe(h, operation, (req) => {
      const target = targetOf(h, req.path);
      if (!target) return;
      const identity = (
        req.body as { identity?: { type?: string; userAssignedIdentities?: Record<string, unknown> } }
      )?.identity;
      // Only a PATCH planned from the resource as it is now lands: an older etag gets 412.
      if (!identity || req.headers?.['if-match'] !== target.etag) return;
      const attached = attachedTo(target);
      const removed = identity.type?.includes('UserAssigned')
        ? Object.entries(identity.userAssignedIdentities ?? {})
            .filter(([, v]) => v === null)
            .map(([k]) => k.toLowerCase())
        : attached;
      for (const id of removed) {
        detachedCount++;
        const ours =
          id.includes('/resourcegroups/rg-identities/') && id.includes('/userassignedidentities/id-acrpull-');
        if (!ours || id === planted)
          removalViolations.push(`${target.name}: the app removed ${id}, which it does not own`);
      }
    });
  }
  const patchViolations: string[] = [];
  const checkPatch = patchChecker(h, planted, patchViolations);
  observe(h, 'vm.patch', checkPatch);
  observe(h, 'vmss.patch', checkPatch);
  return { detached: () => detachedCount, removalViolations, patchViolations };
}

/**
 * The app must never write while another writer's operation runs, nor give a second identity to a VM
 * whose only identity is its owner's user-assigned one (ACRPULL_SINGLE_IDENTITY_VMS=keep, the
 * default), nor send the planted identity.
 */
function patchChecker(h: Harness, planted: string, patchViolations: string[]) {
  return (req: FaultRequest) => {
    const vm = targetOf(h, req.path);
    if (!vm) return;
    // Only a PATCH planned from what the VM is now (its If-Match is the current etag) can break a
    // rule: one planned before another writer changed the VM carries an older etag and gets 412.
    const planned = req.headers?.['if-match'] === vm.etag;
    if (planned && !['Succeeded', 'Failed'].includes(vm.provisioningState))
      patchViolations.push(`${vm.name}: PATCH sent while the VM was ${vm.provisioningState}`);
    const attached = attachedTo(vm);
    const adds = Object.keys(
      (req.body as { identity?: { userAssignedIdentities?: object } })?.identity?.userAssignedIdentities ??
        {},
    ).map((k) => k.toLowerCase());
    if (adds.includes(planted)) patchViolations.push(`${vm.name}: the planted identity was sent`);
    // No identity with roles beyond pull is ever attached (the tainted one, or any other).
    for (const id of adds)
      for (const role of beyondPull(h, id))
        patchViolations.push(`${vm.name}: ${id} was sent, though it holds ${role}`);
    const only = attached[0];
    if (
      planned &&
      !hasSystemAssigned(vm.identity?.type) &&
      attached.length === 1 &&
      only !== undefined &&
      (!only.includes('/userassignedidentities/id-acrpull-') || only === planted) &&
      adds.some((id) => id !== only)
    ) {
      patchViolations.push(`${vm.name}: a second identity sent to a VM whose only identity was ${only}`);
    }
  };
}

/**
 * The event path on its own: an event that returned normally left its VM with every allowed registry
 * attached, or was audited as a terminal failure (checked before any sweep repairs it).
 */
export function eventPathViolations(
  h: Harness,
  fleet: Fleet,
  deleted: ReadonlySet<string>,
  failedEvents: ReadonlySet<string>,
): string[] {
  const violations: string[] = [];
  const eventPathVerdict = verdicts(h, fleet.members, deleted);
  for (const vm of fleet.members) {
    const key = vm.id.toLowerCase();
    const verdict = eventPathVerdict.get(key);
    if (!verdict || verdict.converged || failedEvents.has(vm.id) || deleted.has(key)) continue;
    const terminal = h.audit.records.some(
      (r) =>
        r.vmId.toLowerCase() === key &&
        ((r.outcome === 'failed' && r.retryable === false) ||
          r.action === 'attach-refused' ||
          r.action === 'attach-contested'),
    );
    if (!terminal)
      violations.push(
        `${vm.name}: its events returned normally but it is not attached and no terminal failure was audited`,
      );
  }
  return violations;
}

/** For each VM that asks for an allowed registry: is every such registry's identity attached now? */
function verdicts(
  h: Harness,
  fleet: readonly { id: string; location: string; tags?: Record<string, string> }[],
  deleted: ReadonlySet<string>,
) {
  const identities = h.emu.listIdentities();
  const result = new Map<string, { converged: boolean }>();
  for (const vm of fleet) {
    const key = vm.id.toLowerCase();
    const now = currentTarget(h, vm.id);
    if (!now || deleted.has(key)) continue;
    const tag = Object.values(vm.tags ?? {})[0] ?? '';
    if (tag.includes('!')) continue;
    // The planted and tainted pairs are refused (identity-refused, terminal): not pairs to converge on.
    const wanted = allowedIn(tag).filter(
      (t) => !(t === PLANTED.registry && vm.location === PLANTED.region) && !isTaintedPair(t, vm.location),
    );
    if (wanted.length === 0) continue;
    const attached = attachedTo(now);
    const converged = wanted.every((registry) => {
      const id = identities.find((i) => i.name === `id-acrpull-${registry}-${vm.location}`)?.id.toLowerCase();
      return id !== undefined && attached.includes(id);
    });
    result.set(key, { converged });
  }
  return result;
}

/** What the run left behind, for the final assessment. */
export interface RunOutcome {
  readonly fleet: Fleet;
  readonly deleted: ReadonlySet<string>;
  /** The concurrent writer's identity on a VM (lower-cased), by lower-cased VM id. */
  readonly writerAdded: ReadonlyMap<string, string>;
  /** VMs whose event threw for redelivery. */
  readonly failedEvents: ReadonlySet<string>;
  readonly unhandled: readonly unknown[];
  readonly patches: PatchWatch;
}

export interface Assessment {
  readonly expectedToConverge: number;
  readonly converged: number;
  readonly leftAloneForImdsDefault: number;
  readonly askedForPlanted: number;
  /** Members that asked for the tainted pair (its identity holds a role beyond pull): refused. */
  readonly askedForTainted: number;
  /** In the order they were found. */
  readonly violations: string[];
}

interface Tally {
  expected: number;
  converged: number;
  refusedSingle: number;
  askedForPlanted: number;
  askedForTainted: number;
  revocationsChecked: number;
}

/** What one member's assessment reads: the emulator and the audit trail as the run left them. */
interface Scene {
  readonly outcome: RunOutcome;
  readonly records: readonly AuditRecord[];
  readonly planted: string;
  readonly pullIdentity: (registry: string, region: string) => string | undefined;
  readonly tally: Tally;
  readonly violations: string[];
}

/** Assess: the invariants, after the clean round. */
export function assess(h: Harness, outcome: RunOutcome): Assessment {
  const violations: string[] = [];
  const records: readonly AuditRecord[] = h.audit.records;
  const identities = h.emu.listIdentities();
  const pullIdentity = (registry: string, region: string) =>
    identities.find((i) => i.name === `id-acrpull-${registry}-${region}`)?.id.toLowerCase();
  const tally: Tally = {
    expected: 0,
    converged: 0,
    refusedSingle: 0,
    askedForPlanted: 0,
    askedForTainted: 0,
    revocationsChecked: 0,
  };
  const { planted } = outcome.fleet;
  const scene: Scene = { outcome, records, planted, pullIdentity, tally, violations };
  for (const vm of outcome.fleet.members) assessMember(h, scene, vm);
  assessGrants(h, identities, outcome.fleet, violations);
  for (const vmId of outcome.failedEvents) {
    if (
      !records.some(
        (r) =>
          r.vmId.toLowerCase() === vmId.toLowerCase() &&
          (r.outcome === 'failed' || r.outcome === 'deferred') &&
          r.retryable === true,
      )
    ) {
      violations.push(`the failure of ${vmId} was not audited`);
    }
  }
  for (const reason of outcome.unhandled) violations.push(`unhandled rejection: ${String(reason)}`);
  violations.push(...outcome.patches.patchViolations, ...outcome.patches.removalViolations);
  if (tally.revocationsChecked === 0) violations.push('no VM was checked for revocation');
  for (const p of h.emu.preemptions())
    violations.push(`the app preempted ${p.startedBy}'s ${p.kind} operation on ${p.vmId.split('/').pop()}`);
  return {
    expectedToConverge: tally.expected,
    converged: tally.converged,
    leftAloneForImdsDefault: tally.refusedSingle,
    askedForPlanted: tally.askedForPlanted,
    askedForTainted: tally.askedForTainted,
    violations,
  };
}

/** One member: nothing of its own lost, its revocations converged, and it converged or was refused. */
function assessMember(h: Harness, scene: Scene, vm: VmRecord): void {
  const { outcome, planted, violations } = scene;
  const key = vm.id.toLowerCase();
  const now = currentTarget(h, vm.id);
  if (!now) {
    if (!outcome.deleted.has(key)) violations.push(`${vm.name} disappeared without being deleted`);
    return;
  }
  const attached = attachedTo(now);
  const hadBefore = outcome.fleet.hadBefore.get(key) ?? [];
  for (const id of hadBefore)
    if (!attached.includes(id)) violations.push(`${vm.name} lost its own identity ${id}`);
  const theirs = outcome.writerAdded.get(key);
  if (theirs && !attached.includes(theirs))
    violations.push(`${vm.name} lost the concurrent writer's identity`);
  if (outcome.fleet.hadSystem.get(key) && !now.identity?.type?.includes('SystemAssigned'))
    violations.push(`${vm.name} lost its system-assigned identity`);
  const tag = outcome.fleet.tagNow.get(key) ?? '';
  const wanted = allowedIn(tag);
  const parsesValid = !tag.includes('!');
  if (attached.includes(planted) && !hadBefore.includes(planted))
    violations.push(`${vm.name} has the planted identity attached`);
  if (attached.includes(outcome.fleet.tainted.id))
    violations.push(`${vm.name} has the tainted identity (a role beyond pull) attached`);
  // Revocation converged: no pull identity of the app's for a registry the tag no longer asks for
  // (an invalid tag keeps what is attached: bad input never leads to a write).
  if (parsesValid) {
    assessRevocation(scene, vm, now, attached, tag, wanted);
    scene.tally.revocationsChecked++;
  }
  if (!parsesValid || wanted.length === 0) return;
  assessConvergence(scene, vm, now, attached, tag, wanted);
}

/** No pull identity of the app's left for a registry the (valid) tag no longer asks for. */
function assessRevocation(
  { records, planted, pullIdentity, violations }: Scene,
  vm: VmRecord,
  now: VmRecord,
  attached: readonly string[],
  tag: string,
  wanted: readonly string[],
): void {
  const key = vm.id.toLowerCase();
  const stale = ALLOWED.filter((r) => !wanted.includes(r))
    .map((registry) => ({ registry, id: pullIdentity(registry, vm.location) }))
    .filter(({ id }) => id && id !== planted && attached.includes(id));
  // Detaching them all would leave the owner's single identity as the IMDS default: refused
  // (ACRPULL_SINGLE_IDENTITY_VMS=keep), and audited so.
  const others = attached.filter((id) => !stale.some((s) => s.id === id));
  const wouldBecomeDefault =
    !now.identity?.type?.includes('SystemAssigned') &&
    others.length === 1 &&
    (!others[0]?.includes('/userassignedidentities/id-acrpull-') || others[0] === planted);
  for (const { registry } of stale) {
    const refused = records.some(
      (r) =>
        r.vmId.toLowerCase() === key &&
        r.action === 'identity-detached' &&
        r.outcome === 'rejected' &&
        r.registry === registry,
    );
    if (wouldBecomeDefault && refused) continue;
    violations.push(
      `${vm.name} (${tag || 'untagged'}) still holds the pull identity for ${registry}${wouldBecomeDefault ? ' and no refusal was audited' : ''}`,
    );
  }
}

/**
 * A member whose valid tag asks for an allowed registry: every reachable registry's pull identity is
 * attached, or it was refused (the planted pair; a VM whose only identity is its owner's) and audited.
 */
function assessConvergence(
  { records, planted, pullIdentity, tally, violations }: Scene,
  vm: VmRecord,
  now: VmRecord,
  attached: readonly string[],
  tag: string,
  wanted: readonly string[],
): void {
  const key = vm.id.toLowerCase();
  // The planted pair is refused, terminally and audited: the VM converges for its other registries.
  const plantedPair = vm.location === PLANTED.region && wanted.includes(PLANTED.registry);
  if (plantedPair) tally.askedForPlanted++;
  // (or, for a VM whose only identity is its owner's, left alone before anything is decided)
  const refusal = ['identity-refused', 'attach-refused'];
  if (plantedPair && !records.some((r) => r.vmId.toLowerCase() === key && refusal.includes(r.action)))
    violations.push(`${vm.name} asks for the planted pair but no refusal was audited`);
  // The tainted pair is refused the same way (identity-refused naming the role beyond pull).
  const taintedPair = wanted.some((r) => isTaintedPair(r, vm.location));
  if (taintedPair) tally.askedForTainted++;
  if (taintedPair && !records.some((r) => r.vmId.toLowerCase() === key && refusal.includes(r.action)))
    violations.push(`${vm.name} asks for the tainted pair but no refusal was audited`);
  const reachable = wanted.filter(
    (r) => !(plantedPair && r === PLANTED.registry) && !isTaintedPair(r, vm.location),
  );
  // Its only identity is its owner's user-assigned one (seeded so, or a concurrent writer made it
  // so before the app's first attach; the planted one counts as the owner's): left alone under keep,
  // and the refusal audited when there was anything the app could have attached.
  const finalOnly = attached.length === 1 && !now.identity?.type?.includes('SystemAssigned');
  if (
    finalOnly &&
    (!attached[0]?.includes('/userassignedidentities/id-acrpull-') || attached[0] === planted)
  ) {
    tally.refusedSingle++;
    if (
      reachable.length > 0 &&
      !records.some((r) => r.vmId.toLowerCase() === key && r.action === 'attach-refused')
    )
      violations.push(`${vm.name} was left alone for its IMDS default but no refusal was audited`);
    return;
  }
  if (reachable.length === 0) return;
  tally.expected++;
  const ok = reachable.every((registry) => {
    const id = pullIdentity(registry, vm.location);
    return id !== undefined && attached.includes(id);
  });
  if (ok) tally.converged++;
  else violations.push(`${vm.name} (${tag}) did not converge`);
}

/**
 * Grants: none for the planted or the tainted identity, only the pull roles, only on allowed
 * registries, one per pair (the taint itself was seeded, not granted by the app).
 */
function assessGrants(
  h: Harness,
  identities: readonly IdentityRecord[],
  fleet: Fleet,
  violations: string[],
): void {
  const grants = h.emu.listRoleAssignments().filter((g) => g.id !== fleet.tainted.assignmentId);
  const perPair = new Map<string, number>();
  const plantedPrincipal = identities.find((i) => i.id.toLowerCase() === fleet.planted)?.principalId;
  for (const g of grants) {
    if (g.principalId === plantedPrincipal) violations.push(`the planted identity was granted ${g.scope}`);
    if (g.principalId === fleet.tainted.principalId)
      violations.push(`the tainted identity was granted ${g.scope}`);
    const k = `${g.principalId}|${g.scope.toLowerCase()}`;
    perPair.set(k, (perPair.get(k) ?? 0) + 1);
    const role = g.roleDefinitionId.split('/').pop()?.toLowerCase();
    if (role !== ACR_PULL_ROLE && role !== REPOSITORY_READER_ROLE)
      violations.push(`grant with an unexpected role ${role}`);
    if (!ALLOWED.some((r) => g.scope.toLowerCase().endsWith(`/registries/${r}`)))
      violations.push(`grant on a registry that is not allowed: ${g.scope}`);
  }
  for (const [k, n] of perPair) if (n !== 1) violations.push(`${n} grants for (identity, registry) ${k}`);
}
