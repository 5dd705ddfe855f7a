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

/** A role assignment as the grant checks see it. */
export interface HeldGrant extends HeldAssignment {
  readonly name: string;
  /** The ABAC condition, if any: such an assignment may match no repository at all. */
  readonly condition?: string;
  /** When ARM made it (ISO time): pull rights take up to 10 minutes to propagate. */
  readonly createdOn?: string;
  readonly description?: string;
}

/** The principal's assignments of one role at a scope or above it, split by whether a condition limits them. */
export interface PullGrants {
  /** The first unconditioned one: the grant that counts. */
  readonly unconditioned?: HeldGrant;
  readonly conditioned: readonly HeldGrant[];
}

export class RoleAssignments {
  constructor(private readonly clients: ArmClients) {}

  /**
   * The principal's assignments of the role at the scope or above it (an inherited grant gives pull
   * just as well), split by condition: only an unconditioned one counts. One list call, filtered
   * server-side by principal.
   */
  async pullGrants(
    request: Pick<GrantRequest, 'scope' | 'subscriptionId' | 'principalId' | 'roleGuid'>,
    abortSignal?: AbortSignal,
  ): Promise<PullGrants> {
    const held = (
      await this.grantsAt(request.scope, request.subscriptionId, request.principalId, abortSignal)
    ).filter((g) => g.roleGuid === request.roleGuid.toLowerCase());
    const unconditioned = held.find((g) => !g.condition);
    return { ...(unconditioned ? { unconditioned } : {}), conditioned: held.filter((g) => g.condition) };
  }

  /** Every assignment the principal holds at the scope or above it (any role, any condition). */
  async grantsAt(
    scope: string,
    subscriptionId: string,
    principalId: string,
    abortSignal?: AbortSignal,
  ): Promise<HeldGrant[]> {
    const client = this.clients.authorization(subscriptionId);
    const held: HeldGrant[] = [];
    for await (const assignment of client.roleAssignments.listForScope(scope, {
      filter: `principalId eq '${principalId}'`,
      ...(abortSignal ? { abortSignal } : {}),
    })) {
      const at = assignment.scope ?? '';
      if (!sameId(assignment.principalId ?? '', principalId) || at === '' || !isAtOrBelow(scope, at))
        continue;
      held.push({
        id: assignment.id ?? '',
        name: assignment.name ?? '',
        scope: at,
        roleGuid: roleGuidOf(assignment.roleDefinitionId ?? ''),
        principalId: assignment.principalId ?? '',
        ...(assignment.condition ? { condition: assignment.condition } : {}),
        ...(assignment.createdOn ? { createdOn: assignment.createdOn.toISOString() } : {}),
        ...(assignment.description ? { description: assignment.description } : {}),
      });
    }
    return held;
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
   * Updates an assignment in place without its condition: the same name, scope, role and principal
   * (an update, as `az role assignment update` makes one; its description is kept).
   */
  async removeCondition(grant: HeldGrant, subscriptionId: string, abortSignal?: AbortSignal): Promise<void> {
    const client = this.clients.authorization(subscriptionId);
    await client.roleAssignments.create(
      grant.scope,
      grant.name,
      {
        roleDefinitionId: roleDefinitionId(subscriptionId, grant.roleGuid),
        principalId: grant.principalId,
        principalType: 'ServicePrincipal',
        // Learn (conditions-role-assignments-rest, "Delete a condition"): both set to null.
        condition: null as unknown as string,
        conditionVersion: null as unknown as string,
        ...(grant.description ? { description: grant.description } : {}),
      },
      abortSignal ? { abortSignal } : {},
    );
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
