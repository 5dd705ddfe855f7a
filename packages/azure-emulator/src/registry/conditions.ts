// Azure ABAC role-assignment conditions (conditionVersion 2.0), the subset Container Registry
// documents: Learn container-registry-rbac-abac-repository-permissions (the condition shape
// `((!(ActionMatches{'…/repositories/content/read'}) AND …) OR (@Request[Microsoft.ContainerRegistry/
// registries/repositories:name] StringStartsWithIgnoreCase 'x'))`, written with @Request or @Resource in
// the wild), and the grammar and operators of Learn role-based-access-control/conditions-format
// (AND/&&, OR/||, NOT/!, ActionMatches{'…'}, the String* operators with their case rules, StringLike's
// `*` and `?`, and the ForAnyOfAnyValues/ForAllOfAnyValues/ForAnyOfAllValues/ForAllOfAllValues
// cross-product operators over `{'a', 'b'}` lists).
//
// Hand-written: no npm package parses Azure's condition language. What the evaluator does not
// understand (another attribute, SubOperationMatches, numeric/date/GUID operators, a syntax error)
// makes the condition unevaluable, and an unevaluable condition grants nothing: fail closed. Azure
// itself refuses such a condition when the assignment is written; an emulator seed can carry anything.

/** What one request asks: the (data) action and the request's / resource's attributes by name. */
export interface ConditionRequest {
  /** e.g. Microsoft.ContainerRegistry/registries/repositories/content/read */
  action: string;
  /**
   * Attribute values by `<namespace>/<type>:<name>`, e.g.
   * `Microsoft.ContainerRegistry/registries/repositories:name` → ['hello-world']. Looked up for
   * @Request and @Resource alike (ACR exposes the repository name as both).
   */
  attributes: Readonly<Record<string, readonly string[]>>;
}

export type ConditionResult = { ok: true; value: boolean } | { ok: false; reason: string };

type Node =
  | { kind: 'and' | 'or'; left: Node; right: Node }
  | { kind: 'not'; operand: Node }
  | { kind: 'action'; pattern: string }
  | { kind: 'compare'; source: string; attribute: string; operator: string; values: string[] };

type Token =
  | { t: 'punct'; v: '(' | ')' | '{' | '}' | ',' | '!' }
  | { t: 'string'; v: string }
  | { t: 'attr'; source: string; name: string }
  | { t: 'word'; v: string };

class ConditionSyntaxError extends Error {}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] ?? '';
    if (/\s/.test(c)) {
      i += 1;
    } else if ('(){},!'.includes(c)) {
      tokens.push({ t: 'punct', v: c as '(' });
      i += 1;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new ConditionSyntaxError('unterminated string');
      tokens.push({ t: 'string', v: text.slice(i + 1, end) });
      i = end + 1;
    } else if (c === '&' || c === '|') {
      if (text[i + 1] !== c) throw new ConditionSyntaxError(`stray '${c}'`);
      tokens.push({ t: 'word', v: c === '&' ? 'AND' : 'OR' });
      i += 2;
    } else if (c === '@') {
      const m = /^@(\w+)\[([^\]]+)\]/.exec(text.slice(i));
      if (!m) throw new ConditionSyntaxError('bad attribute reference');
      tokens.push({ t: 'attr', source: m[1] ?? '', name: (m[2] ?? '').trim() });
      i += m[0].length;
    } else {
      const m = /^[A-Za-z][\w:]*/.exec(text.slice(i));
      if (!m) throw new ConditionSyntaxError(`unexpected '${c}'`);
      tokens.push({ t: 'word', v: m[0] });
      i += m[0].length;
    }
  }
  return tokens;
}

class Parser {
  private at = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): Node {
    const node = this.or();
    if (this.at !== this.tokens.length) throw new ConditionSyntaxError('trailing input');
    return node;
  }

  private peek(): Token | undefined {
    return this.tokens[this.at];
  }

  private next(): Token {
    const token = this.tokens[this.at];
    if (!token) throw new ConditionSyntaxError('unexpected end');
    this.at += 1;
    return token;
  }

  private isWord(v: string): boolean {
    const token = this.peek();
    return token?.t === 'word' && token.v.toUpperCase() === v;
  }

  private expectPunct(v: string): void {
    const token = this.next();
    if (token.t !== 'punct' || token.v !== v) throw new ConditionSyntaxError(`expected '${v}'`);
  }

  private or(): Node {
    let left = this.and();
    while (this.isWord('OR')) {
      this.at += 1;
      left = { kind: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): Node {
    let left = this.unary();
    while (this.isWord('AND')) {
      this.at += 1;
      left = { kind: 'and', left, right: this.unary() };
    }
    return left;
  }

  private unary(): Node {
    const token = this.peek();
    if ((token?.t === 'punct' && token.v === '!') || this.isWord('NOT')) {
      this.at += 1;
      return { kind: 'not', operand: this.unary() };
    }
    if (token?.t === 'punct' && token.v === '(') {
      this.at += 1;
      const inner = this.or();
      this.expectPunct(')');
      return inner;
    }
    if (token?.t === 'word' && token.v === 'ActionMatches') {
      this.at += 1;
      this.expectPunct('{');
      const pattern = this.next();
      if (pattern.t !== 'string') throw new ConditionSyntaxError('ActionMatches takes a string');
      this.expectPunct('}');
      return { kind: 'action', pattern: pattern.v };
    }
    if (token?.t === 'attr') {
      this.at += 1;
      const operator = this.next();
      if (operator.t !== 'word') throw new ConditionSyntaxError('expected an operator');
      return {
        kind: 'compare',
        source: token.source,
        attribute: token.name,
        operator: operator.v,
        values: this.values(),
      };
    }
    throw new ConditionSyntaxError(`unsupported expression at token ${this.at}`);
  }

  /** A 'string' or a {'list', 'of', 'strings'}. */
  private values(): string[] {
    const token = this.next();
    if (token.t === 'string') return [token.v];
    if (token.t !== 'punct' || token.v !== '{') throw new ConditionSyntaxError('expected a value');
    const values: string[] = [];
    for (;;) {
      const value = this.next();
      if (value.t !== 'string') throw new ConditionSyntaxError('expected a string in the list');
      values.push(value.v);
      const sep = this.next();
      if (sep.t === 'punct' && sep.v === '}') return values;
      if (sep.t !== 'punct' || sep.v !== ',') throw new ConditionSyntaxError("expected ',' or '}'");
    }
  }
}

/** `*` (any run) and `?` (one character) of StringLike; the rest literal. */
function likeRegex(pattern: string, flags: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, flags);
}

/** The String* operators (Learn conditions-format: without IgnoreCase they are case-sensitive). */
const STRING_OPERATORS: Record<string, (actual: string, expected: string) => boolean> = {
  StringEquals: (a, e) => a === e,
  StringEqualsIgnoreCase: (a, e) => a.toLowerCase() === e.toLowerCase(),
  StringNotEquals: (a, e) => a !== e,
  StringNotEqualsIgnoreCase: (a, e) => a.toLowerCase() !== e.toLowerCase(),
  StringStartsWith: (a, e) => a.startsWith(e),
  StringStartsWithIgnoreCase: (a, e) => a.toLowerCase().startsWith(e.toLowerCase()),
  StringNotStartsWith: (a, e) => !a.startsWith(e),
  StringNotStartsWithIgnoreCase: (a, e) => !a.toLowerCase().startsWith(e.toLowerCase()),
  StringLike: (a, e) => likeRegex(e, '').test(a),
  StringNotLike: (a, e) => !likeRegex(e, '').test(a),
};

const SOURCES = new Set(['request', 'resource']);

class Unevaluable extends Error {}

function compare(node: Extract<Node, { kind: 'compare' }>, request: ConditionRequest): boolean {
  if (!SOURCES.has(node.source.toLowerCase()))
    throw new Unevaluable(`attribute source @${node.source} is not modelled`);
  const key = Object.keys(request.attributes).find((k) => k.toLowerCase() === node.attribute.toLowerCase());
  if (key === undefined) throw new Unevaluable(`attribute '${node.attribute}' is not modelled`);
  const actual = request.attributes[key] ?? [];
  const [prefix, bare] = node.operator.includes(':')
    ? node.operator.split(':', 2)
    : [undefined, node.operator];
  const op = STRING_OPERATORS[bare ?? ''];
  if (!op) throw new Unevaluable(`operator '${node.operator}' is not modelled`);
  const test = (a: string) => (e: string) => op(a, e);
  switch (prefix) {
    case undefined:
      if (node.values.length !== 1) throw new Unevaluable(`'${bare}' takes one value`);
      return actual.length === 1 && op(actual[0] ?? '', node.values[0] ?? '');
    case 'ForAnyOfAnyValues':
      return actual.some((a) => node.values.some(test(a)));
    case 'ForAllOfAnyValues':
      return actual.every((a) => node.values.some(test(a)));
    case 'ForAnyOfAllValues':
      return actual.some((a) => node.values.every(test(a)));
    case 'ForAllOfAllValues':
      return actual.every((a) => node.values.every(test(a)));
    default:
      throw new Unevaluable(`operator '${node.operator}' is not modelled`);
  }
}

function evaluate(node: Node, request: ConditionRequest): boolean {
  switch (node.kind) {
    case 'and':
      return evaluate(node.left, request) && evaluate(node.right, request);
    case 'or':
      return evaluate(node.left, request) || evaluate(node.right, request);
    case 'not':
      return !evaluate(node.operand, request);
    case 'action':
      return likeRegex(node.pattern, 'i').test(request.action);
    case 'compare':
      return compare(node, request);
  }
}

/**
 * Whether the condition lets the assignment apply to this request. `ok: false` when the emulator
 * cannot parse or evaluate it; callers treat that as "grants nothing" (fail closed).
 */
export function evaluateCondition(condition: string, request: ConditionRequest): ConditionResult {
  try {
    // Every sub-expression is evaluated (no short-circuit on the value) so that an unmodelled part
    // anywhere makes the whole condition unevaluable rather than silently true.
    const tree = new Parser(tokenize(condition)).parse();
    assertEvaluable(tree, request);
    return { ok: true, value: evaluate(tree, request) };
  } catch (error) {
    if (error instanceof ConditionSyntaxError || error instanceof Unevaluable)
      return { ok: false, reason: error.message };
    throw error;
  }
}

function assertEvaluable(node: Node, request: ConditionRequest): void {
  if (node.kind === 'and' || node.kind === 'or') {
    assertEvaluable(node.left, request);
    assertEvaluable(node.right, request);
  } else if (node.kind === 'not') assertEvaluable(node.operand, request);
  else if (node.kind === 'compare') compare(node, request);
}
