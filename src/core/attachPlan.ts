// Observed VM identity + identities we want attached → the smallest PATCH that attaches them while
// keeping everything the VM already has. Pure.

export interface VmIdentityView {
  readonly type?: string;
  readonly userAssignedIdentities?: Readonly<Record<string, unknown>>;
}

export interface AttachPatch {
  /** `type` is replaced by ARM, so it must keep a system-assigned identity the VM already has. */
  readonly type: 'UserAssigned' | 'SystemAssigned, UserAssigned';
  /** Only the identities to add: ARM merges the dictionary and keeps keys we do not mention. */
  readonly add: readonly string[];
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
 * undefined when every wanted identity is already attached: no write at all. When the VM's last
 * operation Failed, its model may list identities that never took effect, so they are sent again
 * (re-applying an attached identity is harmless; ARM merges it).
 */
export function planAttach(
  identity: VmIdentityView | undefined,
  wanted: readonly string[],
  options: { lastOperationFailed?: boolean } = {},
): AttachPatch | undefined {
  const add: string[] = [];
  for (const id of wanted) {
    const needed = options.lastOperationFailed === true || !isAttached(identity, id);
    if (needed && !add.some((a) => a.toLowerCase() === id.toLowerCase())) add.push(id);
  }
  if (add.length === 0) return undefined;
  return { type: hasSystemAssigned(identity?.type) ? 'SystemAssigned, UserAssigned' : 'UserAssigned', add };
}
