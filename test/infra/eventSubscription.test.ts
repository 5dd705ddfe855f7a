// The template's Event Grid wiring against the handler it feeds: in every swept subscription a system topic
// for that subscription's events and a filtered event subscription to the app's function, made by nested
// deployments into that subscription.
//
// Learn, event-grid/system-topics: one system topic per source (a subscription), created in the source's
// subscription (a subscription-level topic needs a resource group there), location global for Azure
// subscriptions. The event subscription's shape: azure-rest-api-specs eventgrid stable/2025-02-15
// (AzureFunction destination, advanced filters, retryPolicy, deadLetterWithResourceIdentity).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { deliversToApp } from '../../src/reconcile/sweep/eventsFinding';
import { TARGET_KINDS } from '../../src/targets';
import { parseWriteEvent, SCALE_SET_WRITE, TAGS_WRITE, WRITE_SUCCESS } from '../../src/targets/writeEvent';
import { type Deployed, deployTemplate, scopeIdOf } from '../support/armTemplate';
import { OTHER_SUB, SUB, vmId, writeSuccessEvent } from '../support/harness';
import {
  type Evaluation,
  evaluateTemplate,
  GRANT_ONLY_SUB,
  REGISTRY_SUB,
  root,
  SAMPLE,
  subscriptionScope,
} from '../support/infraTemplates';

interface EventSubscriptionBody {
  properties: {
    eventDeliverySchema: string;
    filter: {
      includedEventTypes: string[];
      advancedFilters: { key: string; operatorType: string; values: string[] }[];
    };
    destination: { endpointType: string; properties: { resourceId: string; maxEventsPerBatch: number } };
    retryPolicy: object;
    deadLetterWithResourceIdentity: {
      identity: { type: string };
      deadLetterDestination: {
        endpointType: string;
        properties: { resourceId: string; blobContainerName: string };
      };
    };
  };
}

const ofType = (e: Evaluation, type: string) => e.resources.filter((r) => r.type === type);
const topics = (e: Evaluation) => ofType(e, 'Microsoft.EventGrid/systemTopics');
const subscriptions = (e: Evaluation) => ofType(e, 'Microsoft.EventGrid/systemTopics/eventSubscriptions');
const bodyOf = (r: Deployed) => r.body as unknown as EventSubscriptionBody;
const siteId = (e: Evaluation) => {
  const site = ofType(e, 'Microsoft.Web/sites')[0] as Deployed;
  return `${scopeIdOf(site.at)}/providers/Microsoft.Web/sites/${site.name}`;
};
const storageId = (e: Evaluation) => {
  const account = ofType(e, 'Microsoft.Storage/storageAccounts')[0] as Deployed;
  return `${scopeIdOf(account.at)}/providers/Microsoft.Storage/storageAccounts/${account.name}`;
};
const THREE = { ...SAMPLE, sweepSubscriptions: [SUB, OTHER_SUB, REGISTRY_SUB] };

describe('deployment templates: events', () => {
  it('subscribe to exactly the events the handler accepts, delivered to the function that handles them', () => {
    const e = evaluateTemplate(SAMPLE);
    expect(subscriptions(e).length).toBeGreaterThan(0);
    for (const subscription of subscriptions(e).map(bodyOf)) {
      expect(subscription.properties.eventDeliverySchema).toBe('EventGridSchema');
      expect(subscription.properties.filter.includedEventTypes).toEqual([WRITE_SUCCESS]);
      expect(subscription.properties.filter.advancedFilters).toEqual([
        {
          operatorType: 'StringIn',
          key: 'data.operationName',
          // Every target kind's write (declared in src/targets/), and tag writes.
          values: [...TARGET_KINDS.map((kind) => kind.writeOperation), TAGS_WRITE],
        },
        {
          operatorType: 'StringContains',
          key: 'subject',
          values: TARGET_KINDS.flatMap((kind) => [
            `/providers/${kind.armType}/`,
            `/providers/${kind.armType.toLowerCase()}/`,
          ]),
        },
      ]);
      const destination = subscription.properties.destination;
      expect(destination.endpointType).toBe('AzureFunction');
      expect(destination.properties.maxEventsPerBatch).toBe(1);
      const functionName = new RegExp(`^${siteId(e)}/functions/(\\w+)$`).exec(
        destination.properties.resourceId,
      )?.[1];
      expect(readFileSync(path.join(root, 'src', 'functions', 'vmWriteEvent.ts'), 'utf8')).toContain(
        `app.eventGrid('${functionName}'`,
      );
      expect(subscription.properties.retryPolicy).toEqual({
        maxDeliveryAttempts: 30,
        eventTimeToLiveInMinutes: 1440,
      });
      // The storage account refuses shared keys: Event Grid dead-letters with the system topic's identity.
      expect(subscription.properties.deadLetterWithResourceIdentity).toEqual({
        identity: { type: 'SystemAssigned' },
        deadLetterDestination: {
          endpointType: 'StorageBlob',
          properties: { resourceId: storageId(e), blobContainerName: 'eventgrid-deadletter' },
        },
      });
    }
  });

  it("the app counts the template's event subscriptions as its own: the sweep's events-missing check passes them", () => {
    const e = evaluateTemplate(SAMPLE);
    expect(e.appSettings.ACRPULL_FUNCTION_APP_ID).toBe(siteId(e));
    for (const subscription of subscriptions(e).map(bodyOf))
      expect(
        deliversToApp(
          {
            id: 'x',
            provisioningState: 'Succeeded',
            endpointType: subscription.properties.destination.endpointType,
            functionId: subscription.properties.destination.properties.resourceId,
            includedEventTypes: subscription.properties.filter.includedEventTypes,
          },
          e.appSettings.ACRPULL_FUNCTION_APP_ID,
        ),
      ).toBe(true);
  });

  it('the filter lets through exactly the events the handler acts on: no tags write on other resources', () => {
    const { advancedFilters } = bodyOf(subscriptions(evaluateTemplate(SAMPLE))[0] as Deployed).properties
      .filter;
    // Event Grid's semantics for these two operators: filters are ANDed, values ORed.
    const get = (event: object, key: string) =>
      String(key.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)?.[k], event) ?? '');
    const passes = (event: object) =>
      advancedFilters.every((f) =>
        f.operatorType === 'StringIn'
          ? f.values.some((v) => v.toLowerCase() === get(event, f.key).toLowerCase())
          : f.values.some((v) => get(event, f.key).includes(v)),
      );
    const vm = vmId('vm-1');
    const scaleSet = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Compute/virtualMachineScaleSets/ss1`;
    const storage = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Storage/storageAccounts/st1`;
    const tagsOn = (id: string) => {
      const e = writeSuccessEvent(vm, { operationName: TAGS_WRITE });
      const uri = `${id}/providers/Microsoft.Resources/tags/default`;
      return { ...e, subject: uri, data: { ...e.data, resourceUri: uri } };
    };
    const cases = [
      writeSuccessEvent(vm),
      writeSuccessEvent(vm.toLowerCase()),
      tagsOn(vm),
      tagsOn(storage),
      writeSuccessEvent(`${vm}/extensions/ext1`, {
        operationName: 'Microsoft.Compute/virtualMachines/extensions/write',
      }),
      writeSuccessEvent(scaleSet, { operationName: SCALE_SET_WRITE }),
      tagsOn(scaleSet),
      writeSuccessEvent(`${scaleSet}/virtualMachines/0`, {
        operationName: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/write',
      }),
    ];

    expect(cases.map(passes)).toEqual(cases.map((e) => parseWriteEvent(e).kind === 'target-write'));
    expect(cases.map(passes)).toEqual([true, true, true, false, false, true, true, false]);
  });

  it.each([
    ['two swept subscriptions', SAMPLE],
    ['three swept subscriptions', THREE],
    [
      'swept subscriptions without the deployment subscription',
      { ...SAMPLE, sweepSubscriptions: [OTHER_SUB, GRANT_ONLY_SUB] },
    ],
  ])(
    'one system topic and one filtered event subscription per swept subscription, each in that subscription (%s)',
    (_, sample) => {
      const e = evaluateTemplate(sample);
      const swept = sample.sweepSubscriptions;
      const groupIn = (sub: string) => (sub === SUB ? 'rg-acrpull-app' : 'rg-acrpull-events');

      expect(topics(e).map((t) => (t.body.properties as { source: string }).source)).toEqual(
        swept.map(subscriptionScope),
      );
      for (const topic of topics(e)) {
        const sub = topic.at.subscriptionId;
        expect(topic.at).toEqual({ subscriptionId: sub, resourceGroup: groupIn(sub) });
        expect(topic.body).toMatchObject({
          name: 'evgt-acrpull-vm-writes',
          location: 'global',
          identity: { type: 'SystemAssigned' },
          properties: { source: subscriptionScope(sub), topicType: 'Microsoft.Resources.Subscriptions' },
        });
        // Outside the deployment subscription the template makes the topic's resource group, in that subscription.
        const groups = e.resources.filter(
          (r) =>
            r.type === 'Microsoft.Resources/resourceGroups' &&
            r.at.subscriptionId === sub &&
            r.name === groupIn(sub),
        );
        expect(groups).toHaveLength(1);
        const events = subscriptions(e).filter((s) => s.at.subscriptionId === sub);
        expect(events.map((s) => [s.name, s.at])).toEqual([
          ['evgt-acrpull-vm-writes/vm-writes-to-acrpull', topic.at],
        ]);
      }
      expect(subscriptions(e)).toHaveLength(swept.length);
      expect(e.outputs.subscriptionsWithEvents).toEqual(swept);
      expect(e.outputs.subscriptionsCoveredBySweepOnly).toEqual([]);
      // Each made by a nested deployment into its subscription (and, for the topic and the event
      // subscription, the resource group).
      const deployments = ofType(e, 'Microsoft.Resources/deployments').map((d) => d.scope);
      for (const sub of swept) {
        expect(deployments).toContain(subscriptionScope(sub));
        expect(deployments).toContain(`${subscriptionScope(sub)}/resourceGroups/${groupIn(sub)}`);
      }
    },
  );

  it("lets each topic's identity write dead letters to the app's dead-letter container only, under distinct names (the deployment subscription's as earlier templates named it)", () => {
    const e = evaluateTemplate(THREE);
    const container = `${storageId(e)}/blobServices/default/containers/eventgrid-deadletter`;
    const grants = ofType(e, 'Microsoft.Authorization/roleAssignments').filter((r) =>
      String((r.body.properties as { description?: string }).description).includes('dead-letters'),
    );

    expect(grants).toHaveLength(3);
    for (const grant of grants) {
      const p = grant.body.properties as {
        roleDefinitionId: string;
        principalId: unknown;
        principalType: string;
      };
      expect(grant.scope).toBe(container);
      expect(p.roleDefinitionId).toMatch(/\/ba92f5b4-2d11-453d-a403-e96b0029c9fe$/); // Storage Blob Data Contributor
      expect(p.principalType).toBe('ServicePrincipal');
    }
    // Each topic's own identity (Azure knows it at deployment time: reference() to the topic).
    expect(
      grants.map((g) => String((g.body.properties as { principalId: unknown }).principalId)).sort(),
    ).toEqual(
      THREE.sweepSubscriptions
        .map(
          (sub) =>
            `reference(/subscriptions/${sub}/resourceGroups/${sub === SUB ? 'rg-acrpull-app' : 'rg-acrpull-events'}/providers/Microsoft.EventGrid/systemTopics/evgt-acrpull-vm-writes).identity.principalId`,
        )
        .sort(),
    );
    expect(new Set(grants.map((g) => g.name)).size).toBe(3);
    const legacy = deployTemplate(
      {
        resources: [],
        outputs: {
          name: {
            value: `[guid('${container}', 'evgt-acrpull-vm-writes', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')]`,
          },
        },
      },
      {},
      { subscriptionId: SUB },
      [],
    ).name;
    expect(grants.map((g) => g.name)).toContain(legacy);
  });

  it('makes no Event Grid resource before the code is published (deployEventSubscription=false), and names every swept subscription as sweep-only', () => {
    const e = evaluateTemplate({ ...SAMPLE, deployEventSubscription: false });
    expect(e.resources.filter((r) => r.type.startsWith('Microsoft.EventGrid/'))).toEqual([]);
    expect(
      ofType(e, 'Microsoft.Authorization/roleAssignments').filter((r) =>
        JSON.stringify(r.body).includes('dead-letters'),
      ),
    ).toEqual([]);
    expect(e.outputs.subscriptionsCoveredBySweepOnly).toEqual(SAMPLE.sweepSubscriptions);
    expect(e.outputs.subscriptionsWithEvents).toEqual([]);
  });
});
