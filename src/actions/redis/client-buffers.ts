/**
 * `redis.client-buffers`: how much memory client output buffers take (INFO memory
 * `mem_clients_normal` / `mem_clients_slaves` against maxmemory and used memory) and which clients
 * hold it (CLIENT LIST by `omem`: id, addr, name, cmd, age, flags, subscriptions), plus the
 * current `client-output-buffer-limit` and a bounded limit to propose for the offending class.
 */
import { z } from 'zod';
import type { ActionDefinition } from '../types.js';
import { nodeKey } from '../types.js';
import { readInfo, replyText, sendCommand } from './connection.js';
import { num } from './info.js';
import { fmtBytes } from './census-aggregate.js';
import { parseBufferLimits, parseClientList, type BufferLimit, type ClientInfo } from './client-list.js';

const MiB = 1024 * 1024;

const input = z
  .object({
    /** Clients listed in `worst`. */
    top: z.number().int().positive().max(100).default(10),
    /** A client is an offender from this many output-buffer bytes. */
    minOmem: z.number().int().nonnegative().default(MiB),
    /** Buffers dominate above this share of maxmemory (of used memory without a limit). */
    dominantShare: z.number().gt(0).max(1).default(0.1),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.client-buffers`. */
export type ClientBuffersInput = z.infer<typeof input>;

/** A client in the findings. */
export type ClientEntry = Pick<ClientInfo, 'id' | 'addr' | 'name' | 'cmd' | 'age' | 'idle' | 'flags' | 'sub' | 'psub' | 'ssub' | 'oll' | 'omem' | 'totMem' | 'user' | 'kind'>;

/** Findings of `redis.client-buffers`. */
export interface ClientBuffersResult {
  summary: string;
  node: string;
  usedMemory: number;
  maxmemory: number;
  memClientsNormal: number;
  memClientsSlaves: number;
  /** (normal + replica buffers) / maxmemory (used memory when there is no limit). */
  clientsShare: number;
  dominant: boolean;
  clients: number;
  byKind: Record<ClientInfo['kind'], number>;
  worst: ClientEntry[];
  offenders: ClientEntry[];
  offenderIds: string[];
  offenderOmem: number;
  replicaBuffers: ClientEntry[];
  limits: Partial<Record<'normal' | 'replica' | 'pubsub', BufferLimit>> | null;
  proposedLimit: { class: 'normal' | 'pubsub'; value: string; current: BufferLimit | null; reason: string } | null;
}

function entry(c: ClientInfo): ClientEntry {
  const { id, addr, name, cmd, age, idle, flags, sub, psub, ssub, oll, omem, totMem, user, kind } = c;
  return { id, addr, name, cmd, age, idle, flags, sub, psub, ssub, oll, omem, totMem, user, kind };
}

/**
 * A limit for `cls` sized from the memory limit: hard 5% of it (8–256 MiB), soft a quarter of that
 * for 60 s. Null when the current limit is already at most that.
 */
export function proposeLimit(cls: 'normal' | 'pubsub', current: BufferLimit | undefined, memLimit: number): ClientBuffersResult['proposedLimit'] {
  const hard = Math.max(8 * MiB, Math.min(256 * MiB, Math.floor((memLimit * 0.05) / MiB) * MiB));
  const soft = Math.floor(hard / 4);
  if (current && current.hard > 0 && current.hard <= hard) return null;
  const reason = current && current.hard > 0 ? `current hard limit ${fmtBytes(current.hard)} is above 5% of ${fmtBytes(memLimit)}` : 'no limit set: a client that stops reading grows without bound';
  return { class: cls, value: `${cls} ${hard} ${soft} 60`, current: current ?? null, reason };
}

/** Reads INFO memory and CLIENT LIST on `ctx.node`. */
export const clientBuffers: ActionDefinition<ClientBuffersInput, ClientBuffersResult> = {
  name: 'redis.client-buffers',
  description: 'Client output buffer memory vs maxmemory, and the clients holding it (CLIENT LIST by omem): id, addr, name, cmd, age, flags, subscriptions.',
  risk: 'read',
  input,
  timeoutMs: 10_000,
  output: {
    summary: 'one line: buffer memory and the worst clients with id, addr, cmd and omem',
    node: 'host:port read',
    usedMemory: 'used_memory (bytes)',
    maxmemory: 'maxmemory (0 = no limit)',
    memClientsNormal: 'mem_clients_normal: buffers of normal and pub/sub clients (bytes)',
    memClientsSlaves: 'mem_clients_slaves: replica output buffers (bytes)',
    clientsShare: '(memClientsNormal + memClientsSlaves) / maxmemory (used memory without a limit)',
    dominant: 'clientsShare is above dominantShare',
    clients: 'connected clients (our own connection excluded)',
    byKind: 'clients per output-buffer class: normal, pubsub, replica, master',
    worst: 'clients with the largest output buffers: id, addr, name, cmd, age (s), idle (s), flags, sub, psub, ssub, oll, omem, totMem, user, kind',
    offenders: 'normal and pub/sub clients with omem >= minOmem (same fields), worst first',
    offenderIds: 'their CLIENT ids (for redis.client-kill)',
    offenderOmem: 'sum of their output buffers (bytes)',
    replicaBuffers: 'replica links with omem >= minOmem (a replication problem, not killed here)',
    limits: 'client-output-buffer-limit per class {hard, soft, softSeconds} (0 = none); null when CONFIG GET is denied',
    proposedLimit: 'a bounded limit for the offenders class: class, value (CONFIG SET argument), current, reason; null when the current limit is already bounded',
  },
  async run(inp, ctx) {
    const info = await readInfo(ctx, ctx.node, 'memory');
    const mem = info['memory'];
    const own = String(await sendCommand(ctx, ctx.node, ['CLIENT', 'ID']));
    const list = parseClientList(replyText(await sendCommand(ctx, ctx.node, ['CLIENT', 'LIST']))).filter((c) => c.id !== own);
    let limits: ClientBuffersResult['limits'] = null;
    try {
      const reply = await sendCommand(ctx, ctx.node, ['CONFIG', 'GET', 'client-output-buffer-limit']);
      const arr = Array.isArray(reply) ? reply.map(replyText) : [];
      limits = parseBufferLimits(arr[1] ?? '');
    } catch {
      limits = null; // CONFIG may be denied to this user or renamed
    }
    const usedMemory = num(mem, 'used_memory');
    const maxmemory = num(mem, 'maxmemory');
    const normal = num(mem, 'mem_clients_normal');
    const slaves = num(mem, 'mem_clients_slaves');
    const base = maxmemory > 0 ? maxmemory : usedMemory;
    const clientsShare = base > 0 ? (normal + slaves) / base : 0;
    const sorted = [...list].sort((a, b) => b.omem - a.omem || b.totMem - a.totMem);
    const byKind: ClientBuffersResult['byKind'] = { normal: 0, pubsub: 0, replica: 0, master: 0 };
    for (const c of list) byKind[c.kind]++;
    const offenders = sorted.filter((c) => (c.kind === 'normal' || c.kind === 'pubsub') && c.omem >= inp.minOmem && c.omem > 0).map(entry);
    const replicaBuffers = sorted.filter((c) => c.kind === 'replica' && c.omem >= inp.minOmem && c.omem > 0).map(entry);
    const offenderOmem = offenders.reduce((s, c) => s + c.omem, 0);
    let proposedLimit: ClientBuffersResult['proposedLimit'] = null;
    if (offenders.length > 0) {
      const pubsubOmem = offenders.filter((c) => c.kind === 'pubsub').reduce((s, c) => s + c.omem, 0);
      const cls = pubsubOmem * 2 >= offenderOmem ? 'pubsub' : 'normal';
      proposedLimit = proposeLimit(cls, limits?.[cls], base);
    }
    const worst = sorted.slice(0, inp.top).map(entry);
    const named = offenders
      .slice(0, 3)
      .map((c) => `id=${c.id} ${c.addr}${c.name ? ` name=${c.name}` : ''} cmd=${c.cmd} omem=${fmtBytes(c.omem)} age=${c.age}s`)
      .join(', ');
    const summary =
      `client buffers ${fmtBytes(normal)} normal + ${fmtBytes(slaves)} replica = ${Math.round(clientsShare * 100)}% of ${maxmemory > 0 ? 'maxmemory' : 'used memory'}; ` +
      (offenders.length > 0 ? `${offenders.length} client(s) hold ${fmtBytes(offenderOmem)}: ${named}` : 'no client holds a large output buffer');
    return {
      summary,
      node: nodeKey(ctx.node),
      usedMemory,
      maxmemory,
      memClientsNormal: normal,
      memClientsSlaves: slaves,
      clientsShare,
      dominant: clientsShare > inp.dominantShare,
      clients: list.length,
      byKind,
      worst,
      offenders,
      offenderIds: offenders.map((c) => c.id),
      offenderOmem,
      replicaBuffers,
      limits,
      proposedLimit,
    };
  },
};
