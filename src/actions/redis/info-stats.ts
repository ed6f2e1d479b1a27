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
  output: {
    node: 'host:port read',
    evictedKeys: 'evicted_keys: keys evicted by maxmemory since start, count',
    expiredKeys: 'expired_keys: keys removed on TTL expiry since start, count',
    keyspaceHits: 'keyspace_hits: successful key lookups since start, count',
    keyspaceMisses: 'keyspace_misses: failed key lookups since start, count',
    hitRatio: 'hits / (hits + misses), ratio 0–1; null before any lookup',
    totalEvictionExceededTime: 'total_eviction_exceeded_time: time spent above maxmemory since start, milliseconds',
    currentEvictionExceededTime: 'current_eviction_exceeded_time: time above maxmemory in the current episode, milliseconds (0 when under)',
    evictedClients: 'evicted_clients: clients disconnected by maxmemory-clients since start, count',
    oomErrors: 'errorstat_OOM: commands rejected with OOM since start (or CONFIG RESETSTAT), count; 0 when absent',
  },
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
