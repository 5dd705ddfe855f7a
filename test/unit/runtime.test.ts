// The deployed app authenticates with its managed identity only; the CLI with the operator's chain.
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { managedIdentityCredential, operatorCredential } from '../../src/runtime';

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
