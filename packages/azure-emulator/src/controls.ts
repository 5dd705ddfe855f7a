// What tests steer and observe: injected faults, hooks that run before an operation, and request
// counts. Independent of HTTP; the servers (ARM, token endpoint, ingestion) consult it for every request.

export const OPERATIONS = [
  'vm.get',
  'vm.list',
  'vm.patch',
  'vm.operationStatus',
  'vmss.get',
  'vmss.list',
  'vmss.patch',
  'identity.get',
  'identity.put',
  'identity.list',
  'roleAssignment.get',
  'roleAssignment.put',
  'roleAssignment.delete',
  'roleAssignment.list',
  'registry.get',
  'registry.list',
  'graph.query',
  'subscription.list',
  'subscription.get',
  'resourceGroup.get',
  'resourceGroup.put',
  'resourceGroup.list',
  'roleDefinition.get',
  'roleDefinition.list',
  'denyAssignment.get',
  'denyAssignment.list',
  'systemTopic.list',
  'eventSubscription.list',
  'resource.list',
  'metadata.get',
  'nic.get',
  'nic.list',
  'vnet.get',
  'vnet.list',
  'subnet.get',
  'subnet.list',
  'peering.get',
  'peering.list',
  'privateEndpoint.get',
  'privateEndpoint.list',
  'publicIp.get',
  'publicIp.list',
  'privateDnsZone.get',
  'privateDnsZone.list',
  'privateDnsLink.get',
  'privateDnsLink.list',
  'recordSet.get',
  'recordSet.list',
  'token',
  'ingestion.track',
  'ingestion.liveMetrics',
] as const;

export type OperationName = (typeof OPERATIONS)[number];

export interface FaultRequest {
  method: string;
  path: string;
  body: unknown;
  /** Request headers, lower-cased names (If-Match, for instance); absent for the token endpoint. */
  headers?: Readonly<Record<string, string | string[] | undefined>>;
}

export interface FaultSpec {
  operation: OperationName;
  status: number;
  code: string;
  message?: string;
  retryAfterSeconds?: number;
  retryAfterMs?: number;
  /** How many matching requests get the fault (default 1). */
  count?: number;
  /** response (default): answer with this error; reset: destroy the socket; asyncFailed: the PATCH's operation ends Failed. */
  kind?: 'response' | 'reset' | 'asyncFailed';
  match?: (req: FaultRequest) => boolean;
}

export interface Totals {
  reads: number;
  writes: number;
  polls: number;
  tokens: number;
  /** Application Insights `ingestion.track` requests: not ARM traffic, never a read or a write. */
  telemetry: number;
}

/** 429s the optional throttle sent: all of them, and per operation (every key present). */
export interface ThrottledCounts {
  total: number;
  byOperation: Record<OperationName, number>;
}

interface ArmedFault {
  spec: FaultSpec;
  remaining: number;
}

interface Hook {
  operation: OperationName;
  hook: () => void;
  once: boolean;
}

/**
 * Resource Graph queries are POSTs but read-only: they count as reads, not writes. Telemetry is no
 * ARM traffic; live-metrics pings are counted per operation only.
 */
function totalsKey(operation: OperationName): keyof Totals | undefined {
  if (operation === 'ingestion.track') return 'telemetry';
  if (operation === 'ingestion.liveMetrics') return undefined;
  if (operation === 'token') return 'tokens';
  if (operation === 'vm.operationStatus') return 'polls';
  if (operation === 'graph.query') return 'reads';
  // ARM's cloud metadata needs no token: nobody's read budget pays for it.
  if (operation === 'metadata.get') return undefined;
  return operation.endsWith('.get') || operation.endsWith('.list') ? 'reads' : 'writes';
}

const zeroCounts = () => Object.fromEntries(OPERATIONS.map((op) => [op, 0])) as Record<OperationName, number>;
const zeroTotals = (): Totals => ({ reads: 0, writes: 0, polls: 0, tokens: 0, telemetry: 0 });

export class Controls {
  private faults: ArmedFault[] = [];
  private hooks: Hook[] = [];
  private perOperation = zeroCounts();
  private sums = zeroTotals();
  private throttledPerOperation = zeroCounts();
  private throttledTotal = 0;

  injectFault(spec: FaultSpec): void {
    if (!OPERATIONS.includes(spec.operation))
      throw new Error(`injectFault: unknown operation '${spec.operation}'`);
    const count = spec.count ?? 1;
    if (!Number.isInteger(count) || count < 1)
      throw new Error('injectFault: count must be a positive integer');
    if (spec.kind === 'asyncFailed' && spec.operation !== 'vm.patch') {
      throw new Error(
        "injectFault: kind 'asyncFailed' applies only to 'vm.patch' (the only long-running operation)",
      );
    }
    if (spec.kind !== 'reset' && (spec.status < 100 || spec.status > 599)) {
      throw new Error(`injectFault: status ${spec.status} is not an HTTP status`);
    }
    this.faults.push({ spec, remaining: count });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** The first armed fault for this request, with one use consumed. */
  takeFault(operation: OperationName, req: FaultRequest): FaultSpec | undefined {
    const armed = this.faults.find(
      (f) => f.remaining > 0 && f.spec.operation === operation && (!f.spec.match || f.spec.match(req)),
    );
    if (!armed) return undefined;
    armed.remaining -= 1;
    this.faults = this.faults.filter((f) => f.remaining > 0);
    return armed.spec;
  }

  onBeforeOperation(operation: OperationName, hook: () => void, once = false): void {
    this.hooks.push({ operation, hook, once });
  }

  runHooks(operation: OperationName): void {
    const due = this.hooks.filter((h) => h.operation === operation);
    this.hooks = this.hooks.filter((h) => !(h.once && h.operation === operation));
    for (const h of due) h.hook();
  }

  record(operation: OperationName): void {
    this.perOperation[operation] += 1;
    const key = totalsKey(operation);
    if (key) this.sums[key] += 1;
  }

  /** A 429 the throttle sent; `undefined` when the request matched no route. */
  recordThrottled(operation: OperationName | undefined): void {
    this.throttledTotal += 1;
    if (operation) this.throttledPerOperation[operation] += 1;
  }

  throttled(): ThrottledCounts {
    return { total: this.throttledTotal, byOperation: { ...this.throttledPerOperation } };
  }

  counts(): Record<OperationName, number> {
    return { ...this.perOperation };
  }

  totals(): Totals {
    return { ...this.sums };
  }

  resetCounts(): void {
    this.perOperation = zeroCounts();
    this.sums = zeroTotals();
    this.throttledPerOperation = zeroCounts();
    this.throttledTotal = 0;
  }
}
