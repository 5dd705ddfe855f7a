// The benchmark fleet: N VMs over 3 subscriptions, 20 registries and 4 regions, seeded into the
// emulator in one of three states.
import { type Emulator, type OperationDuration, RECORDED_UPDATE_MS } from '@acrpull/azure-emulator';

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
 * How long the emulator's VM updates take. Realistic (the default): each drawn from 3.3-7.0 s, as
 * identity updates took in recorded Compute traffic (the emulator's RECORDED_UPDATE_MS), and the app
 * polls at its own default (5 s after the PATCH, then every 2 s). Fast (`npm run bench -- --fast`,
 * for quick runs): 0.5 s, first poll after 0.55 s; its figures are about ARM's request budgets only.
 */
export interface OperationTimes {
  readonly name: 'realistic' | 'fast';
  readonly operationDurationMs: OperationDuration;
  /** ACRPULL_ATTACH_FIRST_POLL_SECONDS, when not the app's default. */
  readonly firstPollSeconds?: number;
  /** For the bench lines: `op=3.3-7.0s` or `op=0.5s`. */
  readonly label: string;
}

export const REALISTIC: OperationTimes = {
  name: 'realistic',
  operationDurationMs: RECORDED_UPDATE_MS,
  label: `${(RECORDED_UPDATE_MS.minMs / 1000).toFixed(1)}-${(RECORDED_UPDATE_MS.maxMs / 1000).toFixed(1)}s`,
};
export const FAST: OperationTimes = {
  name: 'fast',
  operationDurationMs: 500,
  firstPollSeconds: 0.55,
  label: '0.5s',
};

export function appSettings(emu: Emulator, times: OperationTimes): Record<string, string> {
  return {
    ACRPULL_MODE: 'enforce',
    ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG,
    ACRPULL_ALLOWED_REGISTRIES: REGISTRIES.join(','),
    ACRPULL_REGISTRY_SUBSCRIPTIONS: SUBSCRIPTIONS.join(','),
    ACRPULL_ARM_ENDPOINT: emu.armEndpoint,
    ...(times.firstPollSeconds === undefined
      ? {}
      : { ACRPULL_ATTACH_FIRST_POLL_SECONDS: String(times.firstPollSeconds) }),
    IDENTITY_ENDPOINT: emu.identityEndpoint,
    IDENTITY_HEADER: emu.identityHeader,
    APPLICATIONINSIGHTS_STATSBEAT_DISABLED: 'true',
  };
}
