/**
 * `redis.sentinel-failover`: `SENTINEL FAILOVER <name>` on one healthy Sentinel (reachable, not in
 * TILT). A forced failover: it skips ODOWN and the leader election, so it works with most Sentinels
 * gone. Run on one Sentinel only. NOGOODSLAVE right after a replica was made eligible is retried
 * while Sentinel refreshes its replica INFO (up to `retryMs`). The plan names the current primary
 * and the replica Sentinel is expected to promote.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { ActionContext, ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { TargetError } from '../../errors.js';
import { parseNodeKey, replyText, sendCommand } from './connection.js';
import { classifyError, sentinelConsensus } from './replication-nodes.js';
import { sentinelView } from './sentinel-view.js';

const input = z
  .object({
    /** Send it to this Sentinel (`host:port`); default the first healthy one. */
    sentinel: z.string().regex(/^.+:\d+$/).optional(),
    /** How long NOGOODSLAVE is retried (Sentinel refreshes replica INFO every 1–10 s). */
    retryMs: z.number().int().min(0).max(60_000).default(15_000),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.sentinel-failover`. */
export type SentinelFailoverInput = z.infer<typeof input>;

/** Findings of `redis.sentinel-failover`. */
export interface SentinelFailoverResult {
  outcomes: CommandOutcome[];
  complete: boolean;
  /** NOGOODSLAVE replies before OK. */
  retries: number;
  dryRun?: true;
}

/** The primary a plan's note names as current (`from host:port`). */
export function failoverFrom(cmd: PlannedCommand): string | null {
  return /\bfrom (\S+:\d+)/.exec(cmd.note ?? '')?.[1] ?? null;
}

/** Plans SENTINEL FAILOVER on one healthy Sentinel. */
export async function planSentinelFailover(inp: SentinelFailoverInput, ctx: ActionContext): Promise<PlannedCommand[]> {
  const name = ctx.target.sentinelMasterName;
  if (ctx.target.mode !== 'sentinel' || !name) throw new TargetError('precondition_failed', `${ctx.target.name} is not Sentinel-managed`, false);
  const view = await sentinelView(ctx);
  const healthy = Object.values(view.sentinels).filter((s) => s.reachable && !s.tilt && (inp.sentinel === undefined || s.node === inp.sentinel));
  const pick = healthy[0];
  if (!pick) throw new TargetError('precondition_failed', `no healthy Sentinel to send SENTINEL FAILOVER to (${view.reachable}/${view.total} answer${view.tilt.length ? `, TILT on ${view.tilt.join(', ')}` : ''})`, false);
  const from = pick.master?.primary ?? view.majorityPrimary ?? '?';
  if (view.failoverInProgress) throw new TargetError('precondition_failed', `a failover is already in progress (${view.failoverStates.join(', ') || 'failover_in_progress'})`, false);
  return [
    {
      node: pick.node,
      argv: ['SENTINEL', 'FAILOVER', name],
      note: `forced failover of ${name} from ${from} on Sentinel ${pick.node} (${view.reachable}/${view.total} Sentinels answer); expected promotion: ${view.best ?? 'none'} — ${view.bestReason}`,
    },
  ];
}

export const sentinelFailover: ActionDefinition<SentinelFailoverInput, SentinelFailoverResult> = {
  name: 'redis.sentinel-failover',
  description: 'Forces a Sentinel failover (SENTINEL FAILOVER on one healthy Sentinel); the plan names the replica expected to be promoted.',
  risk: 'disruptive',
  input,
  timeoutMs: 70_000,
  output: {
    outcomes: 'the SENTINEL FAILOVER sent: node (the Sentinel), argv, ok, reply (OK, or INPROG when Sentinel is already failing over) or error (NOGOODSLAVE after retryMs)',
    complete: 'a Sentinel answered OK',
    retries: 'NOGOODSLAVE answers retried before the final one',
    dryRun: 'true when nothing was sent (dry run)',
  },
  plan: planSentinelFailover,
  async run(inp, ctx, given) {
    const plan = given ?? (await planSentinelFailover(inp, ctx));
    if (ctx.dryRun) return { outcomes: [], complete: false, retries: 0, dryRun: true };
    const outcomes: CommandOutcome[] = [];
    let retries = 0;
    for (const cmd of plan) {
      const deadline = ctx.now() + inp.retryMs;
      for (;;) {
        try {
          const reply = await sendCommand(ctx, parseNodeKey(cmd.node), cmd.argv);
          outcomes.push({ ...cmd, ok: true, reply: replyText(reply) });
          break;
        } catch (err) {
          const e = classifyError(err);
          if (/INPROG/.test(e.message)) {
            // Sentinel is already failing over (its own attempt, now that a replica is eligible): the verification judges it.
            outcomes.push({ ...cmd, ok: true, reply: e.message.replace(/^.*?(INPROG)/, '$1') });
            break;
          }
          if (/NOGOODSLAVE/.test(e.message) && ctx.now() < deadline && !ctx.signal.aborted) {
            retries++;
            await sleep(1000);
            continue;
          }
          outcomes.push({ ...cmd, ok: false, error: e.message });
          return { outcomes, complete: false, retries };
        }
      }
    }
    return { outcomes, complete: outcomes.every((o) => o.ok), retries };
  },
  async applied(cmd, _inp, ctx) {
    const from = failoverFrom(cmd);
    if (!from) return undefined;
    const c = await sentinelConsensus(ctx);
    if (!c.majorityPrimary) return undefined;
    return c.majorityPrimary !== from;
  },
};
