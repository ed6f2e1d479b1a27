/**
 * `redis.replication-buffer-raise`: raises the replica class of `client-output-buffer-limit` on the
 * primary so a full sync can finish while writes continue (the write rate × transfer time exceeded
 * the old limit: the primary dropped the replica and the sync started over). Bounded: never above
 * `maxHard`, never lower than today, and only when the primary has room for one more hard limit per
 * syncing replica. CONFIG SET then CONFIG REWRITE on the primary (the Sentinel majority's primary).
 */
import { z } from 'zod';
import type { ActionContext, ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { TargetError } from '../../errors.js';
import { executePlan, readInfo, sendCommand } from './connection.js';
import { configReplyToRecord } from './config-get.js';
import { rewriteStatus } from './config-set.js';
import { num } from './info.js';
import { parseMemorySize, parseReplicationState, replicaBufferLimit } from './replication-parse.js';
import { ref, replicationApplied, replicationNodes } from './replication-nodes.js';

const size = z.string().regex(/^\d+(b|k|kb|m|mb|g|gb)?$/i, 'a size such as 256mb');

const input = z
  .object({
    /** New hard limit (default the Redis default, 256mb). */
    hard: size.default('256mb'),
    /** New soft limit and its seconds (default 64mb for 60 s). */
    soft: size.default('64mb'),
    softSeconds: z.number().int().min(0).max(3600).default(60),
    /** The bound: a plan above this is refused. */
    maxHard: size.default('1gb'),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.replication-buffer-raise`. */
export type BufferRaiseInput = z.infer<typeof input>;

/** Findings of `redis.replication-buffer-raise`. */
export interface BufferRaiseResult {
  outcomes: CommandOutcome[];
  complete: boolean;
  persisted: boolean;
  note?: string;
  dryRun?: true;
}

const MiB = 1024 * 1024;

/** The plan: the primary's current limit, the new one, and the memory check. */
export async function planBufferRaise(inp: BufferRaiseInput, ctx: Pick<ActionContext, 'target'>): Promise<PlannedCommand[]> {
  const hard = parseMemorySize(inp.hard) ?? 0;
  const soft = parseMemorySize(inp.soft) ?? 0;
  const max = parseMemorySize(inp.maxHard) ?? 0;
  if (hard > max) throw new TargetError('precondition_failed', `hard limit ${inp.hard} above the bound ${inp.maxHard}`, false);
  if (soft > hard) throw new TargetError('precondition_failed', `soft limit ${inp.soft} above the hard limit ${inp.hard}`, false);
  const { primary } = await replicationNodes(ctx);
  if (!primary) throw new TargetError('precondition_failed', 'no primary is named: nothing to raise', false);
  const info = await readInfo(ctx, ref(primary), 'replication', 'memory');
  const state = parseReplicationState(info);
  if (state.role !== 'primary') throw new TargetError('precondition_failed', `${primary} is not a primary (role ${state.role})`, false);
  const cfg = configReplyToRecord(await sendCommand(ctx, ref(primary), ['CONFIG', 'GET', 'client-output-buffer-limit']));
  const current = replicaBufferLimit(cfg['client-output-buffer-limit'] ?? '');
  if (current && (current.hard === 0 || current.hard >= hard) && (current.soft === 0 || current.soft >= soft)) return [];
  const syncing = Math.max(1, state.replicas.filter((r) => r.state !== 'online').length);
  const used = num(info['memory'], 'used_memory');
  const maxmemory = num(info['memory'], 'maxmemory');
  const room = maxmemory > 0 ? maxmemory - used : num(info['memory'], 'total_system_memory') - num(info['memory'], 'used_memory_rss');
  if (room < hard * syncing) {
    throw new TargetError('precondition_failed', `${primary} has ${(room / MiB).toFixed(1)} MiB free, less than ${syncing} × ${inp.hard} of replica buffers`, false);
  }
  const value = `replica ${hard} ${soft} ${inp.softSeconds}`;
  const was = current ? `${current.hard} ${current.soft} ${current.softSeconds}` : 'unknown';
  return [
    { node: primary, argv: ['CONFIG', 'SET', 'client-output-buffer-limit', value], note: `replica output-buffer limit on primary ${primary}: ${was} → ${hard} ${soft} ${inp.softSeconds} (hard ${(hard / MiB).toFixed(0)} MiB × ${syncing} syncing replica(s) fits in ${(room / MiB).toFixed(0)} MiB free)` },
    { node: primary, argv: ['CONFIG', 'REWRITE'], note: `persist on ${primary}` },
  ];
}

function normalise(param: string, v: string): string {
  if (param !== 'client-output-buffer-limit') return v.trim();
  const l = replicaBufferLimit(v);
  return l ? `${l.hard} ${l.soft} ${l.softSeconds}` : v.trim();
}

export const replicationBufferRaise: ActionDefinition<BufferRaiseInput, BufferRaiseResult> = {
  name: 'redis.replication-buffer-raise',
  description: 'Raises the replica output-buffer limit on the primary (bounded, memory-checked) so a full sync can finish under write load; persisted with CONFIG REWRITE.',
  risk: 'write',
  input,
  timeoutMs: 15_000,
  output: {
    outcomes: 'each command sent: node, argv, ok, reply or error',
    complete: 'the CONFIG SET succeeded',
    persisted: 'CONFIG REWRITE succeeded (survives a restart)',
    note: 'why it is not persisted, or why nothing was done',
    dryRun: 'true when nothing was sent (dry run)',
  },
  plan: planBufferRaise,
  async run(inp, ctx, given) {
    const plan = given ?? (await planBufferRaise(inp, ctx));
    if (plan.length === 0) return { outcomes: [], complete: true, persisted: false, note: 'the limit is already at least as high' };
    if (ctx.dryRun) return { outcomes: [], complete: false, persisted: false, dryRun: true };
    const exec = await executePlan(ctx, plan, (cmd) => cmd.argv[1]?.toUpperCase() !== 'REWRITE');
    if (exec.error) throw exec.error;
    const rw = rewriteStatus(exec.outcomes.find((o) => o.argv[1]?.toUpperCase() === 'REWRITE'));
    return { outcomes: exec.outcomes, complete: true, ...rw };
  },
  applied: (cmd, _inp, ctx) => replicationApplied(cmd, ctx, normalise),
};
