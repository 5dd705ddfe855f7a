// Microsoft.Compute/virtualMachines (2026-04-01, also 2026-03-01): GET, lists, and PATCH as a
// long-running operation — 200 with provisioningState "Updating" plus an Azure-AsyncOperation header.
// A PATCH while another operation runs on the VM (its creation, or someone's update) is accepted and
// preempts that operation, or refused with 409, as the emulator is set (settings.concurrentWrites).
import type { IncomingHttpHeaders } from 'node:http';
import { type Handler, type ModifyPolicy, ok, pageOf, parseTags, requireObject } from '../armHttp';
import { concurrentRequestConflict, notImplemented, preconditionFailed, vmBeingProvisioned } from '../errors';
import { TYPES } from '../resourceIds';
import type { VmIdentity, VmRecord } from '../store';
import { listScope, requireResource } from './lookup';
import { operationUrl } from './operations';
import { applyIdentityPatch } from './vmIdentityPatch';

const PATCHABLE = ['tags', 'identity'];

export function renderIdentity(identity: VmIdentity): unknown {
  return {
    type: identity.type,
    ...(identity.principalId ? { principalId: identity.principalId, tenantId: identity.tenantId } : {}),
    ...(identity.type.includes('UserAssigned')
      ? { userAssignedIdentities: identity.userAssignedIdentities }
      : {}),
  };
}

/**
 * A VM as Compute returns it, complete enough for clients that print or copy it (`az vm show`): the
 * hardware, storage, OS and network profiles of a Linux VM made from a marketplace image, with one
 * managed OS disk and one NIC, shaped as the REST spec's VirtualMachine (specification/compute/
 * resource-manager/Microsoft.Compute/ComputeRP/stable/{version}/virtualMachine.json; examples/
 * virtualMachineExamples/VirtualMachine_Get_MaximumSet_Gen.json) and real `az vm show` output. The
 * emulator models only tags, identity and provisioningState; the profiles are derived from the VM's
 * name and vmId, fixed for its life, and no write may change them (PATCH takes tags and identity only).
 */
export function renderVm(vm: VmRecord, options: { instanceView?: boolean } = {}): unknown {
  const rgId = `/subscriptions/${vm.subscriptionId}/resourceGroups/${vm.resourceGroup}`;
  const osDisk = osDiskName(vm);
  return {
    name: vm.name,
    id: vm.id,
    type: vm.type,
    location: vm.location,
    ...(Object.keys(vm.tags).length > 0 ? { tags: vm.tags } : {}),
    ...(vm.identity ? { identity: renderIdentity(vm.identity) } : {}),
    etag: vm.etag,
    properties: {
      vmId: vm.vmId,
      hardwareProfile: { vmSize: vm.vmSize },
      storageProfile: {
        imageReference: {
          publisher: 'Canonical',
          offer: '0001-com-ubuntu-server-jammy',
          sku: '22_04-lts-gen2',
          version: 'latest',
          exactVersion: '22.04.202410020',
        },
        osDisk: {
          osType: 'Linux',
          name: osDisk,
          createOption: 'FromImage',
          caching: 'ReadWrite',
          managedDisk: {
            storageAccountType: 'Premium_LRS',
            id: `${rgId}/providers/Microsoft.Compute/disks/${osDisk}`,
          },
          deleteOption: 'Delete',
          diskSizeGB: 30,
        },
        dataDisks: [],
        diskControllerType: 'SCSI',
      },
      osProfile: {
        computerName: vm.name,
        adminUsername: 'azureuser',
        linuxConfiguration: {
          disablePasswordAuthentication: true,
          ssh: {
            publicKeys: [{ path: '/home/azureuser/.ssh/authorized_keys', keyData: EMULATED_SSH_KEY }],
          },
          provisionVMAgent: true,
          patchSettings: { patchMode: 'ImageDefault', assessmentMode: 'ImageDefault' },
          enableVMAgentPlatformUpdates: false,
        },
        secrets: [],
        allowExtensionOperations: true,
        requireGuestProvisionSignal: true,
      },
      // The seeded NICs (network/model.ts seedNic), primary marked as Compute reports it
      // (NetworkInterfaceReference.properties.primary); without them, the NIC az vm create would have
      // made, which the network model does not hold (a GET of it answers 404).
      networkProfile: {
        networkInterfaces: vm.networkInterfaces
          ? vm.networkInterfaces.map((nic) => ({
              id: nic.id,
              properties: { primary: nic.primary, deleteOption: 'Detach' },
            }))
          : [
              {
                id: `${rgId}/providers/Microsoft.Network/networkInterfaces/${vm.name}VMNic`,
                properties: { deleteOption: 'Detach' },
              },
            ],
      },
      provisioningState: vm.provisioningState,
      ...(options.instanceView ? { instanceView: instanceView(vm, osDisk) } : {}),
      timeCreated: vm.timeCreated,
      ...(vm.virtualMachineScaleSet ? { virtualMachineScaleSet: { id: vm.virtualMachineScaleSet } } : {}),
    },
  };
}

/** A placeholder public key in the OpenSSH format (no private key exists for it). */
const EMULATED_SSH_KEY =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEmulatedKeyOfTheLocalAzureEmulatorXXXXXXXXX emulator';

/** Compute names a VM's OS disk `{vm}_OsDisk_1_{32 hex}` (az vm create; seen in az vm show output). */
function osDiskName(vm: VmRecord): string {
  return `${vm.name}_OsDisk_1_${vm.vmId.replace(/-/g, '')}`;
}

/**
 * `$expand=instanceView`: the VM's runtime view (VirtualMachineInstanceView in the spec): the
 * provisioning state as a status (`ProvisioningState/succeeded`, `…/updating` while an operation
 * runs, `…/failed`), the power state (always running: the emulator models no power operations), the
 * guest agent and the OS disk.
 */
function instanceView(vm: VmRecord, osDisk: string): unknown {
  const state = vm.provisioningState.toLowerCase();
  const provisioning = {
    code: `ProvisioningState/${state}`,
    level: state === 'failed' ? 'Error' : 'Info',
    displayStatus: state === 'succeeded' ? 'Provisioning succeeded' : vm.provisioningState,
    ...(state === 'succeeded' ? { time: vm.timeCreated } : {}),
  };
  return {
    computerName: vm.name,
    osName: 'ubuntu',
    osVersion: '22.04',
    vmAgent: {
      vmAgentVersion: '2.12.0.2',
      statuses: [
        {
          code: 'ProvisioningState/succeeded',
          level: 'Info',
          displayStatus: 'Ready',
          message: 'Guest Agent is running',
          time: new Date().toISOString(),
        },
      ],
      extensionHandlers: [],
    },
    disks: [
      {
        name: osDisk,
        statuses: [
          {
            code: 'ProvisioningState/succeeded',
            level: 'Info',
            displayStatus: 'Provisioning succeeded',
            time: vm.timeCreated,
          },
        ],
      },
    ],
    hyperVGeneration: 'V2',
    statuses: [provisioning, { code: 'PowerState/running', level: 'Info', displayStatus: 'VM running' }],
  };
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** If-Match / If-None-Match against the VM's current etag (exact string match, `*` = any). */
function checkPreconditions(headers: IncomingHttpHeaders, vm: VmRecord): void {
  const ifMatch = header(headers, 'if-match');
  if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== vm.etag) throw preconditionFailed(ifMatch);
  const ifNoneMatch = header(headers, 'if-none-match');
  if (ifNoneMatch === '*' || (ifNoneMatch !== undefined && ifNoneMatch === vm.etag)) {
    throw preconditionFailed(ifNoneMatch);
  }
}

export const getVm: Handler = (req, ctx) => {
  // An update past its deadline has finished, whether or not anyone polled it.
  const vm = ctx.store.currentVm(requireResource(ctx.store, ctx.store.vms, TYPES.vm, req.params));
  return ok(renderVm(vm, { instanceView: expandsInstanceView(req.query.$expand) }), { ETag: vm.etag });
};

/**
 * `$expand` (InstanceViewTypes in the spec): `instanceView`, or `userData`, which the emulator does
 * not hold (it answers as for a VM without user data). Compute's answer to any other value is not
 * documented: the emulator says it does not model it.
 */
function expandsInstanceView(expand: string | undefined): boolean {
  if (expand === undefined || expand === '') return false;
  const value = expand.toLowerCase();
  if (value === 'instanceview') return true;
  if (value === 'userdata') return false;
  throw notImplemented(`$expand=${expand} on a VM (supported: instanceView, userData)`);
}

export const listVms: Handler = (req, ctx) =>
  pageOf(listScope(ctx.store, ctx.store.vms, req.params), req, ctx, (vm: VmRecord) =>
    renderVm(ctx.store.currentVm(vm)),
  );

export const patchVm: Handler = (req, ctx) =>
  patchCompute(req, ctx, requireResource(ctx.store, ctx.store.vms, TYPES.vm, req.params), renderVm);

/** The request as ARM hands it to Compute after the modify policies at the resource's scope ran. */
function applyModifyPolicies(
  policies: readonly ModifyPolicy[],
  resourceId: string,
  body: Record<string, unknown>,
): Record<string, unknown> {
  const identity = body.identity as { userAssignedIdentities?: Record<string, unknown> } | null | undefined;
  if (!identity?.userAssignedIdentities) return body;
  const key = resourceId.toLowerCase();
  const removed = policies
    .filter((p) => key === p.scope.toLowerCase() || key.startsWith(`${p.scope.toLowerCase()}/`))
    .flatMap((p) => p.removeUserAssignedIdentities.map((id) => id.toLowerCase()));
  if (removed.length === 0) return body;
  const kept = Object.fromEntries(
    Object.entries(identity.userAssignedIdentities).filter(([id]) => !removed.includes(id.toLowerCase())),
  );
  if (Object.keys(kept).length > 0)
    return { ...body, identity: { ...identity, userAssignedIdentities: kept } };
  // Nothing left to add: the policy's remove takes the identity property out of the request (a PATCH
  // without it leaves the model's identities as they are; 'UserAssigned' with an empty dictionary
  // would be Compute's 400 MissingIdentityIds).
  const { identity: _removed, ...rest } = body;
  return rest;
}

/**
 * A PATCH of a VM or a scale set: the same identity merge, etag preconditions, preemption or 409, and
 * async operation for both (Compute's scale-set PATCH takes the same identity body and answers the
 * same way; see handlers/scaleSets.ts).
 */
export function patchCompute(
  req: Parameters<Handler>[0],
  ctx: Parameters<Handler>[1],
  vm: VmRecord,
  render: (vm: VmRecord) => unknown,
): ReturnType<Handler> {
  const { store } = ctx;
  checkPreconditions(req.headers, vm);
  const running = store.runningOperationFor(vm);
  if (running && ctx.settings.concurrentWrites === 'conflict') {
    throw running.kind === 'create' ? vmBeingProvisioned(vm.name) : concurrentRequestConflict();
  }

  const body = applyModifyPolicies(ctx.settings.modifyPolicies, vm.id, requireObject(req.body));
  const unsupported = Object.keys(body).filter((k) => !PATCHABLE.includes(k) && body[k] !== null);
  if (unsupported.length > 0) {
    throw notImplemented(`'${unsupported.join("', '")}' in a VM PATCH (only tags and identity are emulated)`);
  }
  const tags = body.tags === undefined || body.tags === null ? vm.tags : parseTags(body.tags);
  const identity =
    body.identity === undefined || body.identity === null
      ? vm.identity
      : applyIdentityPatch(vm.identity, body.identity, {
          vmId: vm.id,
          tenantId: store.tenantId,
          resolveIdentity: (id) => store.identities.byId(id, TYPES.identity),
          newSystemPrincipal: () => store.newSystemIdentityPrincipal(Date.now()),
        });

  // Validation passed: a running operation is preempted (Compute accepts the newer request), the
  // model changes now, and the new operation reports when it is "done".
  if (running) store.preempt(running, req.caller.objectId);
  vm.tags = tags;
  vm.identity = identity;
  store.bumpEtag(vm);
  const op = store.startOperation(
    vm,
    {
      kind: 'update',
      startedBy: req.caller.objectId,
      durationMs: ctx.settings.operationDurationMs(),
    },
    ctx.asyncFailure,
  );
  // Compute's answer to an identity PATCH in recorded traffic (azure-cli test_vm_explicit_msi.yaml):
  // 200, the model as updated with provisioningState Updating, Azure-AsyncOperation and
  // Azure-AsyncNotification, no Location. Whether it carries Retry-After is not recorded (the CLI's
  // recorder strips the header); a VM extension PUT's 201 had none, so none is sent here.
  return ok(render(vm), {
    ETag: vm.etag,
    'Azure-AsyncOperation': operationUrl(ctx.baseUrl, op, req.apiVersion),
    'Azure-AsyncNotification': 'Enabled',
  });
}
