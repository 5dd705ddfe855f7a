// A VM PATCH while another operation runs on that VM. Compute may accept the newer request and
// preempt the running operation (Canceled / OperationPreempted; azure-sdk-for-java#1783,
// osbuild/osbuild-composer#1447, cockroachdb/cockroach#77613), or refuse it with 409. The emulator
// does either (preempt by default), for the VM's creation and for another writer's update.
import { type Emulator, OPERATION_PREEMPTED, startEmulator, VM_OWNER } from '../src';
import { type Clients, clientsFor, failure, placed, rawArm, SUB } from '../src/testing';

const RG = 'rg-apps';
// The app's own updates run 50 ms (others' as long as each test says); the SDK polls every 60 ms.
const FAST = { updateIntervalInMs: 60 };

let emu: Emulator;
let clients: Clients;
let n = 0;

beforeAll(async () => {
  emu = await startEmulator({ operationDurationMs: 50 });
  clients = clientsFor(emu);
});
afterEach(() => emu.setConcurrentWrites('preempt'));
afterAll(() => emu.close());

const nextName = () => `vm-cw-${++n}`;
const vmPath = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/${name}?api-version=2026-04-01`;
const patchTags = (name: string, tags: Record<string, string>) =>
  clients.compute.virtualMachines.update(RG, name, { tags }, FAST);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a VM being created by its owner', () => {
  it('reads Creating until the creation ends, then Succeeded, without anyone writing to it', async () => {
    const vm = emu.seedVm({ ...placed(RG, nextName()), provisioning: { forMs: 1_000 } });

    const during = await clients.compute.virtualMachines.get(RG, vm.name);
    await sleep(1_050);
    const after = await clients.compute.virtualMachines.get(RG, vm.name);

    expect(during.provisioningState).toBe('Creating');
    expect(after.provisioningState).toBe('Succeeded');
    expect(emu.vmOperations(vm.id)).toEqual([
      expect.objectContaining({ kind: 'create', startedBy: VM_OWNER, status: 'Succeeded' }),
    ]);
    expect(emu.preemptions()).toHaveLength(0);
  });

  it('by default accepts a PATCH and preempts the creation: Canceled / OperationPreempted', async () => {
    const vm = emu.seedVm({ ...placed(RG, nextName()), provisioning: { forMs: 60_000 } });
    const before = emu.preemptions().length;

    const res = await rawArm(emu, 'PATCH', vmPath(vm.name), { body: { tags: { late: 'writer' } } });

    expect(res.status).toBe(200);
    const [create, update] = emu.vmOperations(vm.id);
    expect(create).toMatchObject({ kind: 'create', startedBy: VM_OWNER, status: 'Canceled' });
    expect(create?.error).toEqual(OPERATION_PREEMPTED);
    expect(update).toMatchObject({ kind: 'update', startedBy: emu.appIdentity.principalId });
    expect(emu.preemptions().slice(before)).toEqual([
      expect.objectContaining({
        vmId: vm.id,
        kind: 'create',
        startedBy: VM_OWNER,
        preemptedBy: emu.appIdentity.principalId,
      }),
    ]);
    // The owner's status URL says so, as their deployment would see it.
    const status = await rawArm(emu, 'GET', String(create?.statusUrl).slice(emu.armEndpoint.length));
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ status: 'Canceled', error: OPERATION_PREEMPTED });
  });

  it('under concurrentWrites=conflict refuses the PATCH with 409 OperationNotAllowed and preempts nothing', async () => {
    emu.setConcurrentWrites('conflict');
    const vm = emu.seedVm({ ...placed(RG, nextName()), provisioning: { forMs: 60_000 } });
    const before = emu.preemptions().length;

    const error = await failure(patchTags(vm.name, { a: '1' }));

    expect(error.statusCode).toBe(409);
    expect(error.code).toBe('OperationNotAllowed');
    expect(emu.vmOperations(vm.id)).toEqual([
      expect.objectContaining({ kind: 'create', status: 'InProgress' }),
    ]);
    expect(emu.getVm(vm.id)?.tags).toEqual({});
    expect(emu.preemptions()).toHaveLength(before);
  });
});

describe("another writer's update", () => {
  it('applies the change at once, bumps the etag and reads Updating for as long as it runs', async () => {
    const vm = emu.seedVm(placed(RG, nextName()));

    const op = emu.startVmOperation(vm.id, { forMs: 80, change: (v) => (v.tags = { owner: 'terraform' }) });
    const during = emu.getVm(vm.id);
    await sleep(100);

    expect(op).toMatchObject({ kind: 'update', startedBy: VM_OWNER, status: 'InProgress' });
    expect(during).toMatchObject({ provisioningState: 'Updating', tags: { owner: 'terraform' } });
    expect(during?.etag).not.toBe(vm.etag);
    expect(emu.getVm(vm.id)?.provisioningState).toBe('Succeeded');
    expect(() => emu.startVmOperation(vm.id, { forMs: 10 })).not.toThrow();
    expect(() => emu.startVmOperation(vm.id, { forMs: 10 })).toThrow(/already has an operation running/);
  });

  it('by default is preempted by a PATCH that arrives while it runs', async () => {
    const vm = emu.seedVm(placed(RG, nextName()));
    emu.startVmOperation(vm.id, { forMs: 60_000, by: 'bicep-deployment' });

    await expect(patchTags(vm.name, { mine: '1' })).resolves.toMatchObject({
      provisioningState: 'Succeeded',
    });

    expect(emu.vmOperations(vm.id)[0]).toMatchObject({
      startedBy: 'bicep-deployment',
      status: 'Canceled',
      error: OPERATION_PREEMPTED,
    });
    expect(emu.preemptions().at(-1)).toMatchObject({
      vmId: vm.id,
      kind: 'update',
      startedBy: 'bicep-deployment',
    });
  });

  it('under concurrentWrites=conflict refuses the PATCH with 409 Conflict; the update ends Succeeded', async () => {
    emu.setConcurrentWrites('conflict');
    const vm = emu.seedVm(placed(RG, nextName()));
    emu.startVmOperation(vm.id, { forMs: 1_000 });

    const error = await failure(patchTags(vm.name, { a: '1' }));
    await sleep(1_050);

    expect(error.statusCode).toBe(409);
    expect(error.code).toBe('Conflict');
    expect(emu.vmOperations(vm.id)[0]).toMatchObject({ status: 'Succeeded' });
  });

  it('keepEtag: an operation that changes nothing in the model leaves the etag, so If-Match cannot see it', async () => {
    const vm = emu.seedVm(placed(RG, nextName()));
    const before = emu.preemptions().length;
    emu.startVmOperation(vm.id, { forMs: 60_000, keepEtag: true });

    const res = await rawArm(emu, 'PATCH', vmPath(vm.name), {
      body: { tags: { a: '1' } },
      headers: { 'if-match': vm.etag },
    });

    expect(emu.getVm(vm.id)?.etag).not.toBe(vm.etag); // bumped by the accepted PATCH only
    expect(res.status).toBe(200);
    expect(emu.preemptions()).toHaveLength(before + 1);
  });

  it('deleting a VM ends its running operation Canceled; one already past its time had Succeeded', async () => {
    const running = emu.seedVm(placed(RG, nextName()));
    const done = emu.seedVm(placed(RG, nextName()));
    emu.startVmOperation(running.id, { forMs: 60_000 });
    emu.startVmOperation(done.id, { forMs: 0 });

    emu.deleteVm(running.id);
    emu.deleteVm(done.id);

    expect(emu.vmOperations(running.id)[0]).toMatchObject({ status: 'Canceled' });
    expect(emu.vmOperations(done.id)[0]).toMatchObject({ status: 'Succeeded' });
  });

  it('refuses an operation that would never end', () => {
    const vm = emu.seedVm(placed(RG, nextName()));
    expect(() => emu.startVmOperation(vm.id, { forMs: Number.POSITIVE_INFINITY })).toThrow(/finite forMs/);
  });

  it("rejects a PATCH planned from the etag before the writer's request with 412, preempting nothing", async () => {
    const vm = emu.seedVm(placed(RG, nextName()));
    const before = emu.preemptions().length;
    emu.startVmOperation(vm.id, { forMs: 60_000 });

    const res = await rawArm(emu, 'PATCH', vmPath(vm.name), {
      body: { tags: { a: '1' } },
      headers: { 'if-match': vm.etag },
    });

    expect(res.status).toBe(412);
    expect(res.body.error?.code).toBe('PreconditionFailed');
    expect(emu.preemptions()).toHaveLength(before);
  });

  it('a PATCH preempting our own PATCH is a preemption too (two PATCHes in a row)', async () => {
    const vm = emu.seedVm(placed(RG, nextName()));
    const before = emu.preemptions().length;

    await rawArm(emu, 'PATCH', vmPath(vm.name), { body: { tags: { a: '1' } } });
    await rawArm(emu, 'PATCH', vmPath(vm.name), { body: { tags: { a: '2' } } });

    expect(emu.preemptions().slice(before)).toEqual([
      expect.objectContaining({ kind: 'update', startedBy: emu.appIdentity.principalId }),
    ]);
    expect(emu.getVm(vm.id)?.tags).toEqual({ a: '2' });
  });
});
