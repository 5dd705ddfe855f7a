// Role assignment conditions (Azure ABAC, conditionVersion 2.0) as ACR's repository permissions use
// them: `(!(ActionMatches{'…'}) OR @Resource[Microsoft.ContainerRegistry/registries/repositories:name]
// StringStartsWithIgnoreCase 'team-a/')`, with AND / OR / NOT, parentheses and the string operators
// (Learn: container-registry-rbac-abac-repository-permissions; conditions-format). The doctor asks
// whether a condition lets one action on one repository through. Anything outside this subset is
// "cannot tell" (undefined), never a guess. Written here (no package parses Azure's condition
// language); independent of the emulator's evaluator on purpose, so the two can be tested against
// each other. Pure.

export interface ConditionRequest {
  /** The action or data action being performed, e.g. …/repositories/content/read. */
  readonly action: string;
  /** The repository name, e.g. `team-a/web`. */
  readonly repository: string;
}

const REPOSITORY_ATTRIBUTE =
  /^@(?:Resource|Request)\[Microsoft\.ContainerRegistry\/registries\/repositories:name\]$/i;

type Token =
  | { kind: 'word'; text: string }
  | { kind: 'string'; text: string }
  | { kind: 'punct'; text: string };

function tokenize(text: string): Token[] | undefined {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    if (/\s/.test(ch)) {
      i += 1;
    } else if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return undefined;
      tokens.push({ kind: 'string', text: text.slice(i + 1, end) });
      i = end + 1;
    } else if ('(){},!'.includes(ch)) {
      tokens.push({ kind: 'punct', text: ch });
      i += 1;
    } else {
      const match = /^[^\s(){},!']+/.exec(text.slice(i));
      if (!match) return undefined;
      tokens.push({ kind: 'word', text: match[0] });
      i += match[0].length;
    }
  }
  return tokens;
}

class Parser {
  private at = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly request: ConditionRequest,
  ) {}

  done(): boolean {
    return this.at === this.tokens.length;
  }

  private peek(): Token | undefined {
    return this.tokens[this.at];
  }

  private take(text?: string): Token {
    const token = this.tokens[this.at];
    if (!token || (text !== undefined && token.text.toLowerCase() !== text.toLowerCase()))
      throw new Unsupported();
    this.at += 1;
    return token;
  }

  /** or := and (OR and)* */
  or(): boolean {
    let value = this.and();
    while (this.peek()?.kind === 'word' && this.peek()?.text.toUpperCase() === 'OR') {
      this.take();
      const right = this.and();
      value = value || right;
    }
    return value;
  }

  private and(): boolean {
    let value = this.unary();
    while (this.peek()?.kind === 'word' && this.peek()?.text.toUpperCase() === 'AND') {
      this.take();
      const right = this.unary();
      value = value && right;
    }
    return value;
  }

  private unary(): boolean {
    const token = this.peek();
    if (token?.kind === 'punct' && token.text === '!') {
      this.take();
      return !this.unary();
    }
    if (token?.kind === 'word' && token.text.toUpperCase() === 'NOT') {
      this.take();
      return !this.unary();
    }
    if (token?.kind === 'punct' && token.text === '(') {
      this.take();
      const value = this.or();
      this.take(')');
      return value;
    }
    return this.primary();
  }

  private primary(): boolean {
    const token = this.take();
    if (token.kind === 'word' && token.text.toLowerCase() === 'actionmatches') {
      this.take('{');
      const pattern = this.take();
      this.take('}');
      if (pattern.kind !== 'string') throw new Unsupported();
      return wildcard(pattern.text, this.request.action);
    }
    if (token.kind !== 'word' || !REPOSITORY_ATTRIBUTE.test(token.text)) throw new Unsupported();
    const operator = this.take();
    if (operator.kind !== 'word') throw new Unsupported();
    const values = this.values();
    return compare(operator.text, this.request.repository, values);
  }

  /** 'a' or {'a', 'b'} */
  private values(): string[] {
    const token = this.take();
    if (token.kind === 'string') return [token.text];
    if (token.kind !== 'punct' || token.text !== '{') throw new Unsupported();
    const values: string[] = [];
    for (;;) {
      const value = this.take();
      if (value.kind !== 'string') throw new Unsupported();
      values.push(value.text);
      const next = this.take();
      if (next.text === '}') return values;
      if (next.text !== ',') throw new Unsupported();
    }
  }
}

class Unsupported extends Error {}

function wildcard(pattern: string, value: string): boolean {
  const body = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${body}$`, 'i').test(value);
}

/** The string operators (and their ForAnyOfAnyValues: forms, which take a list). */
function compare(operator: string, actual: string, values: readonly string[]): boolean {
  const op = operator.replace(/^ForAnyOfAnyValues:/i, '').toLowerCase();
  const any = (test: (v: string) => boolean) => values.some(test);
  switch (op) {
    case 'stringequals':
      return any((v) => v === actual);
    case 'stringequalsignorecase':
      return any((v) => v.toLowerCase() === actual.toLowerCase());
    case 'stringnotequals':
      return !any((v) => v === actual);
    case 'stringnotequalsignorecase':
      return !any((v) => v.toLowerCase() === actual.toLowerCase());
    case 'stringstartswith':
      return any((v) => actual.startsWith(v));
    case 'stringstartswithignorecase':
      return any((v) => actual.toLowerCase().startsWith(v.toLowerCase()));
    case 'stringnotstartswith':
      return !any((v) => actual.startsWith(v));
    case 'stringlike':
      return any((v) => new RegExp(`^${likeBody(v)}$`).test(actual));
    case 'stringnotlike':
      return !any((v) => new RegExp(`^${likeBody(v)}$`).test(actual));
    default:
      throw new Unsupported();
  }
}

/** StringLike is case-sensitive, `*` any run of characters, `?` one character. */
function likeBody(pattern: string): string {
  return pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
}

/** Whether the condition lets the action on the repository through; undefined when it cannot tell. */
export function conditionAllows(condition: string, request: ConditionRequest): boolean | undefined {
  const tokens = tokenize(condition);
  if (!tokens || tokens.length === 0) return undefined;
  try {
    const parser = new Parser(tokens, request);
    const value = parser.or();
    return parser.done() ? value : undefined;
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
}
