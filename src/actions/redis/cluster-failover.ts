/**
 * `redis.cluster-failover`: promotes a replica of a failed primary with `CLUSTER FAILOVER FORCE`
 * (needs a majority of primaries to vote) or `CLUSTER FAILOVER TAKEOVER` (no vote: only when the
 * majority is lost; two approvers). Runs on the replica (`ctx.node`, or `replica`). Refused when
 * the replica's primary is healthy (that is a planned switchover, not this runbook's job). Never
 * reassigns slots, never CLUSTER RESET.
 */
import { z } from 'zod';
import type { ActionContext, ActionDefinition, CommandOutcome, NodeRef, PlannedCommand } from '../types.js';
import { nodeKey } from '../types.js';
import { TargetError } from '../../errors.js';
import { executePlan, parseNodeKey, replyText, sendCommand } from './connection.js';
import { parseClusterNodesFull, rangesText } from './cluster-parse.js';

const input = z
  .object({
    /** `force` (majority vote) or `takeover` (no vote). */
    mode: z.enum(['force', 'takeover']).default('force'),
    /** The replica to promote (`host:port`); default the step's node. */
    replica: z.string().min(3).optional(),
    /** How long run() waits for the replica to report itself master (ms). */
    waitMs: z.number().int().min(0).max(120_000).default(15_000),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.cluster-failover`. */
export type ClusterFailoverInput = z.infer<typeof input>;

/** Findings of `redis.cluster-failover`. */
export interface ClusterFailoverResult {
  outcomes: CommandOutcome[];
  replica: string;
  /** The replica reports `myself,master` after the command. */
  promoted: boolean;
  complete: boolean;
  notes: string[];
  dryRun?: true;
}

function replicaOf(inp: ClusterFailoverInput, ctx: ActionContext): NodeRef {
  return inp.replica ? parseNodeKey(inp.replica) : ctx.node;
}

async function selfLine(ctx: Pick<ActionContext, 'target'>, node: NodeRef) {
  const entries = parseClusterNodesFull(replyText(await sendCommand(ctx, node, ['CLUSTER', 'NODES'])));
  return { entries, self: entries.find((e) => e.myself) };
}

async function planFailover(inp: ClusterFailoverInput, ctx: ActionContext): Promise<PlannedCommand[]> {
  const node = replicaOf(inp, ctx);
  const { entries, self } = await selfLine(ctx, node);
  if (!self) throw new TargetError('redis_error', `${nodeKey(node)}: CLUSTER NODES has no myself line`, false);
  if (self.master) return [];
  const master = entries.find((e) => e.id === self.masterId);
  if (master && !master.fail && !master.pfail) {
    throw new TargetError('precondition_failed', `${nodeKey(node)}: its primary ${master.addr} is not failed; a forced failover would demote a healthy primary`, false);
  }
  const word = inp.mode === 'force' ? 'FORCE' : 'TAKEOVER';
  const what = master ? `primary ${master.addr || master.id} (${master.flags.join(',')}, slots ${rangesText(master.slots) || 'none'})` : `primary ${self.masterId ?? '?'}`;
  return [
    {
      node: nodeKey(node),
      argv: ['CLUSTER', 'FAILOVER', word],
      note: `replica ${nodeKey(node)} takes over from failed ${what}${inp.mode === 'takeover' ? ' without a vote (bumps the epoch on its own)' : ' with a majority vote'}`,
    },
  ];
}

/** Promotes a replica of a failed primary. */
export const clusterFailover: ActionDefinition<ClusterFailoverInput, ClusterFailoverResult> = {
  name: 'redis.cluster-failover',
  description: 'CLUSTER FAILOVER FORCE (or TAKEOVER) on the replica of a failed cluster primary; waits until it reports itself master.',
  risk: 'disruptive',
  input,
  timeoutMs: 130_000,
  output: {
    'outcomes[]': 'the command sent: node, argv, ok, reply, error',
    replica: 'host:port of the replica promoted',
    promoted: 'the replica reports myself,master after the command (within waitMs)',
    complete: 'the command was accepted',
    'notes[]': 'what was done',
    dryRun: 'true when nothing was sent',
  },
  async plan(inp, ctx) {
    return planFailover(inp, ctx);
  },
  async run(inp, ctx, given) {
    const node = replicaOf(inp, ctx);
    const plan = given ?? (await planFailover(inp, ctx));
    const notes = plan.map((p) => p.note ?? p.argv.join(' '));
    const replica = plan[0]?.node ?? nodeKey(node);
    if (plan.length === 0) return { outcomes: [], replica, promoted: true, complete: true, notes: [`${replica} is already a master`] };
    if (ctx.dryRun) return { outcomes: [], replica, promoted: false, complete: false, notes, dryRun: true };
    const exec = await executePlan(ctx, plan);
    let promoted = false;
    const deadline = ctx.now() + inp.waitMs;
    while (!exec.stopped && !ctx.signal.aborted) {
      promoted = (await selfLine(ctx, parseNodeKey(replica)).catch(() => ({ self: undefined }))).self?.master ?? false;
      if (promoted || ctx.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (!promoted && !exec.stopped) notes.push(`${replica} accepted the command but is not master after ${inp.waitMs} ms (an OK does not mean success)`);
    return { outcomes: exec.outcomes, replica, promoted, complete: !exec.stopped, notes };
  },
  async applied(cmd, _inp, ctx) {
    try {
      return (await selfLine(ctx, parseNodeKey(cmd.node))).self?.master ?? undefined;
    } catch {
      return undefined;
    }
  },
};
