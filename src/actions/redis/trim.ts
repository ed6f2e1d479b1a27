/**
 * `redis.trim`: bounds one collection that nobody trims: a list to N elements (`LTRIM`, keeping the
 * head or the tail) or a stream to N entries (`XTRIM MAXLEN = N`, keeping the newest). The plan
 * names the key, its type, its length, how many elements go and the bytes that frees (estimated).
 */
import { z } from 'zod';
import type { ActionContext, ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { nodeKey } from '../types.js';
import { TargetError } from '../../errors.js';
import { executePlan, replyText, sendCommand } from './connection.js';
import { fmtBytes } from './census-aggregate.js';

const input = z
  .object({
    key: z.string().min(1).max(1024),
    /** Elements kept. */
    maxLen: z.number().int().nonnegative(),
    /** Lists: keep the first N (`head`, newest with LPUSH producers) or the last N (`tail`). */
    keep: z.enum(['head', 'tail']).default('head'),
  })
  .strict();

/** Validated input of `redis.trim`. */
export type TrimInput = z.infer<typeof input>;

/** Findings of `redis.trim`. */
export interface TrimResult {
  outcomes: CommandOutcome[];
  /** Length after the trim (read back). */
  lengthAfter: number | null;
  dryRun?: true;
}

async function lengthOf(ctx: ActionContext, key: string): Promise<{ type: string; len: number }> {
  const type = replyText(await sendCommand(ctx, ctx.node, ['TYPE', key]));
  if (type === 'list') return { type, len: Number(await sendCommand(ctx, ctx.node, ['LLEN', key])) };
  if (type === 'stream') return { type, len: Number(await sendCommand(ctx, ctx.node, ['XLEN', key])) };
  return { type, len: 0 };
}

/** Trims a list or stream to `maxLen` elements. */
export const trim: ActionDefinition<TrimInput, TrimResult> = {
  name: 'redis.trim',
  description: 'Trims one list (LTRIM) or stream (XTRIM MAXLEN =) to N elements. Drops the other elements.',
  risk: 'disruptive',
  input,
  timeoutMs: 30_000,
  output: {
    outcomes: 'the command sent: node, argv, ok, reply or error',
    lengthAfter: 'LLEN / XLEN read back after the trim',
    dryRun: 'true when nothing was sent',
  },
  async plan(inp, ctx): Promise<PlannedCommand[]> {
    const { type, len } = await lengthOf(ctx, inp.key);
    if (type === 'none') return [];
    if (type !== 'list' && type !== 'stream') {
      throw new TargetError('precondition_failed', `redis.trim: ${inp.key} is a ${type}, not a list or stream`, false);
    }
    if (len <= inp.maxLen) return [];
    const bytes = Number(await sendCommand(ctx, ctx.node, ['MEMORY', 'USAGE', inp.key, 'SAMPLES', '5'])) || 0;
    const drop = len - inp.maxLen;
    const freed = Math.round((bytes * drop) / Math.max(1, len));
    const node = nodeKey(ctx.node);
    let argv: string[];
    if (type === 'stream') argv = ['XTRIM', inp.key, 'MAXLEN', '=', String(inp.maxLen)];
    else if (inp.maxLen === 0) argv = ['LTRIM', inp.key, '1', '0'];
    else if (inp.keep === 'head') argv = ['LTRIM', inp.key, '0', String(inp.maxLen - 1)];
    else argv = ['LTRIM', inp.key, String(-inp.maxLen), '-1'];
    const kept = type === 'stream' ? 'newest' : inp.keep === 'head' ? 'first' : 'last';
    return [{ node, argv, note: `${type} ${inp.key}: ${len} elements (${fmtBytes(bytes)}); keeps the ${kept} ${inp.maxLen}, drops ${drop} (~${fmtBytes(freed)} freed)` }];
  },
  async run(inp, ctx, given) {
    const plan = given ?? (await trim.plan?.(inp, ctx)) ?? [];
    if (ctx.dryRun) return { outcomes: [], lengthAfter: null, dryRun: true };
    const exec = await executePlan(ctx, plan);
    if (exec.error) throw exec.error;
    return { outcomes: exec.outcomes, lengthAfter: (await lengthOf(ctx, inp.key)).len };
  },
  async applied(cmd, inp, ctx) {
    if (cmd.argv[0] !== 'LTRIM' && cmd.argv[0] !== 'XTRIM') return undefined;
    const { type, len } = await lengthOf(ctx, inp.key);
    return type === 'none' || len <= inp.maxLen;
  },
};
