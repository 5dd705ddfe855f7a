// events-missing: each sweep reads, per swept subscription, its Event Grid system topic and the topic's
// event subscriptions (the real @azure/arm-eventgrid client against the emulator), and flags a swept
// subscription that delivers no VM write events to the app: swept only, its changes wait for a sweep.
import { fleet } from '../support/fleet';
import { type Harness, OTHER_SUB, SUB, startHarness } from '../support/harness';

const APP = `/subscriptions/${SUB}/resourceGroups/rg-acrpull-app/providers/Microsoft.Web/sites/func-acrpull`;
const missing = (h: Harness) => h.audit.records.filter((r) => r.action === 'events-missing');

/** What the template deploys in a swept subscription: its system topic and the app's event subscription. */
function wireEvents(
  h: Harness,
  subscriptionId: string,
  options: { functionId?: string; state?: string } = {},
) {
  h.emu.seedResourceGroup(subscriptionId, 'rg-acrpull-events', 'eastus');
  const topic = h.emu.seedSubscriptionSystemTopic({
    subscriptionId,
    resourceGroup: 'rg-acrpull-events',
    name: `acrpull-${subscriptionId.slice(0, 8)}`,
  });
  return h.emu.seedEventSubscription({
    topicId: topic.id,
    name: 'acrpull-vm-writes',
    functionId: options.functionId ?? `${APP}/functions/vmWriteEvent`,
    ...(options.state ? { provisioningState: options.state } : {}),
  });
}

describe('events-missing', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({
      events: false,
      env: { ACRPULL_SUBSCRIPTIONS: `${SUB},${OTHER_SUB}`, ACRPULL_FUNCTION_APP_ID: APP },
    });
    h.emu.seedResourceGroup(OTHER_SUB, 'rg-apps', 'eastus');
    fleet(h.emu).vm('vm-a', { tag: 'contosoapps' });
  });
  afterEach(async () => {
    await h.close();
  });

  it('flags a swept subscription with no system topic, and not one whose event subscription delivers to the app', async () => {
    wireEvents(h, SUB);

    await h.sweep();

    expect(missing(h)).toEqual([
      expect.objectContaining({
        outcome: 'flagged',
        subscriptionId: OTHER_SUB,
        reason: expect.stringContaining('no Event Grid system topic'),
      }),
    ]);
    expect(h.emu.counts()['systemTopic.list']).toBe(2);
  });

  it('an event subscription that failed to provision, or delivers to another app, does not count', async () => {
    wireEvents(h, SUB, { state: 'Failed' });
    wireEvents(h, OTHER_SUB, {
      functionId: `/subscriptions/${SUB}/resourceGroups/rg-other/providers/Microsoft.Web/sites/someone-else/functions/handler`,
    });

    await h.sweep();

    expect(
      missing(h)
        .map((r) => r.subscriptionId)
        .sort(),
    ).toEqual([SUB, OTHER_SUB].sort());
    expect(missing(h)[0]?.reason).toMatch(/none live to/);
  });

  it('a deleted event subscription is reported at the next sweep', async () => {
    wireEvents(h, SUB);
    const other = wireEvents(h, OTHER_SUB);
    await h.sweep();
    expect(missing(h)).toEqual([]);

    h.emu.deleteEventSubscription(other.id);
    await h.sweep();

    expect(missing(h).map((r) => r.subscriptionId)).toEqual([OTHER_SUB]);
  });
});
