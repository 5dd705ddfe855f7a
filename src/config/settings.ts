// App settings, read and validated once. An invalid value fails fast with the variable's name, so a
// misconfigured deployment says what to fix instead of failing on the first event.
import { z } from 'zod';
import { type AllowRule, parseAllowlist } from '../core/allowlist';
import type { SingleIdentityVms } from '../core/imdsDefault';
import { normalizeRegion } from '../core/names';
import { type IdentityOverride, identityOverride } from '../core/pullIdentity';
import { parseResourceGroupId, parseUserAssignedIdentityId, type ResourceGroupRef } from '../core/resourceId';

export type Mode = 'enforce' | 'audit';

export interface Settings {
  /** enforce = make the changes; audit = decide and record, write nothing (dry run). */
  readonly mode: Mode;
  /** Tag key that requests pull access; matched case-insensitively like ARM tag names. */
  readonly tagKey: string;
  /** Registries that tags may request. Empty means deny all. */
  readonly allowedRegistries: readonly AllowRule[];
  /** True when ACRPULL_ALLOWED_REGISTRIES was not set at all (deny all, warn at startup). */
  readonly allowlistUnset: boolean;
  /** Resource group holding the shared identities, one per (registry, region). */
  readonly identityResourceGroup: ResourceGroupRef;
  /** Registry name → the operator's own identity for it (used, never created). */
  readonly identityOverrides: ReadonlyMap<string, IdentityOverride>;
  /** Subscriptions searched when a tag names a registry by name or login server (besides the VM's own). */
  readonly registrySubscriptions: readonly string[];
  /**
   * VMs with no system-assigned identity and exactly one user-assigned identity of their own: keep =
   * leave them alone (their IMDS default identity would break), attach = attach with a warning.
   */
  readonly singleIdentityVms: SingleIdentityVms;
  /**
   * on: when a VM's (or scale set's) tag no longer names a registry, or the allowlist no longer allows
   * it, detach the pull identity the app made for it. off (default): only ever add; the sweep counts
   * what on would detach.
   */
  readonly revoke: boolean;
  /** Upper bound on registries one VM may request; more is rejected as an invalid tag. */
  readonly maxRegistriesPerVm: number;
  /** ARM endpoint and token audience: sovereign clouds and the local emulator set these. */
  readonly armEndpoint: string;
  readonly armAudience: string;
  /**
   * The login server suffix of this cloud's registries, without the leading dot: `azurecr.io` (public),
   * `azurecr.cn` (China), `azurecr.us` (US Government), from ACRPULL_ARM_ENDPOINT, or
   * ACRPULL_REGISTRY_SUFFIX. A tag naming another cloud's login server is refused.
   */
  readonly registrySuffix: string;
  /** Time one event invocation may spend retrying before it gives up and lets Event Grid redeliver. */
  readonly eventTimeBudgetMs: number;
  /** Subscriptions the sweep covers; empty means every enabled subscription the app can see. */
  readonly subscriptions: readonly string[];
  /** NCRONTAB (six fields) for the sweep. */
  readonly reconcileSchedule: string;
  /**
   * Targets a sweep starts with at once in each subscription (more as ARM's write budget allows, see
   * reconcile/sweep/adaptiveLimit.ts), and registry/region pairs at once overall.
   */
  readonly sweepConcurrency: number;
  /** A sweep stops starting work this long after it began and leaves the rest to the next one. */
  readonly sweepTimeBudgetMs: number;
  /** How long after its PATCH an attach is first polled: about what an identity update takes. */
  readonly attachFirstPollMs: number;
  /** Client-side pacing per subscription, kept below ARM's refill rates (reads 25/s, writes 10/s). */
  readonly armReadsPerSecond: number;
  readonly armWritesPerSecond: number;
  /**
   * Creators, besides the app's own identity, whose pull identities the app reuses: principals (ids as
   * ARM writes them in systemData.createdBy) or sign-in names. Lower-cased.
   */
  readonly trustedCreators: readonly string[];
  /**
   * Regions where pull identities may be made and attached (normalized, `eastus`); empty means all.
   * A target elsewhere is refused (region-denied) before any identity read or write.
   */
  readonly regions: readonly string[];
  /**
   * The app's pull identities in the identity resource group at most: at or beyond it, a new
   * (registry, region) pair is refused (identity-limit-reached); reusing an existing one is not.
   */
  readonly maxPullIdentities: number;
  /** Where audit events go; unset means the function log only. */
  readonly appInsightsConnectionString?: string;
  /**
   * Re-attaches of the same identity to the same target that another writer undid within 24 hours
   * before the app stops and records `attach-contested` (core/contest.ts).
   */
  readonly maxReattaches: number;
  /**
   * Resource groups (ids, as written) where the app may write VMs and scale sets; empty = anywhere in
   * the swept subscriptions. A target elsewhere is refused (`target-out-of-scope`) before anything is
   * made for it.
   */
  readonly writeResourceGroups: readonly string[];
  /**
   * The Function App's resource id (the template sets it): an event subscription counts as delivering
   * to the app only when its Azure Function destination is one of this app's functions. Unset: any
   * live Azure Function destination for resource writes counts.
   */
  readonly functionAppId?: string;
  /**
   * Where state that must outlive one instance lives (busy deferrals, attach histories): the Function
   * App's own storage account, from the `AzureWebJobsStorage` connection the Functions host requires.
   * Unset: the app remembers nothing between invocations (a startup warning says so).
   */
  readonly stateStore?: StateStoreSetting;
}

/** The `AzureWebJobsStorage` connection: a connection string, or identity-based (an account endpoint). */
export type StateStoreSetting =
  | { readonly kind: 'connection-string'; readonly connectionString: string }
  | { readonly kind: 'identity'; readonly tableServiceUri: string; readonly clientId?: string };

export class SettingsError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'SettingsError';
  }
}

type Env = Record<string, string | undefined>;

/** Every 15 minutes, on the quarter hour. */
export const DEFAULT_RECONCILE_SCHEDULE = '0 */15 * * * *';

/** Variables whose empty value means "use the default list" rather than "unset". */
const LIST_VARIABLES = new Set([
  'ACRPULL_REGISTRY_SUBSCRIPTIONS',
  'ACRPULL_SUBSCRIPTIONS',
  'ACRPULL_TRUSTED_CREATORS',
  'ACRPULL_REGIONS',
]);

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Six NCRONTAB fields (second minute hour day month weekday), as the Functions timer trigger takes. */
const NCRONTAB = /^\S+( \S+){5}$/;

/** A list separated by `,` `;` or whitespace, lower-cased, every entry checked by `valid`. */
function lowerCaseList(valid: (entry: string) => boolean, message: string) {
  return z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(/[\s,;]+/)
        .filter(Boolean)
        .map((s) => s.toLowerCase()),
    )
    .refine((entries) => entries.every(valid), message);
}

const subscriptionList = lowerCaseList(
  (s) => GUID.test(s),
  'must be a comma-separated list of subscription ids',
);

/** What ARM writes in systemData.createdBy: a GUID (an application or managed identity) or a sign-in name. */
const creatorList = lowerCaseList(
  (c) => GUID.test(c) || /^[^@\s]+@[^@\s]+$/.test(c),
  'must be a comma-separated list of principal ids (GUIDs) or sign-in names (user@domain)',
);

const httpsUrl = z
  .string()
  .url()
  .refine((u) => u.startsWith('https://'), 'must be an https:// URL')
  .transform((u) => u.replace(/\/+$/, ''));

/**
 * Azure regions separated by `,` or `;`, each normalized as ARM writes `location` ("East US" →
 * "eastus", core/names.ts).
 */
const regionList = z
  .string()
  .default('')
  .transform((v) => v.split(/[,;]+/).map(normalizeRegion).filter(Boolean))
  .refine(
    (regions) => regions.every((r) => /^[a-z0-9]{2,40}$/.test(r)),
    'must be a comma-separated list of Azure regions, e.g. "eastus, westeurope"',
  );

function positiveInt(max: number) {
  return z.coerce.number().int().min(1).max(max);
}

/** One schema per variable, so every error names exactly the variable to fix. */
const variables = {
  ACRPULL_MODE: z.enum(['enforce', 'audit']).default('audit'),
  ACRPULL_TAG_KEY: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1-128 letters, digits, _ . : or -')
    .default('acrPull'),
  ACRPULL_ARM_ENDPOINT: httpsUrl.default('https://management.azure.com'),
  ACRPULL_ARM_AUDIENCE: httpsUrl.default('https://management.azure.com'),
  ACRPULL_REGISTRY_SUFFIX: z
    .string()
    .transform((v) => v.trim().replace(/^\./, '').toLowerCase())
    .refine((v) => /^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(v), 'must be a DNS suffix such as azurecr.io')
    .optional(),
  ACRPULL_SINGLE_IDENTITY_VMS: z.enum(['keep', 'attach']).default('keep'),
  ACRPULL_REVOKE: z.enum(['off', 'on']).default('off'),
  ACRPULL_MAX_REGISTRIES_PER_VM: positiveInt(100).default(10),
  ACRPULL_EVENT_TIME_BUDGET_SECONDS: positiveInt(600).default(25),
  ACRPULL_REGISTRY_SUBSCRIPTIONS: subscriptionList,
  ACRPULL_SUBSCRIPTIONS: subscriptionList,
  ACRPULL_TRUSTED_CREATORS: creatorList,
  ACRPULL_RECONCILE_SCHEDULE: z
    .string()
    .transform((v) => v.trim().replace(/\s+/g, ' '))
    .refine((v) => NCRONTAB.test(v), 'must be an NCRONTAB expression with six fields, e.g. "0 */15 * * * *"')
    .default(DEFAULT_RECONCILE_SCHEDULE),
  ACRPULL_SWEEP_CONCURRENCY: positiveInt(64).default(8),
  ACRPULL_SWEEP_TIME_BUDGET_SECONDS: positiveInt(3600).default(480),
  // Identity updates took 3-7 s in recorded Compute traffic (emulator/handlers/operations.ts).
  ACRPULL_ATTACH_FIRST_POLL_SECONDS: z.coerce.number().min(0).max(60).default(5),
  ACRPULL_ARM_READS_PER_SECOND: positiveInt(25).default(20),
  ACRPULL_ARM_WRITES_PER_SECOND: positiveInt(10).default(8),
  ACRPULL_REGIONS: regionList,
  ACRPULL_MAX_PULL_IDENTITIES: positiveInt(5000).default(200),
  ACRPULL_MAX_REATTACHES: positiveInt(100).default(3),
} as const;

function read<K extends keyof typeof variables>(env: Env, name: K): z.output<(typeof variables)[K]> {
  const raw = env[name];
  const result = variables[name].safeParse(raw === '' && !LIST_VARIABLES.has(name) ? undefined : raw);
  if (!result.success) {
    const detail = result.error.issues.map((i) => i.message).join('; ');
    throw new SettingsError(name, `invalid value ${JSON.stringify(raw)}: ${detail}`);
  }
  return result.data as z.output<(typeof variables)[K]>;
}

export function loadSettings(env: Env = process.env): Settings {
  const identityRgRaw = env.ACRPULL_IDENTITY_RESOURCE_GROUP;
  if (!identityRgRaw) {
    throw new SettingsError(
      'ACRPULL_IDENTITY_RESOURCE_GROUP',
      'is required: the resource group id that holds the pull identities, e.g. /subscriptions/<id>/resourceGroups/rg-acrpull-identities',
    );
  }
  const identityResourceGroup = parseResourceGroupId(identityRgRaw);
  if (!identityResourceGroup) {
    throw new SettingsError(
      'ACRPULL_IDENTITY_RESOURCE_GROUP',
      `invalid value ${JSON.stringify(identityRgRaw)}: must be a resource group id /subscriptions/<guid>/resourceGroups/<name>`,
    );
  }

  const allowRaw = env.ACRPULL_ALLOWED_REGISTRIES;
  let allowedRegistries: AllowRule[];
  try {
    allowedRegistries = parseAllowlist(allowRaw ?? '');
  } catch (error) {
    throw new SettingsError('ACRPULL_ALLOWED_REGISTRIES', (error as Error).message);
  }

  const identityOverrides = parseIdentityOverrides(env.ACRPULL_IDENTITY_OVERRIDES ?? '');
  const appInsights = env.APPLICATIONINSIGHTS_CONNECTION_STRING?.trim();
  if (appInsights) validateConnectionString(appInsights);

  return {
    ...(appInsights ? { appInsightsConnectionString: appInsights } : {}),
    mode: read(env, 'ACRPULL_MODE'),
    tagKey: read(env, 'ACRPULL_TAG_KEY'),
    allowedRegistries,
    allowlistUnset: allowRaw === undefined || allowRaw.trim() === '',
    identityResourceGroup,
    identityOverrides,
    registrySubscriptions: read(env, 'ACRPULL_REGISTRY_SUBSCRIPTIONS'),
    singleIdentityVms: read(env, 'ACRPULL_SINGLE_IDENTITY_VMS'),
    revoke: read(env, 'ACRPULL_REVOKE') === 'on',
    maxRegistriesPerVm: read(env, 'ACRPULL_MAX_REGISTRIES_PER_VM'),
    armEndpoint: read(env, 'ACRPULL_ARM_ENDPOINT'),
    armAudience: read(env, 'ACRPULL_ARM_AUDIENCE'),
    registrySuffix:
      read(env, 'ACRPULL_REGISTRY_SUFFIX') ?? cloudRegistrySuffix(read(env, 'ACRPULL_ARM_ENDPOINT')),
    eventTimeBudgetMs: read(env, 'ACRPULL_EVENT_TIME_BUDGET_SECONDS') * 1000,
    subscriptions: read(env, 'ACRPULL_SUBSCRIPTIONS'),
    trustedCreators: read(env, 'ACRPULL_TRUSTED_CREATORS'),
    reconcileSchedule: read(env, 'ACRPULL_RECONCILE_SCHEDULE'),
    sweepConcurrency: read(env, 'ACRPULL_SWEEP_CONCURRENCY'),
    sweepTimeBudgetMs: read(env, 'ACRPULL_SWEEP_TIME_BUDGET_SECONDS') * 1000,
    attachFirstPollMs: Math.round(read(env, 'ACRPULL_ATTACH_FIRST_POLL_SECONDS') * 1000),
    armReadsPerSecond: read(env, 'ACRPULL_ARM_READS_PER_SECOND'),
    armWritesPerSecond: read(env, 'ACRPULL_ARM_WRITES_PER_SECOND'),
    regions: read(env, 'ACRPULL_REGIONS'),
    maxPullIdentities: read(env, 'ACRPULL_MAX_PULL_IDENTITIES'),
    maxReattaches: read(env, 'ACRPULL_MAX_REATTACHES'),
    writeResourceGroups: parseWriteResourceGroups(env.ACRPULL_WRITE_RESOURCE_GROUPS ?? ''),
    ...functionAppIdFrom(env.ACRPULL_FUNCTION_APP_ID),
    ...stateStoreFrom(env),
  };
}

/**
 * The Functions host's storage connection (Learn: functions-reference#connecting-to-host-storage-with-
 * an-identity): `AzureWebJobsStorage` as a connection string (Azurite: `UseDevelopmentStorage=true` or
 * its full string), or identity-based through `AzureWebJobsStorage__tableServiceUri` (or
 * `__accountName`, for the public cloud's endpoint) with the managed identity `__clientId`.
 */
export function stateStoreFrom(env: Env): { stateStore?: StateStoreSetting } {
  const connectionString = env.AzureWebJobsStorage?.trim();
  if (connectionString) {
    if (/^UseDevelopmentStorage=true/i.test(connectionString))
      return {
        stateStore: {
          kind: 'connection-string',
          connectionString:
            'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;',
        },
      };
    if (!/AccountName=|TableEndpoint=|SharedAccessSignature=/i.test(connectionString))
      throw new SettingsError('AzureWebJobsStorage', 'is not a storage connection string');
    return { stateStore: { kind: 'connection-string', connectionString } };
  }
  const account = env.AzureWebJobsStorage__accountName?.trim();
  const uri =
    env.AzureWebJobsStorage__tableServiceUri?.trim() ||
    (account ? `https://${account}.table.core.windows.net` : '');
  if (!uri) return {};
  if (!/^https:\/\/[^\s/]+\/?$/.test(uri))
    throw new SettingsError(
      'AzureWebJobsStorage__tableServiceUri',
      `invalid value ${JSON.stringify(uri)}: must be https://<account>.table.<suffix>`,
    );
  const clientId = env.AzureWebJobsStorage__clientId?.trim();
  return { stateStore: { kind: 'identity', tableServiceUri: uri, ...(clientId ? { clientId } : {}) } };
}

/**
 * Each cloud's ARM endpoint and its registries' login server suffix (azure-cli's cloud definitions,
 * `resource_manager` and `acr_login_server_endpoint`: src/azure-cli-core/azure/cli/core/cloud.py;
 * `az cloud show --query suffixes.acrLoginServerEndpoint`).
 */
const CLOUD_REGISTRY_SUFFIXES: Readonly<Record<string, string>> = {
  'management.azure.com': 'azurecr.io',
  'management.chinacloudapi.cn': 'azurecr.cn',
  'management.usgovcloudapi.net': 'azurecr.us',
};

/**
 * The login server suffix of the cloud an ARM endpoint belongs to; `azurecr.io` for one the app does
 * not know (Azure Stack Hub, the local emulator): set ACRPULL_REGISTRY_SUFFIX there. Either way a
 * registry whose login server, as ARM reports it, is not the tag's is refused.
 */
export function cloudRegistrySuffix(armEndpoint: string): string {
  const host = /^https:\/\/([^/:]+)/i.exec(armEndpoint)?.[1]?.toLowerCase() ?? '';
  return CLOUD_REGISTRY_SUFFIXES[host] ?? 'azurecr.io';
}

function functionAppIdFrom(value: string | undefined): { functionAppId?: string } {
  const id = value?.trim();
  if (!id) return {};
  if (
    !/^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[^/]+\/providers\/Microsoft\.Web\/sites\/[^/]+$/i.test(
      id,
    )
  )
    throw new SettingsError(
      'ACRPULL_FUNCTION_APP_ID',
      `invalid value ${JSON.stringify(id)}: must be a Function App resource id /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Web/sites/<name>`,
    );
  return { functionAppId: id };
}

/** Resource group ids separated by `,` `;` or whitespace. */
function parseWriteResourceGroups(value: string): string[] {
  return value
    .split(/[\s,;]+/)
    .filter(Boolean)
    .map((entry) => {
      const group = parseResourceGroupId(entry);
      if (!group)
        throw new SettingsError(
          'ACRPULL_WRITE_RESOURCE_GROUPS',
          `entry ${JSON.stringify(entry)} is not a resource group id /subscriptions/<guid>/resourceGroups/<name>`,
        );
      return group.id;
    });
}

/** `registry=<identity resource id>` pairs separated by `,` `;` or whitespace. */
function parseIdentityOverrides(value: string): Map<string, IdentityOverride> {
  const overrides = new Map<string, IdentityOverride>();
  for (const entry of value.split(/[\s,;]+/).filter(Boolean)) {
    const i = entry.indexOf('=');
    const registry = entry.slice(0, i);
    const identity = i > 0 ? parseUserAssignedIdentityId(entry.slice(i + 1)) : undefined;
    if (!/^[a-zA-Z0-9]{5,50}$/.test(registry) || !identity) {
      throw new SettingsError(
        'ACRPULL_IDENTITY_OVERRIDES',
        `entry ${JSON.stringify(entry)} is not <registry name>=/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>`,
      );
    }
    if (overrides.has(registry.toLowerCase())) {
      // Two identities for one registry: which one would pull is not the operator's stated intent.
      throw new SettingsError(
        'ACRPULL_IDENTITY_OVERRIDES',
        `registry ${JSON.stringify(registry)} is named twice; give each registry one identity`,
      );
    }
    overrides.set(registry.toLowerCase(), identityOverride(identity));
  }
  return overrides;
}

/**
 * The SDK swallows a bad connection string (events silently go nowhere), so it is checked here:
 * a GUID instrumentation key, and an https ingestion endpoint when one is given.
 */
function validateConnectionString(value: string): void {
  const parts = new Map(
    value
      .split(';')
      .filter(Boolean)
      .map((part) => {
        const i = part.indexOf('=');
        return [part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).trim()] as const;
      }),
  );
  const key = parts.get('instrumentationkey') ?? '';
  const endpoint = parts.get('ingestionendpoint');
  if (!GUID.test(key)) {
    throw new SettingsError(
      'APPLICATIONINSIGHTS_CONNECTION_STRING',
      'has no valid InstrumentationKey (a GUID)',
    );
  }
  if (endpoint !== undefined && !/^https:\/\/[^\s]+$/.test(endpoint)) {
    throw new SettingsError(
      'APPLICATIONINSIGHTS_CONNECTION_STRING',
      'IngestionEndpoint must be an https:// URL',
    );
  }
}

/** Warnings an operator should see once at startup (not errors: the app still runs safely). */
export function startupWarnings(settings: Settings): string[] {
  const warnings: string[] = [];
  if (settings.allowlistUnset) {
    warnings.push(
      'ACRPULL_ALLOWED_REGISTRIES is not set: every registry is denied. Set it to registry names, registry ids, scope prefixes (/subscriptions/<id>[/resourceGroups/<rg>]) or *.',
    );
  }
  if (!settings.appInsightsConnectionString) {
    warnings.push(
      'APPLICATIONINSIGHTS_CONNECTION_STRING is not set: audit records go to the function log only.',
    );
  }
  if (!settings.stateStore) {
    warnings.push(
      'AzureWebJobsStorage is not set: the app keeps no state between invocations (busy targets are waited for per event, each attach on the event path waits for its operation to end, re-attaches another writer undoes are not counted).',
    );
  }
  if (settings.mode === 'audit') {
    warnings.push(
      'ACRPULL_MODE is audit: decisions are recorded but nothing is written. Set ACRPULL_MODE=enforce to apply them.',
    );
  }
  return warnings;
}
