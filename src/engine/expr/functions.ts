/**
 * The fixed whitelist of functions callable from expressions. Every implementation is total:
 * bad input gives `null` (or `false` for predicates), never an exception.
 */
import { formatBytes, formatPct } from './format.js';
import { entries, equals, isNum, normalize, stableKey, truthy } from './values.js';

/** A whitelisted function: arity bounds and implementation over evaluated arguments. */
export interface ExprFunction {
  readonly minArgs: number;
  readonly maxArgs: number;
  readonly call: (args: readonly unknown[]) => unknown;
}

/** Elements of an array or values of an object; `null` for anything else. */
const listOf = (v: unknown): unknown[] | null => entries(v);

/** Non-null values of a collection; `null` → `[]`; a scalar counts as itself. */
function present(v: unknown): unknown[] {
  if (v === null || v === undefined) return [];
  return (listOf(v) ?? [v]).filter((x) => x !== null);
}

/** Numbers among the arguments (arrays and objects flattened one level, nulls skipped); `null` if any other type. */
function numbers(args: readonly unknown[]): number[] | null {
  const flat = args.flatMap((a) => listOf(a) ?? [normalize(a)]);
  const out: number[] = [];
  for (const x of flat) {
    if (x === null) continue;
    if (!isNum(x)) return null;
    out.push(x);
  }
  return out;
}

function sum(args: readonly unknown[]): number | null {
  if (args[0] === null || args[0] === undefined) return null;
  const ns = numbers(args);
  return ns === null ? null : ns.reduce((a, b) => a + b, 0);
}

function extreme(pick: (a: number, b: number) => number) {
  return (args: readonly unknown[]): number | null => {
    const ns = numbers(args);
    if (ns === null || ns.length === 0) return null;
    return ns.reduce((a, b) => pick(a, b));
  };
}

function round(x: unknown, digits: unknown): number | null {
  if (!isNum(x)) return null;
  const d = digits === undefined || digits === null ? 0 : digits;
  if (!isNum(d) || !Number.isInteger(d) || Math.abs(d) > 15) return null;
  // Shift by exponent text so that round(2.345, 2) is 2.35 (2.345 * 100 is 234.4999…).
  const shifted = Math.round(Number(`${x}e${d}`));
  const out = Number(`${shifted}e${-d}`);
  return Number.isFinite(out) ? out : Math.round(x * 10 ** d) / 10 ** d;
}

const str = (v: unknown): v is string => typeof v === 'string';

/** Name → definition. A `Map`, so that inherited names such as `constructor` are never found. */
export const FUNCTIONS: ReadonlyMap<string, ExprFunction> = new Map<string, ExprFunction>([
  ['count', { minArgs: 1, maxArgs: 1, call: ([v]) => present(v).length }],
  // Redis answers numbers as text (CONFIG GET, SENTINEL, CLUSTER INFO): `number('10000')` is 10000.
  ['number', { minArgs: 1, maxArgs: 1, call: ([v]) => (isNum(v) ? v : typeof v === 'string' && /^\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*$/.test(v) ? Number(v) : null) }],
  // A number as text, for `with:` inputs that take strings (`text(params.limit)`).
  ['text', { minArgs: 1, maxArgs: 1, call: ([v]) => (isNum(v) ? String(v) : typeof v === 'string' ? v : typeof v === 'boolean' ? String(v) : null) }],
  // The keys of an object: e.g. the nodes (`host:port`) of a fan-out finding.
  ['keys', { minArgs: 1, maxArgs: 1, call: ([v]) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.keys(v) : null) }],
  [
    'len',
    {
      minArgs: 1,
      maxArgs: 1,
      call: ([v]) => (str(v) ? v.length : (listOf(v)?.length ?? null)),
    },
  ],
  ['sum', { minArgs: 1, maxArgs: 1, call: sum }],
  ['min', { minArgs: 1, maxArgs: 64, call: extreme(Math.min) }],
  ['max', { minArgs: 1, maxArgs: 64, call: extreme(Math.max) }],
  [
    'avg',
    {
      minArgs: 1,
      maxArgs: 1,
      call: (args) => {
        const ns = args[0] === null ? null : numbers(args);
        return ns === null || ns.length === 0 ? null : ns.reduce((a, b) => a + b, 0) / ns.length;
      },
    },
  ],
  ['distinct', { minArgs: 1, maxArgs: 1, call: ([v]) => new Set(present(v).map(stableKey)).size }],
  ['any', { minArgs: 1, maxArgs: 1, call: ([v]) => (v === null ? false : (listOf(v) ?? [v]).some(truthy)) }],
  ['all', { minArgs: 1, maxArgs: 1, call: ([v]) => (v === null ? false : (listOf(v) ?? [v]).every(truthy)) }],
  ['exists', { minArgs: 1, maxArgs: 1, call: ([v]) => v !== null && v !== undefined }],
  ['coalesce', { minArgs: 1, maxArgs: 64, call: (args) => args.find((a) => a !== null && a !== undefined) ?? null }],
  ['abs', { minArgs: 1, maxArgs: 1, call: ([x]) => (isNum(x) ? Math.abs(x) : null) }],
  ['round', { minArgs: 1, maxArgs: 2, call: ([x, d]) => round(x, d) }],
  ['lower', { minArgs: 1, maxArgs: 1, call: ([s]) => (str(s) ? s.toLowerCase() : null) }],
  ['startsWith', { minArgs: 2, maxArgs: 2, call: ([s, p]) => str(s) && str(p) && s.startsWith(p) }],
  [
    'contains',
    {
      minArgs: 2,
      maxArgs: 2,
      call: ([s, sub]) => (str(s) ? str(sub) && s.includes(sub) : Array.isArray(s) && s.some((e) => equals(e, sub))),
    },
  ],
  ['bytes', { minArgs: 1, maxArgs: 1, call: ([n]) => (isNum(n) ? formatBytes(n) : null) }],
  ['pct', { minArgs: 1, maxArgs: 1, call: ([x]) => (isNum(x) ? formatPct(x) : null) }],
]);
