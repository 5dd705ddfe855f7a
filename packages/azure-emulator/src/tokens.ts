// Access tokens: JWTs signed with a secret that lives only in this process, so ARM accepts exactly the
// tokens this emulator issued, and checks expiry and audience like ARM does.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Caller } from './caller';
import {
  ALLOWED_AUDIENCES,
  authenticationHeaderInvalid,
  authenticationHeaderMissing,
  expiredAuthenticationToken,
  invalidAuthenticationToken,
  invalidTokenAudience,
} from './errors';

export interface TokenClaims {
  aud: string;
  iss: string;
  iat: number;
  nbf: number;
  exp: number;
  oid: string;
  sub: string;
  tid: string;
  appid: string;
  idtyp: 'app';
  xms_mirid?: string;
  /**
   * Emulator-only: the VM (or scale set) whose IMDS issued the token. Loopback has no VNets and no
   * source IPs, so the registry data plane reads the caller's network position from this claim
   * (see registry/network.ts). Entra ID issues no such claim.
   */
  xms_emu_vm?: string;
}

export interface TokenRequest {
  audience: string;
  objectId: string;
  clientId: string;
  /**
   * The managed identity's resource id (`xms_mirid`: the identity for a user-assigned one, the
   * hosting resource for a system-assigned one). Absent: an application's token, not a managed
   * identity's.
   */
  resourceId?: string;
  lifetimeSeconds?: number;
  /** Emulator-only: the VM whose IMDS issues the token (claim `xms_emu_vm`). */
  vmId?: string;
}

const base64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/**
 * One signing key per process, not per emulator: MSAL caches managed-identity tokens process-wide,
 * and a token fetched from one emulator instance must stay valid for the next one — as a cached
 * token stays valid in Azure until it expires.
 */
const SIGNING_KEY = randomBytes(32);

export class TokenAuthority {
  private readonly secret = SIGNING_KEY;

  constructor(readonly tenantId: string) {}

  issue(request: TokenRequest): { token: string; expiresOn: number } {
    const now = Math.floor(Date.now() / 1000);
    const expiresOn = now + (request.lifetimeSeconds ?? 24 * 3600);
    const claims: TokenClaims = {
      aud: request.audience,
      iss: `https://sts.windows.net/${this.tenantId}/`,
      iat: now,
      nbf: now,
      exp: expiresOn,
      oid: request.objectId,
      sub: request.objectId,
      tid: this.tenantId,
      appid: request.clientId,
      idtyp: 'app',
      ...(request.resourceId ? { xms_mirid: request.resourceId } : {}),
      ...(request.vmId ? { xms_emu_vm: request.vmId } : {}),
    };
    const unsigned = `${base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${base64url(JSON.stringify(claims))}`;
    return { token: `${unsigned}.${this.sign(unsigned)}`, expiresOn };
  }

  /** The claims of a token this authority signed, or undefined for anything else. */
  verify(token: string): TokenClaims | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const expected = Buffer.from(this.sign(`${parts[0]}.${parts[1]}`));
    const given = Buffer.from(parts[2] ?? '');
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    try {
      return JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      return undefined;
    }
  }

  /** ARM's checks on the Authorization header; throws the ArmError ARM would answer with. */
  authenticate(header: string | undefined): Caller {
    if (header === undefined || header === '') throw authenticationHeaderMissing();
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) throw authenticationHeaderInvalid();
    const claims = this.verify(match[1]);
    if (!claims) throw invalidAuthenticationToken();
    const now = new Date();
    if (claims.exp * 1000 <= now.getTime())
      throw expiredAuthenticationToken(new Date(claims.exp * 1000), now);
    if (!ALLOWED_AUDIENCES.includes(claims.aud)) throw invalidTokenAudience(claims.aud);
    return {
      objectId: claims.oid,
      tenantId: claims.tid,
      clientId: claims.appid,
      managedIdentity: claims.xms_mirid !== undefined,
    };
  }

  /**
   * The claims of a bearer token for `audience` (with or without a trailing slash) that this authority
   * signed and that has not expired; undefined for anything else.
   */
  verifyBearer(header: string | undefined, audience: string): TokenClaims | undefined {
    const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
    const claims = match?.[1] ? this.verify(match[1]) : undefined;
    if (!claims || claims.exp * 1000 <= Date.now()) return undefined;
    return claims.aud.replace(/\/+$/, '') === audience.replace(/\/+$/, '') ? claims : undefined;
  }

  /**
   * A JWT with these claims, signed like the Entra tokens: the registry data plane's own refresh and
   * access tokens (which Entra ID does not issue, ACR does) use it.
   */
  signClaims(claims: object): string {
    const unsigned = `${base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${base64url(JSON.stringify(claims))}`;
    return `${unsigned}.${this.sign(unsigned)}`;
  }

  /** The claims of a JWT signClaims() made (signature checked only; the caller checks the rest). */
  verifyClaims(token: string): Record<string, unknown> | undefined {
    return this.verify(token) as unknown as Record<string, unknown> | undefined;
  }

  private sign(unsigned: string): string {
    return createHmac('sha256', this.secret).update(unsigned).digest('base64url');
  }
}
