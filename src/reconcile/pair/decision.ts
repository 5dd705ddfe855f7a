// What a (registry, region) pair came to, for the targets that need it.
import type { RegistryState } from '../../azure/containerRegistries';
import type { IdentityState } from '../../azure/userAssignedIdentities';

export type RegistryDecision =
  /** Identity and grant in place (or planned, in audit mode: then `identity` is absent). */
  | {
      readonly status: 'ready';
      readonly registry: RegistryState;
      readonly identityId: string;
      readonly identity?: IdentityState;
      /** When the grant that counts was made (ISO), where it was read or made. */
      readonly grantCreatedOn?: string;
      /**
       * Taken from this instance's verified pairs (a minute old at most) without reading them: the
       * attach checks the principal its PATCH bound against the one verified (re-created since?).
       */
      readonly fromCache?: boolean;
    }
  /** The request is refused; the caller audits it against each target that asked. */
  | {
      readonly status: 'rejected';
      readonly action:
        | 'tag-invalid'
        | 'registry-denied'
        | 'region-denied'
        | 'identity-refused'
        | 'identity-limit-reached'
        | 'grant-conditioned';
      readonly reason: string;
      readonly registry?: RegistryState;
      /** identity-refused: the identity, and who ARM says created it. */
      readonly identityId?: string;
      readonly identityCreatedBy?: string;
      /**
       * identity-refused for holding roles beyond pull: the identity as read (the sweep's finding
       * reports it too, for the targets that already hold it).
       */
      readonly excessRolesOf?: IdentityState;
    }
  | { readonly status: 'failed'; readonly error: unknown; readonly registry?: RegistryState };

export type ReadyRegistry = Extract<RegistryDecision, { status: 'ready' }>;
export type RejectedRegistry = Extract<RegistryDecision, { status: 'rejected' }>;

export type RegistryAuthorization =
  | { readonly status: 'allowed'; readonly registry: RegistryState }
  | Extract<RegistryDecision, { status: 'rejected' | 'failed' }>;

/** An identity-refused decision's identity and its creator, for the target's record. */
export function refusedIdentity(decision: RejectedRegistry): {
  identityId?: string;
  identityCreatedBy?: string;
} {
  return {
    ...(decision.identityId ? { identityId: decision.identityId } : {}),
    ...(decision.identityCreatedBy ? { identityCreatedBy: decision.identityCreatedBy } : {}),
  };
}

/**
 * Where a refused or failed pair decision is recorded against a target: the registry ARM returned
 * (else the name the tag gave) and the pull identity; an identity refusal also names its creator.
 */
export function decisionFields(
  decision: Exclude<RegistryDecision, { status: 'ready' }>,
  tagName: string,
  identityId: string,
): { registry: string; registryId?: string; identityId?: string; identityCreatedBy?: string } {
  return {
    registry: decision.registry?.name ?? tagName,
    ...(decision.registry ? { registryId: decision.registry.id } : {}),
    identityId,
    ...(decision.status === 'rejected' ? refusedIdentity(decision) : {}),
  };
}
