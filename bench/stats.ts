/**
 * Shared bench plumbing: percentiles, result rows (value beside a baseline, ratio, target,
 * pass/fail) and the table printed at the end.
 */

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  mean: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

export function summarize(xs: readonly number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  const sum = s.reduce((a, b) => a + b, 0);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), mean: s.length ? sum / s.length : Number.NaN, max: s.at(-1) ?? Number.NaN };
}

/** How a value is judged: `<`, `<=`, `>` or `>=` a limit; `info` rows are not judged. */
export type Target = { op: '<' | '<=' | '>' | '>='; limit: number } | { op: 'info' };

export interface Row {
  section: string;
  metric: string;
  unit: string;
  value: number;
  baseline: number;
  baselineLabel: string;
  /** value ÷ baseline. */
  ratio: number;
  target: string;
  pass: boolean | null;
  note?: string;
}

export function row(section: string, metric: string, unit: string, value: number, baseline: number, baselineLabel: string, target: Target, note?: string): Row {
  let pass: boolean | null = null;
  let t = '—';
  if (target.op !== 'info') {
    t = `${target.op} ${fmt(target.limit)}`;
    pass = target.op === '<' ? value < target.limit : target.op === '<=' ? value <= target.limit : target.op === '>' ? value > target.limit : value >= target.limit;
    if (!Number.isFinite(value)) pass = false;
  }
  return { section, metric, unit, value, baseline, baselineLabel, ratio: baseline !== 0 && Number.isFinite(baseline) ? value / baseline : Number.NaN, target: t, pass, ...(note !== undefined ? { note } : {}) };
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  const a = Math.abs(x);
  if (a >= 100_000) return Math.round(x).toLocaleString('en-US');
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a === 0) return '0';
  return x.toFixed(3);
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

export function formatTable(rows: readonly Row[]): string {
  const head = ['#', 'metric', 'value', 'baseline', 'ratio', 'target', 'result'];
  const body = rows.map((r) => [
    r.section,
    `${r.metric} (${r.unit})`,
    fmt(r.value),
    `${fmt(r.baseline)}  ${r.baselineLabel}`,
    Number.isFinite(r.ratio) ? `${fmt(r.ratio)}×` : 'n/a',
    r.target,
    r.pass === null ? 'info' : r.pass ? 'PASS' : 'FAIL',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const right = new Set([2, 4]);
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i] ?? 0, right.has(i))).join(' | ');
  const sep = widths.map((w) => '-'.repeat(w)).join('-+-');
  const out = [line(head), sep];
  let last = '';
  for (const [i, b] of body.entries()) {
    const sec = rows[i]?.section ?? '';
    if (last !== '' && sec !== last) out.push(sep);
    last = sec;
    out.push(line(b));
  }
  return `${out.join('\n')}\n`;
}

export function ms(t0: number): number {
  return performance.now() - t0;
}

export const sleep = (msec: number): Promise<void> => new Promise((r) => setTimeout(r, msec));

/** Run `fn(i)` for i in [0, n) with at most `concurrency` in flight. */
export async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
}

/** Log progress to stderr (stdout carries the table). */
export function progress(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}
