// What the doctor read, as plain data: the judge (judge.ts) turns it into checks without a request.
import type { RegistryState } from '../../azure/containerRegistries';
import type { HeldAssignment, HeldGrant } from '../../azure/roleAssignments';
import type { TargetState } from '../../azure/targetResources';
import type { IdentityState } from '../../azure/userAssignedIdentities';
import type { DenyFacts, RoleFacts } from '../../core/effectiveGrant';
import type { SelfPrincipal } from '../../core/ownership';
import type { PullIdentity } from '../../core/pullIdentity';
import type { RegistryRef } from '../../core/tag';
import type { TargetRef } from '../../targets';
import type { NetworkPathOutcome } from './networkPath';

/** A read's result, or why it could not be made (a failed read is never taken as "absent"). */
export type Read<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string };

export type TagFacts =
  | { readonly kind: 'untagged' }
  | { readonly kind: 'invalid'; readonly value: string; readonly reason: string }
  | { readonly kind: 'refs'; readonly value: string; readonly refs: readonly RegistryRef[] };

/** Which registry the doctor looks at, and how it was chosen. */
export interface RegistryChoice {
  readonly ref: RegistryRef;
  /** option: --registry; only: the tag names just this one; first: the first of several the tag names. */
  readonly how: 'option' | 'only' | 'first';
  /** Whether the tag names it. */
  readonly inTag: boolean;
}

export interface TargetFacts {
  readonly ref: TargetRef;
  readonly state: TargetState;
  /** "virtual machine", "scale set". */
  readonly label: string;
  /** Normalised region (identity names use it). */
  readonly region: string;
  /** Whether its GET reports the principal each user-assigned identity is bound to (not Flexible scale sets). */
  readonly reportsBoundPrincipals: boolean;
}

export interface IdentityFacts {
  readonly expected: PullIdentity;
  /** undefined value: ARM says it does not exist. */
  readonly read: Read<IdentityState | undefined>;
}

export interface DoctorFacts {
  /** When the facts were read (ms since the epoch): grant ages are judged against it. */
  readonly now: number;
  /** The repository the owner pulls (--repository): grant conditions are evaluated for it. */
  readonly repository?: string;
  readonly target: TargetFacts;
  /** The target's resource group; undefined value: not found. */
  readonly resourceGroup: Read<{ readonly managedBy?: string } | undefined>;
  readonly tag: TagFacts;
  /** undefined: no registry to look at (no usable tag, no --registry). */
  readonly choice?: RegistryChoice;
  /** The registry found (or where it was looked for); undefined when there is no choice. */
  readonly registry?: Read<
    | { readonly found: true; readonly registry: RegistryState }
    | { readonly found: false; readonly searched: readonly string[] }
  >;
  readonly self?: Read<SelfPrincipal>;
  readonly identity?: IdentityFacts;
  /** The pull identity's assignments at or above the registry. */
  readonly grants?: Read<readonly HeldGrant[]>;
  /** Role definitions of those assignments, by lower-case GUID (undefined: unknown to ARM or unreadable). */
  readonly roles?: ReadonlyMap<string, RoleFacts | undefined>;
  /** Role definitions that could not be read, with why. */
  readonly roleErrors?: readonly string[];
  readonly denies?: Read<readonly DenyFacts[]>;
  /** Everything the pull identity holds that the registry's and target's subscriptions show. */
  readonly held?: Read<readonly HeldAssignment[]>;
  /** The network-path hook's answer; undefined: not checked (or not needed). */
  readonly network?: NetworkPathOutcome;
}
