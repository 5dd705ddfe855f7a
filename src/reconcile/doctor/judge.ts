// judge: the checklist from the facts observe.ts read, in order, each check pass, fail, warn or
// skipped (saying which failed check it depends on). Pure: no request, no clock (the facts carry it).
import type { RegistryState } from '../../azure/containerRegistries';
import type { IdentityState } from '../../azure/userAssignedIdentities';
import type { Settings } from '../../config/settings';
import { decideByName, isRegistryAllowed } from '../../core/allowlist';
import { busyReason, isTerminal, lastOperationFailed } from '../../core/busy';
import { evaluateGrant } from '../../core/effectiveGrant';
import { excessAssignments } from '../../core/excessRoles';
import { identityFacts, isAttached, isStaleBinding, soleOf } from '../../core/identityView';
import { singleIdentityReason } from '../../core/imdsDefault';
import { ownershipOf } from '../../core/ownership';
import { platformManagedReason } from '../../core/platformManaged';
import { isOverrideId } from '../../core/pullIdentity';
import { GRANT_PROPAGATION_MS, registryBlockers } from '../../core/pullReadiness';
import { sameId } from '../../core/resourceId';
import { pullRoleFor, roleLabel } from '../../core/roles';
import { type Check, type CheckId, fail, pass, skipped, unreadable, warn } from './checks';
import type { DoctorFacts } from './facts';

export type JudgeSettings = Pick<
  Settings,
  | 'tagKey'
  | 'allowedRegistries'
  | 'allowlistUnset'
  | 'identityOverrides'
  | 'trustedCreators'
  | 'singleIdentityVms'
  | 'registrySubscriptions'
>;

export interface JudgeOptions {
  /** Principals (client or object ids) that are the app's own identity: they count as its creator. */
  readonly appPrincipals?: readonly string[];
}

const short = (id: string) => id.split('/').pop() ?? id;

/** `reconcile --apply --vm <id>`: the app's own repair for most failures. */
const reconcileFix = (targetId: string) => `acrpull-autopilot reconcile --apply --vm ${targetId}`;

/** The tag the app needs, as an az command for any resource kind. */
const tagFix = (targetId: string, key: string, registry: string) =>
  `az tag update --resource-id ${targetId} --operation merge --tags ${key}=${registry}`;

export function judge(facts: DoctorFacts, settings: JudgeSettings, options: JudgeOptions = {}): Check[] {
  const checks = new Map<CheckId, Check>();
  const add = (c: Check) => checks.set(c.id, c);
  const { target } = facts;
  const targetId = target.ref.id;

  // 1. target
  const state = target.state.provisioningState;
  if (!isTerminal(state))
    add(
      warn(
        'target',
        `busy: ${busyReason(state)}`,
        'wait for the operation to end (the app writes nothing until then)',
      ),
    );
  else if (lastOperationFailed(state))
    add(
      warn(
        'target',
        `the ${target.label}'s last operation Failed: identities in its model may not be in effect`,
        `az resource update --ids ${targetId} (or az vm reapply for a VM) once the cause is fixed`,
      ),
    );
  else add(pass('target', `${target.label} ${target.ref.name} in ${target.region}, ${state ?? 'Succeeded'}`));

  // 2. tag, allowlist
  add(tagCheck(facts, settings));
  const registryFound =
    facts.registry?.ok && facts.registry.value.found ? facts.registry.value.registry : undefined;
  add(allowlistCheck(facts, settings, registryFound));

  // 3. platform
  add(platformCheck(facts));

  // 4. registry, registry-network, registry-audience
  for (const c of registryChecks(facts, settings)) add(c);

  // 5. identity, binding, identity-roles; 6. attached; 7. imds
  const identity = facts.identity?.read.ok ? facts.identity.read.value : undefined;
  add(identityCheck(facts, settings, options));
  const attached = facts.identity ? isAttached(target.state.identity, facts.identity.expected.id) : false;
  add(bindingCheck(facts, identity, attached));
  add(identityRolesCheck(facts, identity, registryFound));
  add(attachedCheck(facts, settings, identity, attached));
  add(imdsCheck(facts, identity, attached));

  // 8. grant, 9. grant-age
  const [grant, age] = grantChecks(facts, identity, registryFound);
  add(grant);
  add(age);

  // 10. network-path
  add(networkCheck(facts, registryFound, checks.get('registry-network')));

  // 11. audit
  add(
    skipped(
      'audit',
      'Application Insights query access is not configured: the audit trail was not read (queries/ has the KQL to run by hand)',
    ),
  );
  return [...checks.values()];
}

function tagCheck(facts: DoctorFacts, settings: JudgeSettings): Check {
  const { tag, choice, target } = facts;
  const key = settings.tagKey;
  const example = choice?.ref.name ?? '<registry>';
  if (tag.kind === 'untagged')
    return fail(
      'tag',
      `the ${target.label} has no ${key} tag: the app does nothing for it`,
      tagFix(target.ref.id, key, example),
    );
  if (tag.kind === 'invalid')
    return fail('tag', `the ${key} tag is invalid: ${tag.reason}`, tagFix(target.ref.id, key, example), [
      `${key}=${tag.value}`,
    ]);
  const names = tag.refs.map((r) => r.name);
  if (choice && !choice.inTag)
    return fail(
      'tag',
      `the ${key} tag names ${names.join(', ')}, not ${choice.ref.name}: the app gives pull only on registries the tag names`,
      tagFix(target.ref.id, key, [...names, choice.ref.name].join(',')),
    );
  const which =
    choice?.how === 'first'
      ? `; checking ${choice.ref.name}, the first it names (--registry chooses another)`
      : choice?.how === 'option'
        ? `; checking ${choice.ref.name} (--registry)`
        : '';
  return pass('tag', `${key}=${tag.value} names ${names.join(', ')}${which}`);
}

function allowlistCheck(
  facts: DoctorFacts,
  settings: JudgeSettings,
  registry: RegistryState | undefined,
): Check {
  const name = facts.choice?.ref.name;
  if (!name) return skipped('allowlist', 'no registry to check (see tag)');
  const denied = () =>
    fail(
      'allowlist',
      settings.allowlistUnset
        ? 'ACRPULL_ALLOWED_REGISTRIES is not set, so every registry is denied'
        : `${name} is not in ACRPULL_ALLOWED_REGISTRIES`,
      `add ${name} (or its resource id or scope) to the app setting ACRPULL_ALLOWED_REGISTRIES`,
    );
  const byName = decideByName(name, settings.allowedRegistries);
  if (byName === 'denied') return denied();
  if (byName === 'allowed') return pass('allowlist', `${name} is allowed by name`);
  if (!registry)
    return skipped(
      'allowlist',
      'the allowlist decides by resource id or scope, and the registry was not found (see registry)',
    );
  return isRegistryAllowed(registry, settings.allowedRegistries)
    ? pass('allowlist', `${registry.id} is allowed (by id or scope)`)
    : denied();
}

function platformCheck(facts: DoctorFacts): Check {
  const { resourceGroup, target } = facts;
  if (!resourceGroup.ok)
    return unreadable('platform', `resource group ${target.ref.resourceGroup}`, resourceGroup.error);
  if (!resourceGroup.value)
    return warn('platform', `resource group ${target.ref.resourceGroup} was not found`, undefined, {
      undecided: true,
    });
  const managedBy = resourceGroup.value.managedBy;
  if (!managedBy)
    return pass('platform', `resource group ${target.ref.resourceGroup} is not managed by another service`);
  const reason = platformManagedReason(
    target.label,
    target.ref.resourceGroup,
    managedBy,
    facts.choice?.ref.name ?? '<registry>',
  );
  const [detail, fix] = reason.split('; ');
  return fail('platform', detail ?? reason, fix);
}

function registryChecks(facts: DoctorFacts, settings: JudgeSettings): Check[] {
  const name = facts.choice?.ref.name;
  const after = (why: string) => [skipped('registry-network', why), skipped('registry-audience', why)];
  if (!name || !facts.registry)
    return [
      skipped('registry', 'no registry to check (see tag)'),
      ...after('no registry to check (see tag)'),
    ];
  if (!facts.registry.ok)
    return [
      unreadable('registry', `registry ${name}`, facts.registry.error),
      ...after('the registry could not be read'),
    ];
  if (!facts.registry.value.found) {
    const where = facts.registry.value.searched.join(', ');
    return [
      fail(
        'registry',
        `registry ${name} was not found in ${where}`,
        settings.registrySubscriptions.length === 0 && facts.choice?.ref.form !== 'resourceId'
          ? `check the name; for a registry in another subscription, name it by resource id in the tag or add its subscription to ACRPULL_REGISTRY_SUBSCRIPTIONS`
          : 'check the name, and that your credential can read the registry',
      ),
      ...after('the registry was not found'),
    ];
  }
  const registry = facts.registry.value.registry;
  const role = pullRoleFor(registry.roleAssignmentMode);
  const mode = registry.roleAssignmentMode ?? 'LegacyRegistryPermissions';
  const found = pass(
    'registry',
    `${registry.loginServer || registry.name} (${mode}: pull needs ${role.name})`,
    [registry.id],
  );
  const access = registry.access;
  if (!access) return [found, ...after('ARM returned none of the registry’s network settings')];
  const blockers = registryBlockers(registry.name, access);
  const network = blockers.find((b) => b.effect === 'blocks' || b.effect === 'depends');
  const audience = blockers.find((b) => b.effect === 'limits');
  const networkCheck: Check = !network
    ? pass(
        'registry-network',
        `takes public traffic from any network${access.anonymousPullEnabled ? ' (anonymous pull is enabled)' : ''}`,
      )
    : network.effect === 'blocks'
      ? fail('registry-network', network.message, network.fix, [network.code])
      : warn('registry-network', `${network.message} (see network-path)`, undefined, {
          evidence: [network.code],
        });
  const audienceCheck: Check = audience
    ? warn('registry-audience', audience.message, audience.fix, { evidence: [audience.code] })
    : pass('registry-audience', 'accepts both ACR-audience and ARM-audience tokens');
  return [found, networkCheck, audienceCheck];
}

function identityCheck(facts: DoctorFacts, settings: JudgeSettings, options: JudgeOptions): Check {
  if (!facts.identity) return skipped('identity', 'no registry to check (see tag)');
  const { expected, read } = facts.identity;
  if (!read.ok) return unreadable('identity', `identity ${expected.id}`, read.error);
  const identity = read.value;
  if (!identity)
    return fail(
      'identity',
      `the pull identity ${expected.name} does not exist`,
      expected.broughtByOperator
        ? `create the identity named in ACRPULL_IDENTITY_OVERRIDES: az identity create -g ${expected.resourceGroup.resourceGroup} -n ${expected.name} (the app never creates an override)`
        : `${reconcileFix(facts.target.ref.id)} creates it (so does the next event or sweep, once tag and allowlist allow it)`,
      [expected.id],
    );
  const ids = [`principal ${identity.principalId}`, `client ${identity.clientId}`];
  if (isOverrideId(settings, identity.id))
    return pass('identity', `${identity.name}: the operator's override for ${facts.choice?.ref.name}`, [
      identity.id,
      ...ids,
    ]);
  if (!facts.self?.ok)
    return warn(
      'identity',
      `${identity.name} exists; who created it could not be compared: ${facts.self?.error ?? 'unknown caller'}`,
      undefined,
      {
        evidence: [identity.id, ...ids],
      },
    );
  const trusted = [...settings.trustedCreators, ...(options.appPrincipals ?? [])];
  const ownership = ownershipOf(identity, facts.self.value, trusted);
  if (ownership.owned)
    return pass(
      'identity',
      `${identity.name}, created by ${ownership.by === 'self' ? 'you (the caller)' : 'a trusted creator'} (ARM systemData)`,
      [identity.id, ...ids],
    );
  const createdBy = `${identity.createdBy ?? 'unknown'} (${identity.createdByType ?? 'unknown type'})`;
  if ((identity.createdByType ?? '').toLowerCase() === 'user')
    return {
      ...fail(
        'identity',
        ownership.reason,
        'delete it (the app then creates its own), or add its creator to ACRPULL_TRUSTED_CREATORS',
        [identity.id, ...ids],
      ),
      appOnly: true,
    };
  // The app runs as a managed identity, the doctor as you: an identity made by another principal may
  // be the app's, which only the app's own id tells (--app-principal).
  return warn(
    'identity',
    `${identity.name} was created by ${createdBy}, not by you: the app reuses it only if that is the app's own identity or in ACRPULL_TRUSTED_CREATORS`,
    "pass --app-principal <the Function App identity's client or object id> to check",
    { evidence: [identity.id, ...ids] },
  );
}

function bindingCheck(facts: DoctorFacts, identity: IdentityState | undefined, attached: boolean): Check {
  if (!facts.identity) return skipped('binding', 'no registry to check (see tag)');
  if (!identity)
    return skipped('binding', 'the pull identity could not be read or does not exist (see identity)');
  if (!attached) return skipped('binding', 'the pull identity is not attached (see attached)');
  if (!facts.target.reportsBoundPrincipals)
    return skipped(
      'binding',
      `a Flexible scale set reports no principal for its identities: the binding cannot be seen`,
    );
  const held = identityFacts(facts.target.state.identity).userAssigned.find((h) => sameId(h.id, identity.id));
  if (held && isStaleBinding(held, identity.principalId))
    return fail(
      'binding',
      `the ${facts.target.label}'s entry for ${identity.name} is bound to ${held.principalId ? `principal ${held.principalId}` : 'no principal'}, not to the identity's current principal ${identity.principalId}: the identity was deleted and created again, and IMDS keeps handing out tokens for the old one`,
      `${reconcileFix(facts.target.ref.id)} re-binds it (detach, attach); by hand: az vm identity remove, then az vm identity assign, with --identities ${identity.id}`,
    );
  return pass('binding', `bound to the identity's current principal ${identity.principalId}`);
}

function identityRolesCheck(
  facts: DoctorFacts,
  identity: IdentityState | undefined,
  registry: RegistryState | undefined,
): Check {
  if (!identity)
    return skipped('identity-roles', 'the pull identity could not be read or does not exist (see identity)');
  if (!facts.held) return skipped('identity-roles', 'not read');
  if (!facts.held.ok)
    return warn('identity-roles', `could not list its role assignments: ${facts.held.error}`);
  const excess = excessAssignments(facts.held.value, { registryIds: registry ? [registry.id] : [] });
  const seen = `seen from subscription(s) of the ${registry ? 'registry and ' : ''}${facts.target.label}`;
  if (excess.length === 0) return pass('identity-roles', `no role beyond pull (${seen})`);
  return warn(
    'identity-roles',
    `holds ${excess.length} role assignment(s) beyond pull, which every workload on every VM it is attached to can use (${seen}); the app neither grants nor attaches it to a target that does not hold it yet (identity-refused)`,
    `the app never grants these: az role assignment delete --ids ${excess.map((a) => a.id).join(' ')}`,
    { evidence: excess.map((a) => `${roleLabel(a.roleGuid)} at ${a.scope} (${a.id})`) },
  );
}

function attachedCheck(
  facts: DoctorFacts,
  settings: JudgeSettings,
  identity: IdentityState | undefined,
  attached: boolean,
): Check {
  if (!facts.identity) return skipped('attached', 'no registry to check (see tag)');
  const expected = facts.identity.expected;
  const { target } = facts;
  if (attached) {
    const held = identityFacts(target.state.identity).userAssigned.find((h) => sameId(h.id, expected.id));
    const clientId = identity?.clientId ?? held?.clientId;
    return pass('attached', `${expected.name} is attached${clientId ? ` (client id ${clientId})` : ''}`);
  }
  const sole = soleOf(identityFacts(target.state.identity));
  if (sole && settings.singleIdentityVms === 'keep' && !sameId(sole.id, expected.id))
    return fail(
      'attached',
      `${expected.name} is not attached, and the app will not attach it: ${singleIdentityReason(sole.id)}`,
      `once its workloads name their identity, set ACRPULL_SINGLE_IDENTITY_VMS=attach; or attach it by hand: az vm identity assign --ids ${target.ref.id} --identities ${expected.id}`,
    );
  return fail(
    'attached',
    `${expected.name} is not attached to the ${target.label}`,
    `${reconcileFix(target.ref.id)} attaches it (so does the next event or sweep once the checks above pass)`,
  );
}

function imdsCheck(facts: DoctorFacts, identity: IdentityState | undefined, attached: boolean): Check {
  if (!facts.identity) return skipped('imds', 'no registry to check (see tag)');
  if (!attached) return skipped('imds', 'the pull identity is not attached (see attached)');
  const view = identityFacts(facts.target.state.identity);
  const held = view.userAssigned.find((h) => sameId(h.id, facts.identity?.expected.id ?? ''));
  const clientId = identity?.clientId ?? held?.clientId ?? '<clientId>';
  const sole = soleOf(view);
  if (sole)
    return pass(
      'imds',
      `the pull identity is the ${facts.target.label}'s only identity: IMDS gives it to token requests without a client id`,
    );
  if (view.systemAssigned)
    return pass(
      'imds',
      `IMDS gives the system-assigned identity to token requests without a client id: pull with client_id=${clientId}`,
    );
  return warn(
    'imds',
    `the ${facts.target.label} has ${view.userAssigned.length} user-assigned identities and no system-assigned one: a token request without client_id gets 400 from IMDS`,
    `name the identity: az login --identity --client-id ${clientId}, or client_id=${clientId} on the IMDS call`,
    { evidence: [`client id ${clientId}`] },
  );
}

function grantChecks(
  facts: DoctorFacts,
  identity: IdentityState | undefined,
  registry: RegistryState | undefined,
): [Check, Check] {
  const skip = (why: string): [Check, Check] => [skipped('grant', why), skipped('grant-age', why)];
  if (!facts.identity) return skip('no registry to check (see tag)');
  if (!identity) return skip('the pull identity could not be read or does not exist (see identity)');
  if (!registry) return skip('the registry could not be found (see registry)');
  if (!facts.grants?.ok)
    return [
      unreadable('grant', 'role assignments', facts.grants?.ok === false ? facts.grants.error : 'not read'),
      skipped('grant-age', 'the grant could not be read'),
    ];
  if (!facts.denies?.ok)
    return [
      unreadable('grant', 'deny assignments', facts.denies?.ok === false ? facts.denies.error : 'not read'),
      skipped('grant-age', 'the grant could not be read'),
    ];
  const role = pullRoleFor(registry.roleAssignmentMode);
  const evaluation = evaluateGrant({
    principalId: identity.principalId,
    registryId: registry.id,
    roleAssignmentMode: registry.roleAssignmentMode,
    assignments: facts.grants.value,
    roles: facts.roles ?? new Map(),
    denyAssignments: facts.denies.value,
    ...(facts.repository ? { repository: facts.repository } : {}),
  });
  const roleName = (guid: string) => facts.roles?.get(guid.toLowerCase())?.roleName ?? guid;
  const describe = (a: { roleGuid: string; scope: string }) => `${roleName(a.roleGuid)} at ${a.scope}`;
  const permission = evaluation.permission.name;
  if (evaluation.denying.length > 0)
    return [
      fail(
        'grant',
        `a deny assignment takes ${permission} away from the pull identity: ${evaluation.denying.map((d) => `${d.name ?? short(d.id)} at ${d.scope}`).join('; ')}`,
        'deny assignments are made by Azure (a managed application, a deployment stack, AKS lockdown) and beat every grant: exclude the identity through the service that made it, or use a registry outside its scope',
        evaluation.denying.map((d) => d.id),
      ),
      skipped('grant-age', 'a deny assignment blocks the grant (see grant)'),
    ];
  const createFix = `${reconcileFix(facts.target.ref.id)}; by hand: az role assignment create --assignee-object-id ${identity.principalId} --assignee-principal-type ServicePrincipal --role "${role.name}" --scope ${registry.id}`;
  if (evaluation.granting.length > 0) {
    const grant = pass(
      'grant',
      `${describe(evaluation.granting[0] as { roleGuid: string; scope: string })} grants ${permission}`,
      evaluation.granting.map((a) => `${describe(a)} (${a.id})`),
    );
    return [grant, ageCheck(facts.now, evaluation.granting)];
  }
  if (evaluation.conditioned.length === 0 && evaluation.conditionedMiss.length > 0)
    return [
      fail(
        'grant',
        `only conditioned assignments grant ${permission}, and their conditions do not let ${facts.repository} through`,
        `${reconcileFix(facts.target.ref.id)} makes the grant unconditioned (the app's own pull identity); or widen the condition`,
        evaluation.conditionedMiss.map((a) => `${describe(a)}: ${a.condition}`),
      ),
      skipped('grant-age', 'there is no grant for this repository (see grant)'),
    ];
  if (evaluation.conditioned.length > 0)
    return [
      warn(
        'grant',
        `only conditioned assignments grant ${permission}: a condition may match no repository (or not yours; --repository evaluates it)`,
        `${reconcileFix(facts.target.ref.id)} makes the grant unconditioned; or check the condition covers the repositories pulled`,
        { evidence: evaluation.conditioned.map((a) => `${describe(a)}: ${a.condition}`), undecided: true },
      ),
      ageCheck(facts.now, evaluation.conditioned),
    ];
  if (evaluation.unknownRoles.length > 0)
    return [
      warn(
        'grant',
        `no readable role grants ${permission}; some role definitions could not be read`,
        undefined,
        {
          evidence: [...(facts.roleErrors ?? []), ...evaluation.unknownRoles.map((a) => a.id)],
          undecided: true,
        },
      ),
      skipped('grant-age', 'the grant could not be judged'),
    ];
  const notHonoured =
    evaluation.notHonoured.length > 0
      ? `; ${evaluation.notHonoured.map(describe).join(', ')} is not honoured in ABAC repository-permissions mode`
      : '';
  return [
    fail(
      'grant',
      `no role assignment at or above ${registry.name} grants ${permission}${notHonoured}`,
      createFix,
      evaluation.notHonoured.map((a) => a.id),
    ),
    skipped('grant-age', 'there is no grant (see grant)'),
  ];
}

function ageCheck(now: number, grants: readonly { createdOn?: string; id: string }[]): Check {
  const ages = grants.map((g) => (g.createdOn ? now - Date.parse(g.createdOn) : Number.NaN));
  if (ages.some((a) => Number.isFinite(a) && a >= GRANT_PROPAGATION_MS))
    return pass('grant-age', 'made more than 10 minutes ago: propagated');
  const known = ages.filter((a) => Number.isFinite(a));
  if (known.length === 0)
    return pass('grant-age', 'ARM did not say when the grant was made (taken as propagated)');
  const age = Math.max(...known);
  const ready = new Date(now - age + GRANT_PROPAGATION_MS).toISOString();
  // Whether it has reached the registry yet cannot be read anywhere: undecided until then.
  return warn(
    'grant-age',
    `pending: the grant was made ${Math.max(0, Math.round(age / 60_000))} min ago; role assignments take up to 10 minutes to reach the registry`,
    `wait until ${ready}; nothing to change`,
    { undecided: true },
  );
}

function networkCheck(
  facts: DoctorFacts,
  registry: RegistryState | undefined,
  registryNetwork: Check | undefined,
): Check {
  if (!registry) return skipped('network-path', 'the registry could not be found or read (see registry)');
  if (!registryNetwork || registryNetwork.status === 'skipped')
    return skipped('network-path', 'the registry’s network settings are unknown', { undecided: true });
  if (registryNetwork.status === 'fail')
    return skipped('network-path', 'the registry refuses every network (see registry-network)');
  if (registryNetwork.status === 'pass')
    return pass(
      'network-path',
      'the registry takes public traffic: the VM needs outbound HTTPS to it (not checked)',
    );
  const outcome = facts.network;
  if (!outcome) return skipped('network-path', 'network path not checked', { undecided: true });
  return {
    id: 'network-path',
    status: outcome.status,
    detail: outcome.detail,
    ...(outcome.evidence?.length ? { evidence: outcome.evidence } : {}),
    ...(outcome.fix ? { fix: outcome.fix } : {}),
    ...(outcome.status === 'warn' || outcome.status === 'skipped' ? { undecided: true } : {}),
  };
}
