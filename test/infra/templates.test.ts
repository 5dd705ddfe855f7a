// The deployment templates against the code they deploy: settings, event filter, permissions.
//
// The permission tests evaluate infra/main.json for sample parameters and look at the concrete role
// definitions and assignments it would make. No maintained npm package evaluates ARM template
// expressions (the registry's `arm-visualizer-engine` is 0.0.x ARMVIZ code without lambdas, copy
// loops or subscription deployments; the maintained evaluators, Bicep's and PSRule.Rules.Azure's, are
// .NET), so `evaluateTemplate` below implements only the functions this template uses, and throws on
// any other. ARM behaviour it relies on, from Microsoft Learn (azure-resource-manager/templates/…):
// - template-functions-string: split's delimiter may be an array of strings; join(array, delimiter).
// - template-functions-logical: if() evaluates only the branch it returns (and() is not said to
//   short-circuit, so the template guards indexes with if(); this evaluator's and() is eager too).
// - template-functions-lambda: filter, map and reduce take lambda(); lambda variables may not be
//   used inside reference().
// - copy-resources: a copy count may be 0 (Azure CLI 2.0.74+, REST API 2019-05-10+).
// - deploy-to-subscription: a nested deployment deploys to another subscription with subscriptionId
//   (and location), to a resource group in it with resourceGroup too.
// - scope-extension-resources: in a resource group deployment, an extension resource (a role
//   assignment) takes `scope: '<namespace>/<type>/<name>'` for a resource of that group.
// - role-based-access-control/custom-roles: one definition can be assignable in several
//   subscriptions; creating or updating it needs roleDefinitions/write on every assignable scope.
// - rest/api/authorization/role-assignments/list-for-scope: roleAssignments/read at the listed scope.
// Not verified against Azure: whether listing a provider's resources at subscription scope works with
// read on a resource group only. The permission check below requires the action at the listed scope.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type FaultRequest, OPERATIONS, type OperationName } from '../../emulator';
import { loadSettings } from '../../src/config/settings';
import { parseAllowlist } from '../../src/core/allowlist';
import { isAtOrBelow } from '../../src/core/resourceId';
import { ACR_PULL_ROLE, REPOSITORY_READER_ROLE } from '../../src/core/roles';
import {
  parseVmWriteEvent,
  SCALE_SET_WRITE,
  TAGS_WRITE,
  VM_WRITE,
  WRITE_SUCCESS,
} from '../../src/core/vmWriteEvent';
import { IDENTITY_RG, OTHER_SUB, SUB, startHarness, vmId, writeSuccessEvent } from '../support/harness';

type Json = Record<string, unknown> & { resources?: Json[] };
const root = path.join(__dirname, '..', '..');
const readJson = (...parts: string[]) => JSON.parse(readFileSync(path.join(root, ...parts), 'utf8'));
const main = readJson('infra', 'main.json') as Json;
const example = readJson('infra', 'main.parameters.example.json') as {
  parameters: Record<string, { value: unknown }>;
};
const nested = (main.resources ?? []).find((r) => r.name === 'acrpull-app') as Json;
const app = (nested.properties as { template: Json }).template;
const byType = (template: Json, type: string) => (template.resources ?? []).filter((r) => r.type === type);

/** Settings the Functions host reads itself (identity-based storage connection), not the app. */
const HOST_SETTINGS = [
  'AzureWebJobsStorage__accountName',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
  // The host's own telemetry with the app's identity (local auth is disabled on the component).
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
];

/** The ARM permissions each emulated operation needs. */
const ACTIONS: Record<OperationName, readonly string[]> = {
  'vm.get': ['Microsoft.Compute/virtualMachines/read'],
  'vm.list': ['Microsoft.Compute/virtualMachines/read'],
  'vm.patch': [
    'Microsoft.Compute/virtualMachines/write',
    'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action',
  ],
  'vm.operationStatus': ['Microsoft.Compute/locations/operations/read'],
  'vmss.get': ['Microsoft.Compute/virtualMachineScaleSets/read'],
  'vmss.list': ['Microsoft.Compute/virtualMachineScaleSets/read'],
  'vmss.patch': [
    'Microsoft.Compute/virtualMachineScaleSets/write',
    'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action',
  ],
  'identity.get': ['Microsoft.ManagedIdentity/userAssignedIdentities/read'],
  'identity.list': ['Microsoft.ManagedIdentity/userAssignedIdentities/read'],
  'identity.put': ['Microsoft.ManagedIdentity/userAssignedIdentities/write'],
  'roleAssignment.get': ['Microsoft.Authorization/roleAssignments/read'],
  'roleAssignment.list': ['Microsoft.Authorization/roleAssignments/read'],
  'roleAssignment.put': ['Microsoft.Authorization/roleAssignments/write'],
  'roleAssignment.delete': ['Microsoft.Authorization/roleAssignments/delete'],
  'registry.get': ['Microsoft.ContainerRegistry/registries/read'],
  'registry.list': ['Microsoft.ContainerRegistry/registries/read'],
  'graph.query': ['Microsoft.ResourceGraph/resources/read'],
  'subscription.list': ['Microsoft.Resources/subscriptions/read'],
  'subscription.get': ['Microsoft.Resources/subscriptions/read'],
  'resourceGroup.get': ['Microsoft.Resources/subscriptions/resourceGroups/read'],
  'resourceGroup.list': ['Microsoft.Resources/subscriptions/resourceGroups/read'],
  'resourceGroup.put': ['Microsoft.Resources/subscriptions/resourceGroups/write'],
  'roleDefinition.get': ['Microsoft.Authorization/roleDefinitions/read'],
  'roleDefinition.list': ['Microsoft.Authorization/roleDefinitions/read'],
  'resource.list': ['Microsoft.Resources/subscriptions/resources/read'],
  // ARM's cloud metadata is served without a token.
  'metadata.get': [],
  // Not ARM: the token endpoint and Application Insights ingestion need no ARM permission.
  token: [],
  'ingestion.track': [],
  'ingestion.liveMetrics': [],
};

const VM_WRITE_ACTION = 'Microsoft.Compute/virtualMachines/write';
const IDENTITY_ACTIONS = [
  'Microsoft.ManagedIdentity/userAssignedIdentities/read',
  'Microsoft.ManagedIdentity/userAssignedIdentities/write',
  'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action',
];
const ASSIGN_ACTION = 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action';
const GRANT_ACTION = 'Microsoft.Authorization/roleAssignments/write';

function appSettingNames(): string[] {
  const site = byType(app, 'Microsoft.Web/sites')[0] as {
    properties: { siteConfig: { appSettings: { name: string }[] } };
  };
  return site.properties.siteConfig.appSettings.map((s) => s.name);
}

/** Every environment variable the app reads: loadSettings watched through a proxy, plus direct reads. */
function settingsTheAppReads(): string[] {
  const read = new Set<string>();
  const env = new Proxy(
    { ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG } as Record<string, string | undefined>,
    {
      get(target, key) {
        if (typeof key === 'string') read.add(key);
        return target[key as string];
      },
    },
  );
  loadSettings(env);
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)],
    );
  for (const file of walk(path.join(root, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/process\.env\.([A-Z_][A-Z0-9_]*)/g))
      read.add(m[1] as string);
  }
  return [...read].sort();
}

// ---------------------------------------------------------------------------------------------------
// A small evaluator of ARM template expressions: enough for infra/main.json, strict about the rest.

interface Scope {
  readonly subscriptionId: string;
  readonly resourceGroup?: string;
}
const scopeIdOf = (s: Scope) =>
  s.resourceGroup
    ? `/subscriptions/${s.subscriptionId}/resourceGroups/${s.resourceGroup}`
    : `/subscriptions/${s.subscriptionId}`;

/** A value only Azure knows at deployment time (reference() to a resource the template creates). */
class RuntimeValue {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Node =
  | { readonly k: 'lit'; readonly v: string | number }
  | { readonly k: 'call'; readonly name: string; readonly args: readonly Node[] }
  | { readonly k: 'prop'; readonly of: Node; readonly name: string }
  | { readonly k: 'index'; readonly of: Node; readonly at: Node };

function parseExpression(src: string): Node {
  let i = 0;
  const ws = () => {
    while (/\s/.test(src[i] ?? '')) i++;
  };
  const expect = (c: string) => {
    ws();
    if (src[i] !== c) throw new Error(`expected '${c}' at ${i} in ${src}`);
    i++;
  };
  const primary = (): Node => {
    ws();
    if (src[i] === "'") {
      let s = '';
      i++;
      for (;;) {
        if (i >= src.length) throw new Error(`unterminated string in ${src}`);
        if (src[i] === "'") {
          if (src[i + 1] === "'") {
            s += "'";
            i += 2;
            continue;
          }
          i++;
          return { k: 'lit', v: s };
        }
        s += src[i++];
      }
    }
    const num = /^-?\d+/.exec(src.slice(i));
    if (num) {
      i += num[0].length;
      return { k: 'lit', v: Number(num[0]) };
    }
    const id = /^[A-Za-z_]\w*/.exec(src.slice(i));
    if (!id) throw new Error(`unexpected '${src[i]}' at ${i} in ${src}`);
    i += id[0].length;
    expect('(');
    const args: Node[] = [];
    ws();
    if (src[i] === ')') i++;
    else {
      for (;;) {
        args.push(expression());
        ws();
        if (src[i] !== ',') break;
        i++;
      }
      expect(')');
    }
    return { k: 'call', name: id[0].toLowerCase(), args };
  };
  const expression = (): Node => {
    let n = primary();
    for (;;) {
      ws();
      if (src[i] === '.') {
        i++;
        const id = /^[A-Za-z_$][\w$]*/.exec(src.slice(i));
        if (!id) throw new Error(`expected a property name at ${i} in ${src}`);
        i += id[0].length;
        n = { k: 'prop', of: n, name: id[0] };
      } else if (src[i] === '[') {
        i++;
        const at = expression();
        expect(']');
        n = { k: 'index', of: n, at };
      } else {
        return n;
      }
    }
  };
  const n = expression();
  ws();
  if (i !== src.length) throw new Error(`unexpected text at ${i} in ${src}`);
  return n;
}

interface Ctx {
  readonly params: Record<string, unknown>;
  readonly variable: (name: string) => unknown;
  readonly scope: Scope;
  readonly copyIndex?: number;
  readonly lambdas: Readonly<Record<string, unknown>>;
  readonly reference: (id: string) => unknown;
}
interface Lambda {
  readonly lambda: readonly string[];
  readonly body: Node;
  readonly ctx: Ctx;
}

const str = (v: unknown): string => {
  if (typeof v === 'string') return v;
  if (v instanceof RuntimeValue) return v.text;
  throw new Error(`expected a string, got ${JSON.stringify(v)}`);
};
const int = (v: unknown): number => {
  if (typeof v === 'number') return v;
  throw new Error(`expected an integer, got ${JSON.stringify(v)}`);
};
const bool = (v: unknown): boolean => {
  if (typeof v === 'boolean') return v;
  throw new Error(`expected a bool, got ${JSON.stringify(v)}`);
};
const list = (v: unknown): unknown[] => {
  if (Array.isArray(v)) return v;
  throw new Error(`expected an array, got ${JSON.stringify(v)}`);
};
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof RuntimeValue);
const hash = (parts: readonly string[]) => createHash('sha256').update(parts.join('\u0000')).digest('hex');
const guidOf = (parts: readonly string[]) => {
  const h = hash(parts);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
};

/** `providers/<ns>/<type>/<name>[/<type>/<name>…]` from ARM's (type, names…) arguments. */
function providerPath(type: string, names: readonly string[]): string {
  const [namespace, ...types] = type.split('/');
  if (types.length !== names.length) throw new Error(`${type} needs ${types.length} names, got ${names}`);
  return `providers/${namespace}${types.map((t, j) => `/${t}/${names[j]}`).join('')}`;
}

function member(of: unknown, name: string): unknown {
  if (of instanceof RuntimeValue) return new RuntimeValue(`${of.text}.${name}`);
  if (isObject(of)) {
    // Property names are case-insensitive in ARM expressions.
    const key = Object.keys(of).find((k) => k.toLowerCase() === name.toLowerCase());
    if (key !== undefined) return of[key];
  }
  throw new Error(`The language expression property '${name}' doesn't exist`);
}

function evalNode(n: Node, ctx: Ctx): unknown {
  switch (n.k) {
    case 'lit':
      return n.v;
    case 'prop':
      return member(evalNode(n.of, ctx), n.name);
    case 'index': {
      const of = evalNode(n.of, ctx);
      const at = evalNode(n.at, ctx);
      if (!Array.isArray(of)) return member(of, String(at));
      if (typeof at !== 'number' || at < 0 || at >= of.length)
        throw new Error(`The language expression array index '${at}' is out of bounds`);
      return of[at];
    }
    case 'call':
      return callFunction(n.name, n.args, ctx);
  }
}

function callFunction(name: string, args: readonly Node[], ctx: Ctx): unknown {
  // Lazy: if() evaluates only the branch it returns; lambda() captures its body.
  if (name === 'if') return evalNode(args[bool(evalNode(args[0] as Node, ctx)) ? 1 : 2] as Node, ctx);
  if (name === 'lambda') {
    const names = args.slice(0, -1).map((a) => str(evalNode(a, ctx)));
    return { lambda: names, body: args[args.length - 1] as Node, ctx } satisfies Lambda;
  }
  const a = args.map((x) => evalNode(x, ctx));
  const apply = (l: unknown, ...values: unknown[]) => {
    const f = l as Lambda;
    if (!f?.lambda) throw new Error(`${name}() needs a lambda`);
    const lambdas = { ...f.ctx.lambdas };
    f.lambda.forEach((v, j) => {
      lambdas[v] = values[j];
    });
    return evalNode(f.body, { ...f.ctx, lambdas });
  };
  const withTypeAt = (kind: string) => {
    const t = a.findIndex((x) => typeof x === 'string' && x.includes('/'));
    if (t < 0) throw new Error(`${kind}() without a resource type`);
    return { before: a.slice(0, t).map(str), type: str(a[t]), names: a.slice(t + 1).map(str) };
  };
  switch (name) {
    case 'parameters': {
      const key = str(a[0]);
      if (!(key in ctx.params)) throw new Error(`parameter '${key}' is not defined`);
      return ctx.params[key];
    }
    case 'variables':
      return ctx.variable(str(a[0]));
    case 'lambdavariables': {
      const key = str(a[0]);
      if (!(key in ctx.lambdas)) throw new Error(`lambda variable '${key}' is not defined`);
      return ctx.lambdas[key];
    }
    case 'copyindex':
      if (ctx.copyIndex === undefined) throw new Error('copyIndex() outside a copy loop');
      return ctx.copyIndex + (typeof a[a.length - 1] === 'number' ? (a[a.length - 1] as number) : 0);
    case 'filter':
      return list(a[0]).filter((x) => bool(apply(a[1], x)));
    case 'map':
      return list(a[0]).map((x) => apply(a[1], x));
    case 'reduce':
      return list(a[0]).reduce((acc, x, j) => apply(a[2], acc, x, j), a[1]);
    case 'subscription':
      return {
        id: `/subscriptions/${ctx.scope.subscriptionId}`,
        subscriptionId: ctx.scope.subscriptionId,
        tenantId: '00000000-0000-0000-0000-00000000aaaa',
      };
    case 'resourcegroup':
      if (!ctx.scope.resourceGroup) throw new Error('resourceGroup() outside a resource group deployment');
      return { id: scopeIdOf(ctx.scope), name: ctx.scope.resourceGroup, location: 'westeurope' };
    case 'environment':
      return {
        resourceManager: 'https://management.azure.com/',
        authentication: {
          audiences: ['https://management.core.windows.net/', 'https://management.azure.com/'],
        },
      };
    case 'reference':
      return ctx.reference(str(a[0]));
    case 'resourceid': {
      const { before, type, names } = withTypeAt(name);
      const sub = before.length === 2 ? before[0] : ctx.scope.subscriptionId;
      const rg = before.length === 2 ? before[1] : before.length === 1 ? before[0] : ctx.scope.resourceGroup;
      return `${scopeIdOf(rg ? { subscriptionId: sub as string, resourceGroup: rg } : { subscriptionId: sub as string })}/${providerPath(type, names)}`;
    }
    case 'subscriptionresourceid': {
      const { before, type, names } = withTypeAt(name);
      return `/subscriptions/${before[0] ?? ctx.scope.subscriptionId}/${providerPath(type, names)}`;
    }
    case 'extensionresourceid':
      return `${str(a[0])}/${providerPath(str(a[1]), a.slice(2).map(str))}`;
    case 'concat':
      return a.length > 0 && a.every(Array.isArray) ? (a as unknown[][]).flat(1) : a.map(str).join('');
    case 'createarray':
      return a;
    case 'union': {
      // Arrays: every element once, in order (template-functions-array: union).
      const out: unknown[] = [];
      for (const x of (a as unknown[][]).flat(1))
        if (!out.some((y) => JSON.stringify(y) === JSON.stringify(x))) out.push(x);
      return out;
    }
    case 'createobject': {
      const o: Record<string, unknown> = {};
      for (let j = 0; j < a.length; j += 2) o[str(a[j])] = a[j + 1];
      return o;
    }
    case 'contains':
      if (Array.isArray(a[0])) return a[0].some((x) => JSON.stringify(x) === JSON.stringify(a[1]));
      if (isObject(a[0])) return Object.keys(a[0]).some((k) => k.toLowerCase() === str(a[1]).toLowerCase());
      return str(a[0]).includes(str(a[1]));
    case 'empty':
      return (
        a[0] === null ||
        (typeof a[0] === 'string' && a[0] === '') ||
        (Array.isArray(a[0]) && a[0].length === 0) ||
        (isObject(a[0]) && Object.keys(a[0]).length === 0)
      );
    case 'length':
      return Array.isArray(a[0]) ? a[0].length : isObject(a[0]) ? Object.keys(a[0]).length : str(a[0]).length;
    case 'equals':
      return JSON.stringify(a[0]) === JSON.stringify(a[1]);
    case 'not':
      return !bool(a[0]);
    case 'and':
      return a.map(bool).every(Boolean);
    case 'or':
      return a.map(bool).some(Boolean);
    case 'true':
      return true;
    case 'false':
      return false;
    case 'tolower':
      return str(a[0]).toLowerCase();
    case 'trim':
      return str(a[0]).trim();
    case 'split': {
      const delimiters = Array.isArray(a[1]) ? a[1].map(str) : [str(a[1])];
      return delimiters.reduce<string[]>((parts, d) => parts.flatMap((p) => p.split(d)), [str(a[0])]);
    }
    case 'join':
      return list(a[0]).map(str).join(str(a[1]));
    case 'skip':
      return typeof a[0] === 'string'
        ? a[0].slice(Math.max(0, int(a[1])))
        : list(a[0]).slice(Math.max(0, int(a[1])));
    case 'take':
      return typeof a[0] === 'string'
        ? a[0].slice(0, Math.max(0, int(a[1])))
        : list(a[0]).slice(0, Math.max(0, int(a[1])));
    case 'indexof':
      return str(a[0]).toLowerCase().indexOf(str(a[1]).toLowerCase());
    case 'add':
      return int(a[0]) + int(a[1]);
    case 'replace':
      return str(a[0]).split(str(a[1])).join(str(a[2]));
    case 'string':
      return typeof a[0] === 'string' || a[0] instanceof RuntimeValue ? str(a[0]) : JSON.stringify(a[0]);
    case 'guid':
      return guidOf(a.map(str));
    case 'uniquestring':
      return BigInt(`0x${hash(a.map(str)).slice(0, 16)}`)
        .toString(32)
        .padStart(13, 'a')
        .slice(0, 13);
    default:
      throw new Error(`the test's evaluator does not implement ${name}()`);
  }
}

function evalValue(v: unknown, ctx: Ctx): unknown {
  if (typeof v === 'string') {
    if (v.startsWith('[[')) return v.slice(1);
    if (v.startsWith('[') && v.endsWith(']')) return evalNode(parseExpression(v.slice(1, -1)), ctx);
    return v;
  }
  if (Array.isArray(v)) return v.map((x) => evalValue(x, ctx));
  if (isObject(v))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [str(evalValue(k, ctx)), evalValue(x, ctx)]));
  return v;
}

/** One resource the deployment would create, with the scope it applies to. */
interface Deployed {
  readonly type: string;
  readonly name: string;
  /** The deployment (subscription or resource group) the resource is declared in. */
  readonly at: Scope;
  /** Full id of what an extension resource (a role assignment) applies to; else the deployment's scope. */
  readonly scope: string;
  readonly body: Record<string, unknown>;
}

/** Deploys `template` as ARM would lay it out, without Azure: concrete resources and the outputs. */
function deployTemplate(
  template: Json,
  given: Record<string, unknown>,
  at: Scope,
  out: Deployed[],
): Record<string, unknown> {
  const declared = (template.parameters ?? {}) as Record<string, { defaultValue?: unknown }>;
  for (const key of Object.keys(given))
    if (!(key in declared)) throw new Error(`The template does not declare the parameter '${key}'`);
  const params: Record<string, unknown> = {};
  const variables = (template.variables ?? {}) as Record<string, unknown>;
  const cache = new Map<string, unknown>();
  const outputsByDeployment = new Map<string, Record<string, unknown>>();
  const base: Ctx = {
    params,
    scope: at,
    lambdas: {},
    variable: (name) => {
      if (!(name in variables)) throw new Error(`variable '${name}' is not defined`);
      if (!cache.has(name)) cache.set(name, evalValue(variables[name], base));
      return cache.get(name);
    },
    reference: (id) => {
      const outputs = outputsByDeployment.get(id.toLowerCase());
      if (!outputs) return new RuntimeValue(`reference(${id})`);
      return { outputs: Object.fromEntries(Object.entries(outputs).map(([k, value]) => [k, { value }])) };
    },
  };
  for (const [key, d] of Object.entries(declared)) {
    if (key in given) params[key] = given[key];
    else if ('defaultValue' in d) params[key] = evalValue(d.defaultValue, base);
    else throw new Error(`The parameter '${key}' has no value`);
  }
  for (const r of (template.resources ?? []) as Record<string, unknown>[]) {
    const copy = r.copy as { count: unknown } | undefined;
    const count = copy ? int(evalValue(copy.count, base)) : 1;
    for (let i = 0; i < count; i++) {
      const ctx: Ctx = copy ? { ...base, copyIndex: i } : base;
      if ('condition' in r && !bool(evalValue(r.condition, ctx))) continue;
      if (r.type === 'Microsoft.Resources/deployments') {
        const properties = r.properties as {
          expressionEvaluationOptions?: { scope?: string };
          parameters?: Record<string, { value: unknown }>;
          template: Json;
        };
        if (properties.expressionEvaluationOptions?.scope !== 'inner')
          throw new Error('nested deployments here use inner expression evaluation');
        const name = str(evalValue(r.name, ctx));
        const sub =
          r.subscriptionId !== undefined ? str(evalValue(r.subscriptionId, ctx)) : at.subscriptionId;
        const rg =
          r.resourceGroup !== undefined
            ? str(evalValue(r.resourceGroup, ctx))
            : r.subscriptionId !== undefined
              ? undefined
              : at.resourceGroup;
        if (!rg && r.location === undefined)
          throw new Error(`the subscription-level deployment ${name} needs a location`);
        const target: Scope = rg ? { subscriptionId: sub, resourceGroup: rg } : { subscriptionId: sub };
        const inner = Object.fromEntries(
          Object.entries(properties.parameters ?? {}).map(([k, p]) => [k, evalValue(p.value, ctx)]),
        );
        const outputs = deployTemplate(properties.template, inner, target, out);
        const id = `${scopeIdOf(target)}/providers/Microsoft.Resources/deployments/${name}`;
        outputsByDeployment.set(id.toLowerCase(), outputs);
        out.push({
          type: 'Microsoft.Resources/deployments',
          name,
          at,
          scope: scopeIdOf(target),
          body: { name },
        });
        continue;
      }
      const { dependsOn: _dependsOn, copy: _copy, condition: _condition, ...declaration } = r;
      const body = evalValue(declaration, ctx) as Record<string, unknown>;
      const extensionOf = body.scope === undefined ? undefined : str(body.scope);
      const scope =
        extensionOf === undefined
          ? scopeIdOf(at)
          : extensionOf.startsWith('/')
            ? extensionOf
            : `${scopeIdOf(at)}/providers/${extensionOf}`;
      out.push({ type: str(body.type), name: str(body.name), at, scope, body });
    }
  }
  const outputs = (template.outputs ?? {}) as Record<string, { value: unknown }>;
  return Object.fromEntries(Object.entries(outputs).map(([k, o]) => [k, evalValue(o.value, base)]));
}

interface Role {
  readonly guid: string;
  /** From the role name: fleet, registry reader, identities, override identities, grant. */
  readonly kind: string;
  readonly actions: readonly string[];
  readonly dataActions: readonly string[];
  readonly assignableScopes: readonly string[];
}
interface Assignment {
  readonly scope: string;
  readonly role: Role;
  readonly condition?: string;
  readonly conditionVersion?: string;
  readonly description: string;
  /** The deployment that makes it: the subscription (and resource group) it is made from. */
  readonly madeIn: Scope;
}
interface Evaluation {
  readonly resources: readonly Deployed[];
  readonly outputs: Record<string, unknown>;
  readonly appSettings: Record<string, string>;
  readonly roles: readonly Role[];
  /** The app's assignments of the custom roles (its data-plane roles on its own storage and telemetry aside). */
  readonly assignments: readonly Assignment[];
}

const lower = (s: string) => s.toLowerCase();

function evaluateTemplate(parameters: Record<string, unknown>, subscriptionId = SUB): Evaluation {
  const resources: Deployed[] = [];
  const outputs = deployTemplate(main, parameters, { subscriptionId }, resources);
  const site = resources.find((r) => r.type === 'Microsoft.Web/sites') as Deployed;
  const settings = (
    site.body.properties as { siteConfig: { appSettings: { name: string; value: unknown }[] } }
  ).siteConfig.appSettings;
  const roles = resources
    .filter((r) => r.type === 'Microsoft.Authorization/roleDefinitions')
    .map((r): Role => {
      const p = r.body.properties as {
        roleName: string;
        permissions: { actions: string[]; dataActions: string[] }[];
        assignableScopes: string[];
      };
      return {
        guid: lower(r.name),
        kind: /^acrpull-autopilot (.+) \(/.exec(p.roleName)?.[1] ?? p.roleName,
        actions: p.permissions.flatMap((x) => x.actions),
        dataActions: p.permissions.flatMap((x) => x.dataActions),
        assignableScopes: p.assignableScopes.map(lower),
      };
    });
  const principal = String(outputs.appPrincipalId);
  const assignments = resources
    .filter((r) => r.type === 'Microsoft.Authorization/roleAssignments')
    .flatMap((r): Assignment[] => {
      const p = r.body.properties as {
        roleDefinitionId: string;
        principalId: unknown;
        condition?: string;
        conditionVersion?: string;
        description?: string;
      };
      const role = roles.find((x) => p.roleDefinitionId.toLowerCase().endsWith(`/${x.guid}`));
      if (!role) return [];
      expect(String(p.principalId)).toBe(principal);
      return [
        {
          scope: lower(r.scope),
          role,
          madeIn: r.at,
          description: String(p.description),
          ...(p.condition !== undefined ? { condition: p.condition } : {}),
          ...(p.conditionVersion !== undefined ? { conditionVersion: p.conditionVersion } : {}),
        },
      ];
    });
  return {
    resources,
    outputs,
    appSettings: Object.fromEntries(settings.map((s) => [s.name, String(s.value)])),
    roles,
    assignments,
  };
}

// ---------------------------------------------------------------------------------------------------
// A sample deployment over five subscriptions, each with a different part to play.

const REGISTRY_SUB = '33333333-3333-3333-3333-333333333333';
const OVERRIDE_SUB = '44444444-4444-4444-4444-444444444444';
const GRANT_ONLY_SUB = '55555555-5555-5555-5555-555555555555';
const registryIdIn = (sub: string, rg: string, name: string) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.ContainerRegistry/registries/${name}`;
const CONTOSO_RG = `/subscriptions/${SUB}/resourceGroups/rg-registries`;
const SHARED = registryIdIn(OTHER_SUB, 'rg-shared', 'sharedimages');
const NORTHWIND = registryIdIn(REGISTRY_SUB, 'rg-reg', 'northwindimages');
const TAILSPIN = registryIdIn(GRANT_ONLY_SUB, 'rg-tailspin', 'tailspinimages');
const OVERRIDE_IDENTITY = `/subscriptions/${OVERRIDE_SUB}/resourceGroups/rg-own/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-northwind-pull`;

const SAMPLE = {
  location: 'westeurope',
  identityResourceGroupName: 'rg-identities',
  mode: 'enforce',
  sweepSubscriptions: [SUB, OTHER_SUB],
  registrySubscriptions: [REGISTRY_SUB],
  grantScopes: [CONTOSO_RG, SHARED, NORTHWIND, TAILSPIN],
  allowedRegistries: `contosoapps,${SHARED},northwindimages,${TAILSPIN}`,
  identityOverrides: `northwindimages=${OVERRIDE_IDENTITY}`,
  deployEventSubscription: true,
};
const subscriptionScope = (sub: string) => `/subscriptions/${sub}`;
const where = (e: Evaluation) => e.assignments.map((a) => `${a.role.kind} @ ${a.scope}`).sort();

describe('deployment templates', () => {
  it('parse, with the schemas ARM expects', () => {
    expect(main.$schema).toMatch(/subscriptionDeploymentTemplate\.json#$/);
    expect(app.$schema).toMatch(/deploymentTemplate\.json#$/);
    for (const name of Object.keys(example.parameters))
      expect(Object.keys(main.parameters as object)).toContain(name);
  });

  it('set exactly the settings the app reads, and nothing it ignores', () => {
    const template = appSettingNames()
      .filter((n) => !HOST_SETTINGS.includes(n))
      .sort();
    expect(template).toEqual(settingsTheAppReads());
  });

  it('local.settings.sample.json lists every setting the app reads, and the local host settings', () => {
    const sample = Object.keys(readJson('local.settings.sample.json').Values as object);
    const localHost = ['FUNCTIONS_WORKER_RUNTIME', 'AzureWebJobsStorage'];
    expect(sample.filter((n) => !localHost.includes(n)).sort()).toEqual(settingsTheAppReads());
  });

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
        values: [VM_WRITE, SCALE_SET_WRITE, TAGS_WRITE],
      },
      {
        operatorType: 'StringContains',
        key: 'subject',
        values: [
          '/providers/Microsoft.Compute/virtualMachines/',
          '/providers/microsoft.compute/virtualmachines/',
          '/providers/Microsoft.Compute/virtualMachineScaleSets/',
          '/providers/microsoft.compute/virtualmachinescalesets/',
        ],
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

    expect(cases.map(passes)).toEqual(cases.map((e) => parseVmWriteEvent(e).kind === 'vm-write'));
    expect(cases.map(passes)).toEqual([true, true, true, false, false, true, true, false]);
  });

  it('takes only Entra-authenticated telemetry: local auth off, the app identity may publish, the host authenticates', () => {
    const component = byType(app, 'Microsoft.Insights/components')[0] as {
      properties: Record<string, unknown>;
    };
    expect(component.properties.DisableLocalAuth).toBe(true);
    const publisher = byType(app, 'Microsoft.Authorization/roleAssignments').find((r) =>
      String((r.properties as { roleDefinitionId: string }).roleDefinitionId).includes(
        '3913510d-42f4-4e42-8a64-420c390055eb',
      ),
    ) as { scope: string; properties: { principalId: string } };
    expect(publisher.scope).toBe("[concat('Microsoft.Insights/components/', variables('insightsName'))]");
    expect(publisher.properties.principalId).toContain("variables('appIdentityName')");
    const site = JSON.stringify(byType(app, 'Microsoft.Web/sites'));
    expect(site).toContain('APPLICATIONINSIGHTS_AUTHENTICATION_STRING');
    expect(site).toContain(';Authorization=AAD');
  });

  it('lets Event Grid write dead letters to its container only', () => {
    const grant = byType(app, 'Microsoft.Authorization/roleAssignments').find((r) =>
      String((r.properties as { description?: string }).description).includes('dead-letters'),
    ) as { scope: string; properties: { roleDefinitionId: string } };
    expect(grant.scope).toBe(
      "[concat('Microsoft.Storage/storageAccounts/', variables('storageName'), '/blobServices/default/containers/', variables('deadLetterContainer'))]",
    );
    expect(grant.properties.roleDefinitionId).toContain('ba92f5b4-2d11-453d-a403-e96b0029c9fe'); // Storage Blob Data Contributor
  });

  it('runs the app on Flex Consumption, Node 22, with its own user-assigned identity', () => {
    const plan = byType(app, 'Microsoft.Web/serverfarms')[0] as { sku: { tier: string } };
    const site = byType(app, 'Microsoft.Web/sites')[0] as {
      identity: { type: string };
      properties: { functionAppConfig: { runtime: object } };
    };
    expect(plan.sku.tier).toBe('FlexConsumption');
    expect(site.properties.functionAppConfig.runtime).toEqual({ name: 'node', version: '22' });
    expect(site.identity.type).toBe('UserAssigned');
    expect(byType(app, 'Microsoft.Insights/components')).toHaveLength(1);
    expect(byType(app, 'Microsoft.OperationalInsights/workspaces')).toHaveLength(1);
    expect(byType(main, 'Microsoft.Resources/resourceGroups').map((r) => r.name)).toContain(
      "[variables('identityResourceGroupChecked')]",
    );
  });
});

describe('time limits', () => {
  it('a sweep ends (and writes its summary) before the host would kill it, and an event is answered before Event Grid gives up', () => {
    const host = JSON.parse(readFileSync(path.join(root, 'host.json'), 'utf8')) as {
      functionTimeout: string;
    };
    const [h, m, s] = host.functionTimeout.split(':').map(Number) as [number, number, number];
    const timeoutSeconds = h * 3600 + m * 60 + s;
    const site = byType(app, 'Microsoft.Web/sites')[0] as {
      properties: { siteConfig: { appSettings: { name: string; value: string }[] } };
    };
    const setting = (name: string) =>
      Number(site.properties.siteConfig.appSettings.find((x) => x.name === name)?.value);
    const defaults = loadSettings({ ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG });
    for (const sweepBudget of [
      setting('ACRPULL_SWEEP_TIME_BUDGET_SECONDS'),
      defaults.sweepTimeBudgetMs / 1000,
    ]) {
      expect(sweepBudget + 60).toBeLessThanOrEqual(timeoutSeconds);
    }
    for (const eventBudget of [
      setting('ACRPULL_EVENT_TIME_BUDGET_SECONDS'),
      defaults.eventTimeBudgetMs / 1000,
    ]) {
      expect(eventBudget).toBeLessThan(30);
    }
  });
});

describe('least-privilege permissions (the template evaluated for a sample deployment over five subscriptions)', () => {
  const condition = (main.variables as Record<string, string>).roleAssignmentCondition as string;

  it('assigns each role only where the code uses it: fleet per swept subscription, registry reader per registry subscription, identities at the identity resource group, override identities on each, grant per grant scope', () => {
    const e = evaluateTemplate(SAMPLE);

    expect(where(e)).toEqual(
      [
        `fleet @ ${subscriptionScope(SUB)}`,
        `fleet @ ${subscriptionScope(OTHER_SUB)}`,
        `registry reader @ ${subscriptionScope(REGISTRY_SUB)}`,
        `identities @ ${lower(IDENTITY_RG)}`,
        `override identities @ ${lower(OVERRIDE_IDENTITY)}`,
        ...SAMPLE.grantScopes.map((g) => `grant @ ${lower(g)}`),
      ].sort(),
    );
    // Every assignment is made by a nested deployment into its own subscription (and resource group):
    // none at the template's top level, which would be the deployment subscription.
    expect(byType(main, 'Microsoft.Authorization/roleAssignments')).toEqual([]);
    for (const a of e.assignments) {
      // "acrpull-autopilot:" marks the pull grants the app makes (the uninstall steps list them by it).
      expect(a.description).toMatch(/^acrpull-autopilot may /);
      expect(a.madeIn.subscriptionId).toBe(a.scope.split('/')[2]);
      if (a.scope.split('/').length > 3)
        expect(lower(a.madeIn.resourceGroup ?? '')).toBe(a.scope.split('/')[4]);
    }
  });

  it('puts identity actions only in roles assigned at the identity resource group and on override identities, and never lets the app change an override', () => {
    const e = evaluateTemplate(SAMPLE);

    for (const a of e.assignments) {
      if (!a.role.actions.some((x) => IDENTITY_ACTIONS.includes(x))) continue;
      expect([lower(IDENTITY_RG), lower(OVERRIDE_IDENTITY)]).toContain(a.scope);
    }
    const override = e.roles.find((r) => r.kind === 'override identities') as Role;
    expect([...override.actions].sort()).toEqual([
      'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action',
      'Microsoft.ManagedIdentity/userAssignedIdentities/read',
    ]);
    // The app reads and attaches an operator's identity and never writes one (it would refuse to create
    // a missing override): createOrUpdate is reached only for the shared identities.
    const access = readFileSync(path.join(root, 'src', 'reconcile', 'registryAccess.ts'), 'utf8');
    expect(access).toMatch(/else if \(pull\.broughtByOperator\) \{[^}]*IdentityOverrideNotFound/s);
    expect(access.match(/identities\.createOrUpdate\(/g)).toHaveLength(1);
  });

  it('puts roleAssignments/write only in the grant role, assigned only at the grant scopes, each assignment carrying the pull-role condition', () => {
    const e = evaluateTemplate(SAMPLE);

    expect(e.roles.filter((r) => r.actions.includes(GRANT_ACTION)).map((r) => r.kind)).toEqual(['grant']);
    const granting = e.assignments.filter((a) => a.role.actions.includes(GRANT_ACTION));
    expect(granting.map((a) => a.scope).sort()).toEqual(SAMPLE.grantScopes.map(lower).sort());
    for (const a of granting) {
      expect(a.condition).toBe(condition);
      expect(a.conditionVersion).toBe('2.0');
    }
    expect(e.assignments.filter((a) => a.condition !== undefined)).toHaveLength(granting.length);
  });

  it('lets the app assign only the two pull roles, only to service principals (the condition)', () => {
    const guids = [
      ...condition.matchAll(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi),
    ].map((m) => m[0].toLowerCase());
    expect(guids.sort()).toEqual([ACR_PULL_ROLE, REPOSITORY_READER_ROLE].sort());
    expect(condition).toContain("ActionMatches{'Microsoft.Authorization/roleAssignments/write'}");
    expect(condition).toContain(
      '@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals',
    );
    expect(condition).toContain(
      "@Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {'ServicePrincipal'}",
    );
    // The whole expression, so that a flipped operator (OR for AND, a dropped negation) fails too:
    // "not a role-assignment write, or a write of one of these roles to a service principal"
    // (delegate-role-assignments-examples.md, "Constrain roles and principal types").
    expect(condition).toBe(
      "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR " +
        `(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${ACR_PULL_ROLE}, ${REPOSITORY_READER_ROLE}} AND ` +
        "@Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {'ServicePrincipal'}))",
    );
  });

  it('assigns nothing that can write VMs, create or attach identities or grant above the scope meant for it', () => {
    const e = evaluateTemplate(SAMPLE);
    const scopesWith = (action: string) =>
      [...new Set(e.assignments.filter((a) => a.role.actions.includes(action)).map((a) => a.scope))].sort();

    expect(scopesWith(VM_WRITE_ACTION)).toEqual(SAMPLE.sweepSubscriptions.map(subscriptionScope).sort());
    expect(scopesWith(ASSIGN_ACTION)).toEqual([IDENTITY_RG, OVERRIDE_IDENTITY].map(lower).sort());
    expect(scopesWith('Microsoft.ManagedIdentity/userAssignedIdentities/write')).toEqual([
      lower(IDENTITY_RG),
    ]);
    expect(scopesWith(GRANT_ACTION)).toEqual(SAMPLE.grantScopes.map(lower).sort());
    for (const a of e.assignments) {
      // No tenant root or management group, and nothing subscription-wide that touches identities or grants.
      expect(a.scope).toMatch(/^\/subscriptions\/[0-9a-f-]{36}(\/|$)/);
      if (a.scope.split('/').length === 3)
        expect(
          a.role.actions.filter((x) => x.startsWith('Microsoft.ManagedIdentity/') || x === GRANT_ACTION),
        ).toEqual([]);
    }
  });

  it('makes each custom role assignable in the subscriptions where it is assigned and the one it is defined in, which together are every subscription involved', () => {
    const e = evaluateTemplate(SAMPLE);
    const subscriptionOf = (scope: string) => subscriptionScope(scope.split('/')[2] as string);

    // A definition is created at (and addressed by) one of its assignable scopes (custom-roles-rest:
    // "the first assignableScopes"), so the deployment subscription, where it is created, is one.
    for (const r of e.roles) {
      const assignedIn = new Set(
        e.assignments.filter((a) => a.role === r).map((a) => subscriptionOf(a.scope)),
      );
      assignedIn.add(subscriptionScope(SUB));
      expect([...r.assignableScopes].sort()).toEqual([...assignedIn].sort());
      expect(r.assignableScopes[0]).toBe(subscriptionScope(SUB));
    }
    expect([...new Set(e.roles.flatMap((r) => r.assignableScopes))].sort()).toEqual(
      [SUB, OTHER_SUB, REGISTRY_SUB, OVERRIDE_SUB, GRANT_ONLY_SUB].map(subscriptionScope).sort(),
    );
    // The definitions live in the deployment subscription; a role assigned nowhere stays assignable there.
    expect(e.resources.filter((r) => r.type.endsWith('/roleDefinitions')).map((r) => r.at)).toEqual(
      Array(5).fill({ subscriptionId: SUB }),
    );
    const alone = evaluateTemplate({ location: 'westeurope', allowedRegistries: 'contosoapps' });
    expect(alone.roles.map((r) => r.assignableScopes)).toEqual(Array(5).fill([subscriptionScope(SUB)]));
  });

  it('joins the array parameters into the comma-separated settings the app parses', () => {
    const e = evaluateTemplate({ ...SAMPLE, trustedCreators: ['ops@contoso.example', OVERRIDE_SUB] });
    const s = e.appSettings;
    const settings = loadSettings({
      ACRPULL_IDENTITY_RESOURCE_GROUP: s.ACRPULL_IDENTITY_RESOURCE_GROUP,
      ACRPULL_SUBSCRIPTIONS: s.ACRPULL_SUBSCRIPTIONS,
      ACRPULL_REGISTRY_SUBSCRIPTIONS: s.ACRPULL_REGISTRY_SUBSCRIPTIONS,
      ACRPULL_IDENTITY_OVERRIDES: s.ACRPULL_IDENTITY_OVERRIDES,
      ACRPULL_ALLOWED_REGISTRIES: s.ACRPULL_ALLOWED_REGISTRIES,
      ACRPULL_TRUSTED_CREATORS: s.ACRPULL_TRUSTED_CREATORS,
    });

    expect(s.ACRPULL_SUBSCRIPTIONS).toBe(`${SUB},${OTHER_SUB}`);
    expect(settings.subscriptions).toEqual([SUB, OTHER_SUB]);
    expect(settings.registrySubscriptions).toEqual([REGISTRY_SUB]);
    expect(settings.identityResourceGroup.id).toBe(IDENTITY_RG);
    expect(settings.identityOverrides.get('northwindimages')?.id).toBe(OVERRIDE_IDENTITY);
    expect(s.ACRPULL_TRUSTED_CREATORS).toBe(`ops@contoso.example,${OVERRIDE_SUB}`);
  });

  it("outputs the app identity's principal id (its role assignments) and client id (what the CLI trusts)", () => {
    const e = evaluateTemplate(SAMPLE);

    expect(String(e.outputs.appClientId)).toBe(e.appSettings.AZURE_CLIENT_ID);
    expect(String(e.outputs.appClientId)).toMatch(/userAssignedIdentities\/id-acrpull-app\)\.clientId$/);
    expect(String(e.outputs.appPrincipalId)).toMatch(
      /userAssignedIdentities\/id-acrpull-app\)\.principalId$/,
    );
  });

  it('reads an empty sweep list as the deployment subscription: the app sweeps it, holds the fleet role there only, and takes its events', () => {
    const e = evaluateTemplate({
      location: 'westeurope',
      allowedRegistries: 'contosoapps',
      deployEventSubscription: true,
    });

    expect(e.appSettings.ACRPULL_SUBSCRIPTIONS).toBe(SUB);
    expect(e.appSettings.ACRPULL_REGISTRY_SUBSCRIPTIONS).toBe('');
    expect(where(e)).toEqual([
      `fleet @ ${subscriptionScope(SUB)}`,
      `identities @ ${subscriptionScope(SUB)}/resourcegroups/rg-acrpull-identities`,
    ]);
    const topics = e.resources.filter((r) => r.type === 'Microsoft.EventGrid/systemTopics');
    expect(topics.map((t) => (t.body.properties as { source: string }).source)).toEqual([
      subscriptionScope(SUB),
    ]);
    expect(e.outputs.subscriptionsCoveredBySweepOnly).toEqual([]);
  });

  it('subscribes to events in the deployment subscription only when it is swept, and names the subscriptions the sweep alone covers', () => {
    const topics = (e: Evaluation) => e.resources.filter((r) => r.type.startsWith('Microsoft.EventGrid/'));

    const elsewhere = evaluateTemplate({ ...SAMPLE, sweepSubscriptions: [OTHER_SUB, REGISTRY_SUB] });
    expect(topics(elsewhere)).toEqual([]);
    expect(elsewhere.outputs.subscriptionsCoveredBySweepOnly).toEqual([OTHER_SUB, REGISTRY_SUB]);
    const sample = evaluateTemplate(SAMPLE);
    expect(topics(sample).map((r) => r.type)).toEqual([
      'Microsoft.EventGrid/systemTopics',
      'Microsoft.EventGrid/systemTopics/eventSubscriptions',
    ]);
    expect(sample.outputs.subscriptionsCoveredBySweepOnly).toEqual([OTHER_SUB]);
    expect(
      evaluateTemplate({ ...SAMPLE, deployEventSubscription: false }).outputs.subscriptionsCoveredBySweepOnly,
    ).toEqual([SUB, OTHER_SUB]);
  });

  it('stops the deployment, before anything is deployed, on a grant scope that is a whole subscription or not a registry, a malformed override, the app identity as an override, or the app resource group as the identity resource group', () => {
    const storage = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Storage/storageAccounts/st1`;
    expect(() => evaluateTemplate({ ...SAMPLE, grantScopes: [CONTOSO_RG, `/subscriptions/${SUB}`] })).toThrow(
      `grantScopes: each entry must be a resource group id or a container registry id (a grant scope cannot be a whole subscription), not /subscriptions/${SUB}`,
    );
    expect(() => evaluateTemplate({ ...SAMPLE, grantScopes: [storage] })).toThrow(lower(storage));
    expect(() =>
      evaluateTemplate({
        ...SAMPLE,
        identityOverrides: `northwindimages=/subscriptions/${SUB}/resourceGroups/rg-own`,
      }),
    ).toThrow('identityOverrides: each entry must be <registry>=<user-assigned identity resource id>');
    // The app must never be able to hand out its own identity: not from its identity resource group,
    // not as an override.
    expect(() =>
      evaluateTemplate({
        ...SAMPLE,
        identityResourceGroupName: 'RG-ACRPULL-APP',
        appResourceGroupName: 'rg-acrpull-app',
      }),
    ).toThrow('identityResourceGroupName: must not be the app resource group');
    const appIdentity = `/subscriptions/${SUB}/resourceGroups/rg-acrpull-app/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-acrpull-app`;
    expect(() =>
      evaluateTemplate({ ...SAMPLE, identityOverrides: `northwindimages=${appIdentity.toUpperCase()}` }),
    ).toThrow("identityOverrides: names the app's own identity");
  });

  it('folds case and duplicates: one assignment per subscription and per grant scope, overrides split on , ; or spaces', () => {
    const e = evaluateTemplate({
      ...SAMPLE,
      sweepSubscriptions: [SUB.toUpperCase(), ` ${SUB}`, OTHER_SUB],
      grantScopes: [CONTOSO_RG, CONTOSO_RG.toUpperCase()],
      identityOverrides: `northwindimages=${OVERRIDE_IDENTITY}; sharedimages=${OVERRIDE_IDENTITY.toUpperCase()} ,`,
    });

    expect(where(e).filter((w) => !w.startsWith('identities') && !w.startsWith('registry'))).toEqual([
      `fleet @ ${subscriptionScope(SUB)}`,
      `fleet @ ${subscriptionScope(OTHER_SUB)}`,
      `grant @ ${lower(CONTOSO_RG)}`,
      `override identities @ ${lower(OVERRIDE_IDENTITY)}`,
    ]);
  });

  it('the example parameters deploy, and every registry their allowlist allows lies within one of their grant scopes', () => {
    const params = Object.fromEntries(Object.entries(example.parameters).map(([k, v]) => [k, v.value]));
    const e = evaluateTemplate(params, '11111111-1111-1111-1111-111111111111');
    const grantScopes = params.grantScopes as string[];

    expect(e.assignments.length).toBeGreaterThan(0);
    for (const rule of parseAllowlist(String(params.allowedRegistries))) {
      // A name or * cannot be checked against the grant scopes before deployment: the example uses ids.
      const id = rule.kind === 'registryId' ? rule.id : rule.kind === 'scope' ? rule.scope : undefined;
      expect(id && grantScopes.some((g) => isAtOrBelow(id, g))).toBeTruthy();
    }
  });

  it("grants what the app's ARM calls need at the scope of each call, and nothing more", async () => {
    // Prepare: the sample deployment's permissions, and the app configured with its settings.
    const e = evaluateTemplate(SAMPLE);
    const setting = (name: string) => e.appSettings[name] as string;
    const h = await startHarness({
      env: Object.fromEntries(
        [
          'ACRPULL_ALLOWED_REGISTRIES',
          'ACRPULL_SUBSCRIPTIONS',
          'ACRPULL_REGISTRY_SUBSCRIPTIONS',
          'ACRPULL_IDENTITY_OVERRIDES',
          'ACRPULL_IDENTITY_RESOURCE_GROUP',
        ].map((name) => [name, setting(name)]),
      ),
    });
    try {
      const served: (FaultRequest & { operation: OperationName })[] = [];
      for (const operation of OPERATIONS) {
        // An observer: sees every request as it arrives and never answers it.
        h.emu.injectFault({
          operation,
          status: 500,
          code: 'unused',
          count: 1_000_000_000,
          match: (req) => {
            served.push({ ...req, operation });
            return false;
          },
        });
      }
      h.emu.seedResourceGroup(OTHER_SUB, 'rg-other', 'westeurope');
      h.emu.seedRegistry({ subscriptionId: OTHER_SUB, resourceGroup: 'rg-shared', name: 'sharedimages' });
      h.emu.seedRegistry({ subscriptionId: REGISTRY_SUB, resourceGroup: 'rg-reg', name: 'northwindimages' });
      h.emu.seedRegistry({
        subscriptionId: GRANT_ONLY_SUB,
        resourceGroup: 'rg-tailspin',
        name: 'tailspinimages',
      });
      h.emu.seedIdentity({
        subscriptionId: OVERRIDE_SUB,
        resourceGroup: 'rg-own',
        name: 'id-northwind-pull',
        location: 'eastus',
      });
      const vm = (sub: string, name: string, location: string, tag: string) =>
        h.emu.seedVm({
          subscriptionId: sub,
          resourceGroup: sub === SUB ? 'rg-apps' : 'rg-other',
          name,
          location,
          tags: { acrPull: tag },
        }).id;
      const scaleSet = (sub: string, name: string, location: string, tag: string) =>
        h.emu.seedScaleSet({
          subscriptionId: sub,
          resourceGroup: sub === SUB ? 'rg-apps' : 'rg-other',
          name,
          location,
          tags: { acrPull: tag },
        }).id;

      // Act: events for two VMs and a scale set of the deployment subscription (a registry by name, one
      // by id in another subscription), then a sweep that meets a registry found in a registry
      // subscription and attached through an override identity (to a VM and a scale set), and a
      // registry by id in a subscription that is only a grant scope.
      const vms = [
        vm(SUB, 'vm-a', 'eastus', 'contosoapps'),
        vm(SUB, 'vm-b', 'eastus', SHARED),
        scaleSet(SUB, 'ss-a', 'eastus', 'contosoapps'),
      ];
      for (const id of vms) await h.deliver(id);
      vms.push(
        vm(SUB, 'vm-c', 'westeurope', 'contosoapps'),
        vm(OTHER_SUB, 'vm-d', 'westeurope', 'northwindimages'),
        scaleSet(OTHER_SUB, 'ss-b', 'westeurope', 'northwindimages'),
        vm(OTHER_SUB, 'vm-e', 'eastus', TAILSPIN),
      );
      await h.sweep();

      // Assess: every path ran to its end (so every call below was made),
      for (const id of vms) {
        const attached = (h.emu.getVm(id) ?? h.emu.getScaleSet(id))?.identity?.userAssignedIdentities;
        expect([id, Object.keys(attached ?? {}).length]).toEqual([id, 1]);
      }
      // each call is allowed by an assignment of the sample deployment,
      const needs = served.flatMap(needsOf);
      const allowedBy = (n: Need) => e.assignments.filter((a) => allows(a, n, condition));
      expect([...new Set(needs.filter((n) => allowedBy(n).length === 0).map(describeNeed))]).toEqual([]);
      // and by the role meant for that kind of scope,
      const misplaced = needs.flatMap((n) => {
        const meant = ROLE_FOR_SCOPE[kindOfScope(n.scope)];
        const roles = allowedBy(n).map((a) => a.role.kind);
        return meant && roles.includes(meant)
          ? []
          : [`${describeNeed(n)}: by ${roles.join(', ')}, not ${meant}`];
      });
      expect([...new Set(misplaced)]).toEqual([]);
      // the roles together hold exactly the actions the calls need,
      const needed = [...new Set(needs.map((n) => n.action))].sort();
      expect([...new Set(e.roles.flatMap((r) => r.actions))].sort()).toEqual(needed);
      for (const r of e.roles) expect(r.dataActions).toEqual([]);
      // and each role's every action was needed at a scope where that role is assigned.
      const unused = e.roles.flatMap((r) =>
        r.actions
          .filter((action) =>
            needs.every(
              (n) =>
                n.action !== action || !e.assignments.some((a) => a.role === r && allows(a, n, condition)),
            ),
          )
          .map((action) => `${r.kind}: ${action}`),
      );
      expect(unused).toEqual([]);
    } finally {
      await h.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// What a served request needs: the operation's actions (ACTIONS), each at the scope ARM checks it on.

interface Need {
  readonly operation: OperationName;
  readonly action: string;
  readonly scope: string;
  readonly body: unknown;
}
const ROLE_ASSIGNMENTS_PATH = /\/providers\/Microsoft\.Authorization\/roleAssignments(\/[^/]+)?$/i;
const COLLECTION_PATH =
  /\/providers\/Microsoft\.(?:Compute\/virtualMachines|Compute\/virtualMachineScaleSets|ManagedIdentity\/userAssignedIdentities|ContainerRegistry\/registries)$/i;

function needsOf(req: FaultRequest & { operation: OperationName }): Need[] {
  const path = req.path.split('?')[0] as string;
  // A role assignment is checked at the scope it is listed or made at; a list at its parent scope.
  const at = ROLE_ASSIGNMENTS_PATH.test(path)
    ? path.replace(ROLE_ASSIGNMENTS_PATH, '')
    : req.operation.endsWith('.list')
      ? path.replace(COLLECTION_PATH, '')
      : path;
  const need = (action: string, scope: string): Need => ({
    operation: req.operation,
    action,
    scope: lower(scope),
    body: req.body,
  });
  return ACTIONS[req.operation].flatMap((action) => {
    if (action === ASSIGN_ACTION) {
      // Attaching: ARM checks assign/action on each identity the PATCH adds, at the identity's scope.
      const body = req.body as { identity?: { userAssignedIdentities?: Record<string, unknown> } };
      return Object.keys(body?.identity?.userAssignedIdentities ?? {}).map((id) => need(action, id));
    }
    if (req.operation === 'graph.query') {
      // Resource Graph answers from the subscriptions the query names.
      const body = req.body as { subscriptions?: string[] };
      return (body?.subscriptions ?? []).map((s) => need(action, subscriptionScope(s)));
    }
    return [need(action, at)];
  });
}

const describeNeed = (n: Need) => `${n.operation} needs ${n.action} at ${n.scope}`;

/** An assignment allows a need at or below its scope, if its role has the action and its condition holds. */
function allows(a: Assignment, n: Need, condition: string): boolean {
  if (!isAtOrBelow(n.scope, a.scope) || !a.role.actions.includes(n.action)) return false;
  if (a.condition === undefined || n.action !== GRANT_ACTION) return true;
  // The template's condition, as ARM applies it to roleAssignments/write: the two pull roles, to service
  // principals only.
  expect(a.condition).toBe(condition);
  const body = n.body as { properties?: { roleDefinitionId?: string; principalType?: string } };
  const role = lower(body?.properties?.roleDefinitionId?.split('/').pop() ?? '');
  return (
    [ACR_PULL_ROLE, REPOSITORY_READER_ROLE].includes(role) &&
    body?.properties?.principalType === 'ServicePrincipal'
  );
}

/** The kind of scope a call is made at, in the sample deployment (the narrowest that applies). */
function kindOfScope(scope: string): string {
  if (isAtOrBelow(scope, IDENTITY_RG)) return 'identity resource group';
  if (isAtOrBelow(scope, OVERRIDE_IDENTITY)) return 'override identity';
  if (SAMPLE.grantScopes.some((g) => isAtOrBelow(scope, g))) return 'grant scope';
  if (SAMPLE.sweepSubscriptions.some((s) => isAtOrBelow(scope, subscriptionScope(s))))
    return 'swept subscription';
  if (SAMPLE.registrySubscriptions.some((s) => isAtOrBelow(scope, subscriptionScope(s))))
    return 'registry subscription';
  return 'elsewhere';
}

const ROLE_FOR_SCOPE: Record<string, string> = {
  'identity resource group': 'identities',
  'override identity': 'override identities',
  'grant scope': 'grant',
  'swept subscription': 'fleet',
  'registry subscription': 'registry reader',
};
