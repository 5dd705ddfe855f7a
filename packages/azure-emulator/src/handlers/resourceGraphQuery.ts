// Resource Graph queries: the emulator is not a KQL engine. It tokenizes the query (whitespace,
// newlines, `//` comments and keyword case do not matter) and recognizes exactly two shapes over
// virtual machines and scale sets (see README.md), the listing with an optional anti-join on a tag
// key; anything else is refused with the reason. Pure: no HTTP, no store.

/** Columns of the Resources table the emulator can project for a VM. */
export const VM_COLUMNS = [
  'id',
  'name',
  'type',
  'location',
  'resourceGroup',
  'subscriptionId',
  'tags',
  'identity',
] as const;

export type VmColumn = (typeof VM_COLUMNS)[number];

export type Comparison = '=~' | '==';

export type GraphQuery =
  | {
      /** `… | mv-expand bagexpansion=array tags | where tostring(tags[0]) =~ '<key>' | project id, location, <k> = tostring(tags[0]), <v> = tostring(tags[1]), identity` */
      shape: 'vmTags';
      /**
       * The types (lowercase) whose rows match: `type =~ 't'`, `type == 't'` (real ARG stores types in
       * lowercase, so `==` with another case matches nothing) or `type in~ ('t1', 't2')`.
       */
      types: readonly EmulatedType[];
      tagKey: string;
      tagComparison: Comparison;
      tagKeyColumn: string;
      tagValueColumn: string;
      /** The query with whitespace, comments and keyword case normalized (for skip tokens). */
      fingerprint: string;
    }
  | {
      /** `… [| where tostring(identity|tags) [!]contains '<s>']… [| join … | where isempty(…)] | project <columns>` */
      shape: 'vms';
      types: readonly EmulatedType[];
      filters: readonly BagFilter[];
      /** Rows whose id the anti-join's tag subquery returns are left out. */
      without?: TaggedSubquery;
      columns: VmColumn[];
      fingerprint: string;
    };

/**
 * The right side of `join kind=leftouter (<subquery>) on $left.id == $right.<alias> | where
 * isempty(<alias>)`: the rows of the outer query that have no tag key matching, KQL's left anti-join
 * written with the join flavors Resource Graph supports (innerunique, inner, leftouter:
 * learn.microsoft.com/azure/governance/resource-graph/concepts/query-language#supported-tabulartop-level-operators).
 * A leftouter join leaves the right side's columns empty on a left row with no match.
 */
export interface TaggedSubquery {
  types: readonly EmulatedType[];
  filters: readonly BagFilter[];
  tagKey: string;
  tagComparison: Comparison;
}

/** `where tostring(<bag>) contains '<needle>'` (or `!contains`): case-insensitive, on the bag's JSON. */
export interface BagFilter {
  bag: 'identity' | 'tags';
  negate: boolean;
  needle: string;
}

export class UnsupportedQuery extends Error {}

const VM_TYPE = 'microsoft.compute/virtualmachines';
const SCALE_SET_TYPE = 'microsoft.compute/virtualmachinescalesets';
const EMULATED_TYPES = [VM_TYPE, SCALE_SET_TYPE] as const;
export type EmulatedType = (typeof EMULATED_TYPES)[number];

function emulatedType(type: string): EmulatedType {
  const found = EMULATED_TYPES.find((t) => t === type.toLowerCase());
  if (!found)
    throw new UnsupportedQuery(`only types '${EMULATED_TYPES.join("', '")}' are emulated, not '${type}'`);
  return found;
}

type Token = { kind: 'word' | 'string' | 'number' | 'punct'; text: string; value: string };

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' };

/** A KQL string literal starting at `at` ('…' or "…" with backslash escapes, or verbatim @'…'). */
function readString(query: string, at: number): { value: string; end: number } {
  const verbatim = query[at] === '@';
  const start = verbatim ? at + 1 : at;
  const quote = query[start];
  let value = '';
  let i = start + 1;
  while (i < query.length) {
    const ch = query[i] as string;
    if (ch === quote) {
      if (verbatim && query[i + 1] === quote) {
        value += quote;
        i += 2;
        continue;
      }
      return { value, end: i + 1 };
    }
    if (ch === '\\' && !verbatim) {
      const escaped = ESCAPES[query[i + 1] ?? ''];
      if (escaped === undefined) throw new UnsupportedQuery(`unsupported escape '\\${query[i + 1] ?? ''}'`);
      value += escaped;
      i += 2;
      continue;
    }
    value += ch;
    i += 1;
  }
  throw new UnsupportedQuery('unterminated string literal');
}

const PUNCTUATION = ['=~', '==', '|', '(', ')', '[', ']', ',', '=', '~', '!', '$', '.'];

export function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < query.length) {
    const rest = query.slice(i);
    const space = /^(\s+|\/\/[^\n]*)/.exec(rest);
    if (space) {
      i += space[0].length;
      continue;
    }
    if (/^(@?['"])/.test(rest)) {
      const { value, end } = readString(query, i);
      tokens.push({ kind: 'string', text: query.slice(i, end), value });
      i = end;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z_][A-Za-z0-9_]*)*/.exec(rest) ?? undefined;
    const number = word ? undefined : /^\d+/.exec(rest);
    const punct = word || number ? undefined : PUNCTUATION.find((p) => rest.startsWith(p));
    const text = word?.[0] ?? number?.[0] ?? punct;
    if (!text) throw new UnsupportedQuery(`unexpected character '${rest[0]}'`);
    const kind = word ? 'word' : number ? 'number' : 'punct';
    tokens.push({ kind, text, value: kind === 'word' ? text.toLowerCase() : text });
    i += text.length;
  }
  return tokens;
}

/** Walks the tokens, naming what it expected when the query leaves the recognized shapes. */
class Cursor {
  private at = 0;

  constructor(private readonly tokens: Token[]) {}

  private fail(expected: string): never {
    const found = this.tokens[this.at];
    throw new UnsupportedQuery(
      `expected ${expected}, found ${found ? `'${found.text}'` : 'the end of the query'}`,
    );
  }

  peekWord(word: string): boolean {
    const t = this.tokens[this.at];
    return t?.kind === 'word' && t.value === word;
  }

  /** Keywords and fixed column names, in any case; several separated by spaces match in sequence. */
  words(sequence: string): void {
    for (const word of sequence.split(' ')) {
      if (!this.peekWord(word)) this.fail(`'${word}'`);
      this.at += 1;
    }
  }

  punct(p: string): void {
    const t = this.tokens[this.at];
    if (t?.kind !== 'punct' || t.value !== p) this.fail(`'${p}'`);
    this.at += 1;
  }

  /** Accepts the next token if it is this punctuation. */
  maybePunct(p: string): boolean {
    const t = this.tokens[this.at];
    if (t?.kind !== 'punct' || t.value !== p) return false;
    this.at += 1;
    return true;
  }

  comparison(): Comparison {
    const t = this.tokens[this.at];
    if (t?.kind !== 'punct' || (t.value !== '=~' && t.value !== '==')) this.fail("'=~' or '=='");
    this.at += 1;
    return t.value as Comparison;
  }

  string(): string {
    const t = this.tokens[this.at];
    if (t?.kind !== 'string') this.fail('a string literal');
    this.at += 1;
    return t.value;
  }

  number(n: string): void {
    const t = this.tokens[this.at];
    if (t?.kind !== 'number' || t.value !== n) this.fail(n);
    this.at += 1;
  }

  /** A column alias, as written. */
  name(): string {
    const t = this.tokens[this.at];
    if (t?.kind !== 'word') this.fail('a column name');
    this.at += 1;
    return t.text;
  }

  end(): void {
    if (this.at < this.tokens.length) this.fail('the end of the query');
  }
}

/** `tostring(tags[<index>])` */
function tagElement(c: Cursor, index: '0' | '1'): void {
  c.words('tostring');
  c.punct('(');
  c.words('tags');
  c.punct('[');
  c.number(index);
  c.punct(']');
  c.punct(')');
}

function vmColumns(c: Cursor): VmColumn[] {
  const columns: VmColumn[] = [];
  do {
    const name = c.name();
    const column = VM_COLUMNS.find((col) => col.toLowerCase() === name.toLowerCase());
    if (!column) throw new UnsupportedQuery(`column '${name}' is not one of ${VM_COLUMNS.join(', ')}`);
    if (columns.includes(column)) throw new UnsupportedQuery(`column '${column}' is projected twice`);
    columns.push(column);
  } while (c.maybePunct(','));
  return columns;
}

/** `where tostring(identity) contains '<s>'`, or `tags`, or `!contains`. */
function bagFilter(c: Cursor): BagFilter {
  c.words('where tostring');
  c.punct('(');
  const bag = c.peekWord('identity') ? 'identity' : 'tags';
  c.words(bag);
  c.punct(')');
  const negate = c.maybePunct('!');
  c.words('contains');
  return { bag, negate, needle: c.string() };
}

/** `=~ 't'`, `== 't'` or `in~ ('t1', …)` after `where type`: the emulated types that match. */
function typeClause(c: Cursor): EmulatedType[] {
  if (c.peekWord('in')) {
    c.words('in');
    c.punct('~');
    c.punct('(');
    const types: EmulatedType[] = [];
    do types.push(emulatedType(c.string()));
    while (c.maybePunct(','));
    c.punct(')');
    return [...new Set(types)];
  }
  const comparison = c.comparison();
  const written = c.string();
  const type = emulatedType(written);
  return comparison === '=~' || written === type ? [type] : [];
}

/** `resources | where type <clause>` and the bag filters after it, up to the next unrecognized step. */
function source(c: Cursor): { types: EmulatedType[]; filters: BagFilter[] } {
  c.words('resources');
  c.punct('|');
  c.words('where type');
  const types = typeClause(c);
  c.punct('|');
  const filters: BagFilter[] = [];
  while (c.peekWord('where')) {
    filters.push(bagFilter(c));
    c.punct('|');
  }
  return { types, filters };
}

/** `mv-expand bagexpansion=array tags | where tostring(tags[0]) <=~|==> '<key>' |` */
function tagExpansion(c: Cursor): { tagComparison: Comparison; tagKey: string } {
  c.words('mv-expand bagexpansion');
  c.punct('=');
  c.words('array tags');
  c.punct('|');
  c.words('where');
  tagElement(c, '0');
  const tagComparison = c.comparison();
  const tagKey = c.string();
  c.punct('|');
  return { tagComparison, tagKey };
}

/**
 * `join kind=leftouter (resources | where type … [| where tostring(…) contains …]… | <tagExpansion>
 * | project <alias> = id) on $left.id == $right.<alias> | where isempty(<alias>) |`
 */
function antiJoin(c: Cursor): TaggedSubquery {
  c.words('join kind');
  c.punct('=');
  c.words('leftouter');
  c.punct('(');
  const { types, filters } = source(c);
  const { tagComparison, tagKey } = tagExpansion(c);
  c.words('project');
  const alias = c.name();
  c.punct('=');
  c.words('id');
  c.punct(')');
  c.words('on');
  c.punct('$');
  c.words('left');
  c.punct('.');
  c.words('id');
  c.punct('==');
  c.punct('$');
  c.words('right');
  c.punct('.');
  c.words(alias.toLowerCase());
  c.punct('|');
  c.words('where isempty');
  c.punct('(');
  c.words(alias.toLowerCase());
  c.punct(')');
  c.punct('|');
  if (VM_COLUMNS.some((col) => col.toLowerCase() === alias.toLowerCase()))
    throw new UnsupportedQuery(`the join alias '${alias}' is a column of the left side`);
  return { types, filters, tagKey, tagComparison };
}

/** The recognized shape of `query`, or UnsupportedQuery saying where it departs from them. */
export function parseGraphQuery(query: string): GraphQuery {
  const tokens = tokenize(query);
  const fingerprint = tokens.map((t) => (t.kind === 'word' ? t.value : t.text)).join(' ');
  const c = new Cursor(tokens);
  const { types, filters } = source(c);
  const without = c.peekWord('join') ? antiJoin(c) : undefined;
  if (filters.length > 0 || without || c.peekWord('project')) {
    c.words('project');
    const columns = vmColumns(c);
    c.end();
    return { shape: 'vms', types, filters, ...(without ? { without } : {}), columns, fingerprint };
  }
  const { tagComparison, tagKey } = tagExpansion(c);
  c.words('project id');
  c.punct(',');
  c.words('location');
  c.punct(',');
  const tagKeyColumn = c.name();
  c.punct('=');
  tagElement(c, '0');
  c.punct(',');
  const tagValueColumn = c.name();
  c.punct('=');
  tagElement(c, '1');
  c.punct(',');
  c.words('identity');
  c.end();
  const names = ['id', 'location', 'identity', tagKeyColumn.toLowerCase(), tagValueColumn.toLowerCase()];
  if (new Set(names).size !== names.length) throw new UnsupportedQuery('the projected column names repeat');
  return { shape: 'vmTags', types, tagKey, tagComparison, tagKeyColumn, tagValueColumn, fingerprint };
}
