// One vocabulary for seeding a fleet in the emulator, shared by the integration tests and the demo:
// VMs and scale sets in rg-apps (tagged acrPull=<value>, with the identities their owners gave them),
// the identities around them (an owner's, the app's own pull identity from an earlier run, a pull
// identity someone else planted), registries and AcrPull grants. Each call seeds one resource and returns
// the record the emulator's seed function returns; nothing is seeded that the call does not name.
//
//   const f = fleet(h.emu);
//   const own = f.identity('id-own');
//   const vm = f.vm('vm-web', { tag: 'contosoapps', location: 'westus', identities: [own] });
//   f.plantedPullIdentity('contosoapps', 'westus', { by: 'mallory@contoso.example', type: 'User' });

import type {
  Emulator,
  IdentityRecord,
  OrchestrationMode,
  RegistryRecord,
  RoleAssignmentRecord,
  SeedScaleSet,
  SeedVm,
  SystemDataActor,
  UpgradeMode,
  VmRecord,
} from '@acrpull/azure-emulator';
import { IDENTITY_RG, SUB } from './harness';

/** Where the tests' VMs, scale sets and owners' identities live. */
export const APPS_RG = 'rg-apps';
/** Where the tests' registries live. */
export const REGISTRIES_RG = 'rg-registries';
/** AcrPull, Azure's built-in role (its id is the same in every tenant). */
const ACR_PULL = '7f951dda-4ed3-4680-a7ca-43fe172d538d';

/** Anything with a resource id (a record the emulator returned), or the id itself. */
export type ResourceRef = string | { readonly id: string };
/** A principal: anything with a principal id (an identity record), or the id itself. */
export type PrincipalRef = string | { readonly principalId: string };

export interface VmSpec {
  /** The acrPull tag's value: tags `{ acrPull: tag }` (an empty string is a value too). */
  readonly tag?: string;
  /** The whole tags object instead of `tag` (another spelling of the key, other tags). Neither: no tags. */
  readonly tags?: Record<string, string>;
  /** Default eastus. */
  readonly location?: string;
  /** Default rg-apps. */
  readonly resourceGroup?: string;
  /** Has a system-assigned identity. */
  readonly systemAssigned?: boolean;
  /** The user-assigned identities it already has, in this order (seed them first). */
  readonly identities?: readonly ResourceRef[];
  /** Still being created by its owner for this long: provisioningState Creating until then. */
  readonly creatingForMs?: number;
  /** A Flexible scale set's member: that scale set (seed it first). */
  readonly scaleSet?: ResourceRef;
}

export interface ScaleSetSpec extends Omit<VmSpec, 'scaleSet'> {
  /** Default Uniform. */
  readonly orchestrationMode?: OrchestrationMode;
  /** Uniform only; default Manual. */
  readonly upgradeMode?: UpgradeMode;
  /** Default 2. */
  readonly capacity?: number;
}

export interface IdentitySpec {
  /** Default rg-apps. */
  readonly resourceGroup?: string;
  /** Default eastus. */
  readonly location?: string;
}

export interface RegistrySpec {
  /** Default the fleet's subscription. */
  readonly subscriptionId?: string;
  /** Default rg-registries. */
  readonly resourceGroup?: string;
  /** ABAC repository permissions (roleAssignmentMode AbacRepositoryPermissions) instead of legacy RBAC. */
  readonly abac?: boolean;
}

export interface FleetOptions {
  /** Default SUB. */
  readonly subscriptionId?: string;
  /** The app's identity resource group (ACRPULL_IDENTITY_RESOURCE_GROUP), by name; default rg-identities. */
  readonly identityResourceGroup?: string;
}

export interface Fleet {
  /** A VM, in rg-apps and eastus unless told. */
  vm(name: string, spec?: VmSpec): VmRecord;
  /** A scale set (Uniform, Manual upgrades unless told), in rg-apps and eastus unless told. */
  scaleSet(name: string, spec?: ScaleSetSpec): VmRecord;
  /** A user-assigned identity the app did not make (an owner's, an operator's override), in rg-apps and eastus unless told. */
  identity(name: string, spec?: IdentitySpec): IdentityRecord;
  /** `id-acrpull-<registry>-<region>` in the identity resource group, made by the app in an earlier run (ARM's systemData says so). */
  appPullIdentity(registry: string, region: string): IdentityRecord;
  /**
   * `id-acrpull-<registry>-<region>` in the identity resource group, made by someone else first: ARM's
   * systemData names them (default the emulator's seeding user, operator@contoso.example).
   */
  plantedPullIdentity(registry: string, region: string, createdBy?: SystemDataActor): IdentityRecord;
  /** A registry in rg-registries of the fleet's subscription unless told (legacy RBAC unless `abac`). */
  registry(name: string, spec?: RegistrySpec): RegistryRecord;
  /** An AcrPull grant for the principal on the registry of that name in rg-registries of the fleet's subscription. */
  pullGrant(
    registry: string,
    principal: PrincipalRef,
    options?: { principalType?: string },
  ): RoleAssignmentRecord;
}

const idOf = (ref: ResourceRef) => (typeof ref === 'string' ? ref : ref.id);

/** The fields of a seed that a spec names, and none that it leaves out. */
function resourceFields(
  spec: VmSpec,
): Omit<SeedVm, 'subscriptionId' | 'resourceGroup' | 'name' | 'location'> {
  if (spec.tag !== undefined && spec.tags !== undefined)
    throw new Error('fleet: give a tag or tags, not both');
  const tags = spec.tags ?? (spec.tag !== undefined ? { acrPull: spec.tag } : undefined);
  return {
    ...(tags !== undefined ? { tags } : {}),
    ...(spec.systemAssigned !== undefined ? { systemAssigned: spec.systemAssigned } : {}),
    ...(spec.identities !== undefined ? { userAssignedIdentityIds: spec.identities.map(idOf) } : {}),
    ...(spec.creatingForMs !== undefined ? { provisioning: { forMs: spec.creatingForMs } } : {}),
  };
}

/** The seeding vocabulary over an emulator; the defaults are the integration tests' (SUB, rg-identities). */
export function fleet(emu: Emulator, options: FleetOptions = {}): Fleet {
  const subscriptionId = options.subscriptionId ?? SUB;
  const identityResourceGroup =
    options.identityResourceGroup ?? IDENTITY_RG.slice(IDENTITY_RG.lastIndexOf('/') + 1);
  const placed = (name: string, spec: { resourceGroup?: string; location?: string }) => ({
    subscriptionId,
    resourceGroup: spec.resourceGroup ?? APPS_RG,
    name,
    location: spec.location ?? 'eastus',
  });
  const pullIdentity = (registry: string, region: string, createdBy?: 'app' | SystemDataActor) =>
    emu.seedIdentity({
      subscriptionId,
      resourceGroup: identityResourceGroup,
      name: `id-acrpull-${registry}-${region}`,
      location: region,
      ...(createdBy !== undefined ? { createdBy } : {}),
    });

  return {
    vm: (name, spec = {}) =>
      emu.seedVm({
        ...placed(name, spec),
        ...resourceFields(spec),
        ...(spec.scaleSet !== undefined ? { virtualMachineScaleSet: idOf(spec.scaleSet) } : {}),
      }),
    scaleSet: (name, spec = {}) => {
      const seed: SeedScaleSet = { ...placed(name, spec), ...resourceFields(spec) };
      if (spec.orchestrationMode !== undefined) seed.orchestrationMode = spec.orchestrationMode;
      if (spec.upgradeMode !== undefined) seed.upgradeMode = spec.upgradeMode;
      if (spec.capacity !== undefined) seed.capacity = spec.capacity;
      return emu.seedScaleSet(seed);
    },
    identity: (name, spec = {}) => emu.seedIdentity(placed(name, spec)),
    appPullIdentity: (registry, region) => pullIdentity(registry, region, 'app'),
    plantedPullIdentity: (registry, region, createdBy) => pullIdentity(registry, region, createdBy),
    registry: (name, spec = {}) =>
      emu.seedRegistry({
        subscriptionId: spec.subscriptionId ?? subscriptionId,
        resourceGroup: spec.resourceGroup ?? REGISTRIES_RG,
        name,
        ...(spec.abac ? { roleAssignmentMode: 'AbacRepositoryPermissions' as const } : {}),
      }),
    pullGrant: (registry, principal, grantOptions = {}) =>
      emu.seedRoleAssignment({
        scope: `/subscriptions/${subscriptionId}/resourceGroups/${REGISTRIES_RG}/providers/Microsoft.ContainerRegistry/registries/${registry}`,
        roleDefinitionId: ACR_PULL,
        principalId: typeof principal === 'string' ? principal : principal.principalId,
        ...(grantOptions.principalType !== undefined ? { principalType: grantOptions.principalType } : {}),
      }),
  };
}
