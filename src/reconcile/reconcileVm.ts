// The single-VM reconcile: read the VM, decide from what ARM says now, then make the smallest set of
// writes that reaches the desired state — identity, then grant, then attach — each audited.
// Grant before attach is an invariant: an attached pull identity implies its grant was made, which is
// what lets an already-compliant VM cost exactly one read (the sweep re-verifies grants for drift).

import { Auditor } from '../audit/auditor';
import type { AuditRecord, Trigger } from '../audit/auditRecord';
import { ArmOperationError, TransientConditionError } from '../azure/armErrors';
import type { RegistryState } from '../azure/containerRegistries';
import { type Deadline, type RetryEnvironment, withRetry } from '../azure/retry';
import type { VmState } from '../azure/virtualMachines';
import type { Settings } from '../config/settings';
import { decideByName, isRegistryAllowed } from '../core/allowlist';
import {
  attachedIdentityIds,
  busyReason,
  imdsDefaultAtRisk,
  isAttached,
  isTerminal,
  singleIdentityReason,
  type VmIdentityView,
} from '../core/attachPlan';
import { normalizeRegion } from '../core/names';
import { pullIdentityFor } from '../core/pullIdentity';
import { type ComputeRef, parseComputeId } from '../core/resourceId';
import {
  holdsRevocable,
  type RevocationCause,
  registriesToKeep,
  revocationCandidates,
  revocationReason,
} from '../core/revocation';
import { findTagValue, parseRegistryTag, type RegistryRef } from '../core/tag';
import {
  attachedIds,
  attachIdentities,
  type DetachRequest,
  deferralReason,
  type ReadyRegistry,
  VM_BUSY,
  VmGoneError,
} from './attachIdentities';
import {
  knownPullIdentity,
  proveForDetach,
  provePullIdentity,
  proveSingleIdentity,
} from './provenIdentities';
import type { ReconcileDeps } from './reconcileDeps';
import { decideRegistry, type RegistryDecision, registrySearchScope } from './registryAccess';

export type { ReconcileDeps } from './reconcileDeps';

export interface ReconcileRequest {
  readonly vmId: string;
  readonly trigger: Trigger;
  readonly deadline: Deadline;
  readonly eventId?: string;
  readonly correlationId?: string;
  readonly eventTime?: string;
  readonly caller?: string;
  /**
   * Re-read a VM busy with another operation until it is idle or the budget runs out (the event path,
   * the default for trigger `event`), rather than defer it at once (sweep, CLI).
   */
  readonly waitWhileBusy?: boolean;
}

/** How the VM ended up, in words that finish "VM x is/was …". */
export type VmOutcome =
  | 'compliant'
  | 'changed'
  | 'planned'
  | 'rejected'
  | 'skipped'
  | 'untagged'
  | 'deferred'
  | 'failed';

export interface VmResult {
  readonly vmId: string;
  readonly outcome: VmOutcome;
  /** True when a failure may clear on another attempt: the event path throws so Event Grid redelivers. */
  readonly retryable: boolean;
  readonly records: readonly AuditRecord[];
}

/**
 * How a registry named by the VM's tag is decided. The event path decides afresh for each VM (and
 * audits identity and grant decisions against it); the sweep hands in decisions it made once per
 * (registry, region).
 */
export type DecideRegistry = (
  ref: RegistryRef,
  region: string,
  auditor: Auditor,
  retryEnv: RetryEnvironment,
  vmRef: ComputeRef,
) => Promise<RegistryDecision>;

/** A fresh decision per registry; one registry listing per subscription for the whole invocation. */
const decideFresh = (deps: ReconcileDeps): DecideRegistry => {
  const listings = new Map<string, Promise<RegistryState[]>>();
  return (ref, region, auditor, retryEnv, vmRef) =>
    decideRegistry(deps, retryEnv, auditor, ref, region, registrySearchScope(deps, vmRef.subscriptionId), {
      listings,
    });
};

export async function reconcileVm(
  deps: ReconcileDeps,
  request: ReconcileRequest,
  decide: DecideRegistry = decideFresh(deps),
): Promise<VmResult> {
  const { settings } = deps;
  const auditor = new Auditor(
    deps.audit,
    {
      mode: settings.mode,
      trigger: request.trigger,
      vmId: request.vmId,
      eventId: request.eventId,
      correlationId: request.correlationId,
      eventTime: request.eventTime,
      caller: request.caller,
    },
    deps.now,
  );
  const retryEnv: RetryEnvironment = {
    ...deps.retry,
    deadline: request.deadline,
    onRetry: (info) => {
      deps.log.info(
        `retrying ${info.operation} on ${request.vmId} in ${info.delayMs} ms after ${info.code} (attempt ${info.attempt})`,
      );
      deps.retry?.onRetry?.(info);
    },
  };
  const finish = (outcome: VmOutcome): VmResult => ({
    vmId: request.vmId,
    outcome,
    retryable: auditor.retryable,
    records: auditor.records,
  });

  const vmRef = parseComputeId(request.vmId);
  if (!vmRef) {
    auditor.record('failed', 'rejected', { reason: 'not a virtual machine or scale set resource id' });
    return finish('rejected');
  }

  let vm: VmState | undefined;
  try {
    vm = await withRetry('read VM', retryEnv, (signal) => deps.vms.get(vmRef, signal));
  } catch (error) {
    auditor.failed(error);
    return finish('failed');
  }
  if (!vm) {
    auditor.record('vm-not-found', 'skipped', { reason: 'the VM no longer exists; nothing to do' });
    return finish('skipped');
  }

  let tag = readTag(settings, vm);
  // Revocation: an untagged VM is worked on only if it holds an identity the app would detach.
  const revokeUntagged = (state: VmState) =>
    settings.revoke && holdsRevocable(settings, attachedIdentityIds(state.identity));
  const needsWork = tag.kind === 'refs' || (tag.kind === 'untagged' && revokeUntagged(vm));
  if (needsWork && !isTerminal(vm.provisioningState)) {
    // Another writer's operation is running (the VM's creation, its owner's update): nothing is done
    // for the VM until it ends, so every decision below is made from an idle VM. The event path waits
    // for it (reads only), the sweep and CLI defer at once.
    const idle = await untilIdle(
      deps,
      retryEnv,
      vmRef,
      vm,
      request.waitWhileBusy ?? request.trigger === 'event',
    );
    if (idle.status === 'gone') {
      auditor.record('vm-not-found', 'skipped', {
        reason: 'the VM was deleted while it was being reconciled',
      });
      return finish('skipped');
    }
    if (idle.status === 'failed') {
      auditor.failed(idle.error);
      return finish('failed');
    }
    if (idle.status === 'busy') {
      const region = normalizeRegion(vm.location);
      for (const ref of tag.kind === 'refs' ? tag.refs : []) {
        auditor.record('identity-attached', 'deferred', {
          registry: ref.name,
          identityId: pullIdentityFor(settings, ref.name, region).id,
          reason: idle.reason,
          retryable: true,
        });
      }
      if (tag.kind === 'untagged') {
        for (const c of revocationCandidates(settings, attachedIdentityIds(vm.identity), new Set())) {
          auditor.record('identity-detached', 'deferred', {
            registry: c.registry,
            identityId: c.identityId,
            reason: idle.reason,
            retryable: true,
          });
        }
      }
      return finish('deferred');
    }
    vm = idle.vm;
    tag = readTag(settings, vm);
  }
  const readAt = (deps.now ?? Date.now)();
  if (tag.kind === 'untagged') {
    if (!revokeUntagged(vm)) {
      deps.log.debug(`${request.vmId} has no ${settings.tagKey} tag; nothing to do`);
      return finish('untagged');
    }
    // Untagged: every pull identity the app can prove it made is detached; nothing else is touched.
    const detach = await provenForDetach(deps, retryEnv, auditor, vm, new Set(), () => 'untagged');
    return finish(await applyChanges(deps, retryEnv, auditor, vmRef, vm, readAt, request, [], detach));
  }
  if (tag.kind === 'invalid') {
    auditor.record('tag-invalid', 'rejected', { reason: `${settings.tagKey} tag: ${tag.reason}` });
    return finish('rejected');
  }
  const parsed = tag;

  const region = normalizeRegion(vm.location);
  // A single identity named like a pull identity is proven (systemData, one read unless remembered)
  // before it may count as ours: a planted one is the owner's IMDS default like any other.
  const checked = vm;
  try {
    await proveSingleIdentity(deps, retryEnv, checked);
  } catch (error) {
    auditor.failed(error);
    return finish('failed');
  }
  const refused = refuseForImdsDefault(settings, vm.identity, parsed.refs, region, (id) =>
    knownPullIdentity(deps, id, attachedIds(checked, id).principalId),
  );
  for (const { ref, identityId, reason } of refused) {
    auditor.record('attach-refused', 'rejected', { registry: ref.name, identityId, reason });
  }
  const pending: ReadyRegistry[] = [];
  /** Registries the tag names that the allowlist now denies (their pull identities may be revoked). */
  const denied = new Set<string>();
  for (const ref of parsed.refs) {
    const identityId = pullIdentityFor(settings, ref.name, region).id;
    if (refused.some((r) => r.ref === ref)) continue;
    try {
      // Fast path: attached (so granted, by the invariant above) and still allowed: no write, and one
      // read in all unless the allowlist needs the registry's id and no recent resolution is at hand.
      // An attach still Updating counts: the invocation that started it owns its outcome. So does a VM
      // whose last update Failed: writing to it on every event would feed an endless event loop.
      // Attached under the pull identity's id is not proof it is ours (a name can be planted): it must
      // be an override or proven by systemData (remembered; else one identity read), else decide it.
      if (
        isAttached(vm.identity, identityId) &&
        (await provePullIdentity(deps, retryEnv, identityId, attachedIds(vm, identityId).principalId))
      ) {
        if (await stillAllowed(deps, retryEnv, vmRef, ref)) {
          auditor.record('already-compliant', 'unchanged', {
            registry: ref.name,
            identityId,
            ...attachedIds(vm, identityId),
          });
          continue;
        }
      }
      const decision = await decide(ref, region, auditor, retryEnv, vmRef);
      if (decision.status === 'ready') {
        pending.push(decision);
      } else {
        const where = {
          registry: decision.registry?.name ?? ref.name,
          ...(decision.registry ? { registryId: decision.registry.id } : {}),
          identityId,
        };
        if (decision.status === 'rejected' && decision.action === 'registry-denied')
          denied.add(ref.name.toLowerCase());
        if (decision.status === 'rejected')
          auditor.record(decision.action, 'rejected', {
            ...where,
            ...refusedIdentity(decision),
            reason: decision.reason,
          });
        else auditor.failed(decision.error, where);
      }
    } catch (error) {
      auditor.failed(error, { registry: ref.name, identityId });
    }
  }

  // Revocation: the pull identities of registries the tag still names and the allowlist still allows
  // (decided or not: a registry not found or a failed check keeps its identity) stay; the app's own
  // others go.
  let detach: DetachRequest[] = [];
  if (settings.revoke) {
    const keep = registriesToKeep(parsed.refs, denied, settings.allowlistUnset);
    detach = await provenForDetach(deps, retryEnv, auditor, vm, keep, (registry) =>
      denied.has(registry) ? 'denied' : 'not-named',
    );
  }
  return finish(await applyChanges(deps, retryEnv, auditor, vmRef, vm, readAt, request, pending, detach));
}

/**
 * The attach (and detach) as one PATCH, its failures audited against each identity. Plans from the
 * read above only while it is fresh: once identities or grants were written (replication retries can
 * take seconds), the attach reads again so the etag and the state the PATCH is planned from are the
 * VM's now.
 */
async function applyChanges(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  auditor: Auditor,
  vmRef: ComputeRef,
  vm: VmState,
  readAt: number,
  request: ReconcileRequest,
  pending: readonly ReadyRegistry[],
  detach: readonly DetachRequest[],
): Promise<VmOutcome> {
  if (pending.length === 0 && detach.length === 0) return summarize(auditor.records);
  try {
    const wrote = auditor.records.some((r) => r.outcome === 'changed');
    const fresh = !wrote && (deps.now ?? Date.now)() - readAt < FRESH_READ_MS;
    await attachIdentities(deps, retryEnv, auditor, vmRef, fresh ? vm : undefined, pending, {
      waitWhileBusy: request.waitWhileBusy ?? request.trigger === 'event',
      detach,
    });
  } catch (error) {
    if (error instanceof VmGoneError) {
      auditor.record('vm-not-found', 'skipped', {
        reason: 'the VM was deleted while it was being reconciled',
      });
      return 'skipped';
    }
    for (const p of pending) {
      // A failed write with this identity: its pairs are verified afresh next time.
      deps.verifiedPairs.forgetIdentity(p.identityId);
      auditor.failed(error, {
        registry: p.registry.name,
        registryId: p.registry.id,
        identityId: p.identityId,
      });
    }
    for (const d of detach) auditor.failed(error, { registry: d.registry, identityId: d.identityId });
  }
  return summarize(auditor.records);
}

/**
 * The revocation candidates on the VM that the app can prove it made (ARM's systemData, remembered;
 * else one identity read each): an identity it cannot prove is not its to detach, whatever its name.
 */
async function provenForDetach(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  auditor: Auditor,
  vm: VmState,
  keep: ReadonlySet<string>,
  cause: (registry: string) => RevocationCause,
): Promise<DetachRequest[]> {
  const proven: DetachRequest[] = [];
  for (const c of revocationCandidates(deps.settings, attachedIdentityIds(vm.identity), keep)) {
    try {
      if (!(await proveForDetach(deps, retryEnv, c.identityId, attachedIds(vm, c.identityId).principalId)))
        continue;
    } catch (error) {
      // Not proven is not detached; the rest (attaches included) goes on.
      auditor.failed(error, { registry: c.registry, identityId: c.identityId });
      continue;
    }
    const why = cause(c.registry);
    proven.push({ ...c, cause: why, reason: revocationReason(deps.settings.tagKey, c.registry, why) });
  }
  return proven;
}

/**
 * Registries the tag asks for that would be a second identity on a VM whose only identity is a
 * user-assigned one of its owner's (the IMDS default), under ACRPULL_SINGLE_IDENTITY_VMS=keep. Decided
 * from the first read, before any identity or grant is made, so such a VM costs one read and no write;
 * the attach decides again from its own read. A registry the allowlist denies by name is left to the
 * allowlist, which says so more usefully.
 */
export function refuseForImdsDefault(
  settings: Settings,
  identity: VmIdentityView | undefined | null,
  refs: readonly RegistryRef[],
  region: string,
  /** Whether the VM's single identity is the app's pull identity (then no default is at risk). */
  isPullIdentity: (identityId: string) => boolean,
): { ref: RegistryRef; identityId: string; reason: string }[] {
  if (settings.singleIdentityVms !== 'keep') return [];
  const candidates = refs
    .filter((ref) => decideByName(ref.name, settings.allowedRegistries) !== 'denied')
    .map((ref) => ({ ref, identityId: pullIdentityFor(settings, ref.name, region).id }))
    .filter(({ identityId }) => !isAttached(identity ?? undefined, identityId));
  const atRisk = imdsDefaultAtRisk(
    identity ?? undefined,
    candidates.map((c) => c.identityId),
    isPullIdentity,
  );
  if (!atRisk || atRisk.isPullIdentity) return [];
  const reason = singleIdentityReason(atRisk.identityId);
  return candidates.map((c) => ({ ...c, reason }));
}

/** A read older than this is not planned from; see the attach above. */
const FRESH_READ_MS = 2_000;

type TagReading =
  | { readonly kind: 'untagged' }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'refs'; readonly refs: readonly RegistryRef[] };

function readTag(settings: Settings, vm: VmState): TagReading {
  const value = findTagValue(vm.tags, settings.tagKey);
  if (value === undefined) return { kind: 'untagged' };
  const parsed = parseRegistryTag(value, settings.maxRegistriesPerVm);
  return parsed.ok ? { kind: 'refs', refs: parsed.refs } : { kind: 'invalid', reason: parsed.reason };
}

type Idle =
  | { readonly status: 'idle'; readonly vm: VmState }
  | { readonly status: 'busy'; readonly reason: string }
  | { readonly status: 'gone' }
  | { readonly status: 'failed'; readonly error: unknown };

/** Re-reads a busy VM with backoff (GET only) until its operation ends, or says why it could not wait. */
async function untilIdle(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  vmRef: ComputeRef,
  busy: VmState,
  wait: boolean,
): Promise<Idle> {
  if (!wait) return { status: 'busy', reason: busyReason(busy.provisioningState) };
  let current: VmState | undefined = busy;
  try {
    const vm = await withRetry('wait for the VM to be idle', retryEnv, async (signal) => {
      const vm = current ?? (await deps.vms.get(vmRef, signal));
      current = undefined;
      if (!vm) throw new VmGoneError(vmRef.id);
      if (!isTerminal(vm.provisioningState)) {
        throw new TransientConditionError(VM_BUSY, busyReason(vm.provisioningState));
      }
      return vm;
    });
    return { status: 'idle', vm };
  } catch (error) {
    if (error instanceof ArmOperationError && error.cause instanceof VmGoneError) return { status: 'gone' };
    const reason = deferralReason(error);
    return reason ? { status: 'busy', reason } : { status: 'failed', error };
  }
}

/**
 * Whether an attached registry is still allowed. By name when the allowlist decides by name (names are
 * globally unique), else by the id ARM returns for it (possibly from a recent resolution: this path
 * writes nothing). Never by an id the tag claims.
 */
async function stillAllowed(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  vmRef: ComputeRef,
  ref: RegistryRef,
): Promise<boolean> {
  const rules = deps.settings.allowedRegistries;
  const byName = decideByName(ref.name, rules);
  if (byName !== 'needs-id') return byName === 'allowed';
  const searchIn = registrySearchScope(deps, vmRef.subscriptionId);
  const resolution = await withRetry('find registry', retryEnv, (signal) =>
    deps.registries.resolve(ref, searchIn, { allowCached: true, abortSignal: signal }),
  );
  return resolution.found && isRegistryAllowed(resolution.registry, rules);
}

function summarize(records: readonly AuditRecord[]): VmOutcome {
  if (records.some((r) => r.outcome === 'failed')) return 'failed';
  if (records.some((r) => r.outcome === 'deferred')) return 'deferred';
  // A VM left alone to keep its IMDS default was not changed, even if its identity and grant were made
  // before the attach decided from a fresher read.
  const attached = records.some((r) => r.action === 'identity-attached' && r.outcome === 'changed');
  if (!attached && records.some((r) => r.action === 'attach-refused')) return 'rejected';
  if (records.some((r) => r.outcome === 'changed')) return 'changed';
  if (records.some((r) => r.outcome === 'planned')) return 'planned';
  if (records.some((r) => r.outcome === 'rejected')) return 'rejected';
  return 'compliant';
}

/** An identity-refused decision's identity and its creator, for the VM's record. */
export function refusedIdentity(decision: Extract<RegistryDecision, { status: 'rejected' }>): {
  identityId?: string;
  identityCreatedBy?: string;
} {
  return {
    ...(decision.identityId ? { identityId: decision.identityId } : {}),
    ...(decision.identityCreatedBy ? { identityCreatedBy: decision.identityCreatedBy } : {}),
  };
}
