// The fault matrix: a mixed fleet of VMs and scale sets driven through events and sweeps while the
// emulator injects, at random from a fixed seed, every fault ARM is known to answer with, and other
// writers create and update VMs while the app works (Compute preempting a concurrent PATCH, the
// emulator's default); mid-way some tags are removed or cut down (revocation on); then one clean
// round; then the invariants. Used by the jest test (a small fleet) and by
// `npm run test:faults` (a larger one).
import type { FaultRequest, OperationName } from '../../emulator';
import type { AuditRecord } from '../../src/audit/auditRecord';
import { hasSystemAssigned } from '../../src/core/attachPlan';
import { ACR_PULL_ROLE, REPOSITORY_READER_ROLE } from '../../src/core/roles';
import { SCALE_SET_WRITE, TAGS_WRITE } from '../../src/core/vmWriteEvent';
import { RetryableReconcileError } from '../../src/handlers/vmWriteHandler';
import { type Harness, SUB, startHarness } from '../support/harness';

export interface FaultMatrixOptions {
  readonly vms: number;
  readonly seed: number;
  /** Probability that any one ARM request meets a fault while faults are on. */
  readonly faultRate: number;
  readonly log?: (line: string) => void;
}

export interface FaultMatrixReport {
  readonly faultsInjected: Record<string, number>;
  readonly totalFaults: number;
  readonly eventsProcessed: number;
  readonly eventsThrown: number;
  readonly retries: number;
  readonly sweeps: number;
  readonly converged: number;
  readonly expectedToConverge: number;
  /** VMs whose only identity is their owner's user-assigned one: refused, as they must be. */
  readonly leftAloneForImdsDefault: number;
  /** VMs that asked for the planted pull identity's pair: refused, never granted or attached. */
  readonly askedForPlanted: number;
  readonly scaleSets: number;
  /** VMs and scale sets whose tag was removed or cut down mid-run (ACRPULL_REVOKE=on). */
  readonly retagged: number;
  /** Identities the app removed from VMs and scale sets, every one an identity it made. */
  readonly detached: number;
  readonly violations: string[];
}

/** mulberry32: small, fast, seeded — the same seed gives the same run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALLOWED = ['contosoapps', 'fabrikamabac'];
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
const PLANTED = { registry: 'fabrikamabac', region: 'westus' };
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

export async function runFaultMatrix(options: FaultMatrixOptions): Promise<FaultMatrixReport> {
  const rng = prng(options.seed);
  const log = options.log ?? (() => {});
  let retries = 0;
  // Few attempts per invocation, so redelivery (the handler throwing) is exercised, not just retries.
  const h = await startHarness({
    retry: { onRetry: () => retries++, maxAttempts: 3 },
    env: { ACRPULL_REVOKE: 'on' },
  });
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    return await drive(h, options, rng, log, () => retries, unhandled);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await h.close();
  }
}

async function drive(
  h: Harness,
  options: FaultMatrixOptions,
  rng: () => number,
  log: (line: string) => void,
  retries: () => number,
  unhandled: unknown[],
): Promise<FaultMatrixReport> {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rng() * items.length)] as T;

  // Prepare: a mixed fleet, some VMs with identities of their own.
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
  // Another writer's operations: some VMs are still being created when their events arrive (as Event
  // Grid may send them), and owners start updates on others while the app works.
  const injected: Record<string, number> = {};
  const vms = Array.from({ length: options.vms }, (_, i) => {
    // Some already carry the planted identity (whoever could assign it did): it stays theirs, and a VM
    // with it as its only identity keeps it as its IMDS default.
    const draw = rng();
    const existing = draw < 0.3 ? [pick(own).id] : draw < 0.36 ? [planted] : [];
    const stillCreating = rng() < 0.1;
    return h.emu.seedVm({
      subscriptionId: SUB,
      resourceGroup: 'rg-apps',
      name: `vm-chaos-${String(i).padStart(4, '0')}`,
      location: pick(REGIONS),
      tags: { [rng() < 0.5 ? 'acrPull' : 'ACRPULL']: pick(TAGS) },
      systemAssigned: rng() < 0.3,
      userAssignedIdentityIds: existing,
      ...(stillCreating ? { provisioning: { forMs: 1_000 + Math.floor(rng() * 2_000) } } : {}),
    });
  });
  // Scale sets, a tenth of the fleet: the same rules on the scale set's own identity.
  const scaleSets = Array.from({ length: Math.max(2, Math.floor(options.vms / 10)) }, (_, i) => {
    const draw = rng();
    return h.emu.seedScaleSet({
      subscriptionId: SUB,
      resourceGroup: 'rg-apps',
      name: `ss-chaos-${String(i).padStart(3, '0')}`,
      location: pick(REGIONS),
      tags: { acrPull: pick(TAGS) },
      systemAssigned: rng() < 0.3,
      userAssignedIdentityIds: draw < 0.3 ? [pick(own).id] : [],
      upgradeMode: pick(['Automatic', 'Rolling', 'Manual'] as const),
    });
  });
  const fleet = [...vms, ...scaleSets];
  const isScaleSet = new Set(scaleSets.map((s) => s.id.toLowerCase()));
  /** The tag each member has now (changed mid-run for some). */
  const tagNow = new Map(fleet.map((m) => [m.id.toLowerCase(), Object.values(m.tags ?? {})[0] ?? '']));
  const hadBefore = new Map(
    fleet.map((vm) => [
      vm.id.toLowerCase(),
      Object.keys(vm.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase()),
    ]),
  );
  const hadSystem = new Map(
    fleet.map((vm) => [vm.id.toLowerCase(), vm.identity?.type?.includes('SystemAssigned') ?? false]),
  );
  const writerAdded = new Map<string, string>();
  const deleted = new Set<string>();

  // Faults: every ARM request may meet one, at random from the seed.
  let faultsOn = true;
  const roll = (kind: string, p: number) => {
    if (!faultsOn || rng() >= p) return false;
    injected[kind] = (injected[kind] ?? 0) + 1;
    return true;
  };
  const forever = 1_000_000_000;
  const rate = options.faultRate;
  // An observer: sees every matching request as it arrives (before the later faults) and never
  // answers it; the armed fault's status and code are never sent.
  const observe = (operation: OperationName, see: (req: FaultRequest) => void) =>
    h.emu.injectFault({
      operation,
      status: 500,
      code: 'unused',
      count: forever,
      match: (req) => {
        see(req);
        return false;
      },
    });
  const current = (id: string) => h.emu.getVm(id) ?? h.emu.getScaleSet(id);
  const vmOf = (path: string) => current(path.split('?')[0] ?? '');
  // Every identity the app takes off a VM or scale set must be one it made: an id-acrpull- identity
  // of the identity resource group, never the planted look-alike, an owner's or another writer's.
  let detachedCount = 0;
  const removalViolations: string[] = [];
  for (const operation of ['vm.patch', 'vmss.patch'] as const) {
    observe(operation, (req) => {
      const target = vmOf(req.path);
      if (!target) return;
      const identity = (
        req.body as { identity?: { type?: string; userAssignedIdentities?: Record<string, unknown> } }
      )?.identity;
      // Only a PATCH planned from the resource as it is now lands: an older etag gets 412.
      if (!identity || req.headers?.['if-match'] !== target.etag) return;
      const attached = Object.keys(target.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase());
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
  // First on vm.patch, so it sees every PATCH the app sends as the VM is when it arrives: the app must
  // never write while another writer's operation runs, nor give a second identity to a VM whose only
  // identity is its owner's user-assigned one (ACRPULL_SINGLE_IDENTITY_VMS=keep, the default).
  const patchViolations: string[] = [];
  const checkPatch = (req: FaultRequest) => {
    const vm = vmOf(req.path);
    if (!vm) return;
    // Only a PATCH planned from what the VM is now (its If-Match is the current etag) can break a
    // rule: one planned before another writer changed the VM carries an older etag and gets 412.
    const planned = req.headers?.['if-match'] === vm.etag;
    if (planned && !['Succeeded', 'Failed'].includes(vm.provisioningState))
      patchViolations.push(`${vm.name}: PATCH sent while the VM was ${vm.provisioningState}`);
    const attached = Object.keys(vm.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase());
    const adds = Object.keys(
      (req.body as { identity?: { userAssignedIdentities?: object } })?.identity?.userAssignedIdentities ??
        {},
    ).map((k) => k.toLowerCase());
    if (adds.includes(planted)) patchViolations.push(`${vm.name}: the planted identity was sent`);
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
  observe('vm.patch', checkPatch);
  observe('vmss.patch', checkPatch);
  // Right before the app reads a VM, its owner may start an update that then runs for a while. A VM
  // still being created counts as met (once) when the app reads it so.
  const metCreating = new Set<string>();
  const ownerMayStart = (req: FaultRequest) => {
    const vm = vmOf(req.path);
    if (vm?.provisioningState === 'Creating' && faultsOn && !metCreating.has(vm.id)) {
      metCreating.add(vm.id);
      const kind = 'creation in progress by another writer';
      injected[kind] = (injected[kind] ?? 0) + 1;
    }
    if (!vm || !['Succeeded', 'Failed'].includes(vm.provisioningState)) return;
    if (roll('update in progress by another writer', rate / 2)) {
      h.emu.startVmOperation(vm.id, {
        forMs: 50 + Math.floor(rng() * 300),
        change: (v) => (v.tags = { ...v.tags, owner: 'terraform' }),
      });
    }
  };
  observe('vm.get', ownerMayStart);
  observe('vmss.get', ownerMayStart);
  // Few grants are made (one per registry and region), so a replication window hits half of them,
  // and always the first (a draw of ~6 could otherwise miss it altogether).
  let grantPuts = 0;
  h.emu.injectFault({
    operation: 'roleAssignment.put',
    status: 400,
    code: 'PrincipalNotFound',
    count: forever,
    match: () => {
      grantPuts++;
      if (grantPuts === 1 && faultsOn) {
        injected.PrincipalNotFound = (injected.PrincipalNotFound ?? 0) + 1;
        return true;
      }
      return roll('PrincipalNotFound', 0.5);
    },
  });
  for (const operation of [...READ_OPS, ...WRITE_OPS]) {
    h.emu.injectFault({
      operation,
      status: 429,
      code: 'SubscriptionRequestsThrottled',
      retryAfterMs: 10,
      count: forever,
      match: () => roll('429 with Retry-After', rate / 4),
    });
    h.emu.injectFault({
      operation,
      status: 429,
      code: 'SubscriptionRequestsThrottled',
      count: forever,
      match: () => roll('429 without Retry-After', rate / 8),
    });
    h.emu.injectFault({
      operation,
      status: 500,
      code: 'InternalServerError',
      count: forever,
      match: () => roll('500', rate / 8),
    });
    h.emu.injectFault({
      operation,
      status: 503,
      code: 'ServiceUnavailable',
      count: forever,
      match: () => roll('503', rate / 8),
    });
    h.emu.injectFault({
      operation,
      kind: 'reset',
      status: 0,
      code: 'ECONNRESET',
      count: forever,
      match: () => roll('connection reset', rate / 8),
    });
  }
  h.emu.injectFault({
    operation: 'vm.patch',
    status: 409,
    code: 'Conflict',
    count: forever,
    match: () => roll('409 conflict on PATCH', rate / 2),
  });
  h.emu.injectFault({
    operation: 'vm.patch',
    kind: 'asyncFailed',
    status: 500,
    code: 'InternalExecutionError',
    count: forever,
    match: () => roll('async operation Failed', rate / 3),
  });
  // Side effects right before a PATCH lands: a concurrent writer (→ 412), or the VM deleted.
  observe('vm.patch', (req) => {
    const vm = vmOf(req.path);
    if (vm && !writerAdded.has(vm.id.toLowerCase()) && roll('412 race with a concurrent writer', rate)) {
      const theirs = pick(writerIdentities);
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

  const violations: string[] = [];

  // Act: events — duplicated, reordered, some delivered twice at the same moment — and a sweep.
  const events = fleet.flatMap((vm) => (rng() < 0.15 ? [vm.id, vm.id] : [vm.id]));
  events.sort(() => rng() - 0.5);
  // Event Grid may send a VM's write event at the start of its creation: those come first.
  const creatingIds = new Set(fleet.filter((vm) => vm.provisioningState === 'Creating').map((vm) => vm.id));
  events.sort((a, b) => Number(creatingIds.has(b)) - Number(creatingIds.has(a)));
  let processed = 0;
  let thrown = 0;
  const failedEvents = new Set<string>();
  const deliver = async (vmId: string, operationName?: string) => {
    processed++;
    try {
      const op = operationName ?? (isScaleSet.has(vmId.toLowerCase()) ? SCALE_SET_WRITE : undefined);
      await h.deliver(vmId, op ? { operationName: op } : {});
    } catch (error) {
      thrown++;
      if (!(error instanceof RetryableReconcileError)) throw error;
      failedEvents.add(vmId);
    }
  };
  const batchSize = 8;
  for (let i = 0; i < events.length; i += batchSize) {
    const batch = events.slice(i, i + batchSize);
    if (rng() < 0.2 && batch[0]) batch.push(batch[0]); // two invocations for one VM at once
    await Promise.all(batch.map((id) => deliver(id)));
  }
  // The event path on its own: an event that returned normally left its VM with every allowed
  // registry attached, or was audited as a terminal failure (checked before any sweep repairs it).
  const eventPathVerdict = verdicts(h, fleet, deleted);
  for (const vm of fleet) {
    const key = vm.id.toLowerCase();
    const verdict = eventPathVerdict.get(key);
    if (!verdict || verdict.converged || failedEvents.has(vm.id) || deleted.has(key)) continue;
    const terminal = h.audit.records.some(
      (r) =>
        r.vmId.toLowerCase() === key &&
        ((r.outcome === 'failed' && r.retryable === false) || r.action === 'attach-refused'),
    );
    if (!terminal)
      violations.push(
        `${vm.name}: its events returned normally but it is not attached and no terminal failure was audited`,
      );
  }

  let sweeps = 0;
  await h.sweep();
  sweeps++;
  log(`faults on: ${processed} events (${thrown} thrown for redelivery), 1 sweep, ${retries()} retries`);

  // Revocation, faults still on: some owners remove their tag or cut it down to one registry, and
  // their tag-write events arrive (some twice); whatever they miss, the clean sweep catches.
  const retagged: string[] = [];
  for (const member of fleet) {
    if (deleted.has(member.id.toLowerCase()) || rng() >= 0.25) continue;
    const before = tagNow.get(member.id.toLowerCase()) ?? '';
    const after = rng() < 0.5 ? undefined : before.split(/[\s,;]+/)[0];
    tagNow.set(member.id.toLowerCase(), after ?? '');
    h.emu.updateVmOutOfBand(member.id, (v) => {
      const { owner } = v.tags;
      v.tags = { ...(after ? { acrPull: after } : {}), ...(owner ? { owner } : {}) };
    });
    retagged.push(member.id);
  }
  await Promise.all(
    retagged.flatMap((id) => (rng() < 0.2 ? [id, id] : [id])).map((id) => deliver(id, TAGS_WRITE)),
  );
  log(`revocation: ${retagged.length} tags removed or cut down`);

  // Clean round: faults off, other writers done, failed events redelivered, one sweep.
  faultsOn = false;
  while (
    h.emu
      .vmOperations()
      .some((op) => op.status === 'InProgress' && op.startedBy !== h.emu.appIdentity.principalId)
  )
    await new Promise((resolve) => setTimeout(resolve, 50));
  for (const vmId of failedEvents) await deliver(vmId);
  const beforeClean = h.audit.records.length;
  // A budget for the whole fleet: a pair check cut short by the budget counts its VMs as failed.
  const clean = await h.sweep({ budgetMs: 300_000 });
  sweeps++;
  log(
    `clean round: ${failedEvents.size} redeliveries, sweep changed ${clean.summary.changed}, failed ${clean.summary.failed}`,
  );
  const cleanFailures = new Map<string, number>();
  for (const r of h.audit.records.slice(beforeClean)) {
    if (r.outcome !== 'failed') continue;
    const key = `${r.action}: ${(r.reason ?? '').slice(0, 160)}`;
    cleanFailures.set(key, (cleanFailures.get(key) ?? 0) + 1);
  }
  for (const [reason, n] of cleanFailures) log(`  clean-round failure x${n}: ${reason}`);

  // Assess: the invariants.
  const records: readonly AuditRecord[] = h.audit.records;
  const identities = h.emu.listIdentities();
  const pullIdentity = (registry: string, region: string) =>
    identities.find((i) => i.name === `id-acrpull-${registry}-${region}`)?.id.toLowerCase();
  let expected = 0;
  let converged = 0;
  let refusedSingle = 0;
  let askedForPlanted = 0;
  let revocationsChecked = 0;
  for (const vm of fleet) {
    const key = vm.id.toLowerCase();
    const now = current(vm.id);
    if (!now) {
      if (!deleted.has(key)) violations.push(`${vm.name} disappeared without being deleted`);
      continue;
    }
    const attached = Object.keys(now.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase());
    for (const id of hadBefore.get(key) ?? [])
      if (!attached.includes(id)) violations.push(`${vm.name} lost its own identity ${id}`);
    const theirs = writerAdded.get(key);
    if (theirs && !attached.includes(theirs))
      violations.push(`${vm.name} lost the concurrent writer's identity`);
    if (hadSystem.get(key) && !now.identity?.type?.includes('SystemAssigned'))
      violations.push(`${vm.name} lost its system-assigned identity`);
    const tag = tagNow.get(key) ?? '';
    const wanted = tag
      .toLowerCase()
      .split(/[\s,;]+/)
      .map((t) => t.replace(/\.azurecr\.io$/, ''))
      .filter((t) => ALLOWED.includes(t));
    const parsesValid = !tag.includes('!');
    if (attached.includes(planted) && !(hadBefore.get(key) ?? []).includes(planted))
      violations.push(`${vm.name} has the planted identity attached`);
    // Revocation converged: no pull identity of the app's for a registry the tag no longer asks for
    // (an invalid tag keeps what is attached: bad input never leads to a write).
    if (parsesValid) {
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
      revocationsChecked++;
    }
    if (!parsesValid || wanted.length === 0) continue;
    // The planted pair is refused, terminally and audited: the VM converges for its other registries.
    const plantedPair = vm.location === PLANTED.region && wanted.includes(PLANTED.registry);
    if (plantedPair) askedForPlanted++;
    // (or, for a VM whose only identity is its owner's, left alone before anything is decided)
    const refusal = ['identity-refused', 'attach-refused'];
    if (plantedPair && !records.some((r) => r.vmId.toLowerCase() === key && refusal.includes(r.action)))
      violations.push(`${vm.name} asks for the planted pair but no refusal was audited`);
    const reachable = plantedPair ? wanted.filter((r) => r !== PLANTED.registry) : wanted;
    // Its only identity is its owner's user-assigned one (seeded so, or a concurrent writer made it
    // so before the app's first attach; the planted one counts as the owner's): left alone under keep,
    // and the refusal audited when there was anything the app could have attached.
    const finalOnly = attached.length === 1 && !now.identity?.type?.includes('SystemAssigned');
    if (
      finalOnly &&
      (!attached[0]?.includes('/userassignedidentities/id-acrpull-') || attached[0] === planted)
    ) {
      refusedSingle++;
      if (
        reachable.length > 0 &&
        !records.some((r) => r.vmId.toLowerCase() === key && r.action === 'attach-refused')
      )
        violations.push(`${vm.name} was left alone for its IMDS default but no refusal was audited`);
      continue;
    }
    if (reachable.length === 0) continue;
    expected++;
    const ok = reachable.every((registry) => {
      const id = pullIdentity(registry, vm.location);
      return id !== undefined && attached.includes(id);
    });
    if (ok) converged++;
    else violations.push(`${vm.name} (${tag}) did not converge`);
  }
  const grants = h.emu.listRoleAssignments();
  const perPair = new Map<string, number>();
  const plantedPrincipal = identities.find((i) => i.id.toLowerCase() === planted)?.principalId;
  for (const g of grants) {
    if (g.principalId === plantedPrincipal) violations.push(`the planted identity was granted ${g.scope}`);
    const k = `${g.principalId}|${g.scope.toLowerCase()}`;
    perPair.set(k, (perPair.get(k) ?? 0) + 1);
    const role = g.roleDefinitionId.split('/').pop()?.toLowerCase();
    if (role !== ACR_PULL_ROLE && role !== REPOSITORY_READER_ROLE)
      violations.push(`grant with an unexpected role ${role}`);
    if (!ALLOWED.some((r) => g.scope.toLowerCase().endsWith(`/registries/${r}`)))
      violations.push(`grant on a registry that is not allowed: ${g.scope}`);
  }
  for (const [k, n] of perPair) if (n !== 1) violations.push(`${n} grants for (identity, registry) ${k}`);
  for (const vmId of failedEvents) {
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
  for (const reason of unhandled) violations.push(`unhandled rejection: ${String(reason)}`);
  violations.push(...patchViolations, ...removalViolations);
  if (revocationsChecked === 0) violations.push('no VM was checked for revocation');
  for (const p of h.emu.preemptions())
    violations.push(`the app preempted ${p.startedBy}'s ${p.kind} operation on ${p.vmId.split('/').pop()}`);

  const totalFaults = Object.values(injected).reduce((a, b) => a + b, 0);
  return {
    faultsInjected: injected,
    totalFaults,
    eventsProcessed: processed,
    eventsThrown: thrown,
    retries: retries(),
    sweeps,
    converged,
    expectedToConverge: expected,
    leftAloneForImdsDefault: refusedSingle,
    askedForPlanted,
    scaleSets: scaleSets.length,
    retagged: retagged.length,
    detached: detachedCount,
    violations,
  };
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
    const now = h.emu.getVm(vm.id) ?? h.emu.getScaleSet(vm.id);
    if (!now || deleted.has(key)) continue;
    const tag = Object.values(vm.tags ?? {})[0] ?? '';
    if (tag.includes('!')) continue;
    const wanted = tag
      .toLowerCase()
      .split(/[\s,;]+/)
      .map((t) => t.replace(/\.azurecr\.io$/, ''))
      .filter((t) => ALLOWED.includes(t))
      // The planted pair is refused (identity-refused, terminal): not a pair the VM can converge on.
      .filter((t) => !(t === PLANTED.registry && vm.location === PLANTED.region));
    if (wanted.length === 0) continue;
    const attached = Object.keys(now.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase());
    const converged = wanted.every((registry) => {
      const id = identities.find((i) => i.name === `id-acrpull-${registry}-${vm.location}`)?.id.toLowerCase();
      return id !== undefined && attached.includes(id);
    });
    result.set(key, { converged });
  }
  return result;
}
