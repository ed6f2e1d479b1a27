/**
 * Value helpers shared by the evaluator and the functions. All of them are total: they never throw
 * and never call user code (getters are not invoked, only own data properties are read).
 */

/** Property names a path never walks into. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'prototype', 'constructor']);

/** Map data to the language's value space: `undefined`, functions and symbols become `null`. */
export function normalize(v: unknown): unknown {
  switch (typeof v) {
    case 'undefined':
    case 'function':
    case 'symbol':
      return null;
    case 'bigint':
      return Number(v);
    default:
      return v;
  }
}

/** A finite number (NaN and infinities are not numbers here). */
export function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** `null`, `false`, `0`, `NaN`, `''`, `[]` and `{}` are falsy; everything else is truthy. */
export function truthy(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

/**
 * Read own data property `key` of `obj`; `null` when `obj` is not an object, when the key is
 * forbidden, missing, inherited, or an accessor. Integer keys index arrays.
 */
export function getOwn(obj: unknown, key: string | number): unknown {
  if (obj === null || typeof obj !== 'object') return null;
  if (typeof key === 'number') {
    if (!Number.isInteger(key)) return null;
    if (Array.isArray(obj) && (key < 0 || key >= obj.length)) return null;
  }
  const name = String(key);
  if (FORBIDDEN_KEYS.has(name)) return null;
  const desc = Object.getOwnPropertyDescriptor(obj, name);
  if (desc === undefined || !('value' in desc)) return null;
  return normalize(desc.value);
}

/** Values of every entry of an array or object (for `*`); `null` for anything else. */
export function entries(v: unknown): unknown[] | null {
  if (Array.isArray(v)) return Array.from({ length: v.length }, (_, i) => getOwn(v, i));
  if (v === null || typeof v !== 'object') return null;
  return Object.keys(v)
    .filter((k) => !FORBIDDEN_KEYS.has(k))
    .map((k) => getOwn(v, k));
}

const MAX_KEY_DEPTH = 32;

/** A canonical JSON-like text of a value (object keys sorted, cycles cut) used for comparisons. */
export function stableKey(v: unknown): string {
  const seen = new Set<object>();
  const walk = (x: unknown, depth: number): string => {
    const n = normalize(x);
    if (n === null || typeof n !== 'object') return typeof n === 'number' && !Number.isFinite(n) ? String(n) : JSON.stringify(n);
    if (seen.has(n) || depth > MAX_KEY_DEPTH) return '"[…]"';
    seen.add(n);
    const body = Array.isArray(n)
      ? `[${(entries(n) ?? []).map((e) => walk(e, depth + 1)).join(',')}]`
      : `{${Object.keys(n)
          .filter((k) => !FORBIDDEN_KEYS.has(k))
          .sort()
          .map((k) => `${JSON.stringify(k)}:${walk(getOwn(n, k), depth + 1)}`)
          .join(',')}}`;
    seen.delete(n);
    return body;
  };
  return walk(v, 0);
}

/** Equality: `null` equals only `null`, primitives compare strictly, arrays and objects structurally. */
export function equals(a: unknown, b: unknown): boolean {
  const x = normalize(a);
  const y = normalize(b);
  if (x === null || y === null) return x === y;
  if (typeof x !== 'object' || typeof y !== 'object') return x === y;
  return stableKey(x) === stableKey(y);
}
