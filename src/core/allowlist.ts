// The operator's allowlist of registries. A VM tag is written by whoever can write the VM, so without
// this check tagging would hand out pull rights on any registry the app can see.
import { isAtOrBelow, parseRegistryId, sameId } from './resourceId';

export type AllowRule =
  | { readonly kind: 'all' }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'registryId'; readonly id: string }
  | { readonly kind: 'scope'; readonly scope: string };

const REGISTRY_NAME = /^[a-zA-Z0-9]{5,50}$/;
const SUBSCRIPTION_SCOPE = /^\/subscriptions\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RG_SCOPE =
  /^\/subscriptions\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\/resourceGroups\/[-\w.()]{0,89}[-\w()]$/i;

/** Parses `ACRPULL_ALLOWED_REGISTRIES`; throws with the offending entry so settings can name the variable. */
export function parseAllowlist(value: string): AllowRule[] {
  const entries = value.split(/[\s,;]+/).filter(Boolean);
  return entries.map((entry): AllowRule => {
    if (entry === '*') return { kind: 'all' };
    if (REGISTRY_NAME.test(entry)) return { kind: 'name', name: entry.toLowerCase() };
    const registry = parseRegistryId(entry);
    if (registry) return { kind: 'registryId', id: registry.id };
    if ((SUBSCRIPTION_SCOPE.test(entry) || RG_SCOPE.test(entry)) && !entry.includes('..')) {
      return { kind: 'scope', scope: entry };
    }
    throw new Error(
      `entry ${JSON.stringify(entry)} is not a registry name, a registry resource id, a scope (/subscriptions/<id>[/resourceGroups/<rg>]) or *`,
    );
  });
}

/**
 * Decides for a registry whose ARM id is known. The id must come from ARM (a resolved registry),
 * never straight from a tag, so that a tag cannot claim to live under an allowed scope.
 */
export function isRegistryAllowed(
  registry: { name: string; id: string },
  rules: readonly AllowRule[],
): boolean {
  return rules.some((rule) => {
    switch (rule.kind) {
      case 'all':
        return true;
      case 'name':
        return registry.name.toLowerCase() === rule.name;
      case 'registryId':
        return sameId(registry.id, rule.id);
      case 'scope':
        return isAtOrBelow(registry.id, rule.scope);
      default:
        return false;
    }
  });
}

/**
 * What the registry name alone says. Registry names are globally unique, so a name rule (or `*`)
 * decides without reading ARM; id and scope rules need the registry's real id ('needs-id').
 */
export function decideByName(name: string, rules: readonly AllowRule[]): 'allowed' | 'denied' | 'needs-id' {
  const lower = name.toLowerCase();
  if (rules.some((rule) => rule.kind === 'all' || (rule.kind === 'name' && rule.name === lower)))
    return 'allowed';
  return rules.some((rule) => rule.kind === 'registryId' || rule.kind === 'scope') ? 'needs-id' : 'denied';
}
