// What the doctor reads with: the reconcile's adapters (same settings, same clients) plus the two it
// alone needs (role definitions, deny assignments) and the network-path hook. Reads only: nothing here
// can write.
import type { ArmClients } from '../../azure/armClients';
import type { ContainerRegistries } from '../../azure/containerRegistries';
import { DenyAssignments } from '../../azure/denyAssignments';
import type { ResourceGroups } from '../../azure/resourceGroups';
import type { RetryEnvironment } from '../../azure/retry';
import type { RoleAssignments } from '../../azure/roleAssignments';
import { RoleDefinitions } from '../../azure/roleDefinitions';
import type { TargetResources } from '../../azure/targetResources';
import type { UserAssignedIdentities } from '../../azure/userAssignedIdentities';
import type { Settings } from '../../config/settings';
import type { SelfPrincipal } from '../../core/ownership';
import type { ReconcileDeps } from '../deps';
import { type NetworkPathCheck, networkPathFromArm } from './networkPath';

export interface DoctorDeps {
  readonly settings: Settings;
  readonly targets: Pick<TargetResources, 'get'>;
  readonly identities: Pick<UserAssignedIdentities, 'get'>;
  readonly roleAssignments: Pick<RoleAssignments, 'grantsAt' | 'listAssignedTo'>;
  readonly registries: Pick<ContainerRegistries, 'resolve'>;
  readonly resourceGroups: Pick<ResourceGroups, 'get'>;
  readonly roleDefinitions: Pick<RoleDefinitions, 'get'>;
  readonly denyAssignments: Pick<DenyAssignments, 'listFor'>;
  /** Who the doctor runs as (the operator): identities it created are its own. */
  readonly whoAmI: () => Promise<SelfPrincipal>;
  /** The VM's network path to a registry that is not open to everyone (see networkPath.ts). */
  readonly networkPath: NetworkPathCheck;
  readonly retry?: Omit<RetryEnvironment, 'deadline'>;
  readonly now?: () => number;
}

/** The doctor's dependencies from a runtime's (the CLI's) and the clients it was built on. */
export function createDoctorDeps(
  runtime: ReconcileDeps,
  clients: ArmClients,
  options: { readonly networkPath?: NetworkPathCheck; readonly now?: () => number } = {},
): DoctorDeps {
  return {
    settings: runtime.settings,
    targets: runtime.targets,
    identities: runtime.identities,
    roleAssignments: runtime.roleAssignments,
    registries: runtime.registries,
    resourceGroups: runtime.resourceGroups,
    roleDefinitions: new RoleDefinitions(clients),
    denyAssignments: new DenyAssignments(clients),
    whoAmI: runtime.whoAmI,
    networkPath: options.networkPath ?? networkPathFromArm(clients, runtime.settings.registrySubscriptions),
    ...(runtime.retry ? { retry: runtime.retry } : {}),
    ...(options.now ? { now: options.now } : runtime.now ? { now: runtime.now } : {}),
  };
}
