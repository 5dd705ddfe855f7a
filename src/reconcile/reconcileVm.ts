// The single-VM reconcile: read the VM, decide from what ARM says now, then make the smallest set of
// writes that reaches the desired state — identity, then grant, then attach — each audited.
// Grant before attach is an invariant: an attached pull identity implies its grant was made, which is
// what lets an already-compliant VM cost exactly one read (the sweep re-verifies grants for drift).
import type { AuditAction, AuditOutcome, AuditRecord, AuditSink, Trigger } from '../audit/auditRecord';
import { ArmOperationError, TransientConditionError } from '../azure/armErrors';
import type { ContainerRegistries, RegistryState } from '../azure/containerRegistries';
import { type Deadline, type RetryEnvironment, withRetry } from '../azure/retry';
import type { RoleAssignments } from '../azure/roleAssignments';
import type { IdentityState, UserAssignedIdentities } from '../azure/userAssignedIdentities';
import type { VirtualMachines, VmState } from '../azure/virtualMachines';
import type { Settings } from '../config/settings';
import { decideByName, isRegistryAllowed } from '../core/allowlist';
import { isAttached, planAttach } from '../core/attachPlan';
import type { Logger } from '../core/logger';
import { identityName, normalizeRegion, roleAssignmentName } from '../core/names';
import { parseVmId, userAssignedIdentityId, type VmRef } from '../core/resourceId';
import { pullRoleFor } from '../core/roles';
import { findTagValue, parseRegistryTag, type RegistryRef } from '../core/tag';

export interface ReconcileDeps {
  readonly settings: Settings;
  readonly vms: VirtualMachines;
  readonly identities: UserAssignedIdentities;
  readonly roleAssignments: RoleAssignments;
  readonly registries: ContainerRegistries;
  readonly audit: AuditSink;
  readonly log: Logger;
  /** Overrides for the retry loop (policy, sleep, random); the deadline comes per request. */
  readonly retry?: Omit<RetryEnvironment, 'deadline'>;
  readonly now?: () => number;
}

export interface ReconcileRequest {
  readonly vmId: string;
  readonly trigger: Trigger;
  readonly deadline: Deadline;
  readonly eventId?: string;
  readonly correlationId?: string;
  readonly caller?: string;
}

/** How the VM ended up, in words that finish "VM x is/was …". */
export type VmOutcome = 'compliant' | 'changed' | 'planned' | 'rejected' | 'skipped' | 'untagged' | 'failed';

export interface VmResult {
  readonly vmId: string;
  readonly outcome: VmOutcome;
  /** True when a failure may clear on another attempt: the event path throws so Event Grid redelivers. */
  readonly retryable: boolean;
  readonly records: readonly AuditRecord[];
}

/** One registry on its way through identity → grant → attach. */
interface Pending {
  readonly ref: RegistryRef;
  readonly registry: RegistryState;
  readonly identityId: string;
  readonly identity?: IdentityState;
}

class VmGoneError extends Error {}

function lastOperationFailed(vm: VmState): boolean {
  return vm.provisioningState?.toLowerCase() === 'failed';
}

function isUpdating(vm: VmState): boolean {
  const state = vm.provisioningState?.toLowerCase();
  return state === 'updating' || state === 'creating';
}

export async function reconcileVm(deps: ReconcileDeps, request: ReconcileRequest): Promise<VmResult> {
  const now = deps.now ?? Date.now;
  const started = now();
  const { settings } = deps;
  const records: AuditRecord[] = [];
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

  const audit = (
    action: AuditAction,
    outcome: AuditOutcome,
    fields: Partial<Omit<AuditRecord, 'action' | 'outcome' | 'mode' | 'trigger' | 'vmId'>> = {},
  ): void => {
    const record: AuditRecord = {
      action,
      outcome,
      mode: settings.mode,
      trigger: request.trigger,
      vmId: request.vmId,
      ...(request.eventId ? { eventId: request.eventId } : {}),
      ...(request.correlationId ? { correlationId: request.correlationId } : {}),
      ...(request.caller ? { caller: request.caller } : {}),
      ...fields,
      durationMs: now() - started,
    };
    records.push(record);
    deps.audit.record(record);
  };
  const finish = (outcome: VmOutcome): VmResult => ({
    vmId: request.vmId,
    outcome,
    retryable: records.some((r) => r.outcome === 'failed' && r.retryable === true),
    records,
  });
  const failed = (error: unknown, fields: Parameters<typeof audit>[2] = {}): void => {
    const failure = error instanceof ArmOperationError ? error : undefined;
    audit('failed', 'failed', {
      ...fields,
      reason: failure ? failure.message : `unexpected error: ${(error as Error)?.message ?? String(error)}`,
      retryable: failure?.failure.retryable ?? false,
    });
  };

  const vmRef = parseVmId(request.vmId);
  if (!vmRef) {
    audit('failed', 'rejected', { reason: 'not a virtual machine resource id' });
    return finish('rejected');
  }

  let vm: VmState | undefined;
  try {
    vm = await withRetry('read VM', retryEnv, () => deps.vms.get(vmRef));
  } catch (error) {
    failed(error);
    return finish('failed');
  }
  if (!vm) {
    audit('vm-not-found', 'skipped', { reason: 'the VM no longer exists; nothing to do' });
    return finish('skipped');
  }

  const tagValue = findTagValue(vm.tags, settings.tagKey);
  if (tagValue === undefined) {
    deps.log.debug(`${request.vmId} has no ${settings.tagKey} tag; nothing to do`);
    return finish('untagged');
  }
  const parsed = parseRegistryTag(tagValue, settings.maxRegistriesPerVm);
  if (!parsed.ok) {
    audit('tag-invalid', 'rejected', { reason: `${settings.tagKey} tag: ${parsed.reason}` });
    return finish('rejected');
  }

  const region = normalizeRegion(vm.location);
  const pending: Pending[] = [];
  for (const ref of parsed.refs) {
    const identityId = userAssignedIdentityId(settings.identityResourceGroup, identityName(ref.name, region));
    // Fast path: attached (so granted, by the invariant above) and still allowed: no write, and one
    // read in all unless the allowlist needs the registry's id and no recent resolution is at hand.
    // An attach still Updating counts: the invocation that started it owns its outcome.
    if (isAttached(vm.identity, identityId) && !lastOperationFailed(vm)) {
      try {
        if (await stillAllowed(deps, retryEnv, vmRef, ref)) {
          audit('already-compliant', 'unchanged', {
            registry: ref.name,
            identityId,
            ...attachedIds(vm, identityId),
          });
          continue;
        }
      } catch (error) {
        failed(error, { registry: ref.name, identityId });
        continue;
      }
    }
    try {
      const next = await prepareRegistry(deps, retryEnv, audit, vmRef, vm, ref, identityId);
      if (next) pending.push(next);
    } catch (error) {
      failed(error, { registry: ref.name, identityId });
    }
  }

  if (pending.length > 0) {
    try {
      await attachAll(deps, retryEnv, audit, vmRef, vm, pending);
    } catch (error) {
      if (error instanceof VmGoneError) {
        audit('vm-not-found', 'skipped', { reason: 'the VM was deleted while it was being reconciled' });
        return finish('skipped');
      }
      for (const p of pending)
        failed(error, { registry: p.registry.name, registryId: p.registry.id, identityId: p.identityId });
    }
  }
  return finish(summarize(records));
}

/** Resolve and authorize the registry, then ensure the identity and its grant. */
async function prepareRegistry(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  audit: (a: AuditAction, o: AuditOutcome, f?: Partial<AuditRecord>) => void,
  vmRef: VmRef,
  vm: VmState,
  ref: RegistryRef,
  identityId: string,
): Promise<Pending | undefined> {
  const { settings } = deps;
  const enforce = settings.mode === 'enforce';
  const searchIn = [vmRef.subscriptionId, ...settings.registrySubscriptions];
  const resolution = await withRetry('find registry', retryEnv, () => deps.registries.resolve(ref, searchIn));
  if (!resolution.found) {
    audit('tag-invalid', 'rejected', {
      registry: ref.name,
      reason: `registry ${JSON.stringify(ref.text)} was not found in ${resolution.searched.join(', ')}`,
    });
    return undefined;
  }
  const registry = resolution.registry;
  const where = { registry: registry.name, registryId: registry.id, identityId };
  if (!isRegistryAllowed(registry, settings.allowedRegistries)) {
    audit('registry-denied', 'rejected', {
      ...where,
      reason: settings.allowlistUnset
        ? 'ACRPULL_ALLOWED_REGISTRIES is not set, so every registry is denied'
        : 'the registry is not in ACRPULL_ALLOWED_REGISTRIES',
    });
    return undefined;
  }

  // 1. Identity: one per (registry, region), reused by every VM there.
  const rg = settings.identityResourceGroup;
  const name = identityName(registry.name, vm.location);
  let identity = await withRetry('read identity', retryEnv, () => deps.identities.get(rg, name));
  if (identity) {
    audit('identity-reused', 'unchanged', {
      ...where,
      principalId: identity.principalId,
      clientId: identity.clientId,
    });
  } else if (!enforce) {
    audit('identity-created', 'planned', { ...where, reason: `would create ${name} in ${rg.id}` });
  } else {
    const tags = { 'managed-by': 'acrpull-autopilot', 'acrpull-registry': registry.id };
    identity = await withRetry('create identity', retryEnv, () =>
      deps.identities.createOrUpdate(rg, name, normalizeRegion(vm.location), tags),
    );
    audit('identity-created', 'changed', {
      ...where,
      principalId: identity.principalId,
      clientId: identity.clientId,
    });
  }

  // 2. Grant: the role that gives pull in this registry's mode, scoped to the registry alone.
  const role = pullRoleFor(registry.roleAssignmentMode);
  if (!identity) {
    audit('role-assigned', 'planned', {
      ...where,
      role: role.name,
      reason: `would grant ${role.name} once the identity exists`,
    });
  } else {
    const principalId = identity.principalId;
    const grant = {
      scope: registry.id,
      subscriptionId: registry.subscriptionId,
      principalId,
      roleGuid: role.guid,
      name: roleAssignmentName(registry.id, principalId, role.guid),
      description: `acrpull-autopilot: pull for VMs tagged ${settings.tagKey}=${registry.name}`,
    };
    const ids = { ...where, principalId, clientId: identity.clientId, role: role.name };
    if (await withRetry('read grants', retryEnv, () => deps.roleAssignments.hasGrant(grant))) {
      audit('role-present', 'unchanged', ids);
    } else if (!enforce) {
      audit('role-assigned', 'planned', ids);
    } else {
      const created = await withRetry('create grant', retryEnv, () => deps.roleAssignments.create(grant));
      audit(
        created === 'created' ? 'role-assigned' : 'role-present',
        created === 'created' ? 'changed' : 'unchanged',
        ids,
      );
    }
  }
  return { ref, registry, identityId: identity?.id ?? identityId, ...(identity ? { identity } : {}) };
}

/**
 * Attach every pending identity in one PATCH. The first attempt plans from the VM already read;
 * a retry (412 etag race, 409 still provisioning, throttling) re-reads and re-plans, so a concurrent
 * writer's identities are kept and work someone else finished is not redone.
 */
async function attachAll(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  audit: (a: AuditAction, o: AuditOutcome, f?: Partial<AuditRecord>) => void,
  vmRef: VmRef,
  firstRead: VmState,
  pending: readonly Pending[],
): Promise<void> {
  const wanted = pending.map((p) => p.identityId);
  const fields = (p: Pending, vm: VmState) => ({
    registry: p.registry.name,
    registryId: p.registry.id,
    identityId: p.identityId,
    ...(p.identity ? { principalId: p.identity.principalId } : {}),
    ...attachedIds(vm, p.identityId),
    ...(p.identity && !attachedIds(vm, p.identityId).clientId ? { clientId: p.identity.clientId } : {}),
  });

  if (deps.settings.mode !== 'enforce') {
    const plan = planAttach(firstRead.identity, wanted);
    for (const p of pending) {
      const would = plan?.add.some((id) => id.toLowerCase() === p.identityId.toLowerCase()) ?? false;
      audit('identity-attached', would ? 'planned' : 'unchanged', fields(p, firstRead));
    }
    return;
  }

  // Ids we sent in any attempt: an attempt whose PATCH landed but whose polling failed is ours too.
  const sent = new Set<string>();
  let current: VmState | undefined = firstRead;
  const result = await withRetry('attach identities', retryEnv, async () => {
    if (!current) {
      current = await deps.vms.get(vmRef);
      if (!current) throw new VmGoneError();
    }
    const vm = current;
    current = undefined; // every retry starts from a fresh read
    const plan = planAttach(vm.identity, wanted, { lastOperationFailed: lastOperationFailed(vm) });
    if (!plan) {
      // Attached in the model but an operation (ours, whose polling we lost, or someone else's) is
      // still running: wait for its real outcome rather than report success early.
      if (isUpdating(vm))
        throw new TransientConditionError(
          'AnotherOperationInProgress',
          `an operation on ${vmRef.id} is still in progress`,
        );
      return vm;
    }
    for (const id of plan.add) sent.add(id.toLowerCase());
    try {
      return await deps.vms.attach(vmRef, plan, vm.etag);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) throw new VmGoneError();
      throw error;
    }
  }).catch((error: unknown) => {
    const cause = error instanceof ArmOperationError ? error.cause : undefined;
    throw cause instanceof VmGoneError ? cause : error;
  });

  for (const p of pending) {
    if (!isAttached(result.identity, p.identityId)) {
      audit('failed', 'failed', {
        ...fields(p, result),
        reason: 'ARM reported the update as succeeded but the identity is not attached',
        retryable: true,
      });
      continue;
    }
    const changed = sent.has(p.identityId.toLowerCase());
    audit('identity-attached', changed ? 'changed' : 'unchanged', fields(p, result));
  }
}

/**
 * Whether an attached registry is still allowed. By name when the allowlist decides by name (names are
 * globally unique), by the id a resource-id tag carries, else by a (possibly cached) resolution. Only
 * used on the no-write path; any write first re-checks against the id ARM returns now.
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
  if (ref.form === 'resourceId') return isRegistryAllowed({ name: ref.name, id: ref.registry.id }, rules);
  const searchIn = [vmRef.subscriptionId, ...deps.settings.registrySubscriptions];
  const resolution = await withRetry('find registry', retryEnv, () =>
    deps.registries.resolve(ref, searchIn, { allowCached: true }),
  );
  return resolution.found && isRegistryAllowed(resolution.registry, rules);
}

/** clientId/principalId as the VM reports them; the VM owner needs the client id to log in. */
function attachedIds(vm: VmState, identityId: string): { clientId?: string; principalId?: string } {
  const map = vm.identity?.userAssignedIdentities ?? {};
  const key = Object.keys(map).find((k) => k.toLowerCase() === identityId.toLowerCase());
  const entry = key ? map[key] : undefined;
  return {
    ...(entry?.clientId ? { clientId: entry.clientId } : {}),
    ...(entry?.principalId ? { principalId: entry.principalId } : {}),
  };
}

function summarize(records: readonly AuditRecord[]): VmOutcome {
  if (records.some((r) => r.outcome === 'failed')) return 'failed';
  if (records.some((r) => r.outcome === 'changed')) return 'changed';
  if (records.some((r) => r.outcome === 'planned')) return 'planned';
  if (records.some((r) => r.outcome === 'rejected')) return 'rejected';
  return 'compliant';
}
