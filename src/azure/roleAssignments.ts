// Role-assignment adapter: one ARM call per method, over the real authorization client.
import { isRestError } from '@azure/core-rest-pipeline';
import { isAtOrBelow, sameId } from '../core/resourceId';
import { roleDefinitionId, roleGuidOf } from '../core/roles';
import type { ArmClients } from './armClients';

export interface GrantRequest {
  /** The registry id: the grant is scoped to exactly this registry. */
  readonly scope: string;
  readonly subscriptionId: string;
  readonly principalId: string;
  readonly roleGuid: string;
  /** Deterministic GUID (names.ts) so retries and concurrent invocations PUT the same assignment. */
  readonly name: string;
  readonly description: string;
}

export interface HeldAssignment {
  readonly id: string;
  readonly scope: string;
  readonly roleGuid: string;
  readonly principalId: string;
}

export class RoleAssignments {
  constructor(private readonly clients: ArmClients) {}

  /**
   * True when the principal already holds the role at the scope or above it (an inherited grant
   * gives pull just as well). One list call, filtered server-side by principal.
   */
  async hasGrant(
    request: Pick<GrantRequest, 'scope' | 'subscriptionId' | 'principalId' | 'roleGuid'>,
    abortSignal?: AbortSignal,
  ): Promise<boolean> {
    const client = this.clients.authorization(request.subscriptionId);
    const filter = `principalId eq '${request.principalId}'`;
    for await (const assignment of client.roleAssignments.listForScope(request.scope, {
      filter,
      ...(abortSignal ? { abortSignal } : {}),
    })) {
      const scope = assignment.scope ?? '';
      if (
        roleGuidOf(assignment.roleDefinitionId ?? '') === request.roleGuid.toLowerCase() &&
        sameId(assignment.principalId ?? '', request.principalId) &&
        scope !== '' &&
        isAtOrBelow(request.scope, scope)
      ) {
        return true;
      }
    }
    return false;
  }

  /**
   * Every role assignment the principal holds that the subscription shows: at the subscription, below
   * it, and inherited from above (management groups). One paged list, `assignedTo` filtered by ARM.
   */
  async listAssignedTo(
    subscriptionId: string,
    principalId: string,
    abortSignal?: AbortSignal,
  ): Promise<HeldAssignment[]> {
    const client = this.clients.authorization(subscriptionId);
    const held: HeldAssignment[] = [];
    for await (const assignment of client.roleAssignments.listForSubscription({
      filter: `assignedTo('${principalId}')`,
      ...(abortSignal ? { abortSignal } : {}),
    })) {
      held.push({
        id: assignment.id ?? '',
        scope: assignment.scope ?? '',
        roleGuid: roleGuidOf(assignment.roleDefinitionId ?? ''),
        principalId: assignment.principalId ?? '',
      });
    }
    return held;
  }

  /**
   * 'created'; 'exists' when ARM says the same grant already exists under another name; 'name-taken'
   * when the name is used by another assignment (names are unique across the tenant, so anyone who
   * can create a role assignment anywhere can take ours first: 400 RoleAssignmentUpdateNotPermitted).
   */
  async create(
    request: GrantRequest,
    abortSignal?: AbortSignal,
  ): Promise<'created' | 'exists' | 'name-taken'> {
    const client = this.clients.authorization(request.subscriptionId);
    try {
      await client.roleAssignments.create(
        request.scope,
        request.name,
        {
          roleDefinitionId: roleDefinitionId(request.subscriptionId, request.roleGuid),
          principalId: request.principalId,
          // Lets ARM skip the directory lookup that fails for a just-created identity (replication delay).
          principalType: 'ServicePrincipal',
          description: request.description,
        },
        abortSignal ? { abortSignal } : {},
      );
      return 'created';
    } catch (error) {
      if (isRestError(error) && error.statusCode === 409 && error.code === 'RoleAssignmentExists')
        return 'exists';
      if (isRestError(error) && error.statusCode === 400 && error.code === 'RoleAssignmentUpdateNotPermitted')
        return 'name-taken';
      throw error;
    }
  }
}
