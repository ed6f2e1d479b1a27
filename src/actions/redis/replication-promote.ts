/**
 * `redis.replication-promote`: promotion by hand, for when no Sentinel can act (none answers).
 * REPLICAOF NO ONE on the best replica (reachable, highest offset), then REPLICAOF <it> on every
 * other reachable replica. Refused while any Sentinel answers (under Sentinel a manual promotion
 * is undone within seconds: use `redis.sentinel-failover`). Never touches the old primary: if it
 * comes back it must rejoin as a replica of the new one, never be promoted again (split brain).
 */
import { z } from 'zod';
import type { ActionContext, ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { nodeKey } from '../types.js';
import { TargetError } from '../../errors.js';
import { executePlan, readInfo } from './connection.js';
import { parseReplicationState } from './replication-parse.js';
import { ref, replicationApplied, replicationNodes, sentinelConsensus } from './replication-nodes.js';

const input = z.object({}).strict().prefault({});

/** Findings of `redis.replication-promote`. */
export interface PromoteResult {
  outcomes: CommandOutcome[];
  complete: boolean;
  /** The promoted replica. */
  promoted: string | null;
  dryRun?: true;
}

/** Plans the promotion of the replica with the highest offset. */
export async function planPromote(_inp: unknown, ctx: Pick<ActionContext, 'target'>): Promise<PlannedCommand[]> {
  if (ctx.target.mode === 'sentinel') {
    const c = await sentinelConsensus(ctx);
    if (c.reachable > 0) {
      const who = Object.entries(c.answers).filter(([, a]) => 'primary' in a).map(([k]) => k);
      throw new TargetError('precondition_failed', `Sentinel ${who.join(', ')} answers: a manual promotion would be undone; use redis.sentinel-failover`, false);
    }
  }
  const { primary, nodes } = await replicationNodes(ctx);
  const extra = ctx.target.endpoints.map(nodeKey).filter((k) => !nodes.includes(k));
  const replicas: Array<{ node: string; offset: number; master: string | null }> = [];
  for (const k of [...nodes, ...extra]) {
    try {
      const s = parseReplicationState(await readInfo(ctx, ref(k), 'replication'));
      if (s.role === 'primary') throw new TargetError('precondition_failed', `${k} already says role:master: promoting another node would split the data`, false);
      if (s.role === 'replica') replicas.push({ node: k, offset: s.offset, master: s.master });
    } catch (err) {
      if (err instanceof TargetError && err.code === 'precondition_failed') throw err;
    }
  }
  replicas.sort((a, b) => b.offset - a.offset || a.node.localeCompare(b.node));
  const best = replicas[0];
  if (!best) throw new TargetError('precondition_failed', 'no reachable replica to promote', false);
  const [host, port] = [best.node.slice(0, best.node.lastIndexOf(':')), best.node.slice(best.node.lastIndexOf(':') + 1)];
  const rest = replicas.slice(1);
  return [
    {
      node: best.node,
      argv: ['REPLICAOF', 'NO', 'ONE'],
      note: `promote ${best.node}: highest offset ${best.offset} of ${replicas.length} reachable replica(s)${rest.length ? ` (${rest.map((r) => `${r.node} ${r.offset}`).join(', ')})` : ''}; old primary ${primary ?? best.master ?? '?'} unreachable and not touched`,
    },
    ...rest.map((r) => ({ node: r.node, argv: ['REPLICAOF', host, port], note: `${r.node} follows the new primary ${best.node}` })),
  ];
}

export const replicationPromote: ActionDefinition<z.infer<typeof input>, PromoteResult> = {
  name: 'redis.replication-promote',
  description: 'Promotes the reachable replica with the highest offset (REPLICAOF NO ONE) and re-points the others; only when no Sentinel answers.',
  risk: 'disruptive',
  input,
  timeoutMs: 20_000,
  output: {
    outcomes: 'each command sent: node, argv, ok, reply or error',
    complete: 'every command succeeded',
    promoted: 'the replica promoted (host:port)',
    dryRun: 'true when nothing was sent (dry run)',
  },
  plan: planPromote,
  async run(inp, ctx, given) {
    const plan = given ?? (await planPromote(inp, ctx));
    const promoted = plan.find((c) => c.argv.join(' ').toUpperCase() === 'REPLICAOF NO ONE')?.node ?? null;
    if (ctx.dryRun) return { outcomes: [], complete: false, promoted, dryRun: true };
    const exec = await executePlan(ctx, plan);
    if (exec.error) throw exec.error;
    return { outcomes: exec.outcomes, complete: true, promoted };
  },
  applied: (cmd, _inp, ctx) => replicationApplied(cmd, ctx),
};
