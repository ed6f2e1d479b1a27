/**
 * Recursive-descent parser. Precedence, low to high: `or`, `and`, `not`, comparisons, `in`,
 * `+ -`, `* / %`, unary `-`, then literals, paths, calls, arrays and parentheses.
 */
import { childrenOf, type BinaryOp, type ExprNode, type PathSegment } from './ast.js';
import { ExprError } from './errors.js';
import { FUNCTIONS } from './functions.js';
import { tokenize, type Punct, type Token } from './lexer.js';

/** Longest accepted source text. */
export const MAX_SOURCE_LENGTH = 2000;
/** Deepest accepted syntax tree (and deepest bracket/operator nesting). */
export const MAX_DEPTH = 64;

const COMPARISONS: ReadonlySet<string> = new Set(['==', '!=', '<', '<=', '>', '>=']);

/** Parse `source` into a tree. Throws {@link ExprError} with the offending column. */
export function parse(source: string): ExprNode {
  if (source.length > MAX_SOURCE_LENGTH) {
    throw new ExprError(`expression too long (${source.length} characters, max ${MAX_SOURCE_LENGTH})`, MAX_SOURCE_LENGTH, source);
  }
  if (source.trim() === '') throw new ExprError('empty expression', 0, source);
  return new Parser(source, tokenize(source)).parseAll();
}

class Parser {
  private index = 0;
  private nesting = 0;
  private readonly depths = new WeakMap<ExprNode, number>();

  constructor(
    private readonly source: string,
    private readonly tokens: readonly Token[],
  ) {}

  parseAll(): ExprNode {
    const node = this.parseOr();
    const t = this.peek();
    if (t.type !== 'eof') throw this.unexpected(t);
    return node;
  }

  // ---- token helpers ----

  private peek(offset = 0): Token {
    const last = this.tokens[this.tokens.length - 1];
    const t = this.tokens[this.index + offset] ?? last;
    if (t === undefined) throw new ExprError('empty expression', 0, this.source);
    return t;
  }

  private next(): Token {
    const t = this.peek();
    if (this.index < this.tokens.length - 1) this.index++;
    return t;
  }

  private isPunct(t: Token, ...values: Punct[]): boolean {
    return t.type === 'punct' && values.includes(t.value);
  }

  private isKeyword(t: Token, value: string): boolean {
    return t.type === 'keyword' && t.value === value;
  }

  private expect(value: Punct): Token {
    const t = this.next();
    if (!this.isPunct(t, value)) throw new ExprError(`expected '${value}' but found ${describe(t)}`, t.pos, this.source);
    return t;
  }

  private unexpected(t: Token): ExprError {
    return new ExprError(`unexpected ${describe(t)}`, t.pos, this.source);
  }

  /** Run `fn` one nesting level deeper; refuses to go past {@link MAX_DEPTH} (bounds parser recursion). */
  private nested<T>(pos: number, fn: () => T): T {
    if (++this.nesting > MAX_DEPTH) throw this.tooDeep(pos);
    try {
      return fn();
    } finally {
      this.nesting--;
    }
  }

  private tooDeep(pos: number): ExprError {
    return new ExprError(`expression nested too deeply (max depth ${MAX_DEPTH})`, pos, this.source);
  }

  /** Register a new node, refusing trees deeper than {@link MAX_DEPTH}. */
  private node<T extends ExprNode>(n: T): T {
    const depth = 1 + Math.max(0, ...childrenOf(n).map((c) => this.depths.get(c) ?? 1));
    if (depth > MAX_DEPTH) throw this.tooDeep(n.pos);
    this.depths.set(n, depth);
    return n;
  }

  // ---- grammar ----

  private parseOr(): ExprNode {
    let left = this.parseAnd();
    for (let t = this.peek(); this.isKeyword(t, 'or') || this.isPunct(t, '||'); t = this.peek()) {
      this.next();
      left = this.node({ type: 'logical', op: 'or', left, right: this.parseAnd(), pos: t.pos });
    }
    return left;
  }

  private parseAnd(): ExprNode {
    let left = this.parseNot();
    for (let t = this.peek(); this.isKeyword(t, 'and') || this.isPunct(t, '&&'); t = this.peek()) {
      this.next();
      left = this.node({ type: 'logical', op: 'and', left, right: this.parseNot(), pos: t.pos });
    }
    return left;
  }

  private parseNot(): ExprNode {
    const t = this.peek();
    if (this.isKeyword(t, 'not') || this.isPunct(t, '!')) {
      this.next();
      const operand = this.nested(t.pos, () => this.parseNot());
      return this.node({ type: 'unary', op: 'not', operand, pos: t.pos });
    }
    return this.parseComparison();
  }

  private parseComparison(): ExprNode {
    const left = this.parseIn();
    const t = this.peek();
    if (t.type !== 'punct' || !COMPARISONS.has(t.value)) return left;
    this.next();
    const node = this.node({ type: 'binary', op: t.value as BinaryOp, left, right: this.parseIn(), pos: t.pos });
    const after = this.peek();
    if (after.type === 'punct' && COMPARISONS.has(after.value)) {
      throw new ExprError(`comparisons cannot be chained (use 'and')`, after.pos, this.source);
    }
    return node;
  }

  private parseIn(): ExprNode {
    let left = this.parseAdditive();
    for (;;) {
      const t = this.peek();
      let op: BinaryOp;
      if (this.isKeyword(t, 'in')) op = 'in';
      else if (this.isKeyword(t, 'not') && this.isKeyword(this.peek(1), 'in')) op = 'not in';
      else return left;
      this.next();
      if (op === 'not in') this.next();
      left = this.node({ type: 'binary', op, left, right: this.parseAdditive(), pos: t.pos });
    }
  }

  private parseAdditive(): ExprNode {
    let left = this.parseMultiplicative();
    for (let t = this.peek(); t.type === 'punct' && (t.value === '+' || t.value === '-'); t = this.peek()) {
      this.next();
      left = this.node({ type: 'binary', op: t.value, left, right: this.parseMultiplicative(), pos: t.pos });
    }
    return left;
  }

  private parseMultiplicative(): ExprNode {
    let left = this.parseUnary();
    for (let t = this.peek(); t.type === 'punct' && (t.value === '*' || t.value === '/' || t.value === '%'); t = this.peek()) {
      this.next();
      left = this.node({ type: 'binary', op: t.value, left, right: this.parseUnary(), pos: t.pos });
    }
    return left;
  }

  private parseUnary(): ExprNode {
    const t = this.peek();
    if (!this.isPunct(t, '-')) return this.parsePrimary();
    this.next();
    const operand = this.nested(t.pos, () => this.parseUnary());
    if (operand.type === 'literal' && typeof operand.value === 'number') {
      return this.node({ type: 'literal', value: -operand.value, pos: t.pos });
    }
    return this.node({ type: 'unary', op: '-', operand, pos: t.pos });
  }

  private parsePrimary(): ExprNode {
    const t = this.next();
    switch (t.type) {
      case 'number':
      case 'string':
        return this.node({ type: 'literal', value: t.value, pos: t.pos });
      case 'keyword':
        if (t.value === 'true' || t.value === 'false') return this.node({ type: 'literal', value: t.value === 'true', pos: t.pos });
        if (t.value === 'null') return this.node({ type: 'literal', value: null, pos: t.pos });
        throw this.unexpected(t);
      case 'ident':
        return this.isPunct(this.peek(), '(') ? this.parseCall(t) : this.parsePath(t);
      case 'punct':
        if (t.value === '(') {
          const inner = this.nested(t.pos, () => this.parseOr());
          this.expect(')');
          return inner;
        }
        if (t.value === '[') return this.node({ type: 'array', items: this.nested(t.pos, () => this.parseList(']')), pos: t.pos });
        throw this.unexpected(t);
      case 'eof':
        throw this.unexpected(t);
    }
  }

  /** Comma-separated expressions up to and including `close`. */
  private parseList(close: ')' | ']'): ExprNode[] {
    const items: ExprNode[] = [];
    if (this.isPunct(this.peek(), close)) {
      this.next();
      return items;
    }
    for (;;) {
      items.push(this.parseOr());
      const t = this.next();
      if (this.isPunct(t, close)) return items;
      if (!this.isPunct(t, ',')) throw new ExprError(`expected ',' or '${close}' but found ${describe(t)}`, t.pos, this.source);
    }
  }

  private parseCall(name: Token & { type: 'ident' }): ExprNode {
    const fn = FUNCTIONS.get(name.value);
    if (fn === undefined) throw new ExprError(`unknown function '${name.value}'`, name.pos, this.source);
    const open = this.next(); // '('
    const args = this.nested(open.pos, () => this.parseList(')'));
    if (args.length < fn.minArgs || args.length > fn.maxArgs) {
      const want = fn.minArgs === fn.maxArgs ? `${fn.minArgs}` : fn.maxArgs > 2 ? `at least ${fn.minArgs}` : `${fn.minArgs} to ${fn.maxArgs}`;
      throw new ExprError(`${name.value}() expects ${want} argument${want === '1' ? '' : 's'}, got ${args.length}`, name.pos, this.source);
    }
    const first = args[0];
    if (name.value === 'exists' && first !== undefined && first.type !== 'path') {
      throw new ExprError('exists() expects a path', startOf(first), this.source);
    }
    return this.node({ type: 'call', name: name.value, args, pos: name.pos });
  }

  private parsePath(root: Token & { type: 'ident' }): ExprNode {
    const segments: PathSegment[] = [];
    for (;;) {
      const t = this.peek();
      if (this.isPunct(t, '.')) {
        this.next();
        const k = this.next();
        if (k.type === 'ident' || k.type === 'keyword') segments.push({ kind: 'key', key: k.value });
        else if (k.type === 'number' && Number.isInteger(k.value) && /^\d+$/.test(k.raw)) segments.push({ kind: 'key', key: k.value });
        else if (this.isPunct(k, '*')) segments.push({ kind: 'wildcard' });
        else throw new ExprError(`expected a property name after '.' but found ${describe(k)}`, k.pos, this.source);
      } else if (this.isPunct(t, '[')) {
        this.next();
        segments.push(this.nested(t.pos, () => this.parseIndex()));
        this.expect(']');
      } else {
        return this.node({ type: 'path', root: root.value, segments, pos: root.pos });
      }
    }
  }

  private parseIndex(): PathSegment {
    if (this.isPunct(this.peek(), '*') && this.isPunct(this.peek(1), ']')) {
      this.next();
      return { kind: 'wildcard' };
    }
    const expr = this.parseOr();
    if (expr.type === 'literal' && (typeof expr.value === 'string' || typeof expr.value === 'number')) {
      return { kind: 'key', key: expr.value };
    }
    return { kind: 'computed', expr };
  }
}

/** Offset of the first character of a node (binary nodes carry their operator's offset). */
function startOf(node: ExprNode): number {
  return node.type === 'binary' || node.type === 'logical' ? Math.min(node.pos, startOf(node.left)) : node.pos;
}

function describe(t: Token): string {
  return t.type === 'eof' ? 'end of expression' : `'${t.raw}'`;
}
