// Observed VM identity + identities we want attached (and, with revocation on, the app's own pull
// identities we want gone) → the smallest PATCH that makes it so while keeping everything else the VM
// has. One plan for both directions. Pure.

export interface VmIdentityView {
  readonly type?: string;
  readonly userAssignedIdentities?: Readonly<Record<string, unknown>>;
}

export type PatchedIdentityType = 'UserAssigned' | 'SystemAssigned, UserAssigned' | 'SystemAssigned' | 'None';

export interface AttachPatch {
  /**
   * `type` is replaced by ARM, so it must keep a system-assigned identity the VM already has; with no
   * user-assigned identity left it is `SystemAssigned` or `None` (and the dictionary is not sent).
   */
  readonly type: PatchedIdentityType;
  /** Only the identities to add: ARM merges the dictionary and keeps keys we do not mention. */
  readonly add: readonly string[];
  /** Identities to remove (sent as `null`, which removes only that key). */
  readonly remove: readonly string[];
}

export function hasSystemAssigned(type: string | undefined): boolean {
  return (type ?? '')
    .toLowerCase()
    .split(',')
    .map((t) => t.trim())
    .includes('systemassigned');
}

export function attachedIdentityIds(identity: VmIdentityView | undefined): string[] {
  return Object.keys(identity?.userAssignedIdentities ?? {});
}

export function isAttached(identity: VmIdentityView | undefined, identityId: string): boolean {
  const wanted = identityId.toLowerCase();
  return attachedIdentityIds(identity).some((id) => id.toLowerCase() === wanted);
}

/**
 * undefined when every wanted identity is already attached and no unwanted one is: no write at all.
 * When the VM's last operation Failed, its model may list identities that never took effect, so they
 * are sent again (re-applying an attached identity is harmless; ARM merges it). An identity both
 * wanted and unwanted is wanted.
 */
export function planAttach(
  identity: VmIdentityView | undefined,
  wanted: readonly string[],
  options: { lastOperationFailed?: boolean; unwanted?: readonly string[] } = {},
): AttachPatch | undefined {
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  const add: string[] = [];
  for (const id of wanted) {
    const needed = options.lastOperationFailed === true || !isAttached(identity, id);
    if (needed && !add.some((a) => same(a, id))) add.push(id);
  }
  const attached = attachedIdentityIds(identity);
  const remove = attached.filter(
    (id) => (options.unwanted ?? []).some((u) => same(u, id)) && !wanted.some((w) => same(w, id)),
  );
  if (add.length === 0 && remove.length === 0) return undefined;
  const left =
    attached.filter((id) => !remove.includes(id)).length + add.filter((a) => !isAttached(identity, a)).length;
  const system = hasSystemAssigned(identity?.type);
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

// --- Deciding the attach -----------------------------------------------------------------------
// Named decisions (nothing / defer / refuse / attach) from what the VM reads now; the executor is a
// flat switch over them. Two rules protect what the VM's owner runs (shared/reference/azure-rest.md §11):
// - no write while an operation runs on the VM: Compute may accept the PATCH and preempt the owner's
//   deployment (Canceled / OperationPreempted);
// - the IMDS default identity is the owner's: a VM with no system-assigned identity and exactly one
//   user-assigned identity gives that identity to token requests without a client id; a second one
//   makes those requests fail.

/** ACRPULL_SINGLE_IDENTITY_VMS: leave single-identity VMs alone (keep), or attach with a warning. */
export type SingleIdentityVms = 'keep' | 'attach';

/** Compute's terminal provisioning states; anything else means an operation is running. */
export function isTerminal(provisioningState: string | undefined): boolean {
  const state = provisioningState?.toLowerCase();
  return state === 'succeeded' || state === 'failed';
}

export interface ImdsDefault {
  /** The identity IMDS gives token requests without a client id today. */
  readonly identityId: string;
  /** Whether it is one of the app's own pull identities (a tag going from `a` to `a,b`). */
  readonly isPullIdentity: boolean;
}

/**
 * The user-assigned identity that is the VM's IMDS default and that adding `add` would take away;
 * undefined when nothing changes for a caller without a client id (a system-assigned identity stays
 * the default; a VM with none or several user-assigned identities has no user-assigned default).
 */
export function imdsDefaultAtRisk(
  identity: VmIdentityView | undefined,
  add: readonly string[],
  isPullIdentity: (identityId: string) => boolean,
): ImdsDefault | undefined {
  if (hasSystemAssigned(identity?.type)) return undefined;
  const attached = attachedIdentityIds(identity);
  const only = attached[0];
  if (attached.length !== 1 || only === undefined) return undefined;
  const adds = add.some((id) => id.toLowerCase() !== only.toLowerCase());
  return adds ? { identityId: only, isPullIdentity: isPullIdentity(only) } : undefined;
}

export interface AttachPolicy {
  readonly singleIdentityVms: SingleIdentityVms;
  readonly isPullIdentity: (identityId: string) => boolean;
  /** Our own update ended Failed: re-send identities the model lists (see planAttach). */
  readonly resendListed?: boolean;
  /** The app's own pull identities to detach (revocation), if attached. */
  readonly unwanted?: readonly string[];
}

export interface VmView {
  readonly provisioningState?: string;
  readonly identity?: VmIdentityView;
}

export type AttachDecision =
  | { readonly action: 'nothing' }
  | { readonly action: 'defer'; readonly reason: string }
  | { readonly action: 'refuse'; readonly reason: string; readonly imdsDefault: ImdsDefault }
  | { readonly action: 'attach'; readonly patch: AttachPatch; readonly warning?: string }
  /** Only removals (the app's own identities). */
  | { readonly action: 'detach'; readonly patch: AttachPatch; readonly warning?: string };

export function decideAttach(vm: VmView, wanted: readonly string[], policy: AttachPolicy): AttachDecision {
  const patch = planAttach(vm.identity, wanted, {
    lastOperationFailed: policy.resendListed === true,
    ...(policy.unwanted ? { unwanted: policy.unwanted } : {}),
  });
  if (!isTerminal(vm.provisioningState)) {
    // Attached already or not, the outcome is not known until the running operation ends.
    return {
      action: 'defer',
      reason: patch
        ? busyReason(vm.provisioningState)
        : `the VM is ${vm.provisioningState ?? 'in an unknown state'}: the operation that attaches the identity has not finished`,
    };
  }
  if (!patch) return { action: 'nothing' };
  if (patch.add.length === 0) {
    // Taking the app's identity away can leave the owner's single user-assigned identity as the
    // IMDS default where there was none: token requests without a client id would start to succeed
    // as that identity. Not without the operator's consent (the same setting as for attaching).
    const becomes = imdsDefaultAfterRemoval(vm.identity, patch.remove, policy.isPullIdentity);
    if (!becomes) return { action: 'detach', patch };
    if (policy.singleIdentityVms === 'keep') {
      return {
        action: 'refuse',
        reason: detachDefaultReason(becomes),
        imdsDefault: { identityId: becomes, isPullIdentity: false },
      };
    }
    return { action: 'detach', patch, warning: detachDefaultWarning(becomes) };
  }
  const imdsDefault = imdsDefaultAtRisk(vm.identity, patch.add, policy.isPullIdentity);
  if (!imdsDefault) return { action: 'attach', patch };
  if (!imdsDefault.isPullIdentity && policy.singleIdentityVms === 'keep') {
    // Refusing the attach refuses the whole PATCH: removals wait until the VM can take it (its
    // identities are then what its owner set).
    return { action: 'refuse', reason: singleIdentityReason(imdsDefault.identityId), imdsDefault };
  }
  return { action: 'attach', patch, warning: imdsDefaultWarning(imdsDefault.identityId) };
}

export function busyReason(provisioningState: string | undefined): string {
  return `the VM is ${provisioningState ?? 'in an unknown state'}: another operation is running on it, and a write now could preempt it`;
}

const nameOf = (identityId: string) => identityId.split('/').pop() ?? identityId;

export function singleIdentityReason(identityId: string): string {
  return (
    `the VM has no system-assigned identity and exactly one user-assigned identity (${nameOf(identityId)}), ` +
    'which IMDS gives to every token request without a client id; attaching another identity would make ' +
    'those requests fail. Once its workloads name their identity (client_id, az login --identity ' +
    '--client-id), set ACRPULL_SINGLE_IDENTITY_VMS=attach to attach pull identities to such VMs'
  );
}

export function imdsDefaultWarning(identityId: string): string {
  return (
    `IMDS token requests without a client id now fail on this VM: its only identity was ${nameOf(identityId)} ` +
    '(user-assigned, no system-assigned identity), and it now has several; workloads must name the identity ' +
    'they use (client_id, az login --identity --client-id)'
  );
}

/**
 * What an identity attached to a scale set's model reaches, for the audit record and the operator.
 * Uniform: identities are tracked at the scale-set level, so every instance gets it without an
 * upgrade, whatever the upgrade policy (Microsoft staff in Azure/azure-cli#19813 and
 * Azure/aad-pod-identity#968; the CLI's "run update-instances" hint for Manual mode is not needed).
 * Flexible: members are VMs with identities of their own; whether a change to the scale set's
 * identity reaches existing members is not documented, so the app does not count on it: each member
 * is governed by its own tag.
 */
export function scaleSetReach(orchestrationMode: string | undefined): string {
  return orchestrationMode?.toLowerCase() === 'flexible'
    ? "attached to the Flexible scale set's model: existing member VMs are VMs of their own and get pull access through their own acrPull tag (tag them; the app never writes a member for its scale set's tag)"
    : 'attached to the scale set: identities are tracked at the scale-set level, so every instance has it without an upgrade or update-instances, whatever the upgrade policy';
}

/**
 * The owner's user-assigned identity that removing `remove` would leave as the only identity (no
 * system-assigned one) where the VM had several: it would become the IMDS default. Undefined when no
 * default appears, or when the one left is the app's own pull identity.
 */
export function imdsDefaultAfterRemoval(
  identity: VmIdentityView | undefined,
  remove: readonly string[],
  isPullIdentity: (identityId: string) => boolean,
): string | undefined {
  if (hasSystemAssigned(identity?.type)) return undefined;
  const attached = attachedIdentityIds(identity);
  const left = attached.filter((id) => !remove.some((r) => r.toLowerCase() === id.toLowerCase()));
  const only = left[0];
  if (left.length !== 1 || only === undefined || attached.length === 1) return undefined;
  return isPullIdentity(only) ? undefined : only;
}

export function detachDefaultReason(identityId: string): string {
  return (
    `detaching the app's pull identity would leave ${nameOf(identityId)} as the VM's only identity, and IMDS ` +
    'would then give it to every token request without a client id (today such requests fail); left ' +
    'attached. Set ACRPULL_SINGLE_IDENTITY_VMS=attach to let the app change IMDS defaults, or detach it by hand'
  );
}

export function detachDefaultWarning(identityId: string): string {
  return `IMDS token requests without a client id now get ${nameOf(identityId)} on this VM: it is its only identity`;
}
