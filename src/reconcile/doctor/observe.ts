// observe: every read the doctor makes, and nothing else (GETs and lists; no write of any kind). A read
// that fails is kept as its error, never taken for "absent"; reads that depend on an earlier one
// (the grant needs the identity's principal and the registry's id) are made only when it succeeded.
import { ArmOperationError } from '../../azure/armErrors';
import { Deadline, type RetryEnvironment, withRetry } from '../../azure/retry';
import type { RoleFacts } from '../../core/effectiveGrant';
import { normalizeRegion } from '../../core/names';
import { pullIdentityFor } from '../../core/pullIdentity';
import { idKey } from '../../core/resourceId';
import { findTagValue, parseRegistryTag, type RegistryRef } from '../../core/tag';
import { type TargetRef, targetKind } from '../../targets';
import type { DoctorDeps } from './deps';
import type { DoctorFacts, Read, RegistryChoice, TagFacts } from './facts';

export interface DoctorInput {
  readonly target: TargetRef;
  /** --registry: the registry to look at, when the tag names several (or none). */
  readonly registry?: RegistryRef;
  /** --repository: the repository pulled, so grant conditions can be evaluated for it. */
  readonly repository?: string;
  /** The whole run's time budget (default 60 s). */
  readonly budgetMs?: number;
  /** Progress lines (stderr). */
  readonly progress?: (line: string) => void;
}

export type Observation =
  | { readonly kind: 'not-found' }
  | { readonly kind: 'facts'; readonly facts: DoctorFacts };

function message(error: unknown): string {
  if (error instanceof ArmOperationError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

async function read<T>(
  env: RetryEnvironment,
  what: string,
  get: (signal: AbortSignal) => Promise<T>,
): Promise<Read<T>> {
  try {
    return { ok: true, value: await withRetry(what, env, get) };
  } catch (error) {
    return { ok: false, error: message(error) };
  }
}

export function readTagFacts(
  tags: Readonly<Record<string, string>>,
  tagKey: string,
  maxRegistries: number,
): TagFacts {
  const value = findTagValue(tags, tagKey);
  if (value === undefined) return { kind: 'untagged' };
  const parsed = parseRegistryTag(value, maxRegistries);
  return parsed.ok
    ? { kind: 'refs', value, refs: parsed.refs }
    : { kind: 'invalid', value, reason: parsed.reason };
}

/** The registry to look at: --registry, else the first one the tag names. */
export function chooseRegistry(tag: TagFacts, option: RegistryRef | undefined): RegistryChoice | undefined {
  const refs = tag.kind === 'refs' ? tag.refs : [];
  if (option) {
    const named = refs.find((r) => r.name === option.name);
    return { ref: named ?? option, how: 'option', inTag: named !== undefined };
  }
  const first = refs[0];
  if (!first) return undefined;
  return { ref: first, how: refs.length === 1 ? 'only' : 'first', inTag: true };
}

/** Reads what the checks are judged from. The target not found is its own answer (a usage error). */
export async function observeDoctor(deps: DoctorDeps, input: DoctorInput): Promise<Observation> {
  const env: RetryEnvironment = { ...deps.retry, deadline: new Deadline(input.budgetMs ?? 60_000) };
  const progress = input.progress ?? (() => {});
  const settings = deps.settings;
  const ref = input.target;
  const kind = targetKind(ref.kind);

  progress(`reading ${kind.label} ${ref.name}`);
  // A target that cannot be read at all is not diagnosed: the error goes to the caller.
  const state = await withRetry('read target', env, (signal) => deps.targets.get(ref, signal));
  if (!state) return { kind: 'not-found' };
  const region = normalizeRegion(state.location);
  const tag = readTagFacts(state.tags, settings.tagKey, settings.maxRegistriesPerVm);
  const choice = chooseRegistry(tag, input.registry);
  const base: DoctorFacts = {
    now: (deps.now ?? Date.now)(),
    ...(input.repository ? { repository: input.repository } : {}),
    target: {
      ref,
      state,
      label: kind.label,
      region,
      reportsBoundPrincipals: kind.reportsBoundPrincipals(state.orchestrationMode),
    },
    resourceGroup: await read(env, 'read resource group', (signal) =>
      deps.resourceGroups.get(ref.subscriptionId, ref.resourceGroup, signal),
    ),
    tag,
    ...(choice ? { choice } : {}),
  };
  if (!choice) return { kind: 'facts', facts: base };

  progress(`finding registry ${choice.ref.name}`);
  const searchIn = [ref.subscriptionId, ...settings.registrySubscriptions];
  const registry = await read(env, 'find registry', (signal) =>
    deps.registries.resolve(choice.ref, searchIn, { abortSignal: signal }),
  );
  const found = registry.ok && registry.value.found ? registry.value.registry : undefined;

  progress('reading the pull identity');
  const expected = pullIdentityFor(settings, choice.ref.name, region);
  const identityRead = await read(env, 'read identity', (signal) =>
    deps.identities.get(expected.resourceGroup, expected.name, signal),
  );
  const self = await read(env, 'who am I', () => deps.whoAmI());
  const identity = identityRead.ok ? identityRead.value : undefined;
  const facts: DoctorFacts = { ...base, registry, self, identity: { expected, read: identityRead } };
  if (!identity)
    return { kind: 'facts', facts: { ...facts, ...(await networkOf(deps, input, state, found)) } };

  progress('reading role assignments');
  const subscriptions = [
    ...new Set([found?.subscriptionId, ref.subscriptionId].filter((s): s is string => !!s).map(idKey)),
  ];
  const held = await read(env, 'list role assignments', async (signal) =>
    (
      await Promise.all(
        subscriptions.map((s) => deps.roleAssignments.listAssignedTo(s, identity.principalId, signal)),
      )
    ).flat(),
  );
  if (!found) return { kind: 'facts', facts: { ...facts, held } };

  const grants = await read(env, 'list grants', (signal) =>
    deps.roleAssignments.grantsAt(found.id, found.subscriptionId, identity.principalId, signal),
  );
  const roles = new Map<string, RoleFacts | undefined>();
  const roleErrors: string[] = [];
  if (grants.ok) {
    for (const guid of new Set(grants.value.map((g) => g.roleGuid.toLowerCase()))) {
      const role = await read(env, 'read role definition', (signal) =>
        deps.roleDefinitions.get(found.subscriptionId, guid, signal),
      );
      if (role.ok) roles.set(guid, role.value);
      else {
        roles.set(guid, undefined);
        roleErrors.push(`role ${guid}: ${role.error}`);
      }
    }
  }
  progress('reading deny assignments');
  const denies = await read(env, 'list deny assignments', (signal) =>
    deps.denyAssignments.listFor(found.subscriptionId, found.id, identity.principalId, signal),
  );
  return {
    kind: 'facts',
    facts: {
      ...facts,
      held,
      grants,
      roles,
      ...(roleErrors.length ? { roleErrors } : {}),
      denies,
      ...(await networkOf(deps, input, state, found)),
    },
  };
}

/** The network path, for a found registry that does not take public traffic from everyone. */
async function networkOf(
  deps: DoctorDeps,
  input: DoctorInput,
  target: DoctorFacts['target']['state'],
  registry: Parameters<DoctorDeps['networkPath']>[0]['registry'] | undefined,
): Promise<Pick<DoctorFacts, 'network'>> {
  if (!registry?.access) return {};
  const publicOff = (registry.access.publicNetworkAccess ?? 'Enabled').toLowerCase() === 'disabled';
  const denyByDefault = (registry.access.firewallDefaultAction ?? 'Allow').toLowerCase() === 'deny';
  if (!publicOff && !denyByDefault) return {};
  input.progress?.('checking the network path');
  try {
    const network = await deps.networkPath({ targetRef: input.target, target, registry });
    return network ? { network } : {};
  } catch (error) {
    return { network: { status: 'warn', detail: `could not check the network path: ${message(error)}` } };
  }
}
