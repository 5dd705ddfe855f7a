// `acrpull-autopilot doctor`: why can't this VM pull from this registry? Observe (reads only), then
// judge (pure), then the verdict and the owner's commands. Writes nothing, ever.
import { identityFacts } from '../../core/identityView';
import { sameId } from '../../core/resourceId';
import { type Check, type Verdict, verdictOf } from './checks';
import { type OwnerCommands, ownerCommands, type PullEndpoint } from './commands';
import type { DoctorDeps } from './deps';
import type { DoctorFacts } from './facts';
import { type JudgeOptions, judge } from './judge';
import { type DoctorInput, observeDoctor } from './observe';

export interface DoctorReport {
  readonly target: string;
  readonly registry?: {
    readonly name: string;
    readonly id?: string;
    readonly loginServer?: string;
    /** option: --registry; only: the one the tag names; first: the first of several. */
    readonly chosen: 'option' | 'only' | 'first';
  };
  readonly verdict: Verdict;
  readonly checks: readonly Check[];
  readonly endpoint?: PullEndpoint;
  readonly commands?: OwnerCommands;
  readonly facts: DoctorFacts;
}

export type DoctorResult = { readonly kind: 'not-found' } | ({ readonly kind: 'report' } & DoctorReport);

export async function runDoctor(
  deps: DoctorDeps,
  input: DoctorInput,
  options: JudgeOptions = {},
): Promise<DoctorResult> {
  const observed = await observeDoctor(deps, input);
  if (observed.kind === 'not-found') return observed;
  const facts = observed.facts;
  const checks = judge(facts, deps.settings, options);
  const endpoint = endpointOf(facts);
  const choice = facts.choice;
  const found = facts.registry?.ok && facts.registry.value.found ? facts.registry.value.registry : undefined;
  return {
    kind: 'report',
    target: facts.target.ref.id,
    ...(choice
      ? {
          registry: {
            name: choice.ref.name,
            ...(found ? { id: found.id, loginServer: found.loginServer } : {}),
            chosen: choice.how,
          },
        }
      : {}),
    verdict: verdictOf(checks),
    checks,
    ...(endpoint ? { endpoint, commands: ownerCommands(endpoint) } : {}),
    facts,
  };
}

/** Where the owner pulls from, and with which client id (the identity's, else what the target reports). */
export function endpointOf(facts: DoctorFacts): PullEndpoint | undefined {
  const choice = facts.choice;
  if (!choice) return undefined;
  const found = facts.registry?.ok && facts.registry.value.found ? facts.registry.value.registry : undefined;
  const identity = facts.identity?.read.ok ? facts.identity.read.value : undefined;
  const expectedId = facts.identity?.expected.id ?? '';
  const held = identityFacts(facts.target.state.identity).userAssigned.find((h) => sameId(h.id, expectedId));
  const clientId = identity?.clientId ?? held?.clientId;
  const loginServer = found?.loginServer || `${choice.ref.name}.azurecr.io`;
  return {
    registry: choice.ref.name,
    loginServer,
    ...(clientId ? { clientId } : {}),
    ...(found?.access?.dataEndpointEnabled
      ? { dataEndpoint: dataEndpointOf(loginServer, facts.target.region) }
      : {}),
  };
}

/**
 * `<name>.<region>.data.azurecr.io`: a registry with dedicated data endpoints serves layers from one per
 * region it is in; the VM's region is the nearest guess (the registry's home region otherwise).
 */
function dataEndpointOf(loginServer: string, region: string): string {
  const [name, ...domain] = loginServer.split('.');
  return `${name}.${region}.data.${domain.join('.')}`;
}
