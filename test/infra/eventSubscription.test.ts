// The app template's Event Grid subscription against the handler it feeds.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { TARGET_KINDS } from '../../src/targets';
import { parseWriteEvent, SCALE_SET_WRITE, TAGS_WRITE, WRITE_SUCCESS } from '../../src/targets/writeEvent';
import { SUB, vmId, writeSuccessEvent } from '../support/harness';
import { app, byType, root } from '../support/infraTemplates';

describe('deployment templates', () => {
  it('subscribe to exactly the events the handler accepts, delivered to the function that handles them', () => {
    const subscription = byType(app, 'Microsoft.EventGrid/systemTopics/eventSubscriptions')[0] as {
      properties: {
        filter: {
          includedEventTypes: string[];
          advancedFilters: { key: string; operatorType: string; values: string[] }[];
        };
        destination: { properties: { resourceId: string } };
        retryPolicy: object;
        deadLetterWithResourceIdentity: object;
      };
    };
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
    const functionName =
      subscription.properties.destination.properties.resourceId.match(/\/functions\/(\w+)'\)\]$/)?.[1];
    expect(readFileSync(path.join(root, 'src', 'functions', 'vmWriteEvent.ts'), 'utf8')).toContain(
      `app.eventGrid('${functionName}'`,
    );
    expect(subscription.properties.retryPolicy).toEqual({
      maxDeliveryAttempts: 30,
      eventTimeToLiveInMinutes: 1440,
    });
    // The storage account refuses shared keys: Event Grid dead-letters with the system topic's identity.
    expect(subscription.properties.deadLetterWithResourceIdentity).toMatchObject({
      identity: { type: 'SystemAssigned' },
      deadLetterDestination: {
        endpointType: 'StorageBlob',
        properties: { blobContainerName: "[variables('deadLetterContainer')]" },
      },
    });
  });

  it('the filter lets through exactly the events the handler acts on: no tags write on other resources', () => {
    const { advancedFilters } = (
      byType(app, 'Microsoft.EventGrid/systemTopics/eventSubscriptions')[0] as {
        properties: {
          filter: { advancedFilters: { key: string; operatorType: string; values: string[] }[] };
        };
      }
    ).properties.filter;
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
});
