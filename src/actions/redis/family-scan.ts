/**
 * Shared by the family batch actions (`redis.family-expire`, `redis.family-delete`): validated
 * family patterns, a bounded `SCAN MATCH` that re-checks every key against the pattern on our side
 * (so a key outside the family is never planned), batch sizing with MEMORY USAGE, and a paced
 * execution of a batch plan (bounded per second).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { ActionContext, CommandOutcome, PlannedCommand } from '../types.js';
import { toTargetError, executePlan, withConnectionCause } from './connection.js';
import { globToRegExp } from './census-aggregate.js';

/** A family pattern: a Redis glob with at least 3 literal characters (never `*` alone). */
export const familyPattern = z
  .string()
  .min(1)
  .max(512)
  .refine((p) => p.replace(/\\./g, 'x').replace(/[*?]|\[[^\]]*\]/g, '').length >= 3, {
    message: 'a family pattern needs at least 3 literal characters (e.g. "session:*"); whole-keyspace patterns are refused',
  });

/** Batch and pacing inputs shared by the family actions. */
export const batchInputs = {
  pattern: familyPattern,
  /** Keys per round (the engine plans the next round after this one ran: `repeat`). */
  batch: z.number().int().positive().max(5000).default(500),
  /** Most keys changed per second while running. */
  perSecond: z.number().int().positive().max(100_000).default(2000),
  /** SCAN COUNT. */
  count: z.number().int().positive().max(10_000).default(1000),
  /** Time allowed to find one batch. */
  maxScanMillis: z.number().int().positive().max(60_000).default(5000),
};

/** One key planned in a batch. */
export interface FamilyKey {
  key: string;
  ttlMs: number;
}

/** A batch found by {@link scanFamily}. */
export interface FamilyBatch {
  keys: FamilyKey[];
  /** Keys the SCAN saw that matched the pattern (including ones the filter skipped). */
  matched: number;
  /** SCAN reached cursor 0 (there is no further batch beyond these keys, as of now). */
  exhausted: boolean;
  /** Keys skipped because their name is not valid UTF-8 (cannot be planned exactly as text). */
  binarySkipped: number;
}

/**
 * SCAN MATCH `pattern` from cursor 0 until `batch` keys pass `want(ttlMs)` (PTTL read in one
 * pipeline per SCAN batch), re-checking each key against the pattern locally.
 */
export async function scanFamily(
  ctx: ActionContext,
  o: { pattern: string; batch: number; count: number; maxScanMillis: number },
  want: (ttlMs: number) => boolean,
): Promise<FamilyBatch> {
  const re = globToRegExp(o.pattern);
  const started = ctx.now();
  const keys: FamilyKey[] = [];
  let matched = 0;
  let binarySkipped = 0;
  let cursor = '0';
  const conn = await ctx.target.connect(ctx.node);
  try {
    do {
      const reply = (await conn.callBuffer('SCAN', cursor, 'MATCH', o.pattern, 'COUNT', String(o.count))) as [Buffer, Buffer[]];
      cursor = reply[0].toString();
      const names: string[] = [];
      for (const raw of reply[1]) {
        const name = raw.toString('utf8');
        if (!Buffer.from(name, 'utf8').equals(raw)) {
          binarySkipped++;
          continue;
        }
        if (re.test(name)) names.push(name);
      }
      matched += names.length;
      if (names.length > 0) {
        const p = conn.pipeline();
        for (const n of names) p.pttl(n);
        const res = (await p.exec()) ?? [];
        names.forEach((n, i) => {
          const [err, v] = res[i] ?? [null, null];
          const ttl = typeof v === 'number' ? v : Number(v);
          if (err || !Number.isFinite(ttl) || ttl === -2 || keys.length >= o.batch) return;
          if (want(ttl)) keys.push({ key: n, ttlMs: ttl });
        });
      }
    } while (cursor !== '0' && keys.length < o.batch && ctx.now() - started < o.maxScanMillis && !ctx.signal.aborted);
  } catch (err) {
    throw toTargetError(withConnectionCause(conn, err), ctx.node, `SCAN MATCH ${o.pattern}`);
  }
  return { keys, matched, exhausted: cursor === '0', binarySkipped };
}

/** Sum of MEMORY USAGE of `keys` (one pipeline; missing keys count 0). */
export async function bytesOf(ctx: ActionContext, keys: string[]): Promise<number> {
  if (keys.length === 0) return 0;
  const conn = await ctx.target.connect(ctx.node);
  const p = conn.pipeline();
  for (const k of keys) p.call('MEMORY', 'USAGE', k, 'SAMPLES', '5');
  const res = (await p.exec().catch(() => [])) ?? [];
  return res.reduce((s, [err, v]) => s + (err ? 0 : Number(v) || 0), 0);
}

/**
 * Runs a batch plan in order, at most `perSecond` keys per second (`keysOf(cmd)` keys each), in
 * slices of ~100 ms. Failed commands are recorded and the run goes on (each command is one key
 * batch, independent of the others); an abort stops before the next slice.
 */
export async function runPaced(
  ctx: ActionContext,
  plan: readonly PlannedCommand[],
  perSecond: number,
  keysOf: (cmd: PlannedCommand) => number,
): Promise<CommandOutcome[]> {
  const outcomes: CommandOutcome[] = [];
  const slice = Math.max(1, Math.ceil(perSecond / 10));
  let i = 0;
  while (i < plan.length && !ctx.signal.aborted) {
    const t0 = ctx.now();
    const part: PlannedCommand[] = [];
    let n = 0;
    while (i < plan.length && (part.length === 0 || n + keysOf(plan[i] as PlannedCommand) <= slice)) {
      const cmd = plan[i++] as PlannedCommand;
      part.push(cmd);
      n += keysOf(cmd);
    }
    const exec = await executePlan(ctx, part, () => false);
    outcomes.push(...exec.outcomes);
    const budget = (n / perSecond) * 1000;
    const spent = ctx.now() - t0;
    if (i < plan.length && spent < budget) await sleep(budget - spent, undefined, { signal: ctx.signal }).catch(() => undefined);
  }
  return outcomes;
}

/** `a, b, c … (+N more)` for notes. */
export function sampleText(keys: readonly string[], n = 5): string {
  const shown = keys.slice(0, n).join(', ');
  return keys.length > n ? `${shown} … (+${keys.length - n} more)` : shown;
}
