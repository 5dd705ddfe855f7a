// An event's origin is checked before anything is read for it: an event from a custom topic (anyone
// with a key may publish there), from a subscription the app does not sweep, or naming a resource
// outside its topic's subscription is refused, audited `event-refused` and acknowledged, at the cost
// of no ARM request and no token.
import { type Harness, OTHER_SUB, SUB, startHarness, vmId, writeSuccessEvent } from '../support/harness';

const CUSTOM_TOPIC = `/subscriptions/${OTHER_SUB}/resourceGroups/rg-mallory/providers/Microsoft.EventGrid/topics/forged`;

/** Every request the emulator saw: ARM reads, writes and polls, and tokens. */
function requests(h: Harness): number {
  const t = h.emu.totals();
  return t.reads + t.writes + t.polls + t.tokens;
}

describe('event origin, with ACRPULL_SUBSCRIPTIONS set', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ env: { ACRPULL_SUBSCRIPTIONS: SUB } });
  });
  afterEach(async () => {
    await h.close();
  });

  it.each([
    ["another subscription's custom topic (a forged caller)", { topic: CUSTOM_TOPIC }],
    [
      'a custom topic in the swept subscription',
      { topic: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.EventGrid/topics/t` },
    ],
    ["another subscription's system topic", { topic: `/subscriptions/${OTHER_SUB}` }],
    ['no topic at all', { topic: undefined }],
  ])(
    'refuses an event from %s: no ARM request, an event-refused record, acknowledged',
    async (_label, override) => {
      const vm = h.seedVm('vm-target', 'contosoapps');
      const forged = {
        ...writeSuccessEvent(vm.id, { upn: 'mallory@contoso.example', eventId: 'evt-forged' }),
        ...override,
      };
      h.emu.resetCounts();

      await expect(h.deliverRaw(forged)).resolves.toBeUndefined();

      expect(requests(h)).toBe(0);
      expect(h.audit.records).toEqual([
        expect.objectContaining({
          action: 'event-refused',
          outcome: 'rejected',
          trigger: 'event',
          vmId: vm.id,
          eventId: 'evt-forged',
          reason: expect.stringMatching(
            /^event refused, nothing was read or written: .*mallory@contoso\.example/,
          ),
        }),
      ]);
      // The claims of a refused event are not taken for a principal's write.
      expect(h.audit.records[0]?.caller).toBeUndefined();
      expect(h.emu.listVms().find((v) => v.id === vm.id)?.identity).toBeFalsy();
    },
  );

  it("refuses a swept subscription's topic naming a VM of another subscription", async () => {
    h.emu.seedResourceGroup(OTHER_SUB, 'rg-apps', 'eastus');
    const foreign = h.emu.seedVm({
      subscriptionId: OTHER_SUB,
      resourceGroup: 'rg-apps',
      name: 'vm-elsewhere',
      location: 'eastus',
      tags: { acrPull: 'contosoapps' },
    });
    const event = { ...writeSuccessEvent(foreign.id), topic: `/subscriptions/${SUB}` };
    h.emu.resetCounts();

    await h.deliverRaw(event);

    expect(requests(h)).toBe(0);
    expect(h.audit.records.map((r) => [r.action, r.reason])).toEqual([
      ['event-refused', expect.stringMatching(/outside its topic's subscription 1111/)],
    ]);
  });

  it("acts on the swept subscription's own system topic, in either schema", async () => {
    const vm = h.seedVm('vm-honest', 'contosoapps');
    const { eventType, topic, eventTime, ...rest } = writeSuccessEvent(vm.id);
    const cloudEvent = { ...rest, specversion: '1.0', type: eventType, source: topic, time: eventTime };

    expect((await h.deliverRaw(cloudEvent))?.outcome).toBe('changed');
    expect((await h.deliver(vm.id))?.outcome).toBe('compliant');
    expect(h.audit.records.filter((r) => r.action === 'event-refused')).toEqual([]);
  });
});

describe('event origin, with ACRPULL_SUBSCRIPTIONS empty (every subscription the app can see)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it("accepts any subscription's system topic for a resource in it, and still refuses custom topics", async () => {
    h.emu.seedResourceGroup(OTHER_SUB, 'rg-apps', 'eastus');
    h.emu.seedVm({
      subscriptionId: OTHER_SUB,
      resourceGroup: 'rg-apps',
      name: 'vm-other',
      location: 'eastus',
      tags: { acrPull: 'contosoapps' },
    });
    const other = vmId('vm-other', 'rg-apps', OTHER_SUB);
    h.emu.resetCounts();
    await h.deliverRaw({ ...writeSuccessEvent(other), topic: CUSTOM_TOPIC });
    await h.deliverRaw({ ...writeSuccessEvent(other), topic: `/subscriptions/${SUB}` });
    expect(requests(h)).toBe(0);

    // The registry is in SUB, not searched from OTHER_SUB: the tag is refused, after reading the VM.
    const result = await h.deliver(other);
    expect(result?.records.map((r) => r.action)).toEqual(['tag-invalid']);
    expect(h.audit.records.map((r) => r.action)).toEqual(['event-refused', 'event-refused', 'tag-invalid']);
  });
});
