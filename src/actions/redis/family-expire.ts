/**
 * `redis.family-expire`: gives the keys of one family that have no TTL a TTL, one batch per round
 * (`EXPIRE <key> <ttl> NX`: a key that got a TTL meanwhile keeps it). Keys are found with SCAN MATCH
 * and re-checked against the pattern here; only keys without TTL are planned. The runbook step
 * uses `repeat:` so the engine plans the next batch from the live target after each round.
 */
import { z } from 'zod';
import type { ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { nodeKey } from '../types.js';
import { sendCommand } from './connection.js';
import { fmtBytes } from './census-aggregate.js';
import { batchInputs, bytesOf, runPaced, sampleText, scanFamily } from './family-scan.js';

const input = z
  .object({
    ...batchInputs,
    /** TTL given to each key, in seconds. */
    ttlSeconds: z.number().int().positive().max(30 * 86_400),
  })
  .strict();

/** Validated input of `redis.family-expire`. */
export type FamilyExpireInput = z.infer<typeof input>;

/** Findings of `redis.family-expire`. */
export interface FamilyExpireResult {
  outcomes: CommandOutcome[];
  /** Keys that got the TTL (EXPIRE replied 1). */
  expired: number;
  /** Keys left unchanged (they got a TTL meanwhile, or are gone). */
  unchanged: number;
  failed: number;
  dryRun?: true;
}

/** Gives a TTL to the keys of a family that have none, in SCAN batches. */
export const familyExpire: ActionDefinition<FamilyExpireInput, FamilyExpireResult> = {
  name: 'redis.family-expire',
  description: 'EXPIRE … NX on the keys of one family that have no TTL, in SCAN batches (pattern re-checked per key), bounded per batch and per second.',
  risk: 'write',
  input,
  timeoutMs: 120_000,
  output: {
    outcomes: 'each EXPIRE sent: node, argv, ok, reply (1 set, 0 unchanged) or error',
    expired: 'keys that got the TTL',
    unchanged: 'keys left as they were (TTL set meanwhile, or deleted)',
    failed: 'commands that failed',
    dryRun: 'true when nothing was sent',
  },
  async plan(inp, ctx): Promise<PlannedCommand[]> {
    const found = await scanFamily(ctx, inp, (ttl) => ttl === -1);
    if (found.keys.length === 0) return [];
    const node = nodeKey(ctx.node);
    const names = found.keys.map((k) => k.key);
    const bytes = await bytesOf(ctx, names);
    const head = `${names.length} keys of ${inp.pattern} without TTL (${fmtBytes(bytes)}) get a ${inp.ttlSeconds}s TTL${found.exhausted ? ' (last batch)' : ''}: ${sampleText(names)}`;
    return names.map((key, i) => ({ node, argv: ['EXPIRE', key, String(inp.ttlSeconds), 'NX'], ...(i === 0 ? { note: head } : {}) }));
  },
  async run(inp, ctx, given) {
    const plan = given ?? (await familyExpire.plan?.(inp, ctx)) ?? [];
    if (ctx.dryRun) return { outcomes: [], expired: 0, unchanged: 0, failed: 0, dryRun: true };
    const outcomes = await runPaced(ctx, plan, inp.perSecond, () => 1);
    return {
      outcomes,
      expired: outcomes.filter((o) => o.ok && o.reply === '1').length,
      unchanged: outcomes.filter((o) => o.ok && o.reply !== '1').length,
      failed: outcomes.filter((o) => !o.ok).length,
    };
  },
  async applied(cmd, _inp, ctx) {
    const key = cmd.argv[1];
    if (cmd.argv[0] !== 'EXPIRE' || key === undefined) return undefined;
    const ttl = Number(await sendCommand(ctx, ctx.node, ['PTTL', key]));
    return Number.isFinite(ttl) ? ttl !== -1 : undefined; // a TTL is in place, or the key is gone
  },
};
