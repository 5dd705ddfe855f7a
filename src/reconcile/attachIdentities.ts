// Attach every pending identity to the VM in one PATCH, keeping whatever it already has, and never
// while another operation runs on the VM or when it would take away the VM's IMDS default identity.
import type { AuditFields, Auditor } from '../audit/auditor';
import { ArmOperationError, TransientConditionError } from '../azure/armErrors';
import { type RetryEnvironment, withRetry } from '../azure/retry';
import type { VmState } from '../azure/virtualMachines';
import {
  type AttachDecision,
  type AttachPolicy,
  decideAttach,
  isAttached,
  scaleSetReach,
} from '../core/attachPlan';
import type { ComputeRef } from '../core/resourceId';
import { type RevocationCandidate, type RevocationCause, stillRevoked } from '../core/revocation';
import { knownPullIdentity, proveSingleIdentity } from './provenIdentities';
import type { ReconcileDeps } from './reconcileDeps';
import type { RegistryDecision } from './registryAccess';

export type ReadyRegistry = Extract<RegistryDecision, { status: 'ready' }>;

/** A pull identity of the app's own to detach (revocation), with why. */
export interface DetachRequest extends RevocationCandidate {
  readonly cause: RevocationCause;
  readonly reason: string;
}

export class VmGoneError extends Error {
  constructor(vmId: string) {
    super(`${vmId} no longer exists`);
    this.name = 'VmGoneError';
  }
}

/** The code a busy VM is retried under (GET only) and, when the budget runs out, deferred with. */
export const VM_BUSY = 'VmBusy';

/** ARM's answers for a VM that is still being provisioned or has another operation running. */
const BUSY_CODES = new Set([
  'operationnotallowed',
  'conflict',
  'anotheroperationinprogress',
  'conflictingconcurrentwritenotallowed',
]);

/**
 * Why work on a VM that did not finish is deferred rather than failed: the VM stayed busy with another
 * operation (we only read it), Compute refused a PATCH because of one (409), or the budget ran out
 * before an operation's outcome was seen. Undefined for a failure.
 */
export function deferralReason(error: unknown): string | undefined {
  if (!(error instanceof ArmOperationError)) return undefined;
  const { status, code, message } = error.failure;
  if (code === VM_BUSY) return `${message} (read ${error.attempts} times, never written)`;
  if (status === 409 && BUSY_CODES.has(code.toLowerCase())) return `the VM is busy: ${error.message}`;
  if (code === 'TimeBudgetExceeded')
    return `the time budget ran out before the operation's outcome was seen: ${message}`;
  return undefined;
}

export interface AttachOptions {
  /**
   * Event path: re-read a busy VM with backoff within the time budget, and let the failure to finish
   * in time defer (Event Grid redelivers). Sweep and CLI: record it deferred at once and move on.
   */
  readonly waitWhileBusy: boolean;
  /** Identities to detach in the same PATCH (ACRPULL_REVOKE=on), proven the app's own. */
  readonly detach?: readonly DetachRequest[];
}

export function lastOperationFailed(vm: VmState): boolean {
  return vm.provisioningState?.toLowerCase() === 'failed';
}

/**
 * The attach rules for this VM as read. An attached identity counts as the app's own pull identity
 * (so attaching another does not take the owner's IMDS default) only if proven: an override, or
 * systemData checked (see provenIdentities.ts), never by its name alone.
 */
export function attachPolicy(deps: ReconcileDeps, vm: VmState): AttachPolicy {
  return {
    singleIdentityVms: deps.settings.singleIdentityVms,
    isPullIdentity: (id) => knownPullIdentity(deps, id, attachedIds(vm, id).principalId),
  };
}

/** clientId/principalId as the VM reports them; the VM owner needs the client id to log in. */
export function attachedIds(vm: VmState, identityId: string): { clientId?: string; principalId?: string } {
  const map = vm.identity?.userAssignedIdentities ?? {};
  const key = Object.keys(map).find((k) => k.toLowerCase() === identityId.toLowerCase());
  const entry = key ? map[key] : undefined;
  return {
    ...(entry?.clientId ? { clientId: entry.clientId } : {}),
    ...(entry?.principalId ? { principalId: entry.principalId } : {}),
  };
}

/**
 * The first attempt decides from the VM already read; a retry (412 etag race, a busy VM, throttling,
 * a lost poller) re-reads and decides again, so a concurrent writer's identities are kept, a writer
 * who started an operation meanwhile is waited for, and work someone else finished is not redone.
 * Throws VmGoneError when the VM disappears.
 */
export async function attachIdentities(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  auditor: Auditor,
  vmRef: ComputeRef,
  /** The VM as just read, to plan the first attempt from; undefined to read it again first. */
  firstRead: VmState | undefined,
  pending: readonly ReadyRegistry[],
  options: AttachOptions,
): Promise<void> {
  const wanted = pending.map((p) => p.identityId);
  const detach = options.detach ?? [];
  const enforce = deps.settings.mode === 'enforce';
  const fields = (p: ReadyRegistry, vm: VmState | undefined): AuditFields => ({
    registry: p.registry.name,
    registryId: p.registry.id,
    identityId: p.identityId,
    principalId: p.identity?.principalId,
    clientId: p.identity?.clientId,
    ...(vm ? attachedIds(vm, p.identityId) : {}),
  });

  // Ids we sent in any attempt: an attempt whose PATCH landed but whose polling failed is ours too.
  const sent = new Set<string>();
  const removed = new Set<string>();
  /** What the last attempt still meant to detach (lower-cased ids). */
  let stillUnwanted = new Set<string>();
  let warning: string | undefined;
  let current: VmState | undefined = firstRead;
  const attempt = withRetry(
    'attach identities',
    retryEnv,
    async (signal): Promise<{ vm: VmState; decision: AttachDecision }> => {
      const vm = current ?? (await deps.vms.get(vmRef, signal));
      current = undefined; // every retry starts from a fresh read
      if (!vm) throw new VmGoneError(vmRef.id);
      // Re-send identities the model already lists only when it was our own update that ended Failed:
      // a VM failed for some other reason (an extension, say) is not ours to re-apply.
      await proveSingleIdentity(deps, retryEnv, vm, signal);
      // Detaches are decided again from this read: a tag that names the registry again (or is now
      // invalid) keeps its identity. A removal needs the etag guard: without one nothing is removed.
      const unwanted = vm.etag
        ? detach
            .filter((d) => stillRevoked(vm.tags, deps.settings, d.registry, d.cause))
            .map((d) => d.identityId)
        : [];
      stillUnwanted = new Set(unwanted.map((id) => id.toLowerCase()));
      const decision = decideAttach(vm, wanted, {
        ...attachPolicy(deps, vm),
        resendListed: sent.size > 0 && lastOperationFailed(vm),
        unwanted,
      });
      if (decision.action === 'defer' && options.waitWhileBusy) {
        throw new TransientConditionError(VM_BUSY, decision.reason);
      }
      if ((decision.action !== 'attach' && decision.action !== 'detach') || !enforce) return { vm, decision };
      for (const id of decision.patch.add) sent.add(id.toLowerCase());
      for (const id of decision.patch.remove) removed.add(id.toLowerCase());
      const attachWarning = decision.warning;
      // The first attach decides whether the VM loses its IMDS default; a re-send after our own
      // failed update sees the identities already listed and must not clear the warning.
      warning ??= attachWarning;
      try {
        return { vm: await deps.vms.attach(vmRef, decision.patch, vm.etag, signal), decision };
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode !== 404) throw error;
        // A 404 from the PATCH or from a status poll: only a fresh read says whether the VM is gone.
        if (!(await deps.vms.get(vmRef, signal))) throw new VmGoneError(vmRef.id);
        throw new TransientConditionError(
          'OperationStatusUnavailable',
          `the update of ${vmRef.id} could not be followed`,
        );
      }
    },
  );
  const ours = (p: ReadyRegistry) => sent.has(p.identityId.toLowerCase());
  const deferAll = (reason: string, vm: VmState | undefined) => {
    for (const p of pending) {
      auditor.record('identity-attached', 'deferred', {
        ...fields(p, vm),
        reason,
        retryable: true,
        ...(ours(p) ? { warning } : {}),
      });
    }
    for (const d of detach) {
      auditor.record('identity-detached', 'deferred', {
        registry: d.registry,
        identityId: d.identityId,
        reason,
        retryable: true,
      });
    }
  };
  let outcome: Awaited<typeof attempt>;
  try {
    outcome = await attempt;
  } catch (error) {
    const cause = error instanceof ArmOperationError ? error.cause : undefined;
    if (cause instanceof VmGoneError) throw cause;
    const deferral = deferralReason(error);
    if (!deferral) throw error;
    // Not a failure: the VM is busy with someone else's operation and we do not write during it, or
    // our own attach is still running. Event Grid redelivers, or the next sweep attaches it.
    deferAll(deferral, undefined);
    return;
  }
  const { vm, decision } = outcome;

  switch (decision.action) {
    case 'refuse':
      // An attach to a VM whose single identity is its owner's, or a detach that would make the
      // owner's identity its IMDS default: nothing is written.
      for (const p of pending) {
        auditor.record('attach-refused', 'rejected', { ...fields(p, vm), reason: decision.reason });
      }
      for (const d of detach) {
        auditor.record('identity-detached', 'rejected', {
          registry: d.registry,
          identityId: d.identityId,
          reason: decision.reason,
        });
      }
      return;
    case 'defer':
      deferAll(decision.reason, vm);
      return;
    case 'attach':
    case 'detach':
      if (!enforce) {
        const warn = decision.warning;
        for (const p of pending) {
          const would = decision.patch.add.some((id) => id.toLowerCase() === p.identityId.toLowerCase());
          auditor.record('identity-attached', would ? 'planned' : 'unchanged', {
            ...fields(p, vm),
            ...(would ? { warning: warn } : {}),
          });
        }
        for (const d of detach) {
          if (!decision.patch.remove.some((id) => id.toLowerCase() === d.identityId.toLowerCase())) continue;
          auditor.record('identity-detached', 'planned', {
            registry: d.registry,
            identityId: d.identityId,
            reason: d.reason,
            ...(decision.action === 'detach' && decision.warning ? { warning: decision.warning } : {}),
          });
        }
        return;
      }
      break;
    case 'nothing':
      break;
  }
  for (const p of pending) {
    if (!isAttached(vm.identity, p.identityId)) {
      auditor.record('failed', 'failed', {
        ...fields(p, vm),
        reason: 'ARM reported the update as succeeded but the identity is not attached',
        retryable: true,
      });
      continue;
    }
    auditor.record('identity-attached', ours(p) ? 'changed' : 'unchanged', {
      ...fields(p, vm),
      ...(ours(p) ? { warning } : {}),
      ...(ours(p) && vmRef.kind === 'scaleSet' ? { reason: scaleSetReach(vm.orchestrationMode) } : {}),
    });
  }
  for (const d of detach) {
    // Detached by someone else meanwhile, or no longer to be detached (the tag names it again):
    // nothing of ours happened, nothing to say.
    if (!removed.has(d.identityId.toLowerCase())) continue;
    if (isAttached(vm.identity, d.identityId) && !stillUnwanted.has(d.identityId.toLowerCase())) continue;
    if (isAttached(vm.identity, d.identityId)) {
      auditor.record('failed', 'failed', {
        registry: d.registry,
        identityId: d.identityId,
        reason: 'ARM reported the update as succeeded but the identity is still attached',
        retryable: true,
      });
      continue;
    }
    auditor.record('identity-detached', 'changed', {
      registry: d.registry,
      identityId: d.identityId,
      reason: d.reason,
      ...(warning ? { warning } : {}),
    });
  }
}
