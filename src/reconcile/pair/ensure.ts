// The (registry, region) pair as a small reconciler of its own, as ASO treats identities and role
// assignments: first the identity (read; reuse if provably the app's and it holds no role beyond its
// pull grants, create if missing and the app has fewer than ACRPULL_MAX_PULL_IDENTITIES, refuse
// otherwise), then its grant on the registry (read; create if missing). A region outside
// ACRPULL_REGIONS is refused first. In audit mode it only reads and records the plan. Its cache
// (verifiedPairs.ts) lets the event path skip both reads for a pair this instance verified a moment
// ago, never a role check's refusal (roleCheckCache.ts); the sweep always verifies afresh.
import { randomUUID } from 'node:crypto';
import type { Auditor } from '../../audit/auditor';
import { ArmOperationError } from '../../azure/armErrors';
import type { RegistryState } from '../../azure/containerRegistries';
import { type RetryEnvironment, withRetry } from '../../azure/retry';
import type { GrantRequest, HeldGrant } from '../../azure/roleAssignments';
import type { IdentityState } from '../../azure/userAssignedIdentities';
import { excessRolesRefusal } from '../../core/excessRoles';
import { appPullIdentityCount, identityLimitReason } from '../../core/identityGroup';
import { normalizeRegion, roleAssignmentName } from '../../core/names';
import { describeCreator, isSelf, ownershipOf, selfCreatedAt } from '../../core/ownership';
import { overrideRegistries, type PullIdentity, pullIdentityFor } from '../../core/pullIdentity';
import { regionAllowed, regionDeniedReason } from '../../core/regions';
import { sameId } from '../../core/resourceId';
import { pullRoleFor } from '../../core/roles';
import type { ReconcileDeps } from '../deps';
import type { VerifiedPair } from '../verifiedPairs';
import type { RegistryDecision } from './decision';
import { excessRolesOf } from './roleCheck';

export interface PairContext {
  readonly deps: ReconcileDeps;
  readonly retryEnv: RetryEnvironment;
  /** Where the pair's records go: the target's auditor (event path), or the sweep's pair auditor. */
  readonly auditor: Auditor;
}

export interface EnsureOptions {
  /** The event path: reuse a pair this instance verified within the last minute. */
  readonly reuseVerified?: boolean;
  /** The target's subscription: the identity's role assignments are looked for there too. */
  readonly targetSubscriptionId?: string;
  /** The sweep's start: role-assignment listings older than it are made again (roleCheckCache.ts). */
  readonly rolesListedSince?: number;
}

type Pair = PairContext & { readonly options: EnsureOptions };

/**
 * Identity (create or reuse), then the grant. With `reuseVerified` (the event path), a pair this
 * instance verified within the last minute is reused without reading it again, unless the identity
 * now holds roles beyond pull (the role check's cache, which the sweep refreshes). A target outside
 * ACRPULL_REGIONS is refused before anything is read.
 */
export async function ensurePullAccess(
  ctx: PairContext,
  registry: RegistryState,
  region: string,
  options: EnsureOptions = {},
): Promise<RegistryDecision> {
  const { settings } = ctx.deps;
  if (!regionAllowed(settings.regions, region)) {
    return {
      status: 'rejected',
      action: 'region-denied',
      reason: regionDeniedReason(settings.regions, region, registry.name),
      registry,
      identityId: pullIdentityFor(settings, registry.name, region).id,
    };
  }
  const pair: Pair = { ...ctx, options };
  const pairs = ctx.deps.verifiedPairs;
  // Another invocation on this instance verifying the same pair now: wait for it, then reuse it
  // (concurrent events of one pair would otherwise each read the identity, the grant and its roles).
  const running = options.reuseVerified ? pairs.verifying(registry.id, region) : undefined;
  if (running) await running;
  const verified = options.reuseVerified ? pairs.get(registry.id, region) : undefined;
  try {
    if (verified) {
      await refuseExcessRoles(pair, registry, region, verified.identity);
      return reuseVerified(ctx, registry, verified);
    }
    if (!options.reuseVerified) return await verifyPair(pair, registry, region);
    const verifying = verifyPair(pair, registry, region);
    pairs.track(registry.id, region, verifying);
    return await verifying;
  } catch (error) {
    return refusalOf(error, registry) ?? { status: 'failed', error, registry };
  }
}

/** The identity (found or made, proven, role-checked), then its grant: the pair's full verification. */
async function verifyPair(pair: Pair, registry: RegistryState, region: string): Promise<RegistryDecision> {
  const ctx = pair;
  const { settings } = ctx.deps;
  try {
    const identity = await ensureIdentity(pair, registry, region);
    if (!identity)
      return {
        status: 'ready',
        registry,
        identityId: pullIdentityFor(settings, registry.name, region).id,
      };
    const grantCreatedOn = await ensureGrant(ctx, registry, region, identity);
    return {
      status: 'ready',
      registry,
      identityId: identity.id,
      identity,
      ...(grantCreatedOn ? { grantCreatedOn } : {}),
    };
  } catch (error) {
    return refusalOf(error, registry) ?? { status: 'failed', error, registry };
  }
}

/** A pair this instance verified within the last minute: recorded as reused, not read again. */
function reuseVerified(ctx: PairContext, registry: RegistryState, verified: VerifiedPair): RegistryDecision {
  const fields = ids(where(registry, verified.identity.id), verified.identity);
  const reason = `verified by this instance ${Math.round(verified.ageMs / 1000)} s ago`;
  ctx.auditor.record('identity-reused', 'unchanged', { ...fields, reason });
  ctx.auditor.record('role-present', 'unchanged', {
    ...fields,
    role: pullRoleFor(registry.roleAssignmentMode).name,
    reason,
  });
  return {
    status: 'ready',
    registry,
    identityId: verified.identity.id,
    identity: verified.identity,
    ...(verified.grantCreatedOn ? { grantCreatedOn: verified.grantCreatedOn } : {}),
    fromCache: true,
  };
}

/** The terminal refusals the steps throw, as the pair's decision (undefined: a failure). */
function refusalOf(error: unknown, registry: RegistryState): RegistryDecision | undefined {
  if (error instanceof GrantBlockedError) {
    return {
      status: 'rejected',
      action: 'grant-conditioned',
      reason: error.message,
      registry,
      identityId: error.identityId,
    };
  }
  if (error instanceof IdentityRefusedError) {
    return {
      status: 'rejected',
      action: 'identity-refused',
      reason: error.message,
      registry,
      identityId: error.identityId,
      identityCreatedBy: error.creator,
      ...(error.excessRolesOf ? { excessRolesOf: error.excessRolesOf } : {}),
    };
  }
  if (error instanceof IdentityLimitError) {
    return {
      status: 'rejected',
      action: 'identity-limit-reached',
      reason: error.message,
      registry,
      identityId: error.identityId,
    };
  }
  return undefined;
}

/** Terminal: the identity is not one the app may grant or attach (a retry would find the same). */
class IdentityRefusedError extends Error {
  constructor(
    readonly identityId: string,
    readonly creator: string,
    message: string,
    /** Refused for holding roles beyond pull: the identity as read. */
    readonly excessRolesOf?: IdentityState,
  ) {
    super(message);
    this.name = 'IdentityRefusedError';
  }
}

/** Terminal: a new pull identity would take the app beyond ACRPULL_MAX_PULL_IDENTITIES. */
class IdentityLimitError extends Error {
  constructor(
    readonly identityId: string,
    message: string,
  ) {
    super(message);
    this.name = 'IdentityLimitError';
  }
}

/**
 * Terminal: ARM will not add the unconditioned grant because a conditioned assignment of the same role
 * to the same principal at the same scope holds its place (RoleAssignmentExists).
 */
class GrantBlockedError extends Error {
  constructor(
    readonly identityId: string,
    message: string,
  ) {
    super(message);
    this.name = 'GrantBlockedError';
  }
}

/**
 * The identity step: the pull identity as it is now, reused if usable, created if missing (enforce),
 * planned (audit). Undefined when it does not exist and was not created (audit mode). A new one is
 * refused at ACRPULL_MAX_PULL_IDENTITIES.
 */
async function ensureIdentity(
  pair: Pair,
  registry: RegistryState,
  region: string,
): Promise<IdentityState | undefined> {
  const { deps, retryEnv, auditor } = pair;
  const pull = pullIdentityFor(deps.settings, registry.name, region);
  const { resourceGroup: rg, name } = pull;
  const fields = where(registry, pull.id);
  const read = () => withRetry('read identity', retryEnv, (signal) => deps.identities.get(rg, name, signal));
  // The event path reads from a listing of the group when a burst meets many pairs (identityReads.ts).
  const found = pair.options.reuseVerified
    ? await deps.identityReads.find(rg.id, name, read, () =>
        withRetry('list identities', retryEnv, (signal) => deps.identities.list(rg, signal)),
      )
    : await read();
  if (found) {
    await refuseUnlessUsable(pair, pull, registry, region, found);
    auditor.record('identity-reused', 'unchanged', ids(fields, found));
    return found;
  }
  if (pull.broughtByOperator) {
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
  }
  await refuseAtIdentityLimit(pair, pull);
  if (deps.settings.mode !== 'enforce') {
    auditor.record('identity-created', 'planned', { ...fields, reason: `would create ${name} in ${rg.id}` });
    const role = pullRoleFor(registry.roleAssignmentMode);
    auditor.record('role-assigned', 'planned', {
      ...fields,
      role: role.name,
      reason: `would grant ${role.name} once the identity exists`,
    });
    return undefined;
  }
  const tags = { 'managed-by': 'acrpull-autopilot', 'acrpull-registry': registry.id };
  // A listing of the group from before the PUT would count one identity too few against the cap,
  // whether or not its answer reached us.
  const { created: madeNow, ...state } = await withRetry('create identity', retryEnv, (signal) =>
    deps.identities.createOrUpdate(rg, name, normalizeRegion(region), tags, signal),
  ).finally(() => deps.identityReads.forget(rg.id));
  // ARM's 201 to our own PUT is proof enough (whatever systemData says), and a principal that did not
  // exist a moment ago holds no role assignment. A 200 means someone else created the name between
  // our read and our PUT: then systemData and its role assignments decide.
  if (madeNow) {
    deps.proven.remember(state.id, state.principalId);
    deps.roleChecks.rememberCreated(state.principalId);
  } else await refuseUnlessUsable(pair, pull, registry, region, state);
  auditor.record('identity-created', 'changed', ids(fields, state));
  return state;
}

/**
 * Before a new pull identity is made: the app's pull identities in the identity resource group (one
 * list; on the event path, one of the last IDENTITY_LISTING_FRESH_MS) must be fewer than
 * ACRPULL_MAX_PULL_IDENTITIES. Concurrent creations (the sweep's pairs at once, several instances, a
 * listing seconds old) can each see one below the cap: it may be passed by that many.
 */
async function refuseAtIdentityLimit({ deps, retryEnv, options }: Pair, pull: PullIdentity): Promise<void> {
  const max = deps.settings.maxPullIdentities;
  const list = () =>
    withRetry('list identities', retryEnv, (signal) => deps.identities.list(pull.resourceGroup, signal));
  // The event path counts from a listing of the last seconds, if its burst made one (identityReads.ts).
  const listed = options.reuseVerified
    ? await deps.identityReads.all(pull.resourceGroup.id, list)
    : await list();
  const count = appPullIdentityCount(listed, await deps.whoAmI(), deps.settings.trustedCreators);
  if (count < max) return;
  throw new IdentityLimitError(pull.id, identityLimitReason(count, max, pull.name, pull.resourceGroup.id));
}

/**
 * The app's own identities must be provably its own (ARM's systemData, not the name or tags), an
 * operator override must not be the app's own identity (every target would get the app's
 * permissions), and neither may hold any role assignment beyond its pull grants.
 */
async function refuseUnlessUsable(
  pair: Pair,
  pull: PullIdentity,
  registry: RegistryState,
  region: string,
  identity: IdentityState,
): Promise<void> {
  const { deps } = pair;
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
    await refuseExcessRoles(pair, registry, region, identity);
    return;
  }
  const ownership = ownershipOf(identity, self, deps.settings.trustedCreators);
  if (!ownership.owned) throw new IdentityRefusedError(identity.id, ownership.creator, ownership.reason);
  await refuseExcessRoles(pair, registry, region, identity);
  deps.proven.remember(identity.id, identity.principalId);
}

/**
 * Refused (terminal, audited) when the identity holds any role assignment beyond the pull role exactly
 * at its registries (an override: at any registry it is named for), wherever the app can see it; a
 * verified pair of it is forgotten. The answer is cached per principal (roleCheckCache.ts).
 */
async function refuseExcessRoles(
  { deps, retryEnv, options }: Pair,
  registry: RegistryState,
  region: string,
  identity: IdentityState,
): Promise<void> {
  const pull = pullIdentityFor(deps.settings, registry.name, region);
  const names = pull.broughtByOperator ? overrideRegistries(deps.settings, identity.id) : [];
  // The app's own identity, made a moment ago (ARM's systemData, seen by every instance): its principal
  // held nothing at birth, which counts as a listing made then. Never an operator's override.
  const bornAt = pull.broughtByOperator
    ? undefined
    : selfCreatedAt(identity, await deps.whoAmI(), (deps.now ?? Date.now)());
  const excess = await excessRolesOf(deps, retryEnv, {
    identity,
    identityId: identity.id,
    registries: { registryIds: [registry.id], registryNames: [registry.name, ...names] },
    registrySubscriptions: [registry.subscriptionId],
    ...(options.targetSubscriptionId ? { targetSubscriptionId: options.targetSubscriptionId } : {}),
    ...(options.rolesListedSince !== undefined ? { listedSince: options.rolesListedSince } : {}),
    ...(bornAt !== undefined ? { bornAt } : {}),
  });
  if (excess.length === 0) return;
  deps.verifiedPairs.forgetIdentity(identity.id);
  throw new IdentityRefusedError(
    identity.id,
    describeCreator(identity),
    excessRolesRefusal(identity.id, excess, pull.broughtByOperator),
    identity,
  );
}

/**
 * The grant step: present (nothing to do), planned (audit), or created under its deterministic name.
 * Only an unconditioned assignment counts: a conditioned one (an ABAC condition may match no
 * repository) is reported, and the unconditioned grant is made beside it — or, where ARM refuses a
 * second assignment of the role at that scope, the pair is refused with what to change. Returns when
 * the grant that counts was made.
 */
async function ensureGrant(
  { deps, retryEnv, auditor }: PairContext,
  registry: RegistryState,
  region: string,
  identity: IdentityState,
): Promise<string | undefined> {
  const role = pullRoleFor(registry.roleAssignmentMode);
  const grant: GrantRequest = {
    scope: registry.id,
    subscriptionId: registry.subscriptionId,
    principalId: identity.principalId,
    roleGuid: role.guid,
    name: roleAssignmentName(registry.id, identity.principalId, role.guid),
    description: `acrpull-autopilot: pull for VMs tagged ${deps.settings.tagKey}=${registry.name}`,
  };
  const fields = { ...ids(where(registry, identity.id), identity), role: role.name };
  const read = () =>
    withRetry('read grants', retryEnv, (signal) => deps.roleAssignments.pullGrants(grant, signal));
  const grants = await read();
  // A conditioned assignment at the registry itself holds the place of the grant (ARM allows one
  // assignment per principal, role and scope: a second one is RoleAssignmentExists, whatever its
  // condition; hashicorp/terraform-provider-azurerm#24045). One above it is only reported.
  const here = grants.conditioned.filter((c) => sameId(c.scope, registry.id));
  for (const c of grants.conditioned.filter((c) => !here.includes(c)))
    auditor.record('grant-conditioned', 'flagged', { ...fields, reason: conditionedReason(c, role.name) });
  if (grants.unconditioned) {
    for (const c of here)
      auditor.record('grant-conditioned', 'flagged', { ...fields, reason: conditionedReason(c, role.name) });
    auditor.record('role-present', 'unchanged', fields);
    deps.verifiedPairs.remember(registry, region, identity, grants.unconditioned.createdOn);
    return grants.unconditioned.createdOn;
  }
  const blocking = here[0];
  if (blocking) return unconditionGrant({ deps, retryEnv, auditor }, registry, region, identity, blocking);
  if (deps.settings.mode !== 'enforce') {
    auditor.record('role-assigned', 'planned', fields);
    return undefined;
  }
  const present = async () => (await read()).unconditioned !== undefined;
  const { created, reason } = await createGrant(retryEnv, deps, grant, present);
  let createdOn: string | undefined = new Date((deps.now ?? Date.now)()).toISOString();
  if (created === 'exists') {
    // Made meanwhile by a concurrent invocation (or a conditioned one appeared: the next run sees it).
    createdOn = (await read()).unconditioned?.createdOn;
    auditor.record('role-present', 'unchanged', { ...fields, ...(reason ? { reason } : {}) });
  } else auditor.record('role-assigned', 'changed', { ...fields, reason });
  deps.verifiedPairs.remember(registry, region, identity, createdOn);
  return createdOn;
}

/**
 * The pull identity's only pull assignment at the registry carries a condition: the app's own pull
 * identity gets it updated in place without the condition (the same assignment, role, principal and
 * scope; Learn: conditions-role-assignments-cli, "edit a condition" is an update of the assignment),
 * recorded with the condition it removed. An operator's override identity is theirs: refused, with
 * what to change.
 */
async function unconditionGrant(
  { deps, retryEnv, auditor }: PairContext,
  registry: RegistryState,
  region: string,
  identity: IdentityState,
  blocking: HeldGrant,
): Promise<string | undefined> {
  const role = pullRoleFor(registry.roleAssignmentMode);
  const fields = { ...ids(where(registry, identity.id), identity), role: role.name };
  const reason = conditionedReason(blocking, role.name);
  if (pullIdentityFor(deps.settings, registry.name, region).broughtByOperator)
    throw new GrantBlockedError(
      identity.id,
      `${reason}; ${identity.id} is an operator's identity (ACRPULL_IDENTITY_OVERRIDES), so the app leaves ` +
        `its grants alone: remove the condition (az role assignment update) or delete ${blocking.id} and ` +
        'the app grants it unconditioned',
    );
  if (deps.settings.mode !== 'enforce') {
    auditor.record('grant-conditioned', 'planned', {
      ...fields,
      reason: `${reason}; would remove the condition`,
    });
    return undefined;
  }
  await withRetry('update grant', retryEnv, (signal) =>
    deps.roleAssignments.removeCondition(blocking, registry.subscriptionId, signal),
  );
  auditor.record('grant-conditioned', 'changed', {
    ...fields,
    reason: `${reason}; the condition was removed from ${blocking.name} (the app's own pull identity pulls every repository its tag asks for)`,
  });
  // Pull through it starts now (propagation counts from the update).
  const effectiveFrom = new Date((deps.now ?? Date.now)()).toISOString();
  deps.verifiedPairs.remember(registry, region, identity, effectiveFrom);
  return effectiveFrom;
}

function conditionedReason(c: HeldGrant, role: string): string {
  const shown = c.condition && c.condition.length > 200 ? `${c.condition.slice(0, 200)}…` : c.condition;
  return (
    `${c.id} grants ${role} with a condition (${shown}); a conditioned grant may match no repository, ` +
    'so it does not count as the pull grant'
  );
}

/**
 * Creates the grant under its deterministic name. Someone may hold that name elsewhere (squatted or by
 * chance); the grant may have been made meanwhile under another name (a concurrent invocation that met
 * the same): look again, else make it under a fresh name. A concurrent twin then meets
 * RoleAssignmentExists: one grant.
 */
async function createGrant(
  retryEnv: RetryEnvironment,
  deps: ReconcileDeps,
  grant: GrantRequest,
  present: () => Promise<boolean>,
): Promise<{ created: 'created' | 'exists'; reason?: string }> {
  const create = (request: GrantRequest) =>
    withRetry('create grant', retryEnv, (signal) => deps.roleAssignments.create(request, signal));
  const first = await create(grant);
  if (first !== 'name-taken') return { created: first };
  const taken = `the role assignment name ${grant.name} is taken by another assignment in the tenant`;
  if (await present()) return { created: 'exists', reason: taken };
  const fresh = { ...grant, name: randomUUID() };
  const second = await create(fresh);
  if (second === 'name-taken') throw new Error(`role assignment name ${fresh.name} is taken too`);
  return { created: second, reason: `${taken}; granted under ${fresh.name} instead` };
}

function where(registry: RegistryState, identityId: string) {
  return { registry: registry.name, registryId: registry.id, identityId };
}

function ids(fields: { registry: string; registryId: string; identityId: string }, identity: IdentityState) {
  return {
    ...fields,
    identityId: identity.id,
    principalId: identity.principalId,
    clientId: identity.clientId,
  };
}
