/**
 * `redis.replication-priority`: makes a replica eligible for promotion again (CONFIG SET
 * replica-priority, then CONFIG REWRITE). Without a node, picks the best replica blocked only by
 * priority 0: reachable, following the named primary or its last one, highest offset. Sentinel
 * reads replica INFO every 10 s (every 1 s while the primary is down): a failover requested right
 * after may still answer NOGOODSLAVE for that long.
 */
import { z } from 'zod';
import type { ActionContext, ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { TargetError } from '../../errors.js';
import { executePlan } from './connection.js';
import { otherNodeStates, replicationApplied, replicationNodes } from './replication-nodes.js';

const input = z
  .object({
    node: z.string().regex(/^.+:\d+$/).optional(),
    priority: z.number().int().min(1).max(1000).default(100),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.replication-priority`. */
export type PriorityInput = z.infer<typeof input>;

/** Findings of `redis.replication-priority`. */
export interface PriorityResult {
  outcomes: CommandOutcome[];
  complete: boolean;
  /** The replica made eligible. */
  node: string | null;
  dryRun?: true;
}

/** Plans CONFIG SET replica-priority on the chosen replica. */
export async function planPriority(inp: PriorityInput, ctx: Pick<ActionContext, 'target'>): Promise<PlannedCommand[]> {
  const { primary, nodes } = await replicationNodes(ctx);
  const candidates: Array<{ node: string; offset: number; priority: number }> = [];
  for (const { key: k, state: s } of await otherNodeStates(ctx, nodes, primary, inp.node)) {
    if (s.role === 'replica') candidates.push({ node: k, offset: s.offset, priority: s.priority ?? 100 });
  }
  if (inp.node !== undefined && candidates.length === 0) throw new TargetError('precondition_failed', `${inp.node} is not a reachable replica of this target`, false);
  const blocked = candidates.filter((c) => c.priority === 0).sort((a, b) => b.offset - a.offset || a.node.localeCompare(b.node));
  const pick = inp.node !== undefined ? candidates[0] : blocked[0];
  if (!pick || pick.priority === inp.priority) return [];
  const others = blocked.filter((c) => c !== pick).map((c) => `${c.node} offset ${c.offset}`);
  return [
    {
      node: pick.node,
      argv: ['CONFIG', 'SET', 'replica-priority', String(inp.priority)],
      note: `${pick.node}: replica-priority ${pick.priority} → ${inp.priority} (offset ${pick.offset}, the highest of ${blocked.length} replica(s) at priority 0${others.length ? `; others: ${others.join(', ')}` : ''})`,
    },
    { node: pick.node, argv: ['CONFIG', 'REWRITE'], note: `persist on ${pick.node}` },
  ];
}

export const replicationPriority: ActionDefinition<PriorityInput, PriorityResult> = {
  name: 'redis.replication-priority',
  description: 'Makes the best replica eligible for promotion (CONFIG SET replica-priority, CONFIG REWRITE).',
  risk: 'write',
  input,
  timeoutMs: 15_000,
  output: {
    outcomes: 'each command sent: node, argv, ok, reply or error',
    complete: 'the CONFIG SET succeeded',
    node: 'the replica (host:port) made eligible, null when nothing was needed',
    dryRun: 'true when nothing was sent (dry run)',
  },
  plan: planPriority,
  async run(inp, ctx, given) {
    const plan = given ?? (await planPriority(inp, ctx));
    const node = plan[0]?.node ?? null;
    if (ctx.dryRun) return { outcomes: [], complete: false, node, dryRun: true };
    const exec = await executePlan(ctx, plan, (cmd) => cmd.argv[1]?.toUpperCase() === 'SET');
    if (exec.error) throw exec.error;
    return { outcomes: exec.outcomes, complete: true, node };
  },
  applied: (cmd, _inp, ctx) => replicationApplied(cmd, ctx),
};
