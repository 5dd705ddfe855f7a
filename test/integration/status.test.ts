// `acrpull-autopilot status`: the fleet at a glance from one read-only pass (the app's sweep in
// what-if mode), per registry and region, against the emulator with the real SDK clients; nothing
// written to ARM or to the state store.
import { TableClient } from '@azure/data-tables';
import { STATE_TABLE_NAME } from '../../src/azure/stateTable';
import { runResetCommand } from '../../src/cli/resetCommand';
import { runStatusCommand } from '../../src/cli/statusCommand';
import { fleet } from '../support/fleet';
import { type Harness, IDENTITY_RG, SUB, startHarness } from '../support/harness';

const AN_HOUR_AGO = () => new Date(Date.now() - 3600_000).toISOString();

function status(h: Harness, env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    out: (line: string) => out.push(line),
    err: (line: string) => err.push(line),
    env: {
      ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG,
      ACRPULL_ALLOWED_REGISTRIES: 'contosoapps privateacr freshacr',
      ACRPULL_ARM_ENDPOINT: h.emu.armEndpoint,
      ...env,
    },
    runtime: { caCertPem: h.emu.caCertPem, pollIntervalMs: 0 },
  };
  return {
    out,
    err,
    run: (...args: string[]) => runStatusCommand(['status', ...args], io),
    json: () => JSON.parse(out.join('\n')),
  };
}

/** The app's pull identity for the registry in eastus, with a grant made `createdOn`. */
function appPair(h: Harness, registry: string, createdOn: string) {
  const pull = fleet(h.emu).appPullIdentity(registry, 'eastus');
  h.emu.seedRoleAssignment({
    scope: `/subscriptions/${SUB}/resourceGroups/rg-registries/providers/Microsoft.ContainerRegistry/registries/${registry}`,
    roleDefinitionId: '7f951dda-4ed3-4680-a7ca-43fe172d538d',
    principalId: pull.principalId,
    createdOn,
  });
  return pull;
}

describe('acrpull-autopilot status', () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  it('one row per registry and region: tagged, compliant, can pull, blocked by blocker, to change, refused, deferred; writes nothing', async () => {
    h = await startHarness();
    const f = fleet(h.emu);
    h.emu.seedRegistry({
      subscriptionId: SUB,
      resourceGroup: 'rg-registries',
      name: 'privateacr',
      sku: 'Premium',
      access: { publicNetworkAccess: 'Disabled' },
    });
    f.registry('freshacr');
    const contoso = appPair(h, 'contosoapps', AN_HOUR_AGO());
    const priv = appPair(h, 'privateacr', AN_HOUR_AGO());
    const fresh = appPair(h, 'freshacr', new Date().toISOString());
    f.vm('vm-ready-1', { tag: 'contosoapps', identities: [contoso] });
    f.vm('vm-ready-2', { tag: 'contosoapps', identities: [contoso] });
    f.vm('vm-two', { tag: 'contosoapps,privateacr', identities: [contoso, priv] });
    f.vm('vm-new', { tag: 'contosoapps' });
    f.vm('vm-busy', { tag: 'contosoapps', creatingForMs: 60_000 });
    f.vm('vm-west', { tag: 'contosoapps', location: 'westus' });
    f.vm('vm-private', { tag: 'privateacr', identities: [priv] });
    f.vm('vm-fresh', { tag: 'freshacr', identities: [fresh] });
    f.vm('vm-denied', { tag: 'secretregistry' });
    f.vm('vm-bad-tag', { tag: 'not/a/registry' });
    h.emu.resetCounts();

    const table = status(h);
    expect(await table.run()).toBe(0);
    expect(h.emu.totals().writes).toBe(0);
    expect(table.out.slice(0, 7)).toEqual([
      'registry        region  tagged  compliant  can pull  blocked                       to change  refused  deferred  contested  failed',
      '(invalid tag)   eastus  1       0          0         0                             0          1        0         0          0',
      'contosoapps     eastus  5       3          3         0                             1          0        1         0          0',
      'contosoapps     westus  1       0          0         0                             1          0        0         0          0',
      'freshacr        eastus  1       1          0         1 (grant-propagating 1)       0          0        0         0          0',
      'privateacr      eastus  2       2          0         2 (public-access-disabled 2)  0          0        0         0          0',
      'secretregistry  eastus  1       0          0         0                             0          1        0         0          0',
    ]);
    expect(table.out.at(-1)).toMatch(/^10 tagged targets in 1 subscription; .*ARM reads in/);
    expect(table.err.join('\n')).toMatch(/10\/10 targets/);

    const json = status(h, {});
    expect(await json.run('--output', 'json')).toBe(0);
    const doc = json.json();
    expect(doc).toMatchObject({ command: 'status', exitCode: 0, errors: [], tagged: 10 });
    expect(doc.rows).toContainEqual(
      expect.objectContaining({
        registry: 'secretregistry',
        region: 'eastus',
        refused: 1,
        refusedBy: { 'registry-denied': 1 },
      }),
    );
    expect(doc.rows).toContainEqual(
      expect.objectContaining({ registry: 'privateacr', blocked: { 'public-access-disabled': 2 } }),
    );
    expect(h.emu.totals().writes).toBe(0);
  });

  it('a read that fails shows as failed in its row, and exits 1', async () => {
    h = await startHarness();
    h.seedVm('vm-unreadable', 'contosoapps');
    h.emu.injectFault({ operation: 'identity.get', status: 403, code: 'AuthorizationFailed', count: 100 });

    const run = status(h);
    expect(await run.run()).toBe(1);
    expect(run.out[1]).toMatch(/^contosoapps\s+eastus\s+1\s+0\s+0\s+0\s+0\s+0\s+0\s+0\s+1$/);
    expect(run.err.join('\n')).toMatch(/acrpull-autopilot: failed contosoapps: /);
  });

  it('contested targets, from the state store it reads and never writes; after reset, to change', async () => {
    h = await startHarness({ state: true });
    const vm = h.seedVm('vm-fought', 'contosoapps').id;
    await h.deliver(vm);
    for (let round = 0; round < 4; round++) {
      h.emu.updateVmOutOfBand(vm, (v) => {
        v.identity = undefined;
      });
      await h.deliver(vm, { upn: 'mallory@contoso.com' });
    }
    const connectionString = h.azurite?.connectionString ?? '';
    const store = TableClient.fromConnectionString(connectionString, STATE_TABLE_NAME, {
      allowInsecureConnection: true,
    });
    const rows = async () => {
      const found: string[] = [];
      for await (const e of store.listEntities()) found.push(`${e.partitionKey}/${e.rowKey}/${e.etag}`);
      return found.sort();
    };
    const before = await rows();
    h.emu.resetCounts();

    const run = status(h, { AzureWebJobsStorage: connectionString });
    expect(await run.run()).toBe(0);
    expect(run.out[1]).toMatch(/^contosoapps\s+eastus\s+1\s+0\s+0\s+0\s+0\s+0\s+0\s+1\s+0$/);
    expect(await rows()).toEqual(before);
    expect(h.emu.totals().writes).toBe(0);

    const reset: string[] = [];
    const resetIo = {
      out: (l: string) => reset.push(l),
      err: () => {},
      env: { AzureWebJobsStorage: connectionString },
    };
    expect(await runResetCommand(['reset', vm, '--output', 'json'], resetIo)).toBe(0);
    expect(JSON.parse(reset.join('\n'))).toMatchObject({
      command: 'reset',
      target: vm,
      exitCode: 0,
      forgot: expect.any(Number),
    });

    const after = status(h, { AzureWebJobsStorage: connectionString });
    expect(await after.run('--output', 'json')).toBe(0);
    expect(after.json().rows).toEqual([
      expect.objectContaining({ registry: 'contosoapps', contested: 0, toChange: 1 }),
    ]);
  });
});
