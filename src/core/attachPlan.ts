// Observed identities + identities we want attached (and, with revocation on, the app's own pull
// identities we want gone) → the smallest PATCH that makes it so while keeping everything else the
// target has, and the named decision to make it (nothing / defer / refuse / attach / detach). One plan
// for both directions; the busy rule (busy.ts) and the IMDS-default rule (imdsDefault.ts) are asked,
// not restated. Pure.
import { busyReason, isTerminal, unfinishedReason } from './busy';
import { type IdentityFacts, type IdentityView, identityFacts } from './identityView';
import { type ImdsDefault, type ImdsPolicy, imdsVerdict } from './imdsDefault';
import { sameId } from './resourceId';

export type PatchedIdentityType = 'UserAssigned' | 'SystemAssigned, UserAssigned' | 'SystemAssigned' | 'None';

export interface AttachPatch {
  /**
   * `type` is replaced by ARM, so it must keep a system-assigned identity the target already has; with
   * no user-assigned identity left it is `SystemAssigned` or `None` (and the dictionary is not sent).
   */
  readonly type: PatchedIdentityType;
  /** Only the identities to add: ARM merges the dictionary and keeps keys we do not mention. */
  readonly add: readonly string[];
  /** Identities to remove (sent as `null`, which removes only that key). */
  readonly remove: readonly string[];
}

export interface PatchOptions {
  /**
   * The target's last operation (ours) Failed: its model may list identities that never took effect,
   * so they are sent again (re-applying an attached identity is harmless; ARM merges it).
   */
  readonly lastOperationFailed?: boolean;
  /** The app's own pull identities to detach (revocation), if attached. */
  readonly unwanted?: readonly string[];
}

/** The PATCH for a raw identity block (see planPatch). */
export function planAttach(
  identity: IdentityView | undefined,
  wanted: readonly string[],
  options: PatchOptions = {},
): AttachPatch | undefined {
  return planPatch(identityFacts(identity), wanted, options);
}

/**
 * undefined when every wanted identity is already attached and no unwanted one is: no write at all.
 * An identity both wanted and unwanted is wanted.
 */
export function planPatch(
  facts: IdentityFacts,
  wanted: readonly string[],
  options: PatchOptions = {},
): AttachPatch | undefined {
  const holds = (id: string) => facts.userAssigned.some((held) => sameId(held.id, id));
  const add: string[] = [];
  for (const id of wanted) {
    const needed = options.lastOperationFailed === true || !holds(id);
    if (needed && !add.some((a) => sameId(a, id))) add.push(id);
  }
  const attached = facts.userAssigned.map((held) => held.id);
  const unwanted = options.unwanted ?? [];
  const remove = attached.filter(
    (id) => unwanted.some((u) => sameId(u, id)) && !wanted.some((w) => sameId(w, id)),
  );
  if (add.length === 0 && remove.length === 0) return undefined;
  const left = attached.filter((id) => !remove.includes(id)).length + add.filter((a) => !holds(a)).length;
  const system = facts.systemAssigned;
  const type: PatchedIdentityType =
    left > 0
      ? system
        ? 'SystemAssigned, UserAssigned'
        : 'UserAssigned'
      : system
        ? 'SystemAssigned'
        : 'None';
  return { type, add, remove };
}

export interface AttachPolicy extends ImdsPolicy {
  /** Our own update ended Failed: re-send identities the model lists (see planPatch). */
  readonly resendListed?: boolean;
  /** The app's own pull identities to detach (revocation), if attached. */
  readonly unwanted?: readonly string[];
  /**
   * Identities being put back after a re-bind's detach: adding them restores the identities the
   * target had, so the IMDS-default rule (asked before the detach) is not asked again.
   */
  readonly restore?: readonly string[];
}

export interface TargetView {
  readonly provisioningState?: string;
  readonly identity?: IdentityView;
}

export type AttachDecision =
  | { readonly action: 'nothing' }
  | { readonly action: 'defer'; readonly reason: string }
  | { readonly action: 'refuse'; readonly reason: string; readonly imdsDefault: ImdsDefault }
  | { readonly action: 'attach'; readonly patch: AttachPatch; readonly warning?: string }
  /** Only removals (the app's own identities). */
  | { readonly action: 'detach'; readonly patch: AttachPatch; readonly warning?: string };

/** The decision for a raw target view (see decide). */
export function decideAttach(
  target: TargetView,
  wanted: readonly string[],
  policy: AttachPolicy,
): AttachDecision {
  return decide(target.provisioningState, identityFacts(target.identity), wanted, policy);
}

/** The named decision for a target in this provisioning state holding these identities. */
export function decide(
  provisioningState: string | undefined,
  facts: IdentityFacts,
  wanted: readonly string[],
  policy: AttachPolicy,
): AttachDecision {
  const patch = planPatch(facts, wanted, {
    lastOperationFailed: policy.resendListed === true,
    ...(policy.unwanted ? { unwanted: policy.unwanted } : {}),
  });
  if (!isTerminal(provisioningState)) {
    // Attached already or not, the outcome is not known until the running operation ends.
    return {
      action: 'defer',
      reason: patch ? busyReason(provisioningState) : unfinishedReason(provisioningState),
    };
  }
  if (!patch) return { action: 'nothing' };
  const restoring =
    patch.remove.length === 0 && patch.add.every((id) => (policy.restore ?? []).some((r) => sameId(r, id)));
  const verdict = restoring ? ({ kind: 'allow' } as const) : imdsVerdict(facts, patch, policy);
  if (verdict.kind === 'refuse')
    return { action: 'refuse', reason: verdict.reason, imdsDefault: verdict.imdsDefault };
  return {
    action: patch.add.length === 0 ? 'detach' : 'attach',
    patch,
    ...(verdict.warning ? { warning: verdict.warning } : {}),
  };
}

export type RebindDecision =
  | { readonly action: 'defer'; readonly reason: string }
  | { readonly action: 'refuse'; readonly reason: string; readonly imdsDefault: ImdsDefault }
  /** The first of the two PATCHes: remove the stale entries (the second adds them back, see `restore`). */
  | { readonly action: 'detach'; readonly patch: AttachPatch; readonly warning?: string };

/**
 * Re-binding identities whose entries are stale: detach them, then attach them again (two PATCHes;
 * ARM cannot remove and add one key in one). Never while another operation runs; and the detach is
 * asked the IMDS-default rule, since for the seconds between the two an owner's identity could be
 * left as the only one.
 */
export function decideRebind(
  provisioningState: string | undefined,
  facts: IdentityFacts,
  stale: readonly string[],
  policy: ImdsPolicy,
): RebindDecision {
  if (!isTerminal(provisioningState)) return { action: 'defer', reason: busyReason(provisioningState) };
  const patch = planPatch(facts, [], { unwanted: stale }) ?? { type: 'None', add: [], remove: [] };
  const verdict = imdsVerdict(facts, patch, policy);
  if (verdict.kind === 'refuse')
    return { action: 'refuse', reason: verdict.reason, imdsDefault: verdict.imdsDefault };
  return { action: 'detach', patch, ...(verdict.warning ? { warning: verdict.warning } : {}) };
}
