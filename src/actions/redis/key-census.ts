/**
 * `redis.key-census`: the whole keyspace of one node when it is affordable (like `redis-cli
 * --bigkeys` / `--memkeys`, pipelined): SCAN COUNT n, then per batch one pipeline of TYPE + PTTL
 * and one of the O(1) size (STRLEN/LLEN/SCARD/ZCARD/HLEN/XLEN) plus MEMORY USAGE for a calibration
 * sample; MEMORY USAGE … SAMPLES for the top candidates at the end; OBJECT IDLETIME (or OBJECT FREQ
 * under LFU) on a sample of the biggest families. Bounded by keys, time and load: between batches
 * it pauses so the node's main thread (INFO cpu, main-thread CPU over wall time) stays under a set
 * busy share. Beyond the key or time budget the findings are a sample and say so (`coverage`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { ActionContext, ActionDefinition } from '../types.js';
import { nodeKey } from '../types.js';
import { readInfo, toTargetError, withConnectionCause } from './connection.js';
import { num, str } from './info.js';
import {
  accessStat,
  CensusAggregator,
  COLLECTIONS,
  fmtBytes,
  NAME_MAX,
  type AccessStat,
  type CensusReport,
  type FamilyStat,
  type KeyType,
  type TopKey,
} from './census-aggregate.js';

const input = z
  .object({
    /** Family separator and depth: `session:123:x` with `:` and 1 → `session:*`. */
    separator: z.string().max(4).default(':'),
    depth: z.number().int().min(1).max(8).default(1),
    /** SCAN COUNT. */
    count: z.number().int().positive().max(10_000).default(1000),
    /** Stop (sampled, not complete) after this many keys or this long. */
    maxKeys: z.number().int().positive().max(50_000_000).default(5_000_000),
    maxMillis: z.number().int().positive().max(300_000).default(20_000),
    /** Highest share of wall time the node's main thread may be busy (all clients) while we scan. */
    maxBusy: z.number().gt(0).max(1).default(0.5),
    /** Entries in each top list; families reported. */
    top: z.number().int().positive().max(100).default(10),
    families: z.number().int().positive().max(200).default(20),
    /** MEMORY USAGE … SAMPLES for the top candidates and calibration keys. */
    samples: z.number().int().min(1).max(64).default(5),
    /** Keys per family probed with OBJECT IDLETIME / FREQ. */
    accessSample: z.number().int().min(0).max(64).default(8),
    /** A family holding more than this share of the bytes is dominant. */
    dominantShare: z.number().gt(0).max(1).default(0.3),
    /** A collection is a big key from this many bytes, or this share of all key bytes. */
    bigKeyBytes: z.number().int().positive().default(1024 * 1024),
    bigKeyShare: z.number().gt(0).max(1).default(0.1),
    /** `lua`: one read-only script call per batch (falls back to pipelines when scripting is denied). */
    mode: z.enum(['lua', 'pipeline']).default('lua'),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.key-census`. */
export type KeyCensusInput = z.infer<typeof input>;

/** Findings of `redis.key-census`. */
export interface KeyCensusResult extends Omit<CensusReport, 'families'> {
  summary: string;
  node: string;
  dbKeys: number;
  coverage: number;
  complete: boolean;
  stoppedBy: 'done' | 'key_budget' | 'time_budget' | 'aborted';
  elapsedMs: number;
  policy: string | null;
  usedMemory: number;
  maxmemory: number;
  families: FamilyStat[];
  dominantFamily: FamilyStat | null;
  bigKeys: TopKey[];
  stateFamilies: Array<{ family: string; keys: number; bytes: number; mainType: KeyType; noTtlKeys: number; reason: string }>;
  stateSummary: string;
  load: { mode: 'lua' | 'pipeline'; maxBusy: number; busyShare: number; peakBusyShare: number; pauses: number; pausedMs: number; batches: number };
}

/** Load-measuring window (INFO cpu read at most this often). */
const WINDOW_MS = 200;

const SIZE_CMD: Partial<Record<KeyType, string>> = { string: 'STRLEN', list: 'LLEN', set: 'SCARD', zset: 'ZCARD', hash: 'HLEN', stream: 'XLEN' };

function keyType(reply: unknown): KeyType {
  const t = typeof reply === 'string' ? reply : Buffer.isBuffer(reply) ? reply.toString() : '';
  return (['string', 'list', 'set', 'zset', 'hash', 'stream'] as const).find((x) => x === t) ?? 'other';
}

function asNum(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' || Buffer.isBuffer(v)) {
    const n = Number(v.toString());
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

function display(key: Buffer): string {
  const s = key.toString('utf8');
  return s.length > NAME_MAX ? s.slice(0, NAME_MAX) : s;
}

async function exec(conn: Redis, build: (p: ReturnType<Redis['pipeline']>) => void): Promise<Array<[Error | null, unknown]>> {
  const p = conn.pipeline();
  build(p);
  return ((await p.exec()) ?? []) as Array<[Error | null, unknown]>;
}

/** Main-thread CPU seconds of the node (falls back to the process total before Redis 6.2). */
async function mainCpu(ctx: ActionContext): Promise<number> {
  const cpu = (await readInfo(ctx, ctx.node, 'cpu'))['cpu'];
  const main = num(cpu, 'used_cpu_sys_main_thread') + num(cpu, 'used_cpu_user_main_thread');
  return main > 0 ? main : num(cpu, 'used_cpu_sys') + num(cpu, 'used_cpu_user');
}

/** Census of `ctx.node`'s keyspace (db 0). */
export const keyCensus: ActionDefinition<KeyCensusInput, KeyCensusResult> = {
  name: 'redis.key-census',
  description: 'Whole-keyspace census (pipelined SCAN + TYPE + O(1) sizes + PTTL, MEMORY USAGE for the top): key families, top keys, state-like families, under time and load budgets.',
  risk: 'read',
  input,
  timeoutMs: 330_000,
  output: {
    summary: 'one line naming coverage, the biggest families and keys with sizes',
    node: 'host:port scanned',
    dbKeys: 'DBSIZE at the start',
    scannedKeys: 'keys seen by the SCAN',
    coverage: 'scannedKeys / dbKeys (0..1): 1 means every key was seen',
    complete: 'the SCAN reached cursor 0 within the budgets',
    stoppedBy: 'done | key_budget | time_budget | aborted',
    elapsedMs: 'wall time of the census',
    policy: 'maxmemory-policy of the node',
    usedMemory: 'used_memory of the node at the start (bytes)',
    maxmemory: 'maxmemory of the node (0 = no limit)',
    bytes: 'estimated bytes of all scanned keys (measured keys exact, the rest calibrated per family and type)',
    noTtlKeys: 'scanned keys without TTL',
    noTtlShare: 'noTtlKeys / scannedKeys',
    types: 'type → number of scanned keys',
    families: 'biggest key families by bytes: family (glob), keys, bytes, share, noTtlKeys, noTtlShare, types, mainType, elements, measuredKeys, access {metric idle_seconds|lfu_freq, sampled, min, median, max}, stateLike, stateReason, sampleKeys',
    'families[].family': 'the family as a Redis glob (ids collapsed to *), usable as a SCAN MATCH pattern',
    familiesTotal: 'number of distinct families seen',
    dominantFamily: 'the biggest family when it holds more than dominantShare of the bytes, else null',
    topKeysByBytes: 'biggest keys: key, family, type, size (elements or string length), ttlMs (-1 none), bytes, measured (MEMORY USAGE) or estimated',
    topKeysByElements: 'collections with the most elements (same fields)',
    bigKeys: 'collections among the top keys holding at least bigKeyBytes, or bigKeyShare of all key bytes (same fields)',
    stateFamilies: 'families without TTL that hold state an allkeys-* policy would evict: family, keys, bytes, mainType, noTtlKeys, reason',
    stateSummary: 'stateFamilies as one line (empty when none)',
    'load.mode': 'lua (one read-only script call per SCAN batch) or pipeline (TYPE+PTTL, then sizes)',
    'load.maxBusy': 'the busy share allowed',
    'load.busyShare': 'main-thread CPU / wall time of the node over the census',
    'load.peakBusyShare': 'highest busy share of one measuring window (~200 ms; windows under 100 ms not counted)',
    'load.pauses': 'pauses taken between batches',
    'load.pausedMs': 'total pause time',
    'load.batches': 'SCAN batches',
  },
  async run(inp, ctx) {
    const started = ctx.now();
    let conn: Redis | undefined;
    const fail = (err: unknown, what: string): never => {
      throw toTargetError(withConnectionCause(conn, err), ctx.node, what);
    };
    conn = await ctx.target.connect(ctx.node);
    const info = await readInfo(ctx, ctx.node, 'memory');
    const policy = str(info['memory'], 'maxmemory_policy');
    const dbKeys = asNum(await conn.call('DBSIZE').catch((e: unknown) => fail(e, 'DBSIZE'))) ?? 0;
    const agg = new CensusAggregator({ separator: inp.separator, depth: inp.depth, top: inp.top, maxFamilies: 10_000, calibratePerFamily: 8, samplePerFamily: Math.max(inp.accessSample, 5) });

    // load control: main-thread busy share per window; the pause grows while above the budget
    const cpu0 = await mainCpu(ctx);
    let winStart = ctx.now();
    let winCpu = cpu0;
    let peak = 0;
    let pauseMs = 0;
    let winBatches = 0;
    let pauses = 0;
    let pausedMs = 0;
    let batches = 0;

    let mode: 'lua' | 'pipeline' = inp.mode;
    const scan = async (cur: string): Promise<[string, Buffer[]]> => {
      const reply = (await conn?.callBuffer('SCAN', cur, 'COUNT', String(inp.count)).catch((e: unknown) => fail(e, 'SCAN'))) as unknown;
      if (!Array.isArray(reply) || !Buffer.isBuffer(reply[0]) || !Array.isArray(reply[1])) return fail(new Error('unexpected SCAN reply'), 'SCAN');
      return [reply[0].toString(), (reply[1] as unknown[]).filter((k): k is Buffer => Buffer.isBuffer(k))];
    };
    let stoppedBy: KeyCensusResult['stoppedBy'] = 'done';
    // the next SCAN is sent while the current batch is sized (one round trip saved per batch)
    let next: Promise<[string, Buffer[]]> | null = scan('0');
    while (next) {
      const [cursor, all] = await next;
      next = null;
      batches++;
      const keys = all.slice(0, Math.max(0, inp.maxKeys - agg.scanned));
      if (keys.length < all.length) stoppedBy = 'key_budget';
      else if (cursor !== '0') {
        if (ctx.signal.aborted) stoppedBy = 'aborted';
        else if (ctx.now() - started >= inp.maxMillis) stoppedBy = 'time_budget';
        else if (pauseMs === 0) next = scan(cursor);
      }
      if (keys.length > 0) mode = await censusBatch(conn, keys, agg, inp.samples, mode).catch((e: unknown) => fail(e, mode === 'lua' ? 'EVAL (census)' : 'TYPE/PTTL/size'));
      if (stoppedBy !== 'done' || cursor === '0') break;
      winBatches++;
      // the first window closes after the first batch, so the pause is sized before the budget is crossed
      if (batches === 1 || ctx.now() - winStart >= WINDOW_MS) {
        // busy share of the window; the pause per batch that brings it to 80% of the budget (margin for bursts)
        const c = await mainCpu(ctx);
        const wall = (ctx.now() - winStart) / 1000;
        const cpu = c - winCpu;
        if (wall >= WINDOW_MS / 2000) peak = Math.max(peak, cpu / wall); // shorter windows are too coarse to judge
        const extraMs = ((cpu / (inp.maxBusy * 0.8) - wall) * 1000) / winBatches;
        pauseMs = Math.min(1000, Math.max(0, pauseMs + extraMs));
        if (pauseMs < 0.5) pauseMs = 0;
        winStart = ctx.now();
        winCpu = c;
        winBatches = 0;
      }
      if (pauseMs > 0) {
        pauses++;
        pausedMs += pauseMs;
        await sleep(pauseMs, undefined, { signal: ctx.signal }).catch(() => undefined);
      }
      next ??= scan(cursor);
    }

    // exact MEMORY USAGE for the top candidates
    const cands = agg.candidates();
    if (cands.length > 0) {
      const res = await exec(conn, (p) => cands.forEach((k) => p.call('MEMORY', 'USAGE', k.key, 'SAMPLES', String(inp.samples)))).catch((e: unknown) => fail(e, 'MEMORY USAGE'));
      cands.forEach((k, i) => {
        const [err, v] = res[i] ?? [null, null];
        agg.setMeasured(k.key, err ? null : asNum(v));
      });
    }

    // idle time (or LFU frequency) on a sample of the biggest families
    const access = new Map<string, AccessStat>();
    const lfu = policy !== null && /lfu/.test(policy);
    if (inp.accessSample > 0) {
      const fams = agg.familyNames(inp.families).map((f) => ({ ...f, sample: f.sample.slice(0, inp.accessSample) }));
      const flat = fams.flatMap((f) => f.sample.map((k) => ({ fam: f.family, key: k })));
      if (flat.length > 0) {
        const res = await exec(conn, (p) => flat.forEach((x) => p.call('OBJECT', lfu ? 'FREQ' : 'IDLETIME', x.key))).catch(() => []);
        const byFam = new Map<string, number[]>();
        flat.forEach((x, i) => {
          const [err, v] = res[i] ?? [null, null];
          const n = err ? null : asNum(v);
          if (n === null) return;
          byFam.set(x.fam, [...(byFam.get(x.fam) ?? []), n]);
        });
        for (const [fam, values] of byFam) {
          const s = accessStat(lfu ? 'lfu_freq' : 'idle_seconds', values);
          if (s) access.set(fam, s);
        }
      }
    }

    const cpu1 = await mainCpu(ctx).catch(() => cpu0);
    const elapsedMs = ctx.now() - started;
    const rep = agg.report(Number.MAX_SAFE_INTEGER, access);
    const scanned = rep.scannedKeys;
    const coverage = dbKeys > 0 ? Math.min(1, scanned / dbKeys) : 1;
    const lead = rep.families[0];
    const dominantFamily = lead && lead.share > inp.dominantShare ? lead : null;
    const bigKeys = rep.topKeysByBytes.filter((k) => COLLECTIONS.includes(k.type) && (k.bytes >= inp.bigKeyBytes || k.bytes >= inp.bigKeyShare * rep.bytes));
    const stateFamilies = rep.families
      .filter((f) => f.stateLike)
      .map((f) => ({ family: f.family, keys: f.keys, bytes: f.bytes, mainType: f.mainType, noTtlKeys: f.noTtlKeys, reason: f.stateReason }));
    const stateSummary = stateFamilies
      .slice(0, 5)
      .map((f) => `${f.family} (${f.mainType}, ${f.noTtlKeys} keys without TTL, ${fmtBytes(f.bytes)}: ${f.reason})`)
      .join('; ');
    const result: KeyCensusResult = {
      summary: '',
      node: nodeKey(ctx.node),
      dbKeys,
      ...rep,
      families: rep.families.slice(0, inp.families),
      coverage,
      complete: stoppedBy === 'done',
      stoppedBy,
      elapsedMs,
      policy,
      usedMemory: num(info['memory'], 'used_memory'),
      maxmemory: num(info['memory'], 'maxmemory'),
      dominantFamily,
      bigKeys,
      stateFamilies,
      stateSummary,
      load: {
        mode,
        maxBusy: inp.maxBusy,
        busyShare: elapsedMs > 0 ? round3((cpu1 - cpu0) / (elapsedMs / 1000)) : 0,
        peakBusyShare: round3(peak),
        pauses,
        pausedMs: Math.round(pausedMs),
        batches,
      },
    };
    result.summary = summarize(result);
    return result;
  },
};

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/**
 * Read-only Lua (`no-writes`: allowed on replicas and under OOM) doing for each key of a batch what
 * the pipelines would: TYPE, PTTL, the O(1) size; MEMORY USAGE for the keys ARGV names. One call per
 * batch instead of ~3 commands per key, so 1M keys take seconds, not tens of seconds.
 */
export const CENSUS_LUA = `#!lua flags=no-writes,allow-oom
local size = { string = 'STRLEN', list = 'LLEN', set = 'SCARD', zset = 'ZCARD', hash = 'HLEN', stream = 'XLEN' }
local out = {}
for i, k in ipairs(KEYS) do
  local t = redis.call('TYPE', k).ok
  local cmd = size[t]
  out[i] = t .. ' ' .. redis.call('PTTL', k) .. ' ' .. (cmd and redis.call(cmd, k) or 0)
end
for j = 2, #ARGV do
  local b = redis.call('MEMORY', 'USAGE', KEYS[tonumber(ARGV[j])], 'SAMPLES', ARGV[1])
  out[#out + 1] = tostring(b or -1)
end
return table.concat(out, '\\n')`;

interface Row {
  name: string;
  fam: string;
  measure: boolean;
  type: KeyType;
  ttl: number;
  size: number;
  bytes?: number;
}

/** One SCAN batch through the Lua helper; false when scripting is not allowed (then use pipelines). */
async function censusBatchLua(conn: Redis, keys: Buffer[], rows: Row[], samples: number): Promise<boolean> {
  const idx: string[] = [];
  rows.forEach((r, i) => r.measure && idx.push(String(i + 1)));
  let reply: unknown;
  try {
    reply = await conn.call('EVAL', CENSUS_LUA, String(keys.length), ...keys, String(samples), ...idx);
  } catch (err) {
    if (/NOPERM|unknown command|NOSCRIPT|not allowed|disabled/i.test(err instanceof Error ? err.message : String(err))) return false;
    throw err;
  }
  // one bulk string: "<type> <pttl> <size>" per key, then the MEMORY USAGE values, newline-separated
  const lines = (typeof reply === 'string' ? reply : Buffer.isBuffer(reply) ? reply.toString() : '').split('\n');
  rows.forEach((r, i) => {
    const [t, ttl, size] = (lines[i] ?? '').split(' ');
    r.type = keyType(t);
    r.ttl = asNum(ttl) ?? -2;
    r.size = asNum(size) ?? 0;
  });
  let j = rows.length;
  for (const r of rows) {
    if (!r.measure) continue;
    const b = asNum(lines[j++]);
    if (b !== null && b >= 0) r.bytes = b;
  }
  return true;
}

/** One SCAN batch with two pipelines: TYPE + PTTL, then the size (and MEMORY USAGE to calibrate). */
async function censusBatchPipelined(conn: Redis, keys: Buffer[], rows: Row[], samples: number): Promise<void> {
  const first = await exec(conn, (p) => {
    for (const k of keys) {
      p.call('TYPE', k);
      p.call('PTTL', k);
    }
  });
  rows.forEach((r, i) => {
    const [te, tv] = first[2 * i] ?? [null, null];
    const [pe, pv] = first[2 * i + 1] ?? [null, null];
    r.type = te ? 'other' : keyType(tv);
    r.ttl = pe ? -2 : (asNum(pv) ?? -2);
  });
  const second = await exec(conn, (p) => {
    rows.forEach((r, i) => {
      const k = keys[i] as Buffer;
      const cmd = SIZE_CMD[r.type];
      p.call(cmd ?? 'EXISTS', k);
      if (r.measure) p.call('MEMORY', 'USAGE', k, 'SAMPLES', String(samples));
    });
  });
  let j = 0;
  for (const r of rows) {
    const [se, sv] = second[j++] ?? [null, null];
    if (r.measure) {
      const [me, mv] = second[j++] ?? [null, null];
      const b = me ? null : asNum(mv);
      if (b !== null) r.bytes = b;
    }
    r.size = se || r.type === 'other' ? 0 : (asNum(sv) ?? 0);
  }
}

/** Sizes one SCAN batch and adds it to the aggregate. Returns the mode used. */
async function censusBatch(conn: Redis, keys: Buffer[], agg: CensusAggregator, samples: number, mode: 'lua' | 'pipeline'): Promise<'lua' | 'pipeline'> {
  const rows: Row[] = keys.map((k) => {
    const name = display(k);
    const fam = agg.familyFor(name);
    return { name, fam, measure: agg.wantsMeasure(fam), type: 'other', ttl: -2, size: 0 };
  });
  let used = mode;
  if (mode === 'lua' && !(await censusBatchLua(conn, keys, rows, samples))) used = 'pipeline';
  if (used === 'pipeline') await censusBatchPipelined(conn, keys, rows, samples);
  for (const r of rows) {
    if (r.ttl === -2) continue; // gone meanwhile
    agg.add({ key: r.name, type: r.type, size: r.size, ttlMs: r.ttl, ...(r.bytes !== undefined ? { bytes: r.bytes } : {}) }, r.fam);
  }
  return used;
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function keyLine(k: TopKey): string {
  const size = k.type === 'string' ? `${k.size} B value` : `${k.size} elements`;
  return `${k.type} ${k.key} ${fmtBytes(k.bytes)} (${size}${k.ttlMs === -1 ? ', no TTL' : ''})`;
}

/** One line for Slack and the postmortem: coverage, families and keys with sizes. */
export function summarize(r: KeyCensusResult): string {
  const cov = r.complete ? `all ${r.scannedKeys} keys` : `${r.scannedKeys} of ${r.dbKeys} keys (sampled ${pct(r.coverage)}, stopped by ${r.stoppedBy})`;
  const fams = r.families
    .slice(0, 3)
    .map((f) => `${f.family} ${pct(f.share)} (${f.keys} keys, ${fmtBytes(f.bytes)}, ${pct(f.noTtlShare)} without TTL)`)
    .join(', ');
  const big = r.topKeysByBytes.slice(0, 3).map(keyLine).join(', ');
  return `${cov} on ${r.node}, ${fmtBytes(r.bytes)} in keys; families: ${fams || 'none'}; biggest keys: ${big || 'none'}`;
}
