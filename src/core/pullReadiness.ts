// Pull readiness: whether a target that holds the pull identity and its grant can actually pull, as
// far as the registry resource and the grant's age tell. A grant is not a pull: a registry that takes
// no public traffic and has no approved private endpoint, or whose firewall admits nobody, refuses
// every pull (Learn: container-registry-troubleshoot-access, container-registry-private-link,
// container-registry-access-selected-networks); a new grant takes up to 10 minutes to reach the
// registry (Learn: container-registry-troubleshoot-login, role assignment propagation). A VM's own
// network path is the doctor's to check (it reads NICs, VNets and DNS), not the sweep's. Pure.

/** What the registry resource says about who can reach it and with which token. */
export interface RegistryAccess {
  readonly sku?: string;
  /** 'Enabled' | 'Disabled'. */
  readonly publicNetworkAccess?: string;
  /** networkRuleSet.defaultAction (Premium only): 'Allow' | 'Deny'. */
  readonly firewallDefaultAction?: string;
  /** networkRuleSet.ipRules[].value. */
  readonly ipRules: readonly string[];
  /** networkRuleBypassOptions: 'AzureServices' | 'None'. */
  readonly bypassOptions?: string;
  /** Private endpoints whose connection is Approved (ids). */
  readonly approvedPrivateEndpoints: readonly string[];
  /** policies.azureADAuthenticationAsArmPolicy.status: 'enabled' | 'disabled'. */
  readonly armAudienceTokens?: string;
  readonly anonymousPullEnabled?: boolean;
  readonly dataEndpointEnabled?: boolean;
  readonly roleAssignmentMode?: string;
}

export type PullReady = 'yes' | 'no' | 'pending' | 'unknown';

/** Stable codes: queries, alerts and the docs page key on them. */
export type BlockerCode =
  | 'public-access-disabled'
  | 'firewall-denies-all'
  | 'network-path-unverified'
  | 'arm-audience-disabled'
  | 'grant-propagating';

/**
 * blocks: no pull can succeed; depends: it depends on the VM's network (the doctor checks it);
 * limits: some clients fail (those that ask for an ARM-audience token), others pull.
 */
export type BlockerEffect = 'blocks' | 'depends' | 'limits' | 'waits';

export interface Blocker {
  readonly code: BlockerCode;
  readonly effect: BlockerEffect;
  /** One line: what is wrong. */
  readonly message: string;
  /** What to do, as a command where one exists. */
  readonly fix: string;
}

export interface Readiness {
  readonly pullReady: PullReady;
  /** What blocks or may block the pull, or holds it back for now (grant propagation). */
  readonly blockers: readonly Blocker[];
  /** What limits some clients without blocking the pull (ARM-audience tokens refused). */
  readonly notes: readonly Blocker[];
}

/** How long a new pull grant may take to reach the registry. */
export const GRANT_PROPAGATION_MS = 10 * 60_000;

/** The registry's own settings that block or limit pulls, whatever the VM. */
export function registryBlockers(registryName: string, access: RegistryAccess): Blocker[] {
  const found: Blocker[] = [];
  const approved = access.approvedPrivateEndpoints.length;
  const publicOff = (access.publicNetworkAccess ?? 'Enabled').toLowerCase() === 'disabled';
  // Firewall rules are a Premium feature: a Basic or Standard registry admits every network
  // (Learn: container-registry-access-selected-networks, container-registry-skus).
  const premium = (access.sku ?? 'Premium').toLowerCase() === 'premium';
  const denyByDefault = premium && (access.firewallDefaultAction ?? 'Allow').toLowerCase() === 'deny';
  if (publicOff && approved === 0) {
    found.push({
      code: 'public-access-disabled',
      effect: 'blocks',
      message: `${registryName} takes no public traffic and has no approved private endpoint, so no VM can reach it`,
      fix: `az network private-endpoint create --group-id registry --private-connection-resource-id <registry id> … (or az acr update -n ${registryName} --public-network-enabled true)`,
    });
  } else if (!publicOff && denyByDefault && access.ipRules.length === 0 && approved === 0) {
    found.push({
      code: 'firewall-denies-all',
      effect: 'blocks',
      message: `${registryName}'s firewall denies by default, with no IP rule and no approved private endpoint`,
      fix: `az acr network-rule add -n ${registryName} --ip-address <the VM's egress IP>`,
    });
  } else if (publicOff || denyByDefault) {
    found.push({
      code: 'network-path-unverified',
      effect: 'depends',
      message: publicOff
        ? `${registryName} is reachable only through its private endpoints: a VM pulls only from a VNet with a path to one`
        : `${registryName}'s firewall admits only its IP rules and private endpoints`,
      fix: 'acrpull-autopilot doctor <target> checks the VM’s network path',
    });
  }
  if ((access.armAudienceTokens ?? 'enabled').toLowerCase() === 'disabled') {
    found.push({
      code: 'arm-audience-disabled',
      effect: 'limits',
      message: `${registryName} refuses ARM-audience tokens: clients that exchange one (older az versions in some setups, scripts using resource=https://management.azure.com/) get 401`,
      fix: 'ask IMDS for resource=https://containerregistry.azure.net (az acr login does when it can read the registry policy)',
    });
  }
  return found;
}

/**
 * The target's readiness for one registry: `unknown` when the registry was not read; `no` when the
 * registry blocks every pull; `unknown` when it depends on the VM's network; `pending` while the grant
 * is younger than GRANT_PROPAGATION_MS; else `yes`. A grant whose age is not known (ARM did not say,
 * or this instance did not read it lately) counts as settled.
 */
export function pullReadiness(
  registryName: string,
  access: RegistryAccess | undefined,
  grant: { readonly createdOn?: string } | undefined,
  nowMs: number,
): Readiness {
  if (!access) return { pullReady: 'unknown', blockers: [], notes: [] };
  const all = registryBlockers(registryName, access);
  const blockers = all.filter((b) => b.effect !== 'limits');
  const notes = all.filter((b) => b.effect === 'limits');
  if (blockers.some((b) => b.effect === 'blocks')) return { pullReady: 'no', blockers, notes };
  const created = grant?.createdOn ? Date.parse(grant.createdOn) : Number.NaN;
  const young = Number.isFinite(created) && nowMs - created < GRANT_PROPAGATION_MS;
  const waits: Blocker[] = young
    ? [
        {
          code: 'grant-propagating',
          effect: 'waits',
          message: `the pull grant was made ${Math.max(0, Math.round((nowMs - created) / 60_000))} min ago; role assignments take up to 10 minutes to reach the registry`,
          fix: `wait until ${new Date(created + GRANT_PROPAGATION_MS).toISOString()}; nothing to change`,
        },
      ]
    : [];
  if (blockers.length > 0) return { pullReady: 'unknown', blockers: [...blockers, ...waits], notes };
  return { pullReady: young ? 'pending' : 'yes', blockers: waits, notes };
}

const RANK: Readonly<Record<PullReady, number>> = { yes: 0, pending: 1, unknown: 2, no: 3 };

/** The worse of two readiness answers (a target naming several registries is as ready as its worst). */
export function worseReadiness(a: PullReady, b: PullReady): PullReady {
  return RANK[b] > RANK[a] ? b : a;
}

/** Record fields: `pullReady`, and the codes (comma-separated) of blockers and notes. */
export function readinessFields(r: Readiness): {
  pullReady: PullReady;
  blockers?: string;
  pullNotes?: string;
} {
  return {
    pullReady: r.pullReady,
    ...(r.blockers.length ? { blockers: r.blockers.map((b) => b.code).join(',') } : {}),
    ...(r.notes.length ? { pullNotes: r.notes.map((b) => b.code).join(',') } : {}),
  };
}
