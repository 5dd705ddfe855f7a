// Proof of ownership from ARM's systemData, and what counts as more than pull. Pure.
import { excessAssignments } from '../../../src/core/excessRoles';
import {
  CREATED_AT_SKEW_MS,
  isSelf,
  ownershipOf,
  principalFromToken,
  selfCreatedAt,
} from '../../../src/core/ownership';
import { ACR_PULL_ROLE, REPOSITORY_READER_ROLE } from '../../../src/core/roles';

const self = {
  objectId: 'aaaaaaaa-0000-4000-8000-000000000001',
  clientId: 'cccccccc-0000-4000-8000-000000000001',
};
const id =
  '/subscriptions/s/resourceGroups/rg-identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-acrpull-x-eastus';

describe('ownershipOf', () => {
  it('owns what ARM says the app created, by client id or object id, in any case', () => {
    expect(
      ownershipOf({ id, createdBy: self.clientId.toUpperCase(), createdByType: 'ManagedIdentity' }, self, []),
    ).toEqual({ owned: true, by: 'self' });
    expect(ownershipOf({ id, createdBy: self.objectId, createdByType: 'Application' }, self, [])).toEqual({
      owned: true,
      by: 'self',
    });
  });

  it('owns what a trusted creator made', () => {
    expect(
      ownershipOf({ id, createdBy: 'Ops@Contoso.com', createdByType: 'User' }, self, ['ops@contoso.com']),
    ).toEqual({ owned: true, by: 'trusted' });
  });

  it('refuses anyone else, and an identity ARM gave no systemData for, naming the creator', () => {
    const other = ownershipOf({ id, createdBy: 'mallory@contoso.com', createdByType: 'User' }, self, [
      'ops@contoso.com',
    ]);
    expect(other).toMatchObject({ owned: false, creator: 'mallory@contoso.com (User)' });
    expect(ownershipOf({ id }, self, [])).toMatchObject({
      owned: false,
      creator: expect.stringContaining('no systemData'),
    });
    // An app that cannot say who it is proves nothing.
    expect(ownershipOf({ id, createdBy: self.clientId }, {}, [])).toMatchObject({ owned: false });
    expect(ownershipOf({ id, createdBy: '' }, { clientId: '' }, [])).toMatchObject({ owned: false });
  });
});

describe('isSelf', () => {
  it('matches the app identity by principal, client or resource id', () => {
    expect(isSelf({ id: 'x', principalId: self.objectId }, self)).toBe(true);
    expect(isSelf({ id: 'x', clientId: self.clientId }, self)).toBe(true);
    expect(isSelf({ id: id.toLowerCase() }, { resourceId: id })).toBe(true);
    expect(isSelf({ id, principalId: 'p', clientId: 'c' }, self)).toBe(false);
  });
});

describe('principalFromToken', () => {
  const jwt = (claims: object) => `h.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.s`;
  it('reads oid, appid (v1) or azp (v2), and xms_mirid', () => {
    expect(principalFromToken(jwt({ oid: 'o', appid: 'a', xms_mirid: '/r' }))).toEqual({
      objectId: 'o',
      clientId: 'a',
      resourceId: '/r',
    });
    expect(principalFromToken(jwt({ oid: 'o', azp: 'z' }))).toEqual({ objectId: 'o', clientId: 'z' });
  });
  it('reads a user’s sign-in name (the CLI as the operator), never an application’s', () => {
    expect(principalFromToken(jwt({ oid: 'o', appid: 'cli', upn: 'ops@contoso.com' }))).toEqual({
      objectId: 'o',
      clientId: 'cli',
      signInName: 'ops@contoso.com',
    });
    expect(principalFromToken(jwt({ oid: 'o', appid: 'a', idtyp: 'app', upn: 'x@y' }))).toEqual({
      objectId: 'o',
      clientId: 'a',
    });
    expect(
      ownershipOf(
        { id, createdBy: 'OPS@contoso.com', createdByType: 'User' },
        { signInName: 'ops@contoso.com' },
        [],
      ),
    ).toEqual({ owned: true, by: 'self' });
  });

  it('gives nothing for what is not a JWT', () => {
    expect(principalFromToken('opaque')).toEqual({});
    expect(principalFromToken('a.%%%.c')).toEqual({});
  });
});

describe('excessAssignments', () => {
  const registry = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r1';
  it('keeps only what is not a pull role exactly at one of its registries, each assignment once', () => {
    const held = [
      { id: 'a1', scope: registry, roleGuid: ACR_PULL_ROLE },
      { id: 'a2', scope: registry.toUpperCase(), roleGuid: REPOSITORY_READER_ROLE },
      { id: 'a3', scope: '/subscriptions/s', roleGuid: ACR_PULL_ROLE },
      { id: 'a4', scope: registry, roleGuid: 'b24988ac-6180-42a0-ab88-20f7382dd24c' },
      { id: 'A4', scope: registry, roleGuid: 'b24988ac-6180-42a0-ab88-20f7382dd24c' },
    ];
    expect(excessAssignments(held, { registryIds: [registry] }).map((a) => a.id)).toEqual(['a3', 'a4']);
  });
});

describe('selfCreatedAt', () => {
  const now = Date.parse('2026-12-07T12:00:00Z');
  const made = (createdBy: string, createdAt?: string) => ({
    id,
    createdBy,
    createdByType: 'ManagedIdentity',
    ...(createdAt ? { createdAt } : {}),
  });

  it("is ARM's createdAt of an identity the app made", () => {
    expect(selfCreatedAt(made(self.clientId, '2026-12-07T11:59:00Z'), self, now)).toBe(now - 60_000);
  });

  it('is nothing for a trusted creator, another creator, an operator running the CLI, no time or a time that is not one', () => {
    const trusted = ownershipOf(made('ops@contoso.example'), self, ['ops@contoso.example']);
    expect(trusted.owned).toBe(true); // owned, yet its creator may have granted it roles itself
    expect(selfCreatedAt(made('ops@contoso.example', '2026-12-07T11:59:00Z'), self, now)).toBeUndefined();
    expect(selfCreatedAt(made('mallory@contoso.example', '2026-12-07T11:59:00Z'), self, now)).toBeUndefined();
    expect(selfCreatedAt(made(self.objectId), self, now)).toBeUndefined();
    expect(selfCreatedAt(made(self.objectId, 'yesterday'), self, now)).toBeUndefined();
    // The CLI run as an operator: owned by their sign-in name, yet no birth exemption.
    const operator = { signInName: 'ops@contoso.example' };
    expect(ownershipOf(made('ops@contoso.example'), operator, []).owned).toBe(true);
    expect(selfCreatedAt(made('ops@contoso.example', '2026-12-07T11:59:00Z'), operator, now)).toBeUndefined();
  });

  it('is never later than now, and not believed further ahead than clocks drift', () => {
    const ahead = (ms: number) => new Date(now + ms).toISOString();
    expect(selfCreatedAt(made(self.objectId, ahead(5_000)), self, now)).toBe(now);
    expect(selfCreatedAt(made(self.objectId, ahead(CREATED_AT_SKEW_MS + 1_000)), self, now)).toBeUndefined();
  });
});
