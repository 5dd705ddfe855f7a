// Deny assignments adapter (read only), over the real authorization client. Deny assignments are made
// by Azure (managed applications, deployment stacks, AKS node resource group lockdown) and take
// precedence over every role assignment (Learn: role-based-access-control/deny-assignments).
import type { DenyFacts } from '../core/effectiveGrant';
import type { ArmClients } from './armClients';

export class DenyAssignments {
  constructor(private readonly clients: ArmClients) {}

  /**
   * The deny assignments at, above and below the scope that name the principal (or everyone):
   * `$filter=principalId eq '<id>'` (REST: Deny Assignments - List For Scope).
   */
  async listFor(
    subscriptionId: string,
    scope: string,
    principalId: string,
    abortSignal?: AbortSignal,
  ): Promise<DenyFacts[]> {
    const found: DenyFacts[] = [];
    for await (const d of this.clients.authorization(subscriptionId).denyAssignments.listForScope(scope, {
      filter: `principalId eq '${principalId}'`,
      ...(abortSignal ? { abortSignal } : {}),
    })) {
      found.push({
        id: d.id ?? '',
        ...(d.denyAssignmentName ? { name: d.denyAssignmentName } : {}),
        scope: d.scope ?? '',
        permissions: (d.permissions ?? []).map((p) => ({
          actions: p.actions ?? [],
          notActions: p.notActions ?? [],
          dataActions: p.dataActions ?? [],
          notDataActions: p.notDataActions ?? [],
        })),
        principals: (d.principals ?? []).map((p) => p.id ?? '').filter((id) => id !== ''),
        excludePrincipals: (d.excludePrincipals ?? []).map((p) => p.id ?? '').filter((id) => id !== ''),
        doNotApplyToChildScopes: d.doNotApplyToChildScopes === true,
      });
    }
    return found;
  }
}
