// The owner's commands and the probe script: text, checked for what it must say and, for the script,
// that sh parses it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ownerCommands, probeScript } from '../../../../src/reconcile/doctor/commands';

const endpoint = { registry: 'contosoapps', loginServer: 'contosoapps.azurecr.io', clientId: 'c-1' };

describe('owner commands', () => {
  it('name the client id everywhere a token is asked for', () => {
    expect(ownerCommands(endpoint)).toEqual({
      login: 'az login --identity --client-id c-1',
      acrLogin: 'az acr login -n contosoapps',
      exposeToken:
        'az acr login -n contosoapps --expose-token --output tsv --query accessToken | docker login contosoapps.azurecr.io --username 00000000-0000-0000-0000-000000000000 --password-stdin',
      imdsUrl:
        'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://containerregistry.azure.net&client_id=c-1',
      imds: "curl -s -H Metadata:true 'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://containerregistry.azure.net&client_id=c-1'",
    });
  });

  it('say <clientId> when the identity is not known yet', () => {
    expect(ownerCommands({ registry: 'r1234', loginServer: 'r1234.azurecr.io' }).login).toBe(
      'az login --identity --client-id <clientId>',
    );
  });
});

describe('probe script', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'probe-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['with a client id', endpoint],
    ['with a data endpoint', { ...endpoint, dataEndpoint: 'contosoapps.eastus.data.azurecr.io' }],
    ['without a client id', { registry: 'contosoapps', loginServer: 'contosoapps.azurecr.io' }],
  ])('is valid POSIX sh (%s)', (_name, e) => {
    const file = path.join(dir, 'probe.sh');
    writeFileSync(file, probeScript(e, 'vm1'));
    expect(() => execFileSync('sh', ['-n', file], { stdio: 'pipe' })).not.toThrow();
  });

  it('walks DNS, IMDS, exchange, token and manifest, naming the step that fails', () => {
    const script = probeScript({ ...endpoint, dataEndpoint: 'contosoapps.eastus.data.azurecr.io' }, 'vm1');
    const steps = [
      '1 DNS $LOGIN_SERVER',
      '1b DNS $DATA_ENDPOINT',
      '2 IMDS token',
      '3 POST /oauth2/exchange',
      '4 GET /oauth2/token ($REPO:pull)',
      '5 HEAD manifest $REPO:$REFERENCE',
    ];
    let at = 0;
    for (const step of steps) {
      const found = script.indexOf(`STEP="${step}`, at);
      expect(found).toBeGreaterThan(at);
      at = found;
    }
    // biome-ignore lint/suspicious/noTemplateCurlyInString: sh's parameter expansion, not a template.
    expect(script).toContain('REF="${1:-hello-world:latest}"');
    expect(script).toContain('resource=https://containerregistry.azure.net&client_id=$CLIENT_ID');
    expect(script).toContain('scope=repository:$REPO:pull');
    expect(script).toContain('probe: failed at: $STEP');
  });

  it('quotes what it embeds', () => {
    const script = probeScript({ registry: 'x', loginServer: "it's.azurecr.io", clientId: 'c' }, 'vm1');
    expect(script).toContain("LOGIN_SERVER='it'\\''s.azurecr.io'");
  });
});
