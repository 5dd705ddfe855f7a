// A small evaluator of ARM template expressions: enough for infra/main.json, strict about the rest.
//
// No maintained npm package evaluates ARM template expressions (the registry's `arm-visualizer-engine`
// is 0.0.x ARMVIZ code without lambdas, copy loops or subscription deployments; the maintained
// evaluators, Bicep's and PSRule.Rules.Azure's, are .NET), so `deployTemplate` below implements only
// the functions this template uses, and throws on any other. ARM behaviour it relies on, from Microsoft
// Learn (azure-resource-manager/templates/…):
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
// - template-functions-resource, reference: not in the variables section (so the alert's query, which names
//   the app identity's principal id, is put together in the resource's property, not in a variable).
// - conditional-resource-deployment: a resource whose `condition` is false is not deployed (copy loops
//   included, per copy), and a dependency on it is dropped.
// - template-functions-object: json('null') is null (a property left out); string() of an object is its JSON.
// Failing a deployment on a bad parameter: the template reads a property that does not exist from an empty
// object, `createObject()['<message>']`, inside the branch of if() that a bad value takes; ARM stops before
// deploying anything with "The language expression property '<message>' doesn't exist". (ARM's engine also
// has fail('<message>'), which Bicep exposes — Azure/bicep#14067, #15958 — but Learn documents it for Bicep
// only, not in the JSON template function reference, so the template keeps the idiom.)
import { createHash } from 'node:crypto';

export type Json = Record<string, unknown> & { resources?: Json[] };

export interface Scope {
  readonly subscriptionId: string;
  readonly resourceGroup?: string;
}
export const scopeIdOf = (s: Scope) =>
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
  return contextFunction(
    name,
    args.map((x) => evalNode(x, ctx)),
    ctx,
  );
}

/** The functions that read the deployment: parameters, variables, lambdas, its scope, references, ids. */
function contextFunction(name: string, a: unknown[], ctx: Ctx): unknown {
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
        // template-functions-deployment, environment(): the public cloud's suffixes.
        suffixes: { acrLoginServer: '.azurecr.io', storage: 'core.windows.net' },
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
    default:
      return valueFunction(name, a);
  }
}

/** The functions of their arguments alone: arrays, objects, strings, logic, numbers, hashes. */
function valueFunction(name: string, a: unknown[]): unknown {
  switch (name) {
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
    case 'json':
      // template-functions-object, json(): json('null') is how a template leaves a property out.
      return JSON.parse(str(a[0]));
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
export interface Deployed {
  readonly type: string;
  readonly name: string;
  /** The deployment (subscription or resource group) the resource is declared in. */
  readonly at: Scope;
  /** Full id of what an extension resource (a role assignment) applies to; else the deployment's scope. */
  readonly scope: string;
  readonly body: Record<string, unknown>;
}

/** Deploys `template` as ARM would lay it out, without Azure: concrete resources and the outputs. */
export function deployTemplate(
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
      if (!cache.has(name)) cache.set(name, evalValue(variables[name], inVariables));
      return cache.get(name);
    },
    reference: (id) => {
      const outputs = outputsByDeployment.get(id.toLowerCase());
      if (!outputs) return new RuntimeValue(`reference(${id})`);
      return { outputs: Object.fromEntries(Object.entries(outputs).map(([k, value]) => [k, { value }])) };
    },
  };
  // template-functions-resource, reference: "You can't use the reference function in the variables section".
  const inVariables: Ctx = {
    ...base,
    reference: (id) => {
      throw new Error(`The template function 'reference' is not expected in a variable (reference(${id}))`);
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
