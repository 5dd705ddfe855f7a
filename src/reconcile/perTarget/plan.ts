// plan: the target's snapshot and the settings → the named steps that make it what its tag asks for.
// Pure: no request, no clock. The same plan is executed (enforce), recorded as planned (audit mode)
// and printed (the CLI's what-if).
import type { AuditFields } from '../../audit/auditor';
import type { Settings } from '../../config/settings';
import { contestedReason, judgeAttach } from '../../core/contest';
import { attachedIdentityIds, isAttached } from '../../core/identityView';
import { confirmedReason } from '../../core/pendingOperation';
import { platformManagedReason } from '../../core/platformManaged';
import { pullIdentityFor } from '../../core/pullIdentity';
import { regionAllowed, regionDeniedReason } from '../../core/regions';
import { idKey, sameId } from '../../core/resourceId';
import { type RevocationCause, revocationCandidates, revocationReason } from '../../core/revocation';
import { findTagValue } from '../../core/tag';
import { targetKind } from '../../targets';
import { decisionFields } from '../pair/decision';
import type { RegistryObservation, RevocableObservation, TargetSnapshot } from './snapshot';
import type { DetachRequest, TargetPlan, TargetStep } from './steps';

export function planTarget(settings: Settings, snapshot: TargetSnapshot, targetId: string): TargetPlan {
  switch (snapshot.kind) {
    case 'invalid-id':
      return only({
        step: 'refuse',
        action: 'failed',
        reason: 'not a virtual machine or scale set resource id',
        fields: {},
      });
    case 'unreadable':
      return only({ step: 'fail', error: snapshot.error, fields: {} });
    case 'gone':
      return only({
        step: 'skip',
        reason: snapshot.whileWaiting
          ? 'the VM was deleted while it was being reconciled'
          : 'the VM no longer exists; nothing to do',
      });
    case 'busy':
      return { steps: planBusy(settings, snapshot) };
    case 'idle':
      return { steps: withConfirm(snapshot, planIdle(settings, snapshot, targetId)) };
  }
}

/**
 * The app's accepted attach has ended. Succeeded: confirmed, per identity the target holds that the
 * tag asks for (observed: the registry's pull identity); an identity the row names that the tag does
 * not ask for gets no record (its detach, if any, is revocation's), nor one the target no longer holds
 * (the plan attaches it again as any missing identity). Failed: observe counted its identities as
 * missing, so the plan sends them again and the row stays until that is done; if the plan sends
 * nothing (the tag no longer asks for them, or refuses them), the row is only cleared. Unproven
 * (whose failure cannot be told): only cleared, nothing sent.
 */
function withConfirm(snapshot: Extract<TargetSnapshot, { kind: 'idle' }>, steps: TargetStep[]): TargetStep[] {
  const op = snapshot.pendingOperation;
  if (!op) return steps;
  const accepted = new Date(op.pending.acceptedAt).toISOString();
  const clearOnly = (reason: string): TargetStep[] => [
    { step: 'confirm', reason, pending: op.pending, confirmed: [] },
    ...steps,
  ];
  switch (op.verdict.kind) {
    case 'unproven':
      return clearOnly(op.verdict.reason);
    case 'failed':
      return steps.some((s) => s.step === 'attach')
        ? steps
        : clearOnly(
            `the attach ARM accepted at ${accepted} ended Failed, and the tag no longer asks for it: not sent again`,
          );
    case 'succeeded': {
      const confirmed = op.verdict.held.flatMap((identityId) => {
        const observed = snapshot.registries.find((r) => sameId(r.identityId, identityId));
        if (!observed) return [];
        return [
          {
            identityId,
            fields: {
              identityId,
              registry: observed.ref.name,
              reason: confirmedReason(identityId, op.pending.acceptedAt),
            },
          },
        ];
      });
      return [
        {
          step: 'confirm',
          reason: `the attach ARM accepted at ${accepted} has ended Succeeded`,
          pending: op.pending,
          confirmed,
        },
        ...steps,
      ];
    }
  }
}

const only = (step: TargetStep): TargetPlan => ({ steps: [step] });

/** Busy with someone else's operation: each identity it would attach or detach waits (never a write). */
function planBusy(settings: Settings, snapshot: Extract<TargetSnapshot, { kind: 'busy' }>): TargetStep[] {
  const { tag, target, region, reason } = snapshot;
  if (tag.kind === 'refs') {
    return tag.refs.map((ref) => ({
      step: 'defer',
      action: 'identity-attached',
      reason,
      fields: { registry: ref.name, identityId: pullIdentityFor(settings, ref.name, region).id },
    }));
  }
  return revocationCandidates(settings, attachedIdentityIds(target.identity), new Set()).map((c) => ({
    step: 'defer',
    action: 'identity-detached',
    reason,
    fields: { registry: c.registry, identityId: c.identityId },
  }));
}

function planIdle(
  settings: Settings,
  snapshot: Extract<TargetSnapshot, { kind: 'idle' }>,
  targetId: string,
): TargetStep[] {
  const { tag } = snapshot;
  if (tag.kind === 'invalid')
    return [
      { step: 'refuse', action: 'tag-invalid', reason: `${settings.tagKey} tag: ${tag.reason}`, fields: {} },
    ];
  if (tag.kind === 'untagged') {
    // Revocation looked only where the target holds an identity the app would detach.
    if (snapshot.revocable.length === 0)
      return [{ step: 'nothing', reason: `${targetId} has no ${settings.tagKey} tag; nothing to do` }];
    const revoked = planRevocation(settings, snapshot.revocable, () => 'untagged');
    return guardWriteScope(settings, snapshot, guardPlatform(snapshot, withPatch([], revoked)));
  }
  if (snapshot.soleProofError !== undefined)
    return [{ step: 'fail', error: snapshot.soleProofError, fields: {} }];
  const refusals: TargetStep[] = [];
  const perRegistry: TargetStep[] = [];
  for (const observed of snapshot.registries) {
    if (observed.kind === 'imds-default') {
      refusals.push({
        step: 'refuse',
        action: 'attach-refused',
        reason: observed.reason,
        fields: { registry: observed.ref.name, identityId: observed.identityId },
      });
    } else perRegistry.push(planRegistry(settings, observed, snapshot.region));
  }
  const denied = deniedRegistries(snapshot.registries);
  const revoked = planRevocation(settings, snapshot.revocable, (registry) =>
    denied.has(registry) ? 'denied' : 'not-named',
  );
  const contested = guardContest(settings, snapshot, perRegistry);
  return guardWriteScope(
    settings,
    snapshot,
    guardPlatform(snapshot, withPatch([...refusals, ...contested], revoked)),
  );
}

/** Whether the observations call for a write: a pair to ensure and attach, or a proven identity to detach. */
export function writesPlanned(
  registries: readonly RegistryObservation[],
  revocable: readonly RevocableObservation[],
): boolean {
  return (
    registries.some((r) => r.kind === 'authorized' && r.authorization.status === 'allowed') ||
    revocable.some((r) => 'proven' in r.proof && r.proof.proven)
  );
}

/**
 * No write into a resource group another service manages (or whose manager could not be read: fail
 * closed): each identity the plan would attach or detach is refused (or failed) instead, with the way
 * to get pull access there.
 */
function guardPlatform(
  snapshot: Extract<TargetSnapshot, { kind: 'idle' }>,
  steps: TargetStep[],
): TargetStep[] {
  const platform = snapshot.platform;
  if (!platform || (!('error' in platform) && !platform.managedBy)) return steps;
  const label = targetKind(snapshot.ref.kind).label;
  const instead = (registry: string, fields: AuditFields): TargetStep =>
    'error' in platform
      ? { step: 'fail', error: platform.error, fields }
      : {
          step: 'refuse',
          action: 'target-platform-managed',
          reason: platformManagedReason(
            label,
            snapshot.ref.resourceGroup,
            platform.managedBy ?? '',
            registry,
          ),
          fields,
        };
  return replaceWrites(steps, instead);
}

/**
 * ACRPULL_WRITE_RESOURCE_GROUPS (the template's fleetResourceGroups, where the app holds VM and scale
 * set write): a target elsewhere is refused before anything is made for it, instead of a 403 on its
 * PATCH at every event and sweep.
 */
function guardWriteScope(
  settings: Settings,
  snapshot: Extract<TargetSnapshot, { kind: 'idle' }>,
  steps: TargetStep[],
): TargetStep[] {
  const groups = settings.writeResourceGroups;
  const groupId = `/subscriptions/${snapshot.ref.subscriptionId}/resourceGroups/${snapshot.ref.resourceGroup}`;
  if (groups.length === 0 || groups.some((g) => sameId(g, groupId))) return steps;
  const label = targetKind(snapshot.ref.kind).label;
  return replaceWrites(steps, (registry, fields) => ({
    step: 'refuse',
    action: 'target-out-of-scope',
    reason:
      `the ${label} is in ${groupId}, which is not in ACRPULL_WRITE_RESOURCE_GROUPS (the resource groups where ` +
      `the app may write VMs and scale sets): nothing is attached for ${registry}; add the group to the ` +
      "deployment's fleetResourceGroups, or attach the pull identity yourself",
    fields,
  }));
}

/** Each write of the plan (a pair to ensure, an identity to attach or detach) replaced by `instead`. */
function replaceWrites(
  steps: TargetStep[],
  instead: (registry: string, fields: AuditFields) => TargetStep,
): TargetStep[] {
  return steps.flatMap((step): TargetStep[] => {
    if (step.step === 'ensure-pair')
      return [
        instead(step.ref.name, {
          registry: step.registry.name,
          registryId: step.registry.id,
          identityId: step.identityId,
        }),
      ];
    if (step.step === 'attach' || step.step === 'detach')
      return step.detach.map((d) => instead(d.registry, { registry: d.registry, identityId: d.identityId }));
    return [step];
  });
}

function planRegistry(settings: Settings, observed: RegistryObservation, region: string): TargetStep {
  const where: AuditFields = { registry: observed.ref.name, identityId: observed.identityId };
  switch (observed.kind) {
    case 'imds-default':
      return { step: 'refuse', action: 'attach-refused', reason: observed.reason, fields: where };
    case 'compliant':
      return { step: 'keep', fields: observed.fields };
    case 'unreadable':
      return { step: 'fail', error: observed.error, fields: where };
    case 'authorized':
      break;
  }
  const authorization = observed.authorization;
  if (authorization.status === 'allowed' && !regionAllowed(settings.regions, region)) {
    // ACRPULL_REGIONS: no identity is read, made or attached for a target elsewhere.
    const registry = authorization.registry;
    return {
      step: 'refuse',
      action: 'region-denied',
      reason: regionDeniedReason(settings.regions, region, registry.name),
      fields: { registry: registry.name, registryId: registry.id, identityId: observed.identityId },
    };
  }
  if (authorization.status === 'allowed') {
    return {
      step: 'ensure-pair',
      ref: observed.ref,
      identityId: observed.identityId,
      registry: authorization.registry,
      region,
    };
  }
  const fields = decisionFields(authorization, observed.ref.name, observed.identityId);
  if (authorization.status === 'failed') return { step: 'fail', error: authorization.error, fields };
  return { step: 'refuse', action: authorization.action, reason: authorization.reason, fields };
}

/**
 * With a state store: an identity another writer keeps removing is not attached again (core/contest.ts)
 * — a `contest` step instead of its pair and PATCH; every other pair carries its history, to be stored
 * once attached. Judged only for identities the target does not hold (one it holds was not undone).
 */
function guardContest(
  settings: Settings,
  snapshot: Extract<TargetSnapshot, { kind: 'idle' }>,
  steps: TargetStep[],
): TargetStep[] {
  const recall = snapshot.recall;
  if (!recall) return steps;
  const tag = findTagValue(snapshot.target.tags, settings.tagKey) ?? '';
  return steps.map((step): TargetStep => {
    if (step.step !== 'ensure-pair') return step;
    const history = recall.attaches.get(idKey(step.identityId));
    if (isAttached(snapshot.target.identity, step.identityId))
      return { ...step, contest: { history: history ?? { undone: [] }, tag, by: snapshot.lastWriter ?? '' } };
    const judged = judgeAttach(history, snapshot.readAt, settings.maxReattaches, tag, snapshot.lastWriter);
    if (judged.kind === 'attach')
      return {
        ...step,
        contest: {
          history: judged.history,
          tag,
          by: judged.history.contested?.by ?? snapshot.lastWriter ?? '',
        },
      };
    return {
      step: 'contest',
      identityId: step.identityId,
      reason: contestedReason(step.identityId, judged.by, settings.maxReattaches, false),
      fields: { registry: step.registry.name, registryId: step.registry.id, identityId: step.identityId },
      newly: judged.newly,
      history: judged.history,
    };
  });
}

/** Registries (lower-cased names) the tag names that the allowlist now denies. */
export function deniedRegistries(registries: readonly RegistryObservation[]): Set<string> {
  const denied = new Set<string>();
  for (const r of registries) {
    if (r.kind !== 'authorized') continue;
    const a = r.authorization;
    if (a.status === 'rejected' && a.action === 'registry-denied') denied.add(r.ref.name.toLowerCase());
  }
  return denied;
}

/** Failed proofs are reported; proven candidates are detached (unproven ones are not the app's to detach). */
function planRevocation(
  settings: Settings,
  revocable: readonly RevocableObservation[],
  causeOf: (registry: string) => RevocationCause,
): { fails: TargetStep[]; detach: DetachRequest[] } {
  const fails: TargetStep[] = [];
  const detach: DetachRequest[] = [];
  for (const { candidate, proof } of revocable) {
    if ('error' in proof) {
      fails.push({
        step: 'fail',
        error: proof.error,
        fields: { registry: candidate.registry, identityId: candidate.identityId },
      });
      continue;
    }
    if (!proof.proven) continue;
    const cause = causeOf(candidate.registry);
    detach.push({
      ...candidate,
      cause,
      reason: revocationReason(settings.tagKey, candidate.registry, cause),
    });
  }
  return { fails, detach };
}

/** The steps, then revocation's failures, then the one PATCH if anything is to be attached or detached. */
function withPatch(
  steps: TargetStep[],
  revoked: { fails: TargetStep[]; detach: DetachRequest[] },
): TargetStep[] {
  const attaches = steps.some((s) => s.step === 'ensure-pair');
  const all = [...steps, ...revoked.fails];
  if (!attaches && revoked.detach.length === 0) return all;
  return [...all, { step: attaches ? 'attach' : 'detach', detach: revoked.detach }];
}
