import { isOwnWrite, originRefusal, parseWriteEvent } from '../../../src/targets/writeEvent';

const SUB = '11111111-1111-1111-1111-111111111111';
const VM = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Compute/virtualMachines/vm-web-01`;

function writeEvent(overrides: Record<string, unknown> = {}, data: Record<string, unknown> = {}) {
  return {
    id: 'evt-1',
    topic: `/subscriptions/${SUB}`,
    subject: VM,
    eventType: 'Microsoft.Resources.ResourceWriteSuccess',
    eventTime: '2026-11-28T10:00:00Z',
    dataVersion: '2',
    metadataVersion: '1',
    data: {
      operationName: 'Microsoft.Compute/virtualMachines/write',
      resourceUri: VM,
      correlationId: 'corr-1',
      status: 'Succeeded',
      subscriptionId: SUB,
      claims: {
        'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn': 'alice@contoso.com',
        appid: 'app-1',
      },
      ...data,
    },
    ...overrides,
  };
}

describe('Event Grid VM write events', () => {
  it('reads the VM id, event id, correlation id and the caller (UPN first)', () => {
    expect(parseWriteEvent(writeEvent())).toEqual({
      kind: 'target-write',
      targetId: VM,
      eventId: 'evt-1',
      operationName: 'Microsoft.Compute/virtualMachines/write',
      correlationId: 'corr-1',
      eventTime: '2026-11-28T10:00:00.000Z',
      caller: 'alice@contoso.com',
      writer: { clientId: 'app-1' },
      origin: { topic: `/subscriptions/${SUB}`, resourceIds: [VM, VM], subscriptionId: SUB },
    });
  });

  it('tells the echo of the app’s own VM write by the claims’ object id (else client id); never a tag write', () => {
    const self = { objectId: 'oid-app', clientId: 'client-app' };
    const parsedWith = (claims: object, operationName = 'Microsoft.Compute/virtualMachines/write') => {
      const resourceUri = operationName.endsWith('tags/write')
        ? `${VM}/providers/Microsoft.Resources/tags/default`
        : VM;
      const parsed = parseWriteEvent(writeEvent({}, { claims, operationName, resourceUri }));
      if (parsed.kind !== 'target-write') throw new Error(parsed.reason);
      return parsed;
    };
    expect(isOwnWrite(parsedWith({ oid: 'OID-APP' }), self)).toBe(true);
    expect(isOwnWrite(parsedWith({ appid: 'client-app' }), self)).toBe(true);
    // Another principal of the same application (its object id differs): not ours.
    expect(isOwnWrite(parsedWith({ appid: 'client-app', oid: 'oid-other' }), self)).toBe(false);
    expect(isOwnWrite(parsedWith({ upn: 'alice@contoso.com' }), self)).toBe(false);
    expect(isOwnWrite(parsedWith({ oid: 'oid-app' }, 'Microsoft.Resources/tags/write'), self)).toBe(false);
  });

  it('falls back to the app id, then the object id, for the caller', () => {
    const app = parseWriteEvent(writeEvent({}, { claims: { appid: 'app-1', oid: 'oid-1' } }));
    expect(app.kind === 'target-write' && app.caller).toBe('app-1');
    const oid = parseWriteEvent(
      writeEvent(
        {},
        { claims: { 'http://schemas.microsoft.com/identity/claims/objectidentifier': 'oid-2' } },
      ),
    );
    expect(oid.kind === 'target-write' && oid.caller).toBe('oid-2');
  });

  it('maps a tags write on a VM scope to that VM (lower-case resourcegroups too)', () => {
    const uri = `${VM.replace('resourceGroups', 'resourcegroups')}/providers/Microsoft.Resources/tags/default`;
    const parsed = parseWriteEvent(
      writeEvent({ subject: uri }, { operationName: 'Microsoft.Resources/tags/write', resourceUri: uri }),
    );
    expect(parsed.kind === 'target-write' && parsed.targetId).toBe(VM);
  });

  const VMSS = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Compute/virtualMachineScaleSets/ss-web`;

  it('reads a scale set write, and a tags write on a scale set scope, as an event for the scale set', () => {
    const write = parseWriteEvent(
      writeEvent(
        { subject: VMSS },
        { operationName: 'Microsoft.Compute/virtualMachineScaleSets/write', resourceUri: VMSS },
      ),
    );
    const uri = `${VMSS}/providers/Microsoft.Resources/tags/default`;
    const tags = parseWriteEvent(
      writeEvent({ subject: uri }, { operationName: 'Microsoft.Resources/tags/write', resourceUri: uri }),
    );
    expect([
      write.kind === 'target-write' && write.targetId,
      tags.kind === 'target-write' && tags.targetId,
    ]).toEqual([VMSS, VMSS]);
  });

  it('reads a tags write that names the VM or scale set itself (as Activity Log records of tag writes do)', () => {
    const onVm = parseWriteEvent(writeEvent({}, { operationName: 'Microsoft.Resources/tags/write' }));
    const onScaleSet = parseWriteEvent(
      writeEvent({ subject: VMSS }, { operationName: 'Microsoft.Resources/tags/write', resourceUri: VMSS }),
    );
    expect([
      onVm.kind === 'target-write' && onVm.targetId,
      onScaleSet.kind === 'target-write' && onScaleSet.targetId,
    ]).toEqual([VM, VMSS]);
  });

  it('refuses a scale set write whose resource is a VM (or anything else) as malformed', () => {
    const parsed = parseWriteEvent(
      writeEvent({}, { operationName: 'Microsoft.Compute/virtualMachineScaleSets/write', resourceUri: VM }),
    );
    expect(parsed.kind === 'malformed' && parsed.reason).toMatch(/not a scale set id/);
  });

  it('tells the echo of the app’s own scale set write like a VM write', () => {
    const parsed = parseWriteEvent(
      writeEvent(
        { subject: VMSS },
        {
          operationName: 'Microsoft.Compute/virtualMachineScaleSets/write',
          resourceUri: VMSS,
          claims: { oid: 'app-object' },
        },
      ),
    );
    expect(parsed.kind === 'target-write' && isOwnWrite(parsed, { objectId: 'app-object' })).toBe(true);
  });

  it('accepts the CloudEvents schema', () => {
    const { eventType, ...rest } = writeEvent();
    const parsed = parseWriteEvent({
      ...rest,
      specversion: '1.0',
      type: eventType,
      source: `/subscriptions/${SUB}`,
    });
    expect(parsed.kind).toBe('target-write');
  });

  it.each([
    [
      'another event type',
      writeEvent({ eventType: 'Microsoft.Resources.ResourceDeleteSuccess' }),
      /not handled/,
    ],
    [
      'another operation',
      writeEvent({}, { operationName: 'Microsoft.Storage/storageAccounts/write' }),
      /not handled/,
    ],
    [
      'tags on a resource group',
      writeEvent(
        {},
        {
          operationName: 'Microsoft.Resources/tags/write',
          resourceUri: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Resources/tags/default`,
        },
      ),
      /not a virtual machine or scale set/,
    ],
    [
      'tags on a scale set instance',
      writeEvent(
        {},
        {
          operationName: 'Microsoft.Resources/tags/write',
          resourceUri: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/0/providers/Microsoft.Resources/tags/default`,
        },
      ),
      /not a virtual machine or scale set/,
    ],
  ])('ignores %s', (_label, event, reason) => {
    const parsed = parseWriteEvent(event);
    expect(parsed.kind).toBe('ignored');
    expect(parsed.kind === 'ignored' && parsed.reason).toMatch(reason);
  });

  it.each([
    ['null', null, /not a JSON object/],
    ['an array', [writeEvent()], /not a JSON object/],
    ['a string', 'hello', /not a JSON object/],
    ['no id', writeEvent({ id: undefined }), /no id/],
    ['no event type', writeEvent({ eventType: undefined }), /no eventType/],
    ['no data', writeEvent({ data: 'x' }), /no data object/],
    ['no operation name', writeEvent({}, { operationName: 42 }), /no data.operationName/],
    [
      'no resource',
      writeEvent({ subject: undefined }, { resourceUri: undefined }),
      /no data.resourceUri or subject/,
    ],
    [
      'a VM write on a non-VM id',
      writeEvent({}, { resourceUri: `/subscriptions/${SUB}/resourceGroups/rg` }),
      /not a virtual machine id/,
    ],
    [
      'a path-traversal VM id',
      writeEvent({}, { resourceUri: `${VM}/../../other` }),
      /not a virtual machine id/,
    ],
  ])('reports %s as malformed', (_label, event, reason) => {
    const parsed = parseWriteEvent(event);
    expect(parsed.kind).toBe('malformed');
    expect(parsed.kind === 'malformed' && parsed.reason).toMatch(reason);
  });
});

describe('VM names in events', () => {
  it.each(['vm\u001b[31m', 'vm\u202eevil', 'vm name', 'vm"x'])(
    'rejects a VM name ARM would not allow: %j',
    (name) => {
      const vm = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Compute/virtualMachines/${name}`;
      const parsed = parseWriteEvent(writeEvent({ subject: vm }, { resourceUri: vm }));
      expect(parsed.kind).toBe('malformed');
      // and the reason quotes it with every non-printable character escaped
      expect(parsed.kind === 'malformed' && /[^\x20-\x7e]/.test(parsed.reason)).toBe(false);
    },
  );
});

describe("an event's origin", () => {
  const OTHER = '22222222-2222-2222-2222-222222222222';
  const OTHER_VM = VM.replace(SUB, OTHER);
  const refusal = (event: unknown, swept: readonly string[] = [SUB]) => {
    const parsed = parseWriteEvent(event);
    if (parsed.kind !== 'target-write') throw new Error(`not a target write: ${JSON.stringify(parsed)}`);
    return originRefusal(parsed, swept);
  };
  const cloudEvent = (source: unknown) => {
    const { eventType, topic: _topic, ...rest } = writeEvent();
    return { ...rest, specversion: '1.0', type: eventType, source };
  };

  it("accepts a swept subscription's system topic naming a resource inside it (any case)", () => {
    expect(refusal(writeEvent())).toBeUndefined();
    expect(refusal(writeEvent({ topic: `/SUBSCRIPTIONS/${SUB.toUpperCase()}` }))).toBeUndefined();
    expect(refusal(cloudEvent(`/subscriptions/${SUB}`))).toBeUndefined();
  });

  it.each([
    ['no topic', writeEvent({ topic: undefined }), /has no topic/],
    [
      'a custom topic in the swept subscription',
      writeEvent({ topic: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.EventGrid/topics/t` }),
      /is not a subscription's system topic/,
    ],
    [
      'a trailing slash',
      writeEvent({ topic: `/subscriptions/${SUB}/` }),
      /not a subscription's system topic/,
    ],
    [
      'a resource group topic',
      writeEvent({ topic: `/subscriptions/${SUB}/resourceGroups/rg-apps` }),
      /system topic/,
    ],
    ['a topic that is not an id', writeEvent({ topic: 'https://attacker.example/' }), /system topic/],
    [
      'another subscription, not swept',
      writeEvent(
        { topic: `/subscriptions/${OTHER}`, subject: OTHER_VM },
        { resourceUri: OTHER_VM, subscriptionId: OTHER },
      ),
      /subscription 22222222-2222-2222-2222-222222222222, which is not swept/,
    ],
    [
      'a swept topic naming a VM of another subscription',
      writeEvent({ subject: OTHER_VM }, { resourceUri: OTHER_VM }),
      /outside its topic's subscription/,
    ],
    [
      'a subject outside the topic while the resource is inside',
      writeEvent({ subject: OTHER_VM }),
      /names "\/subscriptions\/2222.*outside its topic's subscription/,
    ],
    [
      'data naming another subscription',
      writeEvent({}, { subscriptionId: OTHER }),
      /data names subscription/,
    ],
    [
      'a CloudEvents source of a custom topic',
      cloudEvent(`/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.EventGrid/topics/t`),
      /system topic/,
    ],
    [
      'a CloudEvents event with only a topic',
      { ...cloudEvent(undefined), topic: `/subscriptions/${SUB}` },
      /has no topic/,
    ],
  ])('refuses %s', (_label, event, reason) => {
    expect(refusal(event)).toMatch(reason);
  });

  it('with no swept list (every subscription the app can see), accepts any system topic, still only for its own resources', () => {
    const other = writeEvent(
      { topic: `/subscriptions/${OTHER}`, subject: OTHER_VM },
      { resourceUri: OTHER_VM, subscriptionId: OTHER },
    );
    expect(refusal(other, [])).toBeUndefined();
    expect(refusal(writeEvent({ topic: `/subscriptions/${OTHER}` }), [])).toMatch(
      /outside its topic's subscription/,
    );
    expect(
      refusal(
        writeEvent({
          topic: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.EventGrid/topics/t`,
        }),
        [],
      ),
    ).toMatch(/system topic/);
  });
});
