/**
 * `redis.bigkeys-sample`: a bounded SCAN of one node that sizes keys with `MEMORY USAGE … SAMPLES 5`
 * and reports the biggest keys and key prefixes. Never uses KEYS. Scans the connection's db (0).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { ActionContext, ActionDefinition } from '../types.js';
import { nodeKey } from '../types.js';
import { replyText, sendCommand, toTargetError } from './connection.js';

const input = z
  .object({
    maxKeys: z.number().int().positive().max(200_000).default(20_000),
    maxMillis: z.number().int().positive().max(30_000).default(3000),
    top: z.number().int().positive().max(100).default(10),
    count: z.number().int().positive().max(10_000).default(500),
    pauseMs: z.number().int().min(0).max(1000).default(5),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.bigkeys-sample`. */
export type BigkeysInput = z.infer<typeof input>;

/** Share of sampled bytes above which a prefix is reported as dominant. */
export const DOMINANT_SHARE = 0.3;
/** Longest key or prefix name kept in findings. */
export const KEY_NAME_MAX = 200;
/** Distinct prefixes tracked; later new prefixes are counted under `(other)`. */
const MAX_PREFIXES = 10_000;

/** One prefix (text before the first `:`; `(none)` for keys without one). */
export interface PrefixStat {
  prefix: string;
  keys: number;
  bytes: number;
  /** bytes / sampledBytes. */
  share: number;
}

/** Findings of `redis.bigkeys-sample`. */
export interface BigkeysResult {
  node: string;
  sampledKeys: number;
  sampledBytes: number;
  /** DBSIZE at the start, to judge coverage. */
  dbKeys: number;
  /** The SCAN reached cursor 0 (every key was seen once). */
  complete: boolean;
  stoppedBy: 'done' | 'key_budget' | 'time_budget' | 'aborted';
  elapsedMs: number;
  topKeys: Array<{ key: string; bytes: number }>;
  topPrefixes: PrefixStat[];
  dominantPrefix: { prefix: string; share: number } | null;
}

function displayName(raw: Buffer | string): string {
  const s = typeof raw === 'string' ? raw : raw.toString('utf8');
  return s.length > KEY_NAME_MAX ? s.slice(0, KEY_NAME_MAX) : s;
}

function prefixOf(key: Buffer): string {
  const i = key.indexOf(0x3a); // ':'
  return i < 0 ? '(none)' : displayName(key.subarray(0, i));
}

/** Keeps the `size` largest entries, largest first (insertion into a short sorted array). */
class TopList {
  readonly items: Array<{ key: string; bytes: number }> = [];
  constructor(private readonly size: number) {}
  offer(key: Buffer, bytes: number): void {
    const last = this.items[this.items.length - 1];
    if (this.items.length >= this.size && last !== undefined && bytes <= last.bytes) return;
    let i = this.items.findIndex((e) => bytes > e.bytes);
    if (i < 0) i = this.items.length;
    this.items.splice(i, 0, { key: displayName(key), bytes });
    if (this.items.length > this.size) this.items.pop();
  }
}

async function scanBatch(ctx: ActionContext, cursor: string, count: number): Promise<[string, Buffer[]]> {
  try {
    const conn = await ctx.target.connect(ctx.node);
    const reply = (await conn.callBuffer('SCAN', cursor, 'COUNT', String(count))) as unknown;
    if (!Array.isArray(reply) || reply.length < 2 || !Array.isArray(reply[1])) throw new Error('unexpected SCAN reply');
    return [replyText(reply[0]), (reply[1] as unknown[]).filter((k): k is Buffer => Buffer.isBuffer(k))];
  } catch (err) {
    throw toTargetError(err, ctx.node, 'SCAN');
  }
}

async function sizeKeys(ctx: ActionContext, keys: Buffer[]): Promise<Array<number | null>> {
  try {
    const conn = await ctx.target.connect(ctx.node);
    const p = conn.pipeline();
    for (const k of keys) p.call('MEMORY', 'USAGE', k, 'SAMPLES', '5');
    const res = (await p.exec()) ?? [];
    return res.map(([err, v]) => {
      if (err) throw err;
      return typeof v === 'number' ? v : v === null || v === undefined ? null : Number(v);
    });
  } catch (err) {
    throw toTargetError(err, ctx.node, 'MEMORY USAGE');
  }
}

/** Samples keys of `ctx.node` within the key and time budgets. */
export const bigkeysSample: ActionDefinition<BigkeysInput, BigkeysResult> = {
  name: 'redis.bigkeys-sample',
  description: 'Samples keys with SCAN + MEMORY USAGE (bounded by keys and time) and reports the biggest keys and prefixes.',
  risk: 'read',
  input,
  timeoutMs: 40_000,
  output: {
    node: 'host:port sampled',
    sampledKeys: 'keys sized with MEMORY USAGE, count',
    sampledBytes: 'sum of MEMORY USAGE of the sampled keys, bytes',
    dbKeys: 'DBSIZE of db 0 at the start, count (to judge coverage)',
    complete: 'true when the SCAN reached its end: every key was seen once',
    stoppedBy: 'done | key_budget (maxKeys reached) | time_budget (maxMillis reached) | aborted',
    elapsedMs: 'time the sampling took, milliseconds',
    'topKeys[]': 'biggest sampled keys, biggest first (at most `top`)',
    'topKeys[].key': 'key name (UTF-8, cut to 200 characters)',
    'topKeys[].bytes': 'MEMORY USAGE of the key (SAMPLES 5), bytes',
    'topPrefixes[]': 'key families by sampled bytes, biggest first (at most `top`)',
    'topPrefixes[].prefix': 'text before the first `:`; `(none)` for keys without one, `(other)` past 10000 prefixes',
    'topPrefixes[].keys': 'sampled keys with that prefix, count',
    'topPrefixes[].bytes': 'their summed MEMORY USAGE, bytes',
    'topPrefixes[].share': 'their bytes / sampledBytes, ratio 0–1',
    dominantPrefix: 'the biggest prefix when it holds more than 30% of the sampled bytes, else null',
    'dominantPrefix.prefix': 'its prefix',
    'dominantPrefix.share': 'its share of the sampled bytes, ratio 0–1',
  },
  async run(inp, ctx) {
    const started = ctx.now();
    const dbKeys = Number(await sendCommand(ctx, ctx.node, ['DBSIZE']));
    const top = new TopList(inp.top);
    const prefixes = new Map<string, { keys: number; bytes: number }>();
    let sampledKeys = 0;
    let sampledBytes = 0;
    let cursor = '0';
    let stoppedBy: BigkeysResult['stoppedBy'] = 'done';
    for (let first = true; first || cursor !== '0'; first = false) {
      if (ctx.signal.aborted) {
        stoppedBy = 'aborted';
        break;
      }
      if (sampledKeys >= inp.maxKeys) {
        stoppedBy = 'key_budget';
        break;
      }
      if (ctx.now() - started >= inp.maxMillis) {
        stoppedBy = 'time_budget';
        break;
      }
      if (!first && inp.pauseMs > 0) await sleep(inp.pauseMs, undefined, { signal: ctx.signal }).catch(() => undefined);
      const [next, batch] = await scanBatch(ctx, cursor, inp.count);
      cursor = next;
      const keys = batch.slice(0, inp.maxKeys - sampledKeys);
      if (keys.length === 0) continue;
      const sizes = await sizeKeys(ctx, keys);
      keys.forEach((key, i) => {
        const bytes = sizes[i];
        if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return; // deleted meanwhile
        sampledKeys++;
        sampledBytes += bytes;
        top.offer(key, bytes);
        let prefix = prefixOf(key);
        if (!prefixes.has(prefix) && prefixes.size >= MAX_PREFIXES) prefix = '(other)';
        const stat = prefixes.get(prefix) ?? { keys: 0, bytes: 0 };
        stat.keys++;
        stat.bytes += bytes;
        prefixes.set(prefix, stat);
      });
      // A batch cut short by the key budget means the scan did not finish even if cursor is 0.
      if (keys.length < batch.length) {
        stoppedBy = 'key_budget';
        break;
      }
    }
    const share = (b: number): number => (sampledBytes > 0 ? b / sampledBytes : 0);
    const topPrefixes = [...prefixes.entries()]
      .map(([prefix, s]) => ({ prefix, keys: s.keys, bytes: s.bytes, share: share(s.bytes) }))
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, inp.top);
    const lead = topPrefixes[0];
    return {
      node: nodeKey(ctx.node),
      sampledKeys,
      sampledBytes,
      dbKeys: Number.isFinite(dbKeys) ? dbKeys : 0,
      complete: stoppedBy === 'done',
      stoppedBy,
      elapsedMs: ctx.now() - started,
      topKeys: top.items,
      topPrefixes,
      dominantPrefix: lead && lead.share > DOMINANT_SHARE ? { prefix: lead.prefix, share: lead.share } : null,
    };
  },
};
