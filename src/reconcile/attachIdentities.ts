// Attach every pending identity to the VM in one PATCH, keeping whatever it already has.
import type { AuditFields, Auditor } from '../audit/auditor';
import { ArmOperationError, TransientConditionError } from '../azure/armErrors';
import { type RetryEnvironment, withRetry } from '../azure/retry';
import type { VmState } from '../azure/virtualMachines';
import { isAttached, planAttach } from '../core/attachPlan';
import type { VmRef } from '../core/resourceId';
import type { ReconcileDeps } from './reconcileDeps';
import type { RegistryDecision } from './registryAccess';

export type ReadyRegistry = Extract<RegistryDecision, { status: 'ready' }>;

export class VmGoneError extends Error {
  constructor(vmId: string) {
    super(`${vmId} no longer exists`);
    this.name = 'VmGoneError';
  }
}

export function lastOperationFailed(vm: VmState): boolean {
  return vm.provisioningState?.toLowerCase() === 'failed';
}

function isUpdating(vm: VmState): boolean {
  const state = vm.provisioningState?.toLowerCase();
  return state === 'updating' || state === 'creating';
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
 * The first attempt plans from the VM already read; a retry (412 etag race, 409 still provisioning,
 * throttling, a lost poller) re-reads and re-plans, so a concurrent writer's identities are kept and
 * work someone else finished is not redone. Throws VmGoneError when the VM disappears.
 */
export async function attachIdentities(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  auditor: Auditor,
  vmRef: VmRef,
  firstRead: VmState,
  pending: readonly ReadyRegistry[],
): Promise<void> {
  const wanted = pending.map((p) => p.identityId);
  const fields = (p: ReadyRegistry, vm: VmState): AuditFields => {
    const reported = attachedIds(vm, p.identityId);
    return {
      registry: p.registry.name,
      registryId: p.registry.id,
      identityId: p.identityId,
      ...(p.identity ? { principalId: p.identity.principalId, clientId: p.identity.clientId } : {}),
      ...reported,
    };
  };

  if (deps.settings.mode !== 'enforce') {
    const plan = planAttach(firstRead.identity, wanted);
    for (const p of pending) {
      const would = plan?.add.some((id) => id.toLowerCase() === p.identityId.toLowerCase()) ?? false;
      auditor.record('identity-attached', would ? 'planned' : 'unchanged', fields(p, firstRead));
    }
    return;
  }

  // Ids we sent in any attempt: an attempt whose PATCH landed but whose polling failed is ours too.
  const sent = new Set<string>();
  let current: VmState | undefined = firstRead;
  const result = await withRetry('attach identities', retryEnv, async (signal) => {
    const vm = current ?? (await deps.vms.get(vmRef, signal));
    current = undefined; // every retry starts from a fresh read
    if (!vm) throw new VmGoneError(vmRef.id);
    // Re-send identities the model already lists only when it was our own update that ended Failed:
    // a VM failed for some other reason (an extension, say) is not ours to re-apply.
    const plan = planAttach(vm.identity, wanted, {
      lastOperationFailed: sent.size > 0 && lastOperationFailed(vm),
    });
    if (!plan) {
      // Attached in the model, but an operation (ours, whose polling we lost, or someone else's) is
      // still running: wait for its real outcome rather than report success early.
      if (isUpdating(vm)) {
        throw new TransientConditionError(
          'AnotherOperationInProgress',
          `an operation on ${vmRef.id} is still in progress`,
        );
      }
      return vm;
    }
    for (const id of plan.add) sent.add(id.toLowerCase());
    try {
      return await deps.vms.attach(vmRef, plan, vm.etag, signal);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
      // A 404 from the PATCH or from a status poll: only a fresh read says whether the VM is gone.
      if (!(await deps.vms.get(vmRef, signal))) throw new VmGoneError(vmRef.id);
      throw new TransientConditionError(
        'OperationStatusUnavailable',
        `the update of ${vmRef.id} could not be followed`,
      );
    }
  }).catch((error: unknown) => {
    const cause = error instanceof ArmOperationError ? error.cause : undefined;
    throw cause instanceof VmGoneError ? cause : error;
  });

  for (const p of pending) {
    if (!isAttached(result.identity, p.identityId)) {
      auditor.record('failed', 'failed', {
        ...fields(p, result),
        reason: 'ARM reported the update as succeeded but the identity is not attached',
        retryable: true,
      });
      continue;
    }
    auditor.record(
      'identity-attached',
      sent.has(p.identityId.toLowerCase()) ? 'changed' : 'unchanged',
      fields(p, result),
    );
  }
}
