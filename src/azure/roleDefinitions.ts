// Role definitions adapter (read only): what a role allows, by its actions and data actions, over the
// real authorization client. The doctor judges a grant by these, never by a role's name.
import type { RoleFacts } from '../core/effectiveGrant';
import type { ArmClients } from './armClients';
import { isNotFound } from './armErrors';

export class RoleDefinitions {
  constructor(private readonly clients: ArmClients) {}

  /**
   * The role (by GUID) as it is visible in the subscription (built-in roles, and custom roles
   * assignable there); undefined when ARM does not know it.
   */
  async get(
    subscriptionId: string,
    roleGuid: string,
    abortSignal?: AbortSignal,
  ): Promise<RoleFacts | undefined> {
    try {
      const found = await this.clients
        .authorization(subscriptionId)
        .roleDefinitions.get(
          `/subscriptions/${subscriptionId}`,
          roleGuid,
          abortSignal ? { abortSignal } : {},
        );
      return {
        ...(found.roleName ? { roleName: found.roleName } : {}),
        permissions: (found.permissions ?? []).map((p) => ({
          actions: p.actions ?? [],
          notActions: p.notActions ?? [],
          dataActions: p.dataActions ?? [],
          notDataActions: p.notDataActions ?? [],
        })),
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }
}
