/**
 * `redis.info-memory`: memory readings of one node (INFO memory + server + replication, one call).
 */
import { z } from 'zod';
import type { ActionDefinition } from '../types.js';
import { nodeKey } from '../types.js';
import { readInfo } from './connection.js';
import { infoRole, num, optNum, str } from './info.js';

const input = z.object({}).strict().prefault({});

/** Findings of `redis.info-memory`. Byte counts are numbers; ratios are as Redis reports them. */
export interface InfoMemoryResult {
  node: string;
  role: 'primary' | 'replica' | 'unknown';
  redisVersion: string | null;
  usedMemory: number;
  usedMemoryRss: number;
  usedMemoryPeak: number;
  /** 0 means no limit. */
  maxmemory: number;
  /** usedMemory / maxmemory, `null` when maxmemory is 0. Can exceed 1. */
  usage: number | null;
  /** (usedMemory - memNotCountedForEvict) / maxmemory: what eviction compares; `null` without a limit. */
  evictionUsage: number | null;
  fragmentationRatio: number | null;
  fragmentationBytes: number | null;
  allocatorFragRatio: number | null;
  totalSystemMemory: number;
  memClientsNormal: number;
  memClientsSlaves: number;
  memReplicationBacklog: number;
  memAofBuffer: number;
  memNotCountedForEvict: number;
  policy: string | null;
  /** Path of the config file, `null` when started without one (CONFIG REWRITE then fails). */
  configFile: string | null;
}

/** Reads INFO memory/server/replication on `ctx.node`. */
export const infoMemory: ActionDefinition<z.infer<typeof input>, InfoMemoryResult> = {
  name: 'redis.info-memory',
  description: 'Memory use of the node: used vs maxmemory, RSS, fragmentation, buffers, eviction policy.',
  risk: 'read',
  input,
  timeoutMs: 10_000,
  output: {
    node: 'host:port read',
    role: 'primary | replica | unknown (INFO replication role)',
    redisVersion: 'redis_version, null when absent',
    usedMemory: 'used_memory: bytes allocated by Redis for data and overhead',
    usedMemoryRss: 'used_memory_rss: bytes resident in RAM as the OS sees the process',
    usedMemoryPeak: 'used_memory_peak: highest used_memory since start, bytes',
    maxmemory: 'maxmemory limit, bytes (0 = no limit)',
    usage: 'usedMemory / maxmemory, ratio (1 = at the limit, can exceed 1); null without a limit',
    evictionUsage: '(usedMemory − memNotCountedForEvict) / maxmemory: the ratio eviction compares; null without a limit',
    fragmentationRatio: 'mem_fragmentation_ratio: RSS / used, ratio (> 1.5 fragmented, < 1 swapping); null when absent',
    fragmentationBytes: 'mem_fragmentation_bytes: RSS − used, bytes; null when absent',
    allocatorFragRatio: 'allocator_frag_ratio: jemalloc external fragmentation, ratio; null when absent',
    totalSystemMemory: 'total_system_memory: RAM of the host, bytes',
    memClientsNormal: 'mem_clients_normal: buffers of normal clients, bytes',
    memClientsSlaves: 'mem_clients_slaves: output buffers of replica links, bytes',
    memReplicationBacklog: 'mem_replication_backlog: replication backlog, bytes',
    memAofBuffer: 'mem_aof_buffer: AOF buffers, bytes',
    memNotCountedForEvict: 'mem_not_counted_for_evict: bytes (replica/AOF buffers) eviction ignores',
    policy: 'maxmemory_policy, e.g. noeviction, allkeys-lru; null when absent',
    configFile: 'path of the config file, null when started without one (CONFIG REWRITE then fails)',
  },
  async run(_input, ctx) {
    const info = await readInfo(ctx, ctx.node, 'memory', 'server', 'replication');
    const mem = info['memory'];
    const usedMemory = num(mem, 'used_memory');
    const maxmemory = num(mem, 'maxmemory');
    const notCounted = num(mem, 'mem_not_counted_for_evict');
    return {
      node: nodeKey(ctx.node),
      role: infoRole(info['replication']),
      redisVersion: str(info['server'], 'redis_version'),
      usedMemory,
      usedMemoryRss: num(mem, 'used_memory_rss'),
      usedMemoryPeak: num(mem, 'used_memory_peak'),
      maxmemory,
      usage: maxmemory > 0 ? usedMemory / maxmemory : null,
      evictionUsage: maxmemory > 0 ? Math.max(0, usedMemory - notCounted) / maxmemory : null,
      fragmentationRatio: optNum(mem, 'mem_fragmentation_ratio'),
      fragmentationBytes: optNum(mem, 'mem_fragmentation_bytes'),
      allocatorFragRatio: optNum(mem, 'allocator_frag_ratio'),
      totalSystemMemory: num(mem, 'total_system_memory'),
      memClientsNormal: num(mem, 'mem_clients_normal'),
      memClientsSlaves: num(mem, 'mem_clients_slaves'),
      memReplicationBacklog: num(mem, 'mem_replication_backlog'),
      memAofBuffer: num(mem, 'mem_aof_buffer'),
      memNotCountedForEvict: notCounted,
      policy: str(mem, 'maxmemory_policy'),
      configFile: str(info['server'], 'config_file'),
    };
  },
};
