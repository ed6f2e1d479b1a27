/**
 * `redis.cluster-slot-keys`: for one open slot (the lowest, unless `slot` is given), how many keys
 * each end holds (COUNTKEYSINSLOT), a sample of their names (GETKEYSINSLOT), the keys present on
 * both ends, other masters holding keys of the slot, and whether each end is healthy enough to
 * receive keys (reachable, not flagged failed, cluster_state ok, memory below `maxUsage` of
 * maxmemory). Read-only; key listings are bounded by `maxList`.
 */
import { z } from 'zod';
import type { ActionContext, ActionDefinition } from '../types.js';
import { parseNodeKey, readInfo, sendCommand } from './connection.js';
import { num } from './info.js';
import type { NodeView } from './cluster-views.js';
import { collectViews, pickOpenSlot, primaries } from './cluster-views.js';

const input = z
  .object({
    /** The open slot to look at (default: the lowest open slot). */
    slot: z.number().int().min(0).max(16383).optional(),
    /** Key names returned per end. */
    sample: z.number().int().min(0).max(1000).default(10),
    /** Keys listed per end to find keys on both sides (above it the check is skipped and said so). */
    maxList: z.number().int().min(1).max(1_000_000).default(100_000),
    /** An end whose used_memory exceeds this share of maxmemory is unhealthy. */
    maxUsage: z.number().min(0).max(1).default(0.9),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.cluster-slot-keys`. */
export type ClusterSlotKeysInput = z.infer<typeof input>;

/** Health of one end of a migration. */
export interface EndHealth {
  node: string | null;
  reachable: boolean;
  clusterState: string | null;
  flaggedFailed: boolean;
  usedMemory: number | null;
  maxmemory: number | null;
  /** used/maxmemory, null without a limit. */
  memoryUsage: number | null;
  problems: string[];
  healthy: boolean;
}

/** Findings of `redis.cluster-slot-keys`. */
export interface ClusterSlotKeysResult {
  slot: number;
  source: string | null;
  sourceId: string;
  destination: string | null;
  destinationId: string;
  owner: string | null;
  migrating: boolean;
  importing: boolean;
  sourceKeys: number | null;
  destinationKeys: number | null;
  totalKeys: number;
  sourceSample: string[];
  destinationSample: string[];
  bothSides: string[];
  bothSidesChecked: boolean;
  otherNodesWithKeys: Array<{ node: string; keys: number }>;
  sourceHealth: EndHealth;
  destinationHealth: EndHealth;
  sourceHealthy: boolean;
  destinationHealthy: boolean;
  summary: string;
}

/** COUNTKEYSINSLOT on `addr`, null when it does not answer. */
export async function countKeysInSlot(ctx: Pick<ActionContext, 'target'>, addr: string, slot: number): Promise<number | null> {
  try {
    return Number(await sendCommand(ctx, parseNodeKey(addr), ['CLUSTER', 'COUNTKEYSINSLOT', String(slot)]));
  } catch {
    return null;
  }
}

/** GETKEYSINSLOT slot n on `addr` (key names as text). */
export async function keysInSlot(ctx: Pick<ActionContext, 'target'>, addr: string, slot: number, n: number): Promise<string[]> {
  if (n <= 0) return [];
  const reply = await sendCommand(ctx, parseNodeKey(addr), ['CLUSTER', 'GETKEYSINSLOT', String(slot), String(n)]);
  return Array.isArray(reply) ? reply.map((k) => (Buffer.isBuffer(k) ? k.toString('utf8') : String(k))) : [];
}

async function endHealth(ctx: ActionContext, views: readonly NodeView[], addr: string | null, id: string, maxUsage: number): Promise<EndHealth> {
  const v = views.find((x) => x.node === addr);
  const flagged = views.some((x) => x.ok && x.entries.some((e) => e.id === id && (e.fail || e.pfail)));
  const h: EndHealth = { node: addr, reachable: v?.ok ?? false, clusterState: v?.info?.state ?? null, flaggedFailed: flagged, usedMemory: null, maxmemory: null, memoryUsage: null, problems: [], healthy: false };
  if (!addr) h.problems.push(`node ${id} has no known address`);
  else if (!h.reachable) h.problems.push(`${addr} does not answer (${v?.error?.code ?? 'unknown'})`);
  if (flagged) h.problems.push(`${addr ?? id} is flagged fail by the cluster`);
  if (h.reachable && h.clusterState !== 'ok') h.problems.push(`${addr} says cluster_state:${h.clusterState}`);
  if (h.reachable && addr) {
    try {
      const mem = (await readInfo(ctx, parseNodeKey(addr), 'memory'))['memory'];
      h.usedMemory = num(mem, 'used_memory');
      h.maxmemory = num(mem, 'maxmemory');
      h.memoryUsage = h.maxmemory > 0 ? h.usedMemory / h.maxmemory : null;
      if (h.memoryUsage !== null && h.memoryUsage > maxUsage) {
        h.problems.push(`${addr} memory at ${Math.round(h.memoryUsage * 100)}% of maxmemory (${h.usedMemory} of ${h.maxmemory} bytes)`);
      }
    } catch (err) {
      h.problems.push(`${addr}: INFO memory failed: ${(err as Error).message}`);
    }
  }
  h.healthy = h.problems.length === 0;
  return h;
}

/** Reads both ends of an open slot. */
export const clusterSlotKeys: ActionDefinition<ClusterSlotKeysInput, ClusterSlotKeysResult> = {
  name: 'redis.cluster-slot-keys',
  description: 'Keys of an open slot on its source and destination (COUNTKEYSINSLOT, GETKEYSINSLOT sample), keys on both sides, and the health of both ends.',
  risk: 'read',
  input,
  timeoutMs: 20_000,
  output: {
    slot: 'the open slot looked at',
    source: 'host:port of the MIGRATING node (the owner)',
    sourceId: 'its node id',
    destination: 'host:port of the IMPORTING node',
    destinationId: 'its node id',
    owner: 'host:port of the owner every reachable node agrees on (null if they disagree)',
    migrating: 'the source still shows its MIGRATING marker',
    importing: 'the destination still shows its IMPORTING marker',
    sourceKeys: 'COUNTKEYSINSLOT on the source (null if it did not answer)',
    destinationKeys: 'COUNTKEYSINSLOT on the destination (null if it did not answer)',
    totalKeys: 'keys of the slot on both ends together',
    'sourceSample[]': 'key names on the source (up to `sample`)',
    'destinationSample[]': 'key names on the destination (up to `sample`)',
    'bothSides[]': 'keys present on both ends (a MIGRATE would fail with BUSYKEY)',
    bothSidesChecked: 'false when an end holds more than `maxList` keys (bothSides then unknown)',
    'otherNodesWithKeys[]': 'other masters holding keys of the slot: node, keys',
    sourceHealth: 'source end: node, reachable, clusterState, flaggedFailed, usedMemory, maxmemory, memoryUsage, problems[], healthy',
    destinationHealth: 'destination end, same fields',
    sourceHealthy: 'the source can take keys back (no problem found)',
    destinationHealthy: 'the destination can receive the remaining keys (no problem found)',
    summary: 'one line: slot, ends and key counts',
  },
  async run(inp, ctx) {
    const views = await collectViews(ctx);
    const open = pickOpenSlot(views, inp.slot);
    const slot = open.slot;
    const src = open.source;
    const dst = open.destination;
    const [sourceKeys, destinationKeys] = await Promise.all([
      src ? countKeysInSlot(ctx, src, slot) : Promise.resolve(null),
      dst ? countKeysInSlot(ctx, dst, slot) : Promise.resolve(null),
    ]);
    const list = async (addr: string | null, count: number | null, n: number): Promise<string[]> =>
      addr && count ? keysInSlot(ctx, addr, slot, Math.min(count, n)).catch(() => []) : [];
    const canCheck = (sourceKeys ?? 0) <= inp.maxList && (destinationKeys ?? 0) <= inp.maxList;
    let bothSides: string[] = [];
    if (canCheck && (sourceKeys ?? 0) > 0 && (destinationKeys ?? 0) > 0) {
      const onDst = new Set(await list(dst, destinationKeys, inp.maxList));
      bothSides = (await list(src, sourceKeys, inp.maxList)).filter((k) => onDst.has(k)).sort();
    }
    const others: Array<{ node: string; keys: number }> = [];
    for (const p of primaries(views)) {
      if (!p.reachable || p.node === src || p.node === dst) continue;
      const n = await countKeysInSlot(ctx, p.node, slot);
      if (n) others.push({ node: p.node, keys: n });
    }
    const [sourceHealth, destinationHealth] = await Promise.all([
      endHealth(ctx, views, src, open.sourceId, inp.maxUsage),
      endHealth(ctx, views, dst, open.destinationId, inp.maxUsage),
    ]);
    const totalKeys = (sourceKeys ?? 0) + (destinationKeys ?? 0);
    return {
      slot,
      source: src,
      sourceId: open.sourceId,
      destination: dst,
      destinationId: open.destinationId,
      owner: open.owner,
      migrating: open.migrating,
      importing: open.importing,
      sourceKeys,
      destinationKeys,
      totalKeys,
      sourceSample: await list(src, sourceKeys, inp.sample),
      destinationSample: await list(dst, destinationKeys, inp.sample),
      bothSides,
      bothSidesChecked: canCheck,
      otherNodesWithKeys: others,
      sourceHealth,
      destinationHealth,
      sourceHealthy: sourceHealth.healthy,
      destinationHealthy: destinationHealth.healthy,
      summary: `slot ${slot}: ${src ?? open.sourceId} (${sourceKeys ?? '?'} keys) → ${dst ?? open.destinationId} (${destinationKeys ?? '?'} keys)`,
    };
  },
};
