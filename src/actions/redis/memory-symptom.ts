/**
 * `redis.memory-symptom`: the memory alert's condition read live, twice, `gapMs` apart: usage of
 * maxmemory (both reads), OOM rejections and evictions between the two reads (not against a value
 * from diagnosis time), and the hit ratio of that window. Used by `symptom:` and `verify:` steps.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { ActionContext, ActionDefinition } from '../types.js';
import { nodeKey } from '../types.js';
import { readInfo } from './connection.js';
import { errorCount, num, str } from './info.js';

const input = z
  .object({
    /** Time between the two reads (ms). */
    gapMs: z.number().int().min(0).max(120_000).default(5000),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.memory-symptom`. */
export type MemorySymptomInput = z.infer<typeof input>;

/** Findings of `redis.memory-symptom`. */
export interface MemorySymptomResult {
  node: string;
  usedMemory: number;
  maxmemory: number;
  /** usedMemory / maxmemory at the second read (null without a limit). */
  usage: number | null;
  /** The higher usage of the two reads (null without a limit). */
  usageMax: number | null;
  policy: string | null;
  oomErrors: number;
  /** OOM rejections between the two reads. */
  oomErrorsDelta: number;
  /** Evicted keys between the two reads. */
  evictedDelta: number;
  /** Keyspace hits / lookups between the two reads (null without lookups). */
  hitRatio: number | null;
  memClientsNormal: number;
  gapMs: number;
}

async function read(ctx: ActionContext) {
  const info = await readInfo(ctx, ctx.node, 'memory', 'stats', 'errorstats');
  const mem = info['memory'];
  const stats = info['stats'];
  return {
    used: num(mem, 'used_memory'),
    max: num(mem, 'maxmemory'),
    policy: str(mem, 'maxmemory_policy'),
    clients: num(mem, 'mem_clients_normal'),
    oom: errorCount(info['errorstats'], 'OOM'),
    evicted: num(stats, 'evicted_keys'),
    hits: num(stats, 'keyspace_hits'),
    misses: num(stats, 'keyspace_misses'),
  };
}

/** Two reads of INFO memory/stats/errorstats on `ctx.node`, `gapMs` apart. */
export const memorySymptom: ActionDefinition<MemorySymptomInput, MemorySymptomResult> = {
  name: 'redis.memory-symptom',
  description: 'The memory symptom read live twice, apart in time: usage of maxmemory, OOM rejections and evictions between the reads, hit ratio of the window.',
  risk: 'read',
  input,
  timeoutMs: 150_000,
  output: {
    node: 'host:port read',
    usedMemory: 'used_memory at the second read (bytes)',
    maxmemory: 'maxmemory (0 = no limit)',
    usage: 'usedMemory / maxmemory at the second read (null without a limit)',
    usageMax: 'the higher usage of the two reads',
    policy: 'maxmemory-policy',
    oomErrors: 'errorstat_OOM count at the second read',
    oomErrorsDelta: 'OOM rejections between the two reads',
    evictedDelta: 'keys evicted between the two reads',
    hitRatio: 'keyspace hits / lookups between the two reads (null without lookups)',
    memClientsNormal: 'mem_clients_normal at the second read (bytes)',
    gapMs: 'time between the reads (ms)',
  },
  async run(inp, ctx) {
    const a = await read(ctx);
    if (inp.gapMs > 0) await sleep(inp.gapMs, undefined, { signal: ctx.signal }).catch(() => undefined);
    const b = await read(ctx);
    const lookups = b.hits - a.hits + (b.misses - a.misses);
    const u = (x: { used: number; max: number }): number | null => (x.max > 0 ? x.used / x.max : null);
    const ua = u(a);
    const ub = u(b);
    return {
      node: nodeKey(ctx.node),
      usedMemory: b.used,
      maxmemory: b.max,
      usage: ub,
      usageMax: ua === null || ub === null ? ub : Math.max(ua, ub),
      policy: b.policy,
      oomErrors: b.oom,
      oomErrorsDelta: Math.max(0, b.oom - a.oom),
      evictedDelta: Math.max(0, b.evicted - a.evicted),
      hitRatio: lookups > 0 ? (b.hits - a.hits) / lookups : null,
      memClientsNormal: b.clients,
      gapMs: inp.gapMs,
    };
  },
};
