import type { AuditSink } from '../audit/auditRecord';
import type { ContainerRegistries } from '../azure/containerRegistries';
import type { ResourceGroups } from '../azure/resourceGroups';
import type { RetryEnvironment } from '../azure/retry';
import type { RoleAssignments } from '../azure/roleAssignments';
import type { TargetResources } from '../azure/targetResources';
import type { UserAssignedIdentities } from '../azure/userAssignedIdentities';
import type { Settings } from '../config/settings';
import type { DeferralBackoff } from '../core/deferral';
import type { Logger } from '../core/logger';
import type { SelfPrincipal } from '../core/ownership';
import type { IdentityReads } from './identityReads';
import type { ProofCache } from './proofCache';
import type { RoleCheckCache } from './roleCheckCache';
import type { TargetMemory } from './targetMemory';
import type { VerifiedPairs } from './verifiedPairs';

/** What the reconcile needs: settings, one adapter per ARM resource type, the audit sink, a logger. */
export interface ReconcileDeps {
  readonly settings: Settings;
  readonly targets: TargetResources;
  readonly identities: UserAssignedIdentities;
  readonly roleAssignments: RoleAssignments;
  readonly registries: ContainerRegistries;
  /** Whether another service manages a target's resource group (no write there). */
  readonly resourceGroups: ResourceGroups;
  readonly audit: AuditSink;
  readonly log: Logger;
  /** Who the app runs as (from its ARM token): the proof of which pull identities it created. */
  readonly whoAmI: WhoAmI;
  /** Pull identities proven to be the app's (systemData), remembered for a while. */
  readonly proven: ProofCache;
  /** (registry, region) pairs verified a moment ago, for the event path (see verifiedPairs.ts). */
  readonly verifiedPairs: VerifiedPairs;
  /** How the event path reads pull identities: a GET, or a listing of the group in a burst. */
  readonly identityReads: IdentityReads;
  /**
   * What each pull identity's principal holds, listed per subscription within 15 minutes: shared by
   * the decision path and the sweep's finding (see roleCheckCache.ts).
   */
  readonly roleChecks: RoleCheckCache;
  /** Overrides for the retry loop (policy, sleep, random); the deadline comes per request. */
  readonly retry?: Omit<RetryEnvironment, 'deadline'>;
  readonly now?: () => number;
  /**
   * State that outlives the instance (busy deferrals, attach histories), in the state store; absent
   * when AzureWebJobsStorage is not set: then nothing is remembered between invocations.
   */
  readonly memory?: TargetMemory;
  /** How busy deferrals back off (core/deferral.ts BUSY_BACKOFF unless a test says otherwise). */
  readonly busyBackoff?: DeferralBackoff;
}

/** Who the app runs as; `known()` answers without waiting, once a token has told. */
export interface WhoAmI {
  (): Promise<SelfPrincipal>;
  known(): SelfPrincipal | undefined;
}
