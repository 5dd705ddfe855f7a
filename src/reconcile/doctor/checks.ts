// The doctor's checklist: each check's shape, the order, and how the verdict follows from them. Pure.

export type CheckStatus = 'pass' | 'fail' | 'warn' | 'skipped';

export type CheckId =
  | 'target'
  | 'tag'
  | 'allowlist'
  | 'platform'
  | 'registry'
  | 'registry-network'
  | 'registry-audience'
  | 'identity'
  | 'binding'
  | 'identity-roles'
  | 'attached'
  | 'imds'
  | 'grant'
  | 'grant-age'
  | 'network-path'
  | 'audit';

/** The order the checklist is printed in. */
export const CHECK_ORDER: readonly CheckId[] = [
  'target',
  'tag',
  'allowlist',
  'platform',
  'registry',
  'registry-network',
  'registry-audience',
  'identity',
  'binding',
  'identity-roles',
  'attached',
  'imds',
  'grant',
  'grant-age',
  'network-path',
  'audit',
];

export interface Check {
  readonly id: CheckId;
  readonly status: CheckStatus;
  readonly detail: string;
  readonly evidence?: readonly string[];
  readonly fix?: string;
  /**
   * Something that could stop the pull was not decided (a read failed, a condition may match no
   * repository, the network path of a private registry was not checked): the verdict is then
   * `unknown` unless another check fails.
   */
  readonly undecided?: boolean;
  /**
   * A failure that says the app will not make or keep the access (no tag, not allowed, a managed
   * resource group, an identity it would refuse), not that the pull fails now: it does not decide the
   * verdict once the target holds the identity (it pulls whatever its tag says).
   */
  readonly appOnly?: boolean;
}

/** Checks whose failures are about what the app will do, never about the pull itself. */
const APP_CHECKS: ReadonlySet<CheckId> = new Set(['tag', 'allowlist', 'platform', 'identity-roles', 'audit']);

export type Verdict = 'can-pull' | 'cannot-pull' | 'unknown';

/** cannot-pull when a check fails; unknown when something that could block was not decided; else can-pull. */
export function verdictOf(checks: readonly Check[]): Verdict {
  // What the app will not do decides nothing for a target that already holds the identity.
  const holds = checks.some((c) => c.id === 'attached' && c.status === 'pass');
  const decides = (c: Check) => c.status === 'fail' && !(holds && (c.appOnly || APP_CHECKS.has(c.id)));
  if (checks.some(decides)) return 'cannot-pull';
  if (checks.some((c) => c.undecided === true)) return 'unknown';
  return 'can-pull';
}

/** 0 can-pull, 1 cannot-pull, 2 unknown. */
export function exitCodeOf(verdict: Verdict): number {
  return verdict === 'can-pull' ? 0 : verdict === 'cannot-pull' ? 1 : 2;
}

export function pass(id: CheckId, detail: string, evidence?: readonly string[]): Check {
  return { id, status: 'pass', detail, ...(evidence?.length ? { evidence } : {}) };
}

export function fail(
  id: CheckId,
  detail: string,
  fix: string | undefined,
  evidence?: readonly string[],
): Check {
  return { id, status: 'fail', detail, ...(fix ? { fix } : {}), ...(evidence?.length ? { evidence } : {}) };
}

export function warn(
  id: CheckId,
  detail: string,
  fix?: string,
  options: { evidence?: readonly string[]; undecided?: boolean } = {},
): Check {
  return {
    id,
    status: 'warn',
    detail,
    ...(fix ? { fix } : {}),
    ...(options.evidence?.length ? { evidence: options.evidence } : {}),
    ...(options.undecided ? { undecided: true } : {}),
  };
}

/** A check not made because one it depends on failed (or had nothing to work from). */
export function skipped(id: CheckId, why: string, options: { undecided?: boolean } = {}): Check {
  return { id, status: 'skipped', detail: why, ...(options.undecided ? { undecided: true } : {}) };
}

/** A read that failed: the check is undecided, not failed (the VM may well pull). */
export function unreadable(id: CheckId, what: string, error: string): Check {
  return warn(
    id,
    `could not read ${what}: ${error}`,
    'check that your credential can read it, then run the doctor again',
    {
      undecided: true,
    },
  );
}
