// How a tag's registry is looked up, against the emulator:
// - remembered by reference AND the subscriptions searched, so a warm instance answers a target of
//   another subscription exactly as a cold one does;
// - a listing ARM refused (403, 404) is remembered for a minute, not re-read on every event;
// - a login server of another cloud (`x.azurecr.cn` in the public cloud) is refused, never resolved to
//   registry `x`; nor is a registry whose reported login server is not the tag's.
import { staticCredential } from '@acrpull/azure-emulator/testing';
import { createArmClients } from '../../src/azure/armClients';
import { ContainerRegistries, FAILED_LOOKUP_TTL_MS } from '../../src/azure/containerRegistries';
import type { RegistryRef } from '../../src/core/tag';
import { type Harness, OTHER_SUB, SUB, startHarness } from '../support/harness';

const seedOtherVm = (h: Harness, name: string, tag: string) =>
  h.emu.seedVm({
    subscriptionId: OTHER_SUB,
    resourceGroup: 'rg-apps',
    name,
    location: 'eastus',
    tags: { acrPull: tag },
  }).id;
/** The registry adapter over the real SDK clients against the harness's emulator, on a given clock. */
const registriesOn = (h: Harness, now: () => number) =>
  new ContainerRegistries(
    createArmClients(
      {
        armEndpoint: h.emu.armEndpoint,
        armAudience: 'https://management.azure.com',
        caCertPem: h.emu.caCertPem,
      },
      staticCredential(h.emu),
    ),
    now,
  );
const outcome = (result: Awaited<ReturnType<Harness['deliver']>>) =>
  result?.records.map((r) => `${r.action}:${r.outcome}`);

describe('the registry cache, keyed by reference and search scope', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    h.emu.seedResourceGroup(OTHER_SUB, 'rg-apps', 'eastus');
  });
  afterAll(async () => {
    await h.close();
  });

  it("answers a target whose subscriptions do not hold the registry as a cold instance does, even right after finding it for another's", async () => {
    expect((await h.deliver(h.seedVm('vm-here', 'contosoapps').id))?.outcome).toBe('changed');
    const there = seedOtherVm(h, 'vm-there', 'contosoapps');

    const cold = await h.coldDeliver(there);
    const warm = await h.deliver(there);

    expect(outcome(warm)).toEqual(outcome(cold));
    expect(outcome(warm)).toEqual(['tag-invalid:rejected']);
    expect(warm?.records[0]?.reason).toMatch(/"contosoapps" was not found in \/subscriptions\/2222/);
    expect(h.emu.listVms().find((v) => v.id === there)?.identity).toBeFalsy();
  });

  it('still reuses a resolution for the same reference and scope', async () => {
    h.emu.resetCounts();
    expect((await h.deliver(h.seedVm('vm-here-2', 'contosoapps').id))?.outcome).toBe('changed');
    expect(h.emu.counts()['registry.list']).toBe(0);
  });
});

describe("one subscription's listing for the event path's window", () => {
  it('answers every registry of that subscription it holds for a minute; a name it lacks is listed afresh', async () => {
    const h = await startHarness();
    try {
      for (const name of ['teamone', 'teamtwo', 'teamthree'])
        h.emu.seedRegistry({ subscriptionId: SUB, resourceGroup: 'rg-registries', name });
      let now = 1_000_000;
      const registries = registriesOn(h, () => now);
      const byName = (name: string): RegistryRef => ({ form: 'name', name, text: name });
      const window = { cachedWithinMs: 60_000 };
      const listings = () => h.emu.counts()['registry.list'] ?? 0;
      h.emu.resetCounts();

      expect((await registries.resolve(byName('teamone'), [SUB], window)).found).toBe(true);
      expect(listings()).toBe(1);
      now += 30_000;
      for (const name of ['teamtwo', 'teamthree'])
        expect((await registries.resolve(byName(name), [SUB], window)).found).toBe(true);
      expect(listings()).toBe(1);
      // Made after the listing: not in it, so looked for afresh (and found), never "not found".
      h.emu.seedRegistry({ subscriptionId: SUB, resourceGroup: 'rg-registries', name: 'teamfour' });
      expect((await registries.resolve(byName('teamfour'), [SUB], window)).found).toBe(true);
      expect(listings()).toBe(2);
      // A lookup with no window (the sweep's, a write's) never answers from it.
      await registries.resolve(byName('teamtwo'), [SUB]);
      expect(listings()).toBe(3);
      // Past the window: listed again.
      now += 60_000;
      await registries.resolve(byName('teamthree'), [SUB], window);
      expect(listings()).toBe(4);
    } finally {
      await h.close();
    }
  });
});

describe('a registry listing ARM refused', () => {
  let h: Harness;
  let otherListings = 0;
  beforeAll(async () => {
    h = await startHarness({
      env: { ACRPULL_REGISTRY_SUBSCRIPTIONS: OTHER_SUB, ACRPULL_ALLOWED_REGISTRIES: '*' },
    });
    h.emu.seedResourceGroup(OTHER_SUB, 'rg-apps', 'eastus');
    h.emu.injectFault({
      operation: 'registry.list',
      status: 403,
      code: 'AuthorizationFailed',
      count: 1000,
      match: (req) => {
        const other = req.path.toLowerCase().includes(OTHER_SUB);
        if (other) otherListings += 1;
        return other;
      },
    });
  });
  afterAll(async () => {
    await h.close();
  });

  it('is read once a minute, not on every event (each still audited as the failure it is)', async () => {
    const first = await h.deliver(h.seedVm('vm-1', 'elsewhere1').id);
    const second = await h.deliver(h.seedVm('vm-2', 'elsewhere1').id);
    const third = await h.deliver(h.seedVm('vm-3', 'elsewhere2').id);

    expect(otherListings).toBe(1);
    for (const result of [first, second, third]) {
      expect(outcome(result)).toEqual(['failed:failed']);
      expect(result?.records[0]).toMatchObject({
        retryable: false,
        reason: expect.stringMatching(/AuthorizationFailed/),
      });
    }
  });

  it('is read again after FAILED_LOOKUP_TTL_MS', async () => {
    let now = 1_000_000;
    const registries = registriesOn(h, () => now);
    const ref: RegistryRef = { form: 'name', name: 'elsewhere3', text: 'elsewhere3' };
    const before = otherListings;

    await expect(registries.resolve(ref, [OTHER_SUB])).rejects.toMatchObject({ statusCode: 403 });
    now += FAILED_LOOKUP_TTL_MS - 1;
    await expect(registries.resolve(ref, [OTHER_SUB])).rejects.toMatchObject({ statusCode: 403 });
    expect(otherListings - before).toBe(1);
    now += 1;
    await expect(registries.resolve(ref, [OTHER_SUB])).rejects.toMatchObject({ statusCode: 403 });
    expect(otherListings - before).toBe(2);
  });

  it('a listing that succeeds is not remembered as refused', async () => {
    h.emu.clearFaults();
    const result = await h.deliver(h.seedVm('vm-4', 'contosoapps').id);
    // The remembered refusal of OTHER_SUB is not consulted: contosoapps is found in the VM's own subscription.
    expect(result?.outcome).toBe('changed');
  });
});

describe("login servers of this cloud's registries only", () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  it("in the public cloud, refuses x.azurecr.cn as another cloud's, with no registry lookup", async () => {
    h = await startHarness();
    const cn = h.seedVm('vm-cn', 'contosoapps.azurecr.cn').id;
    const io = h.seedVm('vm-io', 'ContosoApps.azurecr.io').id;
    h.emu.resetCounts();

    const refused = await h.deliver(cn);

    expect(outcome(refused)).toEqual(['tag-invalid:rejected']);
    expect(refused?.records[0]?.reason).toBe(
      '"contosoapps.azurecr.cn" is a login server of another cloud: this cloud\'s registries are <name>.azurecr.io',
    );
    expect(h.emu.counts()['registry.list'] + h.emu.counts()['registry.get']).toBe(0);
    expect(h.emu.listVms().find((v) => v.id === cn)?.identity).toBeFalsy();
    expect((await h.deliver(io))?.outcome).toBe('changed');
  });

  it("with ACRPULL_REGISTRY_SUFFIX=azurecr.cn, refuses a registry whose reported login server is not the tag's", async () => {
    h = await startHarness({ env: { ACRPULL_REGISTRY_SUFFIX: 'azurecr.cn' } });
    // The emulator's registries report <name>.azurecr.io: in this (China) configuration, no tag names them.
    const cn = h.seedVm('vm-cn', 'contosoapps.azurecr.cn').id;
    const io = h.seedVm('vm-io', 'contosoapps.azurecr.io').id;

    const found = await h.deliver(cn);
    const other = await h.deliver(io);

    expect(outcome(found)).toEqual(['tag-invalid:rejected']);
    expect(found?.records[0]?.reason).toMatch(
      /^registry "contosoapps\.azurecr\.cn" was not found: the registry named contosoapps has the login server "contosoapps\.azurecr\.io"/,
    );
    expect(outcome(other)).toEqual(['tag-invalid:rejected']);
    expect(other?.records[0]?.reason).toMatch(/is a login server of another cloud/);
    expect(h.emu.listVms().filter((v) => v.identity)).toEqual([]);
  });
});
