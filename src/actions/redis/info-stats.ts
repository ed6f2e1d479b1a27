/**
 * `redis.info-stats`: eviction, expiry, hit ratio and OOM rejections of one node.
 */
import { z } from 'zod';
import type { ActionDefinition } from '../types.js';
import { nodeKey } from '../types.js';
import { readInfo } from './connection.js';
import { errorCount, num } from './info.js';

const input = z.object({}).strict().prefault({});

/** Findings of `redis.info-stats`. Counters are cumulative since the server started. */
export interface InfoStatsResult {
  node: string;
  evictedKeys: number;
  expiredKeys: number;
  keyspaceHits: number;
  keyspaceMisses: number;
  /** hits / (hits + misses), `null` before any lookup. */
  hitRatio: number | null;
  /** ms spent above maxmemory, total and in the current episode. */
  totalEvictionExceededTime: number;
  currentEvictionExceededTime: number;
  evictedClients: number;
  /** `errorstat_OOM` count: commands rejected with OOM (0 when absent). */
  oomErrors: number;
}

/** Reads INFO stats + errorstats on `ctx.node`. */
export const infoStats: ActionDefinition<z.infer<typeof input>, InfoStatsResult> = {
  name: 'redis.info-stats',
  description: 'Evictions, expirations, hit ratio and OOM-rejected commands of the node.',
  risk: 'read',
  input,
  timeoutMs: 10_000,
  async run(_input, ctx) {
    const info = await readInfo(ctx, ctx.node, 'stats', 'errorstats');
    const stats = info['stats'];
    const hits = num(stats, 'keyspace_hits');
    const misses = num(stats, 'keyspace_misses');
    return {
      node: nodeKey(ctx.node),
      evictedKeys: num(stats, 'evicted_keys'),
      expiredKeys: num(stats, 'expired_keys'),
      keyspaceHits: hits,
      keyspaceMisses: misses,
      hitRatio: hits + misses > 0 ? hits / (hits + misses) : null,
      totalEvictionExceededTime: num(stats, 'total_eviction_exceeded_time'),
      currentEvictionExceededTime: num(stats, 'current_eviction_exceeded_time'),
      evictedClients: num(stats, 'evicted_clients'),
      oomErrors: errorCount(info['errorstats'], 'OOM'),
    };
  },
};
