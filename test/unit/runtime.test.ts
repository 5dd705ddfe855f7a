// The deployed app authenticates with its managed identity only; the CLI with the operator's chain.
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { managedIdentityCredential, operatorCredential, selfPrincipal } from '../../src/runtime';

describe('credentials', () => {
  const saved = process.env.AZURE_CLIENT_ID;
  afterEach(() => {
    if (saved === undefined) delete process.env.AZURE_CLIENT_ID;
    else process.env.AZURE_CLIENT_ID = saved;
  });

  it('the Functions runtime uses ManagedIdentityCredential: no secret, no other source to fall back to', () => {
    process.env.AZURE_CLIENT_ID = '3f1c1a8e-0000-4000-8000-000000000001';
    const credential = managedIdentityCredential();
    expect(credential).toBeInstanceOf(ManagedIdentityCredential);
    expect(credential).not.toBeInstanceOf(DefaultAzureCredential);
  });

  it('the CLI uses DefaultAzureCredential (az login, environment, managed identity)', () => {
    expect(operatorCredential()).toBeInstanceOf(DefaultAzureCredential);
  });
});

describe('who the app signs in as', () => {
  const token = (oid: string) =>
    `x.${Buffer.from(JSON.stringify({ oid, appid: 'app-1' })).toString('base64url')}.y`;

  /** A credential whose first call hangs (an endpoint outage with the credential's own backoff). */
  function stalledThenAnswers() {
    const calls: number[] = [];
    let clock = 0;
    const credential = {
      getToken: async () => {
        calls.push(clock);
        if (calls.length === 1) return new Promise<never>(() => {});
        return { token: token('oid-self'), expiresOnTimestamp: 0 };
      },
    };
    return { credential, calls, advance: (ms: number) => (clock += ms), now: () => clock };
  }

  it('shares a young attempt between callers', async () => {
    const c = stalledThenAnswers();
    const whoAmI = selfPrincipal(c.credential, 'https://management.azure.com/', { now: c.now });
    void whoAmI().catch(() => {});
    c.advance(500);
    void whoAmI().catch(() => {});
    expect(c.calls).toEqual([0]);
  });

  it('a caller after the outage does not wait for an attempt that started during it', async () => {
    const c = stalledThenAnswers();
    const whoAmI = selfPrincipal(c.credential, 'https://management.azure.com/', { now: c.now });
    void whoAmI().catch(() => {});
    c.advance(3_000);
    await expect(whoAmI()).resolves.toMatchObject({ objectId: 'oid-self' });
    expect(c.calls).toEqual([0, 3_000]);
    // Known from then on: no more token requests.
    await whoAmI();
    expect(c.calls).toHaveLength(2);
    expect(whoAmI.known()).toMatchObject({ objectId: 'oid-self' });
  });

  it('an attempt that never answers is given up, and the next call asks again', async () => {
    const c = stalledThenAnswers();
    const whoAmI = selfPrincipal(c.credential, 'https://management.azure.com/', {
      now: c.now,
      shareMs: 60_000,
      giveUpMs: 20,
    });
    await expect(whoAmI()).rejects.toThrow(/abandoned/);
    await expect(whoAmI()).resolves.toMatchObject({ objectId: 'oid-self' });
  });
});
