// The identity semantics of a VM PATCH (api >= 2018-06-01), as a pure function:
// - `type` is REPLACED: UserAssigned drops a system identity, SystemAssigned drops all user-assigned
//   ones, None drops everything;
// - the `userAssignedIdentities` dictionary is MERGED: a new key adds, a null value removes only that
//   key, unmentioned keys stay. Keys compare case-insensitively.
import { requireObject } from '../armHttp';
import {
  identityNotFound,
  invalidParameter,
  invalidRequestContent,
  missingIdentityIds,
  requiredParameterMissing,
} from '../errors';
import type { AttachedIdentity, IdentityRecord, VmIdentity, VmIdentityType } from '../store';

export interface IdentityPatchContext {
  vmId: string;
  tenantId: string;
  resolveIdentity(id: string): IdentityRecord | undefined;
  newSystemPrincipal(): string;
}

interface ParsedType {
  system: boolean;
  user: boolean;
}

function parseType(value: unknown): ParsedType {
  if (value === undefined || value === null) throw requiredParameterMissing('identity.type');
  const parts =
    typeof value === 'string' ? value.split(',').map((p) => p.trim().toLowerCase()) : [String(value)];
  const known = ['systemassigned', 'userassigned'];
  const valid =
    (parts.length === 1 && (parts[0] === 'none' || known.includes(parts[0] ?? ''))) ||
    (parts.length === 2 && parts.includes('systemassigned') && parts.includes('userassigned'));
  if (!valid) {
    throw invalidParameter(
      `The value '${String(value)}' of parameter 'identity.type' is invalid.`,
      'identity.type',
    );
  }
  return { system: parts.includes('systemassigned'), user: parts.includes('userassigned') };
}

function typeName(t: ParsedType): VmIdentityType {
  if (t.system && t.user) return 'SystemAssigned, UserAssigned';
  return t.system ? 'SystemAssigned' : 'UserAssigned';
}

function readDictionary(value: unknown): [string, unknown][] {
  if (value === undefined || value === null) return [];
  const entries = Object.entries(requireObject(value, 'identity.userAssignedIdentities'));
  for (const [key, entry] of entries) {
    if (entry !== null && (typeof entry !== 'object' || Array.isArray(entry))) {
      throw invalidRequestContent(`userAssignedIdentities['${key}'] must be an object or null`);
    }
  }
  return entries;
}

function withoutKey(map: Record<string, AttachedIdentity>, key: string): Record<string, AttachedIdentity> {
  return Object.fromEntries(Object.entries(map).filter(([k]) => k.toLowerCase() !== key.toLowerCase()));
}

/** The VM's identity after the PATCH, or undefined for none. Throws the ArmError Compute answers with. */
export function applyIdentityPatch(
  current: VmIdentity | undefined,
  patchValue: unknown,
  ctx: IdentityPatchContext,
): VmIdentity | undefined {
  const patch = requireObject(patchValue, 'identity');
  const type = parseType(patch.type);
  const entries = readDictionary(patch.userAssignedIdentities);
  const additions = entries.filter(([, v]) => v !== null).map(([k]) => k);
  const removals = entries.filter(([, v]) => v === null).map(([k]) => k);

  if (!type.user && additions.length > 0) {
    throw invalidParameter(
      `ResourceIdentity identityIds should not be provided if the type is "${String(patch.type)}".`,
      'resourceIdentity.identityIds',
    );
  }
  if (!type.system && !type.user) return undefined;

  const keepsUser = current?.type.includes('UserAssigned') ?? false;
  let attached: Record<string, AttachedIdentity> =
    type.user && keepsUser ? { ...current?.userAssignedIdentities } : {};
  for (const key of removals) attached = withoutKey(attached, key);
  for (const key of additions) {
    const identity = ctx.resolveIdentity(key);
    if (!identity) throw identityNotFound(ctx.vmId, key);
    // Naming an identity the VM already holds changes nothing: the entry keeps the principal it was
    // bound to. After an identity is deleted and re-created under the same name (a new principal),
    // only removing it and assigning it again binds the new one (Learn:
    // how-manage-user-assigned-managed-identities; Azure/aad-pod-identity known issues).
    const held = Object.entries(attached).find(([k]) => k.toLowerCase() === key.toLowerCase());
    if (held) continue;
    attached[identity.id] = { principalId: identity.principalId, clientId: identity.clientId };
  }
  if (type.user && Object.keys(attached).length === 0) throw missingIdentityIds();

  const keptSystemPrincipal = current?.type.includes('SystemAssigned') ? current.principalId : undefined;
  return {
    type: typeName(type),
    ...(type.system
      ? {
          principalId: keptSystemPrincipal ?? ctx.newSystemPrincipal(),
          tenantId: current?.tenantId ?? ctx.tenantId,
        }
      : {}),
    userAssignedIdentities: attached,
  };
}
