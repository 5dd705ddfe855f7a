// The resource kinds the app acts on ("targets"), declared once: a new kind is one file beside
// these and one line in TARGET_KINDS. Ids, events and queries ask this list. Pure.
import { parseTypedResourceId, type ResourceRef } from '../core/resourceId';
import type { TargetKind, TargetKindName } from './kind';
import { SCALE_SET } from './scaleSet';
import { VIRTUAL_MACHINE } from './virtualMachine';

export type { IdentityModel, TargetKind, TargetKindName } from './kind';

export const TARGET_KINDS: readonly TargetKind[] = [VIRTUAL_MACHINE, SCALE_SET];

/** A target's id, parsed and normalised, with its kind and ARM type. */
export interface TargetRef extends ResourceRef {
  readonly kind: TargetKindName;
  readonly type: string;
}

export function targetKind(name: TargetKindName): TargetKind {
  const kind = TARGET_KINDS.find((k) => k.name === name);
  if (!kind) throw new Error(`unknown target kind ${name}`);
  return kind;
}

/** The id of a resource of one of the target kinds (or of the one kind given), else undefined. */
export function parseTargetId(id: string, only?: TargetKindName): TargetRef | undefined {
  for (const kind of TARGET_KINDS) {
    if (only && kind.name !== only) continue;
    const ref = parseTypedResourceId(id, kind.armType);
    if (ref) return { ...ref, kind: kind.name, type: kind.armType };
  }
  return undefined;
}

const TAGS_SCOPE_SUFFIX = /\/providers\/Microsoft\.Resources\/tags\/default$/i;

/**
 * A `Microsoft.Resources/tags/write` event carries `<id>/providers/Microsoft.Resources/tags/default`
 * for the resource whose tags were written; the target's id, else undefined.
 */
export function targetIdFromTagsScope(id: string): string | undefined {
  if (!TAGS_SCOPE_SUFFIX.test(id)) return undefined;
  return parseTargetId(id.replace(TAGS_SCOPE_SUFFIX, ''))?.id;
}

/** The kind whose write operation (Event Grid `data.operationName`) this is, case-insensitively. */
export function kindByWriteOperation(operationName: string): TargetKind | undefined {
  const op = operationName.toLowerCase();
  return TARGET_KINDS.find((k) => k.writeOperation.toLowerCase() === op);
}

/** Resource Graph's `type in~ (...)` list of every target kind. */
export function resourceGraphTypes(): string {
  return TARGET_KINDS.map((k) => `'${k.resourceGraphType}'`).join(', ');
}
