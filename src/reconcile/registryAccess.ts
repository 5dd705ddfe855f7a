// One registry in one region: find it, check the allowlist, then make sure the shared identity exists
// and holds the pull role on the registry. The event path runs it per VM; the sweep once per
// (registry, region) and shares the answer with every VM there.
import { randomUUID } from 'node:crypto';
import type { Auditor } from '../audit/auditor';
import { ArmOperationError } from '../azure/armErrors';
import type { RegistryState, ResolveOptions } from '../azure/containerRegistries';
import { type RetryEnvironment, withRetry } from '../azure/retry';
import type { IdentityState } from '../azure/userAssignedIdentities';
import { decideByName, isRegistryAllowed } from '../core/allowlist';
import { normalizeRegion, roleAssignmentName } from '../core/names';
import { describeCreator, isSelf, ownershipOf } from '../core/ownership';
import { type PullIdentity, pullIdentityFor } from '../core/pullIdentity';
import { pullRoleFor } from '../core/roles';
import type { RegistryRef } from '../core/tag';
import type { ReconcileDeps } from './reconcileDeps';

export type RegistryDecision =
  /** Identity and grant in place (or planned, in audit mode: then `identity` is absent). */
  | {
      readonly status: 'ready';
      readonly registry: RegistryState;
      readonly identityId: string;
      readonly identity?: IdentityState;
    }
  /** The request is refused; the caller audits it against each VM that asked. */
  | {
      readonly status: 'rejected';
      readonly action: 'tag-invalid' | 'registry-denied' | 'identity-refused';
      readonly reason: string;
      readonly registry?: RegistryState;
      /** identity-refused: the identity, and who ARM says created it. */
      readonly identityId?: string;
      readonly identityCreatedBy?: string;
    }
  | { readonly status: 'failed'; readonly error: unknown; readonly registry?: RegistryState };

/** Where a tag's registry name is looked for: the VM's subscription and the configured ones. */
export function registrySearchScope(deps: ReconcileDeps, vmSubscriptionId: string): string[] {
  return [vmSubscriptionId, ...deps.settings.registrySubscriptions];
}

export type RegistryAuthorization =
  | { readonly status: 'allowed'; readonly registry: RegistryState }
  | Extract<RegistryDecision, { status: 'rejected' | 'failed' }>;

/** Find the registry a tag names and check it against the allowlist, using the id ARM returns. */
export async function authorizeRegistry(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  ref: RegistryRef,
  searchIn: readonly string[],
  options: ResolveOptions = {},
): Promise<RegistryAuthorization> {
  if (decideByName(ref.name, deps.settings.allowedRegistries) === 'denied') {
    // Names are globally unique: no rule can allow this one, so no ARM request is needed to refuse it.
    return { status: 'rejected', action: 'registry-denied', reason: deniedReason(deps) };
  }
  try {
    const resolution = await withRetry('find registry', retryEnv, (signal) =>
      deps.registries.resolve(ref, searchIn, { ...options, abortSignal: signal }),
    );
    if (!resolution.found) {
      return {
        status: 'rejected',
        action: 'tag-invalid',
        reason: `registry ${JSON.stringify(ref.text)} was not found in ${resolution.searched.join(', ')}`,
      };
    }
    const registry = resolution.registry;
    if (!isRegistryAllowed(registry, deps.settings.allowedRegistries)) {
      return {
        status: 'rejected',
        action: 'registry-denied',
        registry,
        reason: deniedReason(deps),
      };
    }
    return { status: 'allowed', registry };
  } catch (error) {
    return { status: 'failed', error };
  }
}

function deniedReason(deps: ReconcileDeps): string {
  return deps.settings.allowlistUnset
    ? 'ACRPULL_ALLOWED_REGISTRIES is not set, so every registry is denied'
    : 'the registry is not in ACRPULL_ALLOWED_REGISTRIES';
}

/** The event path: authorize, then ensure identity and grant, auditing against the VM. */
export async function decideRegistry(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  auditor: Auditor,
  ref: RegistryRef,
  region: string,
  searchIn: readonly string[],
  options: ResolveOptions = {},
): Promise<RegistryDecision> {
  // A registry this instance resolved within the verified-pair window is not looked up again.
  const authorization = await authorizeRegistry(deps, retryEnv, ref, searchIn, {
    ...options,
    cachedWithinMs: deps.verifiedPairs.ttlMs,
  });
  if (authorization.status !== 'allowed') return authorization;
  return ensurePullAccess(deps, retryEnv, auditor, authorization.registry, region, { reuseVerified: true });
}

/**
 * Identity (create or reuse), then the grant. In audit mode, reads only and records the plan. With
 * `reuseVerified` (the event path), a pair this instance verified within the last minute is reused
 * without reading it again; the sweep never reuses and always refreshes.
 */
export async function ensurePullAccess(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  auditor: Auditor,
  registry: RegistryState,
  region: string,
  options: { readonly reuseVerified?: boolean } = {},
): Promise<RegistryDecision> {
  const verified = options.reuseVerified ? deps.verifiedPairs.get(registry.id, region) : undefined;
  if (verified) {
    const fields = ids(
      { registry: registry.name, registryId: registry.id, identityId: verified.identity.id },
      verified.identity,
    );
    const reason = `verified by this instance ${Math.round(verified.ageMs / 1000)} s ago`;
    auditor.record('identity-reused', 'unchanged', { ...fields, reason });
    auditor.record('role-present', 'unchanged', {
      ...fields,
      role: pullRoleFor(registry.roleAssignmentMode).name,
      reason,
    });
    return { status: 'ready', registry, identityId: verified.identity.id, identity: verified.identity };
  }
  try {
    return {
      status: 'ready',
      registry,
      ...(await ensureIdentityAndGrant(deps, retryEnv, auditor, registry, region)),
    };
  } catch (error) {
    if (error instanceof IdentityRefusedError) {
      return {
        status: 'rejected',
        action: 'identity-refused',
        reason: error.message,
        registry,
        identityId: error.identityId,
        identityCreatedBy: error.creator,
      };
    }
    return { status: 'failed', error, registry };
  }
}

/** Terminal: the identity is not one the app may grant or attach (a retry would find the same). */
class IdentityRefusedError extends Error {
  constructor(
    readonly identityId: string,
    readonly creator: string,
    message: string,
  ) {
    super(message);
    this.name = 'IdentityRefusedError';
  }
}

/**
 * The app's own identities must be provably its own (ARM's systemData, not the name or tags), and an
 * operator override must not be the app's own identity (every VM would get the app's permissions).
 */
async function refuseUnlessUsable(
  deps: ReconcileDeps,
  pull: PullIdentity,
  registry: RegistryState,
  identity: IdentityState,
): Promise<void> {
  const self = await deps.whoAmI();
  const creator = describeCreator(identity);
  if (pull.broughtByOperator) {
    if (!self.objectId && !self.clientId) {
      throw new IdentityRefusedError(
        identity.id,
        creator,
        `the app could not tell its own identity from its token, so it cannot rule out that ${identity.id} (ACRPULL_IDENTITY_OVERRIDES for ${registry.name}) is the app's own identity`,
      );
    }
    if (isSelf(identity, self)) {
      throw new IdentityRefusedError(
        identity.id,
        creator,
        `ACRPULL_IDENTITY_OVERRIDES names the app's own identity (${identity.id}) for ${registry.name}: ` +
          "attaching it would give every tagged VM the app's permissions; name an identity made for pulling",
      );
    }
    return;
  }
  const ownership = ownershipOf(identity, self, deps.settings.trustedCreators);
  if (!ownership.owned) throw new IdentityRefusedError(identity.id, ownership.creator, ownership.reason);
  deps.proven.remember(identity.id, identity.principalId);
}

async function ensureIdentityAndGrant(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  auditor: Auditor,
  registry: RegistryState,
  region: string,
): Promise<{ identityId: string; identity?: IdentityState }> {
  const { settings } = deps;
  const enforce = settings.mode === 'enforce';
  const pull = pullIdentityFor(settings, registry.name, region);
  const { resourceGroup: rg, name } = pull;
  const where = { registry: registry.name, registryId: registry.id, identityId: pull.id };

  let identity = await withRetry('read identity', retryEnv, (signal) =>
    deps.identities.get(rg, name, signal),
  );
  if (identity) {
    await refuseUnlessUsable(deps, pull, registry, identity);
    auditor.record('identity-reused', 'unchanged', ids(where, identity));
  } else if (pull.broughtByOperator) {
    // The operator's own identity is used, never created: its absence is a configuration error.
    throw new ArmOperationError(
      'read identity',
      {
        retryable: false,
        code: 'IdentityOverrideNotFound',
        message: `${pull.id}, set for ${registry.name} in ACRPULL_IDENTITY_OVERRIDES, does not exist`,
      },
      1,
    );
  } else if (!enforce) {
    auditor.record('identity-created', 'planned', { ...where, reason: `would create ${name} in ${rg.id}` });
  } else {
    const tags = { 'managed-by': 'acrpull-autopilot', 'acrpull-registry': registry.id };
    const created = await withRetry('create identity', retryEnv, (signal) =>
      deps.identities.createOrUpdate(rg, name, normalizeRegion(region), tags, signal),
    );
    const { created: madeNow, ...state } = created;
    identity = state;
    // ARM's 201 to our own PUT is proof enough (whatever systemData says). A 200 means someone else
    // created the name between our read and our PUT: then systemData decides.
    if (madeNow) deps.proven.remember(state.id, state.principalId);
    else await refuseUnlessUsable(deps, pull, registry, state);
    auditor.record('identity-created', 'changed', ids(where, state));
  }

  const role = pullRoleFor(registry.roleAssignmentMode);
  if (!identity) {
    auditor.record('role-assigned', 'planned', {
      ...where,
      role: role.name,
      reason: `would grant ${role.name} once the identity exists`,
    });
    return { identityId: where.identityId };
  }
  const grant = {
    scope: registry.id,
    subscriptionId: registry.subscriptionId,
    principalId: identity.principalId,
    roleGuid: role.guid,
    name: roleAssignmentName(registry.id, identity.principalId, role.guid),
    description: `acrpull-autopilot: pull for VMs tagged ${settings.tagKey}=${registry.name}`,
  };
  const fields = { ...ids(where, identity), role: role.name };
  if (await withRetry('read grants', retryEnv, (signal) => deps.roleAssignments.hasGrant(grant, signal))) {
    auditor.record('role-present', 'unchanged', fields);
    deps.verifiedPairs.remember(registry, region, identity);
  } else if (!enforce) {
    auditor.record('role-assigned', 'planned', fields);
  } else {
    let created = await withRetry('create grant', retryEnv, (signal) =>
      deps.roleAssignments.create(grant, signal),
    );
    let reason: string | undefined;
    if (created === 'name-taken') {
      // Someone holds the deterministic name elsewhere (squatted or by chance). The grant may have been
      // made meanwhile under another name (a concurrent invocation that met the same): look again,
      // else make it under a fresh name. A concurrent twin then meets RoleAssignmentExists: one grant.
      reason = `the role assignment name ${grant.name} is taken by another assignment in the tenant`;
      if (
        await withRetry('read grants', retryEnv, (signal) => deps.roleAssignments.hasGrant(grant, signal))
      ) {
        created = 'exists';
      } else {
        const fresh = { ...grant, name: randomUUID() };
        reason = `${reason}; granted under ${fresh.name} instead`;
        created = await withRetry('create grant', retryEnv, (signal) =>
          deps.roleAssignments.create(fresh, signal),
        );
        if (created === 'name-taken') throw new Error(`role assignment name ${fresh.name} is taken too`);
      }
    }
    if (created === 'created') auditor.record('role-assigned', 'changed', { ...fields, reason });
    else auditor.record('role-present', 'unchanged', { ...fields, reason });
    deps.verifiedPairs.remember(registry, region, identity);
  }
  return { identityId: identity.id, identity };
}

function ids(where: { registry: string; registryId: string; identityId: string }, identity: IdentityState) {
  return {
    ...where,
    identityId: identity.id,
    principalId: identity.principalId,
    clientId: identity.clientId,
  };
}
