// Which Azure regions pull identities may be made for (ACRPULL_REGIONS): a cap on where a tag can make
// the app create identities and grants. Empty allows every region. Pure.
import { normalizeRegion } from './names';

/** Whether a target in `region` may be given pull access (regions: normalized, empty = all). */
export function regionAllowed(regions: readonly string[], region: string): boolean {
  return regions.length === 0 || regions.includes(normalizeRegion(region));
}

/** Why a target in another region is refused, with what to change. */
export function regionDeniedReason(regions: readonly string[], region: string, registry: string): string {
  return (
    `the target is in ${normalizeRegion(region)}, which ACRPULL_REGIONS (${regions.join(', ')}) does not ` +
    `list: no pull identity for ${registry} is made or attached there; add the region to ACRPULL_REGIONS ` +
    'to allow it'
  );
}
