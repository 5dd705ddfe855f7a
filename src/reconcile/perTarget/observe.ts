// observe: the reads a target's plan is made from, and nothing else. The target (waited for while
// another writer's operation runs, where the caller waits), its tag, the proof of its sole identity,
// and per registry the tag names: compliant (attached, provably the app's, still allowed) or how the
// registry is authorized. With revocation on, which of the app's identities it holds that the tag no
// longer asks for, and whether the app can prove it made them. Writes nothing.
import { ArmOperationError, deferralReason, TransientConditionError } from '../../azure/armErrors';
import { type RetryEnvironment, withRetry } from '../../azure/retry';
import type { TargetState } from '../../azure/targetResources';
import type { Settings } from '../../config/settings';
import { busyReason, isTerminal, TARGET_BUSY, unfinishedReason } from '../../core/busy';
import { attachedIdentityIds, attachedIds, identityFacts, isAttached } from '../../core/identityView';
import { refuseForImdsDefault } from '../../core/imdsDefault';
import { normalizeRegion } from '../../core/names';
import {
  judgePending,
  needsOperationStatus,
  type PendingOperation,
  type PendingVerdict,
} from '../../core/pendingOperation';
import { pullIdentityFor } from '../../core/pullIdentity';
import { pullReadiness, readinessFields } from '../../core/pullReadiness';
import { idKey } from '../../core/resourceId';
import { holdsRevocable, registriesToKeep, revocationCandidates } from '../../core/revocation';
import { findTagValue, parseRegistryTag, type RegistryRef } from '../../core/tag';
import { type TargetRef, targetKind } from '../../targets';
import type { ReconcileDeps } from '../deps';
import { knownPullIdentity, provePullIdentity, proveSoleIdentity } from '../ownership';
import { stillAllowed } from '../pair/authorize';
import type { PullAccess } from '../pair/pullAccess';
import { deniedRegistries, writesPlanned } from './plan';
import type {
  ObserveOptions,
  RegistryObservation,
  RevocableObservation,
  TagReading,
  TargetSnapshot,
} from './snapshot';

export async function observeTarget(
  deps: ReconcileDeps,
  access: PullAccess,
  ref: TargetRef,
  options: ObserveOptions,
  retryEnv: RetryEnvironment,
): Promise<TargetSnapshot> {
  let target: TargetState | undefined;
  try {
    target = await withRetry('read VM', retryEnv, (signal) => deps.targets.get(ref, signal));
  } catch (error) {
    return { kind: 'unreadable', error };
  }
  if (!target) return { kind: 'gone', whileWaiting: false };
  let tag = readTag(deps.settings, target);
  const pending = options.pending;
  if ((needsWork(deps.settings, tag, target) || pending) && !isTerminal(target.provisioningState)) {
    // Another writer's operation is running (the target's creation, its owner's update), or the app's
    // own accepted attach has not ended: every decision is made from an idle target. The event path
    // waits for it (reads only), the sweep and CLI defer.
    const reason = pending ? unfinishedReason : busyReason;
    const idle = await untilIdle(deps, retryEnv, ref, target, options.wait, reason);
    if (idle.status === 'gone') return { kind: 'gone', whileWaiting: true };
    if (idle.status === 'failed') return { kind: 'unreadable', error: idle.error };
    if (idle.status === 'busy')
      return { kind: 'busy', reason: idle.reason, target, tag, region: normalizeRegion(target.location) };
    target = idle.target;
    tag = readTag(deps.settings, target);
  }
  const verdict = pending ? await judgeOwnOperation(deps, retryEnv, ref, target, pending) : undefined;
  const pendingOperation =
    pending && verdict && verdict.kind !== 'running' ? { pending, verdict } : undefined;
  const base = {
    kind: 'idle' as const,
    ref,
    target,
    readAt: (deps.now ?? Date.now)(),
    tag,
    region: normalizeRegion(target.location),
    registries: [],
    revocable: [],
    ...(pendingOperation ? { pendingOperation } : {}),
  };
  // The app's own accepted attach ended Failed: its identities count as not attached (sent again).
  const resend = pendingOperation?.verdict.kind === 'failed' ? pendingOperation.verdict.resend : undefined;
  if (tag.kind === 'invalid') return base;
  if (tag.kind === 'untagged') {
    const revocable = needsWork(deps.settings, tag, target)
      ? await observeRevocable(deps, retryEnv, target, new Set())
      : [];
    return withPlatform(deps, retryEnv, ref, { ...base, revocable });
  }
  try {
    await proveSoleIdentity(deps, retryEnv, target.identity);
  } catch (error) {
    return { ...base, soleProofError: error };
  }
  const registries = await observeRegistries(
    deps,
    access,
    retryEnv,
    ref,
    target,
    tag.refs,
    options.wholeChain,
    resend,
  );
  if (!deps.settings.revoke) return withPlatform(deps, retryEnv, ref, { ...base, registries });
  const keep = registriesToKeep(tag.refs, deniedRegistries(registries), deps.settings.allowlistUnset);
  const revocable = await observeRevocable(deps, retryEnv, target, keep);
  return withPlatform(deps, retryEnv, ref, { ...base, registries, revocable });
}

type IdleSnapshot = Extract<TargetSnapshot, { kind: 'idle' }>;

/**
 * How the app's accepted attach ended, from the idle target and, when the target is Failed, the
 * operation's own status (one read: the failure may be a later writer's). Undefined when that status
 * could not be read now: nothing is decided about it, and the row stays for the next look.
 */
async function judgeOwnOperation(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  ref: TargetRef,
  target: TargetState,
  pending: PendingOperation,
): Promise<PendingVerdict | undefined> {
  let status: string | undefined;
  const path = pending.operation;
  if (needsOperationStatus(target.provisioningState) && path) {
    try {
      status = await withRetry('read the attach operation', retryEnv, (signal) =>
        deps.targets.operationStatus(ref, path, signal),
      );
    } catch (error) {
      deps.log.warn(
        `${ref.id}: the status of the app's accepted attach could not be read: ${(error as Error).message}`,
      );
      return undefined;
    }
  }
  return judgePending(pending, target.provisioningState, identityFacts(target.identity), status);
}

/**
 * Where the plan would write (an identity to attach or detach), whether another service manages the
 * target's resource group: one read per group, remembered (azure/resourceGroups.ts). A target that
 * needs no write costs no such read.
 */
async function withPlatform(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  ref: TargetRef,
  snapshot: IdleSnapshot,
): Promise<IdleSnapshot> {
  if (!writesPlanned(snapshot.registries, snapshot.revocable)) return snapshot;
  try {
    // The target was just read in this group: "not found" says nothing about who manages it (retried,
    // then a failure, never taken as unmanaged).
    const group = await withRetry('read resource group', retryEnv, async (signal) => {
      const found = await deps.resourceGroups.get(ref.subscriptionId, ref.resourceGroup, signal);
      if (!found)
        throw new TransientConditionError(
          'ResourceGroupNotFound',
          `resource group ${ref.resourceGroup} was not found though ${ref.id} was just read in it`,
        );
      return found;
    });
    return { ...snapshot, platform: group.managedBy ? { managedBy: group.managedBy } : {} };
  } catch (error) {
    return { ...snapshot, platform: { error } };
  }
}

export function readTag(settings: Settings, target: TargetState): TagReading {
  const value = findTagValue(target.tags, settings.tagKey);
  if (value === undefined) return { kind: 'untagged' };
  const parsed = parseRegistryTag(value, settings.maxRegistriesPerVm);
  return parsed.ok ? { kind: 'refs', refs: parsed.refs } : { kind: 'invalid', reason: parsed.reason };
}

/** Tagged, or (revocation on) untagged but holding an identity the app would detach. */
function needsWork(settings: Settings, tag: TagReading, target: TargetState): boolean {
  if (tag.kind === 'refs') return true;
  return (
    tag.kind === 'untagged' &&
    settings.revoke &&
    holdsRevocable(settings, attachedIdentityIds(target.identity))
  );
}

/**
 * Each registry the tag names. One that would take the owner's IMDS default is decided from this read
 * alone (nothing more is read for it). Attached under the pull identity's id is not proof it is ours
 * (a name can be planted): it must be an override or proven by systemData (remembered; else one
 * identity read), and still allowed, to be compliant; anything else is authorized (found, allowed).
 * An attach still Updating counts as attached: the invocation that started it owns its outcome; so
 * does a target whose last update Failed (writing to it on every event would feed an event loop),
 * unless that update was the app's own accepted attach (`resend`, from the state store's pending row).
 */
async function observeRegistries(
  deps: ReconcileDeps,
  access: PullAccess,
  retryEnv: RetryEnvironment,
  ref: TargetRef,
  target: TargetState,
  refs: readonly RegistryRef[],
  wholeChain: boolean,
  resend?: ReadonlySet<string>,
): Promise<RegistryObservation[]> {
  const region = normalizeRegion(target.location);
  const kind = targetKind(ref.kind);
  const refused = refuseForImdsDefault(deps.settings, target.identity, refs, region, (id) =>
    knownPullIdentity(deps, id, attachedIds(target.identity, id).principalId),
  );
  const observed: RegistryObservation[] = [];
  for (const registry of refs) {
    const identityId = pullIdentityFor(deps.settings, registry.name, region).id;
    const refusal = refused.find((r) => r.ref === registry);
    if (refusal) {
      observed.push({ ref: registry, identityId, kind: 'imds-default', reason: refusal.reason });
      continue;
    }
    try {
      const ids = attachedIds(target.identity, identityId);
      // An entry bound to no principal on a kind whose GET reports them is stale: never compliant.
      const unbound = ids.principalId === undefined && kind.reportsBoundPrincipals(target.orchestrationMode);
      if (
        !wholeChain &&
        resend?.has(idKey(identityId)) !== true &&
        isAttached(target.identity, identityId) &&
        !unbound &&
        (await provePullIdentity(deps, retryEnv, identityId, ids.principalId)) &&
        (await stillAllowed(deps, retryEnv, ref.subscriptionId, registry))
      ) {
        const fields = {
          registry: registry.name,
          identityId,
          ...ids,
          ...knownReadiness(deps, registry, region),
        };
        observed.push({ ref: registry, identityId, kind: 'compliant', fields });
        continue;
      }
      const authorization = await access.authorize(registry, ref, retryEnv);
      observed.push({ ref: registry, identityId, kind: 'authorized', authorization });
    } catch (error) {
      observed.push({ ref: registry, identityId, kind: 'unreadable', error });
    }
  }
  return observed;
}

/**
 * Pull readiness of a compliant registry from what this instance already knows (no request): the
 * registry as last resolved and the grant's age as last verified. Unknown when it knows neither.
 */
function knownReadiness(deps: ReconcileDeps, registry: RegistryRef, region: string) {
  const known = deps.registries.peek(registry.name);
  const pair = known ? deps.verifiedPairs.get(known.id, region) : undefined;
  const grant = pair?.grantCreatedOn ? { createdOn: pair.grantCreatedOn } : undefined;
  return readinessFields(pullReadiness(registry.name, known?.access, grant, (deps.now ?? Date.now)()));
}

/**
 * The app's pull identities on the target for registries not in `keep`, each proven or not (ARM's
 * systemData, remembered; else one identity read): one it cannot prove is not its to detach.
 */
async function observeRevocable(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  target: TargetState,
  keep: ReadonlySet<string>,
): Promise<RevocableObservation[]> {
  const observed: RevocableObservation[] = [];
  for (const candidate of revocationCandidates(deps.settings, attachedIdentityIds(target.identity), keep)) {
    const { principalId } = attachedIds(target.identity, candidate.identityId);
    try {
      const proven = await provePullIdentity(deps, retryEnv, candidate.identityId, principalId, {
        afresh: true,
      });
      observed.push({ candidate, proof: { proven } });
    } catch (error) {
      observed.push({ candidate, proof: { error } });
    }
  }
  return observed;
}

/** Thrown inside the wait when the target disappears. */
export class TargetGoneError extends Error {
  constructor(targetId: string) {
    super(`${targetId} no longer exists`);
    this.name = 'TargetGoneError';
  }
}

type Idle =
  | { readonly status: 'idle'; readonly target: TargetState }
  | { readonly status: 'busy'; readonly reason: string }
  | { readonly status: 'gone' }
  | { readonly status: 'failed'; readonly error: unknown };

/** Re-reads a busy target with backoff (GET only) until its operation ends, or says why it could not wait. */
async function untilIdle(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  ref: TargetRef,
  busy: TargetState,
  wait: boolean,
  reasonOf: (provisioningState: string | undefined) => string,
): Promise<Idle> {
  if (!wait) return { status: 'busy', reason: reasonOf(busy.provisioningState) };
  let current: TargetState | undefined = busy;
  try {
    const target = await withRetry('wait for the VM to be idle', retryEnv, async (signal) => {
      const read = current ?? (await deps.targets.get(ref, signal));
      current = undefined;
      if (!read) throw new TargetGoneError(ref.id);
      if (!isTerminal(read.provisioningState))
        throw new TransientConditionError(TARGET_BUSY, reasonOf(read.provisioningState));
      return read;
    });
    return { status: 'idle', target };
  } catch (error) {
    if (error instanceof ArmOperationError && error.cause instanceof TargetGoneError)
      return { status: 'gone' };
    const reason = deferralReason(error);
    return reason ? { status: 'busy', reason } : { status: 'failed', error };
  }
}
