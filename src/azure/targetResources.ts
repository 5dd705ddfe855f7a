// The targets' adapter: one ARM call per method (plus the attach's status polls), over the real
// compute client, for every target kind with the VM's identity shape and PATCH semantics (VMs and
// scale sets; see targets/scaleSet.ts). Which SDK operation group and REST collection a kind uses
// comes from its declaration.
import type { ComputeManagementContext } from '@azure/arm-compute/api';
import { createHttpPoller, type OperationResponse } from '@azure/core-lro';
import { createRestError, type PathUncheckedResponse } from '@azure-rest/core-client';
import type { AttachPatch } from '../core/attachPlan';
import { type TargetRef, targetKind } from '../targets';
import type { ArmClients } from './armClients';
import { isNotFound } from './armErrors';
import { sleepUnlessAborted } from './armRequestPolicy';

/** The api-version @azure/arm-compute 25.1.1 sends for virtual machines. */
export const COMPUTE_API_VERSION = '2026-04-01';

export interface AttachedIdentity {
  readonly principalId?: string;
  readonly clientId?: string;
}

export interface TargetState {
  readonly id: string;
  readonly location: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly etag?: string;
  readonly provisioningState?: string;
  readonly identity?: {
    readonly type?: string;
    readonly userAssignedIdentities?: Readonly<Record<string, AttachedIdentity>>;
  };
  /** Scale sets only: Uniform or Flexible. */
  readonly orchestrationMode?: string;
}

/** What an attach returns: the target as the PATCH left it, and whether its operation was seen to end. */
export type AttachedState = TargetState & {
  /**
   * Set when the caller took the operation as accepted (`onAccepted` said so) and it was not followed
   * to its end: when ARM accepted it. provisioningState is then the PATCH response's (Updating).
   */
  readonly acceptedAt?: number;
};

interface VmBody {
  location?: string;
  tags?: Record<string, string>;
  etag?: string;
  provisioningState?: string;
  orchestrationMode?: string;
  properties?: { provisioningState?: string; orchestrationMode?: string };
  identity?: { type?: string; userAssignedIdentities?: Record<string, AttachedIdentity> };
}

export interface AttachPolling {
  /**
   * The first status poll waits this long after the PATCH: about as long as an identity update
   * usually takes, so one poll usually finds it done (an earlier poll only learns InProgress).
   */
  readonly firstPollDelayMs: number;
  /** Between later polls; a Retry-After on a poll response overrides it (core-lro honours it). */
  readonly pollIntervalMs: number;
}

export class TargetResources {
  /** How long the last attach that saw its operation end waited for it, once ARM accepted the PATCH. */
  private lastWaitMs: number | undefined;

  constructor(
    private readonly clients: ArmClients,
    private readonly polling: AttachPolling = { firstPollDelayMs: 5_000, pollIntervalMs: 2_000 },
  ) {}

  /**
   * How long the last attach that saw its operation end waited for it once ARM accepted the PATCH
   * (undefined before the first): the part of a target's time that spends no ARM budget. The sweep
   * averages it (reconcile/sweep/adaptiveLimit.ts).
   */
  lastOperationWaitMs(): number | undefined {
    return this.lastWaitMs;
  }

  /** The status of an operation Compute gave the app for this target (see operationStatusOf). */
  operationStatus(vm: TargetRef, path: string, abortSignal?: AbortSignal): Promise<string> {
    return operationStatusOf(this.clients, vm, path, abortSignal);
  }

  /** undefined when the VM (or its resource group) no longer exists. */
  async get(vm: TargetRef, abortSignal?: AbortSignal): Promise<TargetState | undefined> {
    try {
      const compute = this.clients.compute(vm.subscriptionId);
      const options = abortSignal ? { abortSignal } : {};
      const found = await compute[targetKind(vm.kind).sdkOperations].get(vm.resourceGroup, vm.name, options);
      return toState(vm, found);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * PATCHes only the identities to add (ARM merges the dictionary) with the etag we planned from, so a
   * concurrent writer makes this fail with 412 instead of being overwritten, then follows the async
   * operation to its real outcome (a Failed operation throws).
   *
   * Why not `virtualMachines.update()`: its poller always ends with a GET of the VM, a fifth request per
   * attach that tells us nothing the PATCH response and the Succeeded status have not. core-lro can
   * skip it (`skipFinalGet`) but the SDK does not expose that, so the same pipeline and core-lro
   * poller are used here with it set. At fleet scale that is 20% fewer requests per repaired VM.
   */
  async attach(
    vm: TargetRef,
    patch: AttachPatch,
    etag: string | undefined,
    abortSignal?: AbortSignal,
    /**
     * Asked once ARM has accepted the PATCH and its operation runs, with the target as the PATCH
     * response shows it: true to return at once (the caller has made sure someone sees the operation
     * end), false to follow it to its end as usual.
     */
    onAccepted?: (
      accepted: TargetState,
      acceptedAt: number,
      operation: string | undefined,
    ) => Promise<boolean>,
  ): Promise<AttachedState> {
    const context = this.clients.computeContext(vm.subscriptionId);
    const type = targetKind(vm.kind).sdkOperations;
    const path = `/subscriptions/${encodeURIComponent(vm.subscriptionId)}/resourceGroups/${encodeURIComponent(
      vm.resourceGroup,
    )}/providers/Microsoft.Compute/${type}/${encodeURIComponent(vm.name)}`;
    // With no user-assigned identity left the type says so and the dictionary is left out: `None` or
    // `SystemAssigned` drops every user-assigned identity (qs-configure-rest-vm: "type": "None").
    const keepsUserAssigned = patch.type.includes('UserAssigned');
    const body = {
      identity: {
        type: patch.type,
        ...(keepsUserAssigned
          ? {
              userAssignedIdentities: Object.fromEntries([
                ...patch.add.map((id) => [id, {}] as const),
                ...patch.remove.map((id) => [id, null] as const),
              ]),
            }
          : {}),
      },
    };
    let accepted: VmBody | undefined;
    let retryAfterMs: number | undefined;
    let operation: string | undefined;
    const poller = createHttpPoller(
      {
        sendInitialRequest: async () => {
          const response = await context.pathUnchecked(path).patch({
            queryParameters: { 'api-version': COMPUTE_API_VERSION },
            headers: { accept: 'application/json', ...(etag ? { 'If-Match': etag } : {}) },
            contentType: 'application/json',
            body,
            ...(abortSignal ? { abortSignal } : {}),
          });
          const lro = asLroResponse(response);
          accepted = response.body as VmBody;
          retryAfterMs = retryAfterSecondsMs(response.headers['retry-after']);
          operation = operationPath(vm, response.headers['azure-asyncoperation']);
          return lro;
        },
        sendPollRequest: async (pollPath) => asLroResponse(await pollStatus(context, pollPath, abortSignal)),
      },
      { intervalInMs: this.polling.pollIntervalMs, skipFinalGet: true },
    );
    await poller.submitted();
    const acceptedAt = Date.now();
    if (!poller.isDone && onAccepted && accepted?.identity) {
      const state = toState(vm, flatten(accepted));
      if (await onAccepted(state, acceptedAt, operation)) return { ...state, acceptedAt };
    }
    // core-lro polls at once after the PATCH; an update is not done that soon, so wait first: as the
    // PATCH's Retry-After says if it has one, else the typical duration. The wait ends early
    // (AbortError) when the caller's budget does.
    const firstPollMs = retryAfterMs ?? this.polling.firstPollDelayMs;
    if (!poller.isDone && firstPollMs > 0) await sleepUnlessAborted(firstPollMs, abortSignal);
    await poller.pollUntilDone(abortSignal ? { abortSignal } : {});
    this.lastWaitMs = Date.now() - acceptedAt;
    // A 202 (or a 200 without the model) tells nothing about identities: read the VM instead.
    if (!accepted?.identity) {
      const now = await this.get(vm, abortSignal);
      if (now) return now;
    }
    // The PATCH response carries the model as updated; the operation has now Succeeded.
    return { ...toState(vm, flatten(accepted ?? {})), provisioningState: 'Succeeded' };
  }
}

/**
 * The status of an operation Compute gave the app for this target (its Azure-AsyncOperation path, as
 * `operationPath` kept it): 'unknown' when the path is not a Compute operation of the target's
 * subscription (a forged one is never requested) or ARM no longer knows it (404). Other failures throw.
 */
export async function operationStatusOf(
  clients: ArmClients,
  vm: TargetRef,
  path: string,
  abortSignal?: AbortSignal,
): Promise<string> {
  const checked = operationPath(vm, path);
  if (!checked) return 'unknown';
  try {
    const response = await pollStatus(clients.computeContext(vm.subscriptionId), checked, abortSignal);
    if (response.status === '404') return 'unknown';
    if (response.status !== '200') throw createRestError(response);
    const status = (response.body as { status?: unknown } | undefined)?.status;
    return typeof status === 'string' ? status : 'unknown';
  } catch (error) {
    if (isNotFound(error)) return 'unknown';
    throw error;
  }
}

/**
 * The path of a Compute operation of the target's subscription
 * (`/subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/operations/{id}`), from the
 * Azure-AsyncOperation URL (or a path kept from one); anything else is undefined. Only the path is kept:
 * the request goes to the configured ARM endpoint, whatever host a value names.
 */
export function operationPath(vm: TargetRef, value: string | undefined): string | undefined {
  if (!value) return undefined;
  let url: URL;
  try {
    url = new URL(value, 'https://placeholder.invalid');
  } catch {
    return undefined;
  }
  const match =
    /^\/subscriptions\/([^/]+)\/providers\/Microsoft\.Compute\/locations\/[A-Za-z0-9-]+\/operations\/[A-Za-z0-9-]+$/i.exec(
      url.pathname,
    );
  if (!match || match[1]?.toLowerCase() !== vm.subscriptionId.toLowerCase()) return undefined;
  return url.pathname;
}

async function pollStatus(
  context: ComputeManagementContext,
  pollPath: string,
  abortSignal: AbortSignal | undefined,
): Promise<PathUncheckedResponse> {
  const url = new URL(pollPath, 'https://placeholder.invalid');
  const withVersion = url.searchParams.has('api-version')
    ? pollPath
    : `${pollPath}${url.search ? '&' : '?'}api-version=${COMPUTE_API_VERSION}`;
  return await context.pathUnchecked(withVersion).get(abortSignal ? { abortSignal } : {});
}

/** Retry-After in whole seconds (what ARM sends), else undefined. */
function retryAfterSecondsMs(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : undefined;
}

function asLroResponse(response: PathUncheckedResponse): OperationResponse {
  if (!['200', '201', '202'].includes(response.status)) throw createRestError(response);
  return {
    flatResponse: response,
    rawResponse: {
      statusCode: Number.parseInt(response.status, 10),
      request: { method: response.request.method, url: response.request.url },
      headers: response.headers as Record<string, string>,
      body: response.body,
    },
  };
}

/** The REST body nests provisioningState under properties; the SDK model flattens it. */
function flatten(body: VmBody): VmBody {
  const provisioningState = body.provisioningState ?? body.properties?.provisioningState;
  const orchestrationMode = body.orchestrationMode ?? body.properties?.orchestrationMode;
  return {
    ...body,
    ...(provisioningState ? { provisioningState } : {}),
    ...(orchestrationMode ? { orchestrationMode } : {}),
  };
}

function toState(vm: TargetRef, found: VmBody): TargetState {
  return {
    id: vm.id,
    location: found.location ?? '',
    tags: found.tags ?? {},
    ...(found.etag ? { etag: found.etag } : {}),
    ...(found.provisioningState ? { provisioningState: found.provisioningState } : {}),
    ...(found.identity ? { identity: found.identity } : {}),
    ...(vm.kind === 'scaleSet' && found.orchestrationMode
      ? { orchestrationMode: found.orchestrationMode }
      : {}),
  };
}
