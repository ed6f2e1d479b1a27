/**
 * Human-readable formatting of values, for interpolated reasons and the `bytes()` / `pct()` functions.
 */
import { normalize, stableKey } from './values.js';

/** `n` with at most `maxDecimals` decimals, trailing zeros dropped (`1.5`, `2`, `0.333`). */
export function formatNumber(n: number, maxDecimals = 3): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1e21) return String(n);
  const s = n.toFixed(maxDecimals).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
  return s === '-0' ? '0' : s;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'] as const;

/** Bytes in binary units with up to 2 decimals: `formatBytes(1610612736)` → `"1.5 GiB"`, `512` → `"512 B"`. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  let v = Math.abs(n);
  let i = 0;
  while (i < BYTE_UNITS.length - 1 && Number(v.toFixed(2)) >= 1024) {
    v /= 1024;
    i++;
  }
  const text = formatNumber(v, i === 0 ? 0 : 2);
  return `${n < 0 && text !== '0' ? '-' : ''}${text} ${BYTE_UNITS[i] ?? 'B'}`;
}

/** A fraction as a percentage with up to 2 decimals: `formatPct(0.875)` → `"87.5%"`. */
export function formatPct(x: number): string {
  return `${formatNumber(x * 100, 2)}%`;
}

/**
 * Text for an interpolated value: numbers with up to 3 decimals, strings as is, `null`/missing as
 * `n/a`, arrays and objects as JSON (object keys sorted).
 */
export function formatValue(v: unknown): string {
  const x = normalize(v);
  if (x === null) return 'n/a';
  if (typeof x === 'number') return formatNumber(x);
  if (typeof x === 'string') return x;
  if (typeof x === 'boolean') return String(x);
  return stableKey(x);
}
