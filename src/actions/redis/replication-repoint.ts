/**
 * `redis.replication-repoint`: points replicas that follow the wrong node back at the primary the
 * Sentinel majority names (REPLICAOF host port, then CONFIG REWRITE). Refuses when no majority
 * names a primary or that primary does not say role:master. Sentinel repairs a replica with a wrong
 * master by itself once failover-timeout has passed (`+fix-slave-config`): the plan says so.
 */
import { z } from 'zod';
import type { ActionContext, ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { TargetError } from '../../errors.js';
import { executePlan, readInfo } from './connection.js';
import { parseReplicationState } from './replication-parse.js';
import { otherNodeStates, ref, replicationApplied, replicationNodes } from './replication-nodes.js';

const input = z
  .object({
    /** Only this replica (`host:port`); default every replica following another node. */
    node: z.string().regex(/^.+:\d+$/).optional(),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.replication-repoint`. */
export type RepointInput = z.infer<typeof input>;

/** Findings of `redis.replication-repoint`. */
export interface RepointResult {
  outcomes: CommandOutcome[];
  complete: boolean;
  /** Replicas re-pointed. */
  repointed: string[];
  dryRun?: true;
}

/** The replicas to re-point and the primary they must follow. */
export async function planRepoint(inp: RepointInput, ctx: Pick<ActionContext, 'target'>): Promise<PlannedCommand[]> {
  const { primary, consensus, nodes } = await replicationNodes(ctx);
  if (ctx.target.mode === 'sentinel' && !consensus?.majorityPrimary) {
    throw new TargetError('precondition_failed', `no Sentinel majority names a primary (${consensus?.mostNamedCount ?? 0} of ${consensus?.total ?? 0}): re-pointing would guess`, false);
  }
  if (!primary) throw new TargetError('precondition_failed', 'no primary is named', false);
  const ps = parseReplicationState(await readInfo(ctx, ref(primary), 'replication'));
  if (ps.role !== 'primary') throw new TargetError('precondition_failed', `${primary} says role ${ps.role}, not master`, false);
  const [host, port] = [primary.slice(0, primary.lastIndexOf(':')), primary.slice(primary.lastIndexOf(':') + 1)];
  const who = consensus ? `the Sentinel majority (${consensus.mostNamedCount}/${consensus.total}) names ${primary}` : `${primary} is the primary`;
  const plan: PlannedCommand[] = [];
  for (const { key: k, state: s } of await otherNodeStates(ctx, nodes, primary, inp.node)) {
    if (s.role !== 'replica' || s.master === primary) continue;
    plan.push(
      { node: k, argv: ['REPLICAOF', host, port], note: `${k} follows ${s.master ?? '?'} (link ${s.linkStatus ?? '?'}${s.linkDownSinceSeconds !== null ? `, down ${s.linkDownSinceSeconds} s` : ''}); ${who}` },
      { node: k, argv: ['CONFIG', 'REWRITE'], note: `persist on ${k}` },
    );
  }
  return plan;
}

export const replicationRepoint: ActionDefinition<RepointInput, RepointResult> = {
  name: 'redis.replication-repoint',
  description: 'Points replicas that follow the wrong node at the primary the Sentinel majority names (REPLICAOF, CONFIG REWRITE).',
  risk: 'write',
  input,
  timeoutMs: 15_000,
  output: {
    outcomes: 'each command sent: node, argv, ok, reply or error',
    complete: 'every REPLICAOF succeeded',
    repointed: 'replicas (host:port) whose REPLICAOF succeeded',
    dryRun: 'true when nothing was sent (dry run)',
  },
  plan: planRepoint,
  async run(inp, ctx, given) {
    const plan = given ?? (await planRepoint(inp, ctx));
    if (ctx.dryRun) return { outcomes: [], complete: false, repointed: [], dryRun: true };
    const exec = await executePlan(ctx, plan, (cmd) => cmd.argv[0]?.toUpperCase() === 'REPLICAOF');
    if (exec.error) throw exec.error;
    return { outcomes: exec.outcomes, complete: true, repointed: exec.outcomes.filter((o) => o.ok && o.argv[0] === 'REPLICAOF').map((o) => o.node) };
  },
  applied: (cmd, _inp, ctx) => replicationApplied(cmd, ctx),
};
