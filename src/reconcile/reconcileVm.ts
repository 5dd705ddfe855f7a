// The single-VM reconcile: read the VM, decide from what ARM says now, then make the smallest set of
// writes that reaches the desired state — identity, then grant, then attach — each audited.
// Grant before attach is an invariant: an attached pull identity implies its grant was made, which is
// what lets an already-compliant VM cost exactly one read (the sweep re-verifies grants for drift).

import { Auditor } from '../audit/auditor';
import type { AuditRecord, Trigger } from '../audit/auditRecord';
import { ArmOperationError } from '../azure/armErrors';
import { type Deadline, type RetryEnvironment, withRetry } from '../azure/retry';
import type { VmState } from '../azure/virtualMachines';
import { decideByName, isRegistryAllowed } from '../core/allowlist';
import { imdsDefaultAtRisk, isAttached, singleIdentityReason } from '../core/attachPlan';
import { normalizeRegion } from '../core/names';
import { isPullIdentityId, pullIdentityFor } from '../core/pullIdentity';
import { parseVmId, type VmRef } from '../core/resourceId';
import { findTagValue, parseRegistryTag, type RegistryRef } from '../core/tag';
import { attachedIds, attachIdentities, type ReadyRegistry, VM_BUSY, VmGoneError } from './attachIdentities';
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
  vmRef: VmRef,
) => Promise<RegistryDecision>;

const decideFresh =
  (deps: ReconcileDeps): DecideRegistry =>
  (ref, region, auditor, retryEnv, vmRef) =>
    decideRegistry(deps, retryEnv, auditor, ref, region, registrySearchScope(deps, vmRef.subscriptionId));

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

  const vmRef = parseVmId(request.vmId);
  if (!vmRef) {
    auditor.record('failed', 'rejected', { reason: 'not a virtual machine resource id' });
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

  const tagValue = findTagValue(vm.tags, settings.tagKey);
  if (tagValue === undefined) {
    deps.log.debug(`${request.vmId} has no ${settings.tagKey} tag; nothing to do`);
    return finish('untagged');
  }
  const parsed = parseRegistryTag(tagValue, settings.maxRegistriesPerVm);
  if (!parsed.ok) {
    auditor.record('tag-invalid', 'rejected', { reason: `${settings.tagKey} tag: ${parsed.reason}` });
    return finish('rejected');
  }

  const region = normalizeRegion(vm.location);
  const refused = refuseForImdsDefault(deps, vm, parsed.refs, region);
  for (const { ref, identityId, reason } of refused) {
    auditor.record('attach-refused', 'rejected', { registry: ref.name, identityId, reason });
  }
  const pending: ReadyRegistry[] = [];
  for (const ref of parsed.refs) {
    const identityId = pullIdentityFor(settings, ref.name, region).id;
    if (refused.some((r) => r.ref === ref)) continue;
    try {
      // Fast path: attached (so granted, by the invariant above) and still allowed: no write, and one
      // read in all unless the allowlist needs the registry's id and no recent resolution is at hand.
      // An attach still Updating counts: the invocation that started it owns its outcome. So does a VM
      // whose last update Failed: writing to it on every event would feed an endless event loop.
      if (isAttached(vm.identity, identityId)) {
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
        if (decision.status === 'rejected')
          auditor.record(decision.action, 'rejected', { ...where, reason: decision.reason });
        else auditor.failed(decision.error, where);
      }
    } catch (error) {
      auditor.failed(error, { registry: ref.name, identityId });
    }
  }

  if (pending.length > 0) {
    try {
      await attachIdentities(deps, retryEnv, auditor, vmRef, vm, pending, {
        waitWhileBusy: request.waitWhileBusy ?? request.trigger === 'event',
      });
    } catch (error) {
      if (error instanceof VmGoneError) {
        auditor.record('vm-not-found', 'skipped', {
          reason: 'the VM was deleted while it was being reconciled',
        });
        return finish('skipped');
      }
      const deferral = deferralReason(error);
      for (const p of pending) {
        const where = { registry: p.registry.name, registryId: p.registry.id, identityId: p.identityId };
        if (deferral) {
          // Not a failure: the VM is still being created or another update is running, and we do not
          // write during someone else's operation; or the budget ran out while our own attach ran.
          // Event Grid redelivers, or the next sweep attaches it.
          auditor.record('identity-attached', 'deferred', { ...where, reason: deferral, retryable: true });
        } else {
          auditor.failed(error, where);
        }
      }
    }
  }
  return finish(summarize(auditor.records));
}

/**
 * Registries the tag asks for that would be a second identity on a VM whose only identity is a
 * user-assigned one of its owner's (the IMDS default), under ACRPULL_SINGLE_IDENTITY_VMS=keep. Decided
 * from the first read, before any identity or grant is made, so such a VM costs one read and no write;
 * the attach decides again from its own read. A registry the allowlist denies by name is left to the
 * allowlist, which says so more usefully.
 */
function refuseForImdsDefault(
  deps: ReconcileDeps,
  vm: VmState,
  refs: readonly RegistryRef[],
  region: string,
): { ref: RegistryRef; identityId: string; reason: string }[] {
  const { settings } = deps;
  if (settings.singleIdentityVms !== 'keep') return [];
  const candidates = refs
    .filter((ref) => decideByName(ref.name, settings.allowedRegistries) !== 'denied')
    .map((ref) => ({ ref, identityId: pullIdentityFor(settings, ref.name, region).id }))
    .filter(({ identityId }) => !isAttached(vm.identity, identityId));
  const atRisk = imdsDefaultAtRisk(
    vm.identity,
    candidates.map((c) => c.identityId),
    (id) => isPullIdentityId(settings, id),
  );
  if (!atRisk || atRisk.isPullIdentity) return [];
  const reason = singleIdentityReason(atRisk.identityId);
  return candidates.map((c) => ({ ...c, reason }));
}

/**
 * Whether an attached registry is still allowed. By name when the allowlist decides by name (names are
 * globally unique), else by the id ARM returns for it (possibly from a recent resolution: this path
 * writes nothing). Never by an id the tag claims.
 */
async function stillAllowed(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  vmRef: VmRef,
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

/** ARM's answers for a VM that is still being provisioned or has another operation running. */
const BUSY_CODES = new Set([
  'operationnotallowed',
  'conflict',
  'anotheroperationinprogress',
  'conflictingconcurrentwritenotallowed',
]);

/** Why an attach that did not finish is deferred rather than failed; undefined for a failure. */
function deferralReason(error: unknown): string | undefined {
  if (!(error instanceof ArmOperationError)) return undefined;
  const { status, code, message } = error.failure;
  if (code === VM_BUSY) return `${message} (re-read ${error.attempts} times, never written)`;
  if (status === 409 && BUSY_CODES.has(code.toLowerCase())) return `the VM is busy: ${error.message}`;
  if (code === 'TimeBudgetExceeded')
    return `the time budget ran out while the attach was in progress: ${message}`;
  return undefined;
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
