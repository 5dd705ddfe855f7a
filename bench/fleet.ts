// The benchmark fleet: N VMs over 3 subscriptions, 20 registries and 4 regions, seeded into the
// emulator in one of three states.
import type { Emulator } from '@acrpull/azure-emulator';

export const SUBSCRIPTIONS = [
  'aaaaaaaa-0000-0000-0000-000000000001',
  'aaaaaaaa-0000-0000-0000-000000000002',
  'aaaaaaaa-0000-0000-0000-000000000003',
] as const;
export const REGIONS = ['eastus', 'westeurope', 'southeastasia', 'australiaeast'] as const;
export const REGISTRIES = Array.from(
  { length: 20 },
  (_, i) => `benchregistry${String(i + 1).padStart(2, '0')}`,
);
export const IDENTITY_SUB = SUBSCRIPTIONS[0];
export const IDENTITY_RG = `/subscriptions/${IDENTITY_SUB}/resourceGroups/rg-acrpull-identities`;
const ACR_PULL = '7f951dda-4ed3-4680-a7ca-43fe172d538d';

export type FleetCase = 'steady' | 'drift' | 'new';

export interface SeededFleet {
  readonly vmIds: readonly string[];
  /** VMs that need an attach in this case. */
  readonly nonCompliant: number;
  /** (registry, region) pairs the fleet uses. */
  readonly pairs: number;
}

/** VM i: subscription i % 3, region i % 4, registry (i / 4) % 20: every (registry, region) pair is used. */
export function seedFleet(emu: Emulator, n: number, fleetCase: FleetCase): SeededFleet {
  for (const sub of SUBSCRIPTIONS) emu.seedResourceGroup(sub, 'rg-fleet', 'eastus');
  emu.seedResourceGroup(IDENTITY_SUB, 'rg-acrpull-identities', 'eastus');
  const registries = REGISTRIES.map((name, i) =>
    emu.seedRegistry({
      subscriptionId: SUBSCRIPTIONS[i % 3] as string,
      resourceGroup: 'rg-registries',
      name,
    }),
  );

  const pairIdentity = new Map<string, string>();
  const usedPairs = new Set<string>();
  for (let i = 0; i < n; i++) usedPairs.add(`${Math.floor(i / 4) % 20}|${i % 4}`);
  if (fleetCase !== 'new') {
    for (const key of usedPairs) {
      const [r, g] = key.split('|').map(Number) as [number, number];
      const registry = registries[r];
      const region = REGIONS[g] as string;
      const identity = emu.seedIdentity({
        subscriptionId: IDENTITY_SUB,
        resourceGroup: 'rg-acrpull-identities',
        name: `id-acrpull-${registry?.name}-${region}`,
        location: region,
        createdBy: 'app', // made by the app in an earlier run: ARM's systemData says so
      });
      emu.seedRoleAssignment({
        scope: registry?.id ?? '',
        roleDefinitionId: ACR_PULL,
        principalId: identity.principalId,
        principalType: 'ServicePrincipal',
      });
      pairIdentity.set(key, identity.id);
    }
  }

  // 1% drift: every 100th VM has lost its identity.
  const drifted = (i: number) => fleetCase === 'drift' && i % 100 === 0;
  const vmIds: string[] = [];
  let nonCompliant = 0;
  for (let i = 0; i < n; i++) {
    const key = `${Math.floor(i / 4) % 20}|${i % 4}`;
    const attached = fleetCase !== 'new' && !drifted(i);
    if (!attached) nonCompliant++;
    const vm = emu.seedVm({
      subscriptionId: SUBSCRIPTIONS[i % 3] as string,
      resourceGroup: 'rg-fleet',
      name: `vm-${String(i).padStart(5, '0')}`,
      location: REGIONS[i % 4] as string,
      tags: { acrPull: REGISTRIES[Math.floor(i / 4) % 20] as string },
      ...(attached ? { userAssignedIdentityIds: [pairIdentity.get(key) as string] } : {}),
    });
    vmIds.push(vm.id);
  }
  return { vmIds, nonCompliant, pairs: usedPairs.size };
}

/**
 * The emulator's VM updates take this long (3-7 s in Azure; shorter here, so the figures are about
 * ARM's budgets rather than waiting); the app polls once, BENCH_FIRST_POLL_SECONDS after its PATCH.
 */
export const BENCH_OPERATION_MS = 500;
export const BENCH_FIRST_POLL_MS = 550;

export function appSettings(emu: Emulator): Record<string, string> {
  return {
    ACRPULL_MODE: 'enforce',
    ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG,
    ACRPULL_ALLOWED_REGISTRIES: REGISTRIES.join(','),
    ACRPULL_REGISTRY_SUBSCRIPTIONS: SUBSCRIPTIONS.join(','),
    ACRPULL_ARM_ENDPOINT: emu.armEndpoint,
    ACRPULL_ATTACH_FIRST_POLL_SECONDS: String(BENCH_FIRST_POLL_MS / 1000),
    IDENTITY_ENDPOINT: emu.identityEndpoint,
    IDENTITY_HEADER: emu.identityHeader,
    APPLICATIONINSIGHTS_STATSBEAT_DISABLED: 'true',
  };
}
