/**
 * Human durations (`30s`, `5m`, `1h30m`, `250ms`, `2d`) to milliseconds.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;

/**
 * Parse a duration into milliseconds.
 *
 * Accepts a non-negative finite number (already milliseconds), a string of digits (milliseconds),
 * or one or more `<number><unit>` parts with units `ms`, `s`, `m`, `h`, `d` (e.g. `1h30m`).
 * The result is rounded to a whole millisecond.
 *
 * @throws RangeError when the input is not a valid duration. The message does not echo the input.
 */
export function parseDuration(s: string | number): number {
  if (typeof s === 'number') {
    if (!Number.isFinite(s) || s < 0) throw new RangeError('expected a non-negative duration');
    return Math.round(s);
  }
  const text = s.trim();
  if (/^\d+$/.test(text)) return Number(text);
  if (text === '') throw new RangeError('expected a duration like 30s, 5m, 1h or milliseconds');
  let total = 0;
  let at = 0;
  PART.lastIndex = 0;
  for (let m = PART.exec(text); m !== null; m = PART.exec(text)) {
    const [, amount = '', unit = ''] = m;
    total += Number(amount) * (UNIT_MS[unit] ?? Number.NaN);
    at = PART.lastIndex;
  }
  if (at !== text.length || !Number.isFinite(total)) {
    throw new RangeError('expected a duration like 30s, 5m, 1h or milliseconds');
  }
  return Math.round(total);
}
