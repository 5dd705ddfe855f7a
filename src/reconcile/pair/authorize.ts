// Which registry a tag names, and whether the operator allows it: reads only (the registry's id comes
// from ARM, never from the tag, before the allowlist is asked).
import type { ResolveOptions } from '../../azure/containerRegistries';
import { type RetryEnvironment, withRetry } from '../../azure/retry';
import { decideByName, isRegistryAllowed } from '../../core/allowlist';
import { loginServerMatches, loginServerRefusal, quote, type RegistryRef } from '../../core/tag';
import type { ReconcileDeps } from '../deps';
import type { RegistryAuthorization } from './decision';

/** Where a tag's registry name is looked for: the target's subscription and the configured ones. */
export function registrySearchScope(deps: ReconcileDeps, targetSubscriptionId: string): string[] {
  return [targetSubscriptionId, ...deps.settings.registrySubscriptions];
}

/** Find the registry a tag names and check it against the allowlist, using the id ARM returns. */
export async function authorizeRegistry(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  ref: RegistryRef,
  searchIn: readonly string[],
  options: ResolveOptions = {},
): Promise<RegistryAuthorization> {
  // Another cloud's login server is not this cloud's registry of that name: refused without a request.
  const otherCloud = loginServerRefusal(ref, deps.settings.registrySuffix);
  if (otherCloud) return { status: 'rejected', action: 'tag-invalid', reason: otherCloud };
  if (decideByName(ref.name, deps.settings.allowedRegistries) === 'denied') {
    // Names are globally unique: no rule can allow this one, so no ARM request is needed to refuse it.
    return { status: 'rejected', action: 'registry-denied', reason: deniedReason(deps) };
  }
  try {
    const resolution = await withRetry('find registry', retryEnv, (signal) =>
      deps.registries.resolve(ref, searchIn, { ...options, abortSignal: signal }),
    );
    if (!resolution.found) {
      return {
        status: 'rejected',
        action: 'tag-invalid',
        reason: `registry ${JSON.stringify(ref.text)} was not found in ${resolution.searched.join(', ')}`,
      };
    }
    const registry = resolution.registry;
    if (!loginServerMatches(ref, registry.loginServer)) {
      return {
        status: 'rejected',
        action: 'tag-invalid',
        reason: `registry ${quote(ref.text)} was not found: the registry named ${registry.name} has the login server ${quote(registry.loginServer)}`,
      };
    }
    if (!isRegistryAllowed(registry, deps.settings.allowedRegistries)) {
      return { status: 'rejected', action: 'registry-denied', registry, reason: deniedReason(deps) };
    }
    return { status: 'allowed', registry };
  } catch (error) {
    return { status: 'failed', error };
  }
}

/**
 * Whether an attached registry is still allowed (never one named by another cloud's login server). By
 * name when the allowlist decides by name (names are globally unique), else by the id ARM returns for
 * it (possibly from a recent resolution: this path writes nothing). Never by an id the tag claims.
 */
export async function stillAllowed(
  deps: ReconcileDeps,
  retryEnv: RetryEnvironment,
  targetSubscriptionId: string,
  ref: RegistryRef,
): Promise<boolean> {
  if (loginServerRefusal(ref, deps.settings.registrySuffix)) return false;
  const rules = deps.settings.allowedRegistries;
  const byName = decideByName(ref.name, rules);
  if (byName !== 'needs-id') return byName === 'allowed';
  const searchIn = registrySearchScope(deps, targetSubscriptionId);
  const resolution = await withRetry('find registry', retryEnv, (signal) =>
    deps.registries.resolve(ref, searchIn, { allowCached: true, abortSignal: signal }),
  );
  return (
    resolution.found &&
    loginServerMatches(ref, resolution.registry.loginServer) &&
    isRegistryAllowed(resolution.registry, rules)
  );
}

function deniedReason(deps: ReconcileDeps): string {
  return deps.settings.allowlistUnset
    ? 'ACRPULL_ALLOWED_REGISTRIES is not set, so every registry is denied'
    : 'the registry is not in ACRPULL_ALLOWED_REGISTRIES';
}
