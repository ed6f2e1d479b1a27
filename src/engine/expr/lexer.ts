/**
 * Tokenizer for the condition language. Numbers absorb their unit (`100mb`, `30s`, `85%`), so the
 * parser only ever sees plain values.
 */
import { ExprError } from './errors.js';

/** Reserved words (lowercase only). */
export type Keyword = 'and' | 'or' | 'not' | 'in' | 'true' | 'false' | 'null';

/** Operators and punctuation. */
export type Punct =
  | '(' | ')' | '[' | ']' | ',' | '.'
  | '+' | '-' | '*' | '/' | '%'
  | '==' | '!=' | '<' | '<=' | '>' | '>='
  | '&&' | '||' | '!';

/** One token; `raw` is the exact source text and `pos` its 0-based offset. */
export type Token =
  | { readonly type: 'number'; readonly value: number; readonly raw: string; readonly pos: number }
  | { readonly type: 'string'; readonly value: string; readonly raw: string; readonly pos: number }
  | { readonly type: 'ident'; readonly value: string; readonly raw: string; readonly pos: number }
  | { readonly type: 'keyword'; readonly value: Keyword; readonly raw: string; readonly pos: number }
  | { readonly type: 'punct'; readonly value: Punct; readonly raw: string; readonly pos: number }
  | { readonly type: 'eof'; readonly raw: ''; readonly pos: number };

const KEYWORDS: ReadonlySet<string> = new Set<Keyword>(['and', 'or', 'not', 'in', 'true', 'false', 'null']);

/** Multipliers of the units a number may carry: bytes (binary multiples) and durations (→ ms). */
export const UNITS: ReadonlyMap<string, number> = new Map([
  ['b', 1],
  ['kb', 1024],
  ['mb', 1024 ** 2],
  ['gb', 1024 ** 3],
  ['tb', 1024 ** 4],
  ['kib', 1024],
  ['mib', 1024 ** 2],
  ['gib', 1024 ** 3],
  ['tib', 1024 ** 4],
  ['ms', 1],
  ['s', 1000],
  ['m', 60_000],
  ['h', 3_600_000],
  ['d', 86_400_000],
]);

const TWO_CHAR: ReadonlySet<string> = new Set(['==', '!=', '<=', '>=', '&&', '||']);
const ONE_CHAR: ReadonlySet<string> = new Set(['(', ')', '[', ']', ',', '.', '+', '-', '*', '/', '%', '<', '>', '!']);
const ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', '0': '\0' };

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isLetter = (c: string | undefined): boolean => c !== undefined && /^[A-Za-z]$/.test(c);
const isIdentStart = (c: string | undefined): boolean => c !== undefined && /^[A-Za-z_$]$/.test(c);
const isIdentPart = (c: string | undefined): boolean => c !== undefined && /^[\w$]$/.test(c);
/** After `85%`, these characters mean the `%` was a modulo operator (`10%3`, `x%(y)`). */
const startsOperand = (c: string | undefined): boolean => c !== undefined && /^[\w$(['"]$/.test(c);

/** Split `source` into tokens, ending with an `eof` token. Throws {@link ExprError} on bad input. */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (c === undefined) break;
    if (/\s/.test(c)) {
      i++;
    } else if (isDigit(c)) {
      i = readNumber(source, i, tokens);
    } else if (c === '"' || c === "'") {
      i = readString(source, i, tokens);
    } else if (isIdentStart(c)) {
      const start = i;
      while (isIdentPart(source[i])) i++;
      const word = source.slice(start, i);
      tokens.push(
        KEYWORDS.has(word)
          ? { type: 'keyword', value: word as Keyword, raw: word, pos: start }
          : { type: 'ident', value: word, raw: word, pos: start },
      );
    } else {
      const two = source.slice(i, i + 2);
      const op = TWO_CHAR.has(two) ? two : ONE_CHAR.has(c) ? c : undefined;
      if (op === undefined) throw new ExprError(`unexpected '${c}'`, i, source);
      tokens.push({ type: 'punct', value: op as Punct, raw: op, pos: i });
      i += op.length;
    }
  }
  tokens.push({ type: 'eof', raw: '', pos: source.length });
  return tokens;
}

function readNumber(source: string, start: number, out: Token[]): number {
  let i = start;
  while (isDigit(source[i])) i++;
  if (source[i] === '.' && isDigit(source[i + 1])) {
    i++;
    while (isDigit(source[i])) i++;
  }
  let value = Number(source.slice(start, i));
  if (isLetter(source[i])) {
    const unitStart = i;
    while (isLetter(source[i])) i++;
    const unit = source.slice(unitStart, i);
    const factor = UNITS.get(unit.toLowerCase());
    if (factor === undefined) throw new ExprError(`unknown unit '${unit}'`, unitStart, source);
    value *= factor;
  } else if (source[i] === '%' && !startsOperand(source[i + 1])) {
    i++;
    value /= 100;
  }
  out.push({ type: 'number', value, raw: source.slice(start, i), pos: start });
  return i;
}

function readString(source: string, start: number, out: Token[]): number {
  const quote = source[start];
  let i = start + 1;
  let value = '';
  for (;;) {
    const c = source[i];
    if (c === undefined) throw new ExprError('unterminated string', start, source);
    if (c === quote) break;
    if (c === '\\') {
      const e = source[i + 1];
      if (e === undefined) throw new ExprError('unterminated string', start, source);
      if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(source.slice(i + 2, i + 6))) {
        value += String.fromCharCode(parseInt(source.slice(i + 2, i + 6), 16));
        i += 6;
        continue;
      }
      value += ESCAPES[e] ?? e;
      i += 2;
      continue;
    }
    value += c;
    i++;
  }
  out.push({ type: 'string', value, raw: source.slice(start, i + 1), pos: start });
  return i + 1;
}
