/**
 * `redis.family-delete`: deletes the keys of one family (`UNLINK`, freed in the background), one
 * batch per round. Keys are found with SCAN MATCH and re-checked against the pattern here; the plan
 * names every key it deletes (a sample in the note, with the count and bytes). The runbook step uses
 * `repeat:` so the engine plans the next batch from the live target after each round. Disruptive:
 * the data is gone.
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
    /** Keys per UNLINK command. */
    perCommand: z.number().int().positive().max(1000).default(100),
    /** Only keys without TTL (leave keys that will expire anyway). */
    onlyWithoutTtl: z.boolean().default(false),
  })
  .strict();

/** Validated input of `redis.family-delete`. */
export type FamilyDeleteInput = z.infer<typeof input>;

/** Findings of `redis.family-delete`. */
export interface FamilyDeleteResult {
  outcomes: CommandOutcome[];
  /** Keys UNLINK removed (sum of its replies). */
  deleted: number;
  failed: number;
  dryRun?: true;
}

/** Deletes the keys of a family in SCAN batches with UNLINK. */
export const familyDelete: ActionDefinition<FamilyDeleteInput, FamilyDeleteResult> = {
  name: 'redis.family-delete',
  description: 'UNLINK the keys of one family in SCAN batches (pattern re-checked per key), bounded per batch and per second. Deletes data.',
  risk: 'disruptive',
  input,
  timeoutMs: 120_000,
  output: {
    outcomes: 'each UNLINK sent: node, argv (the keys), ok, reply (keys removed) or error',
    deleted: 'keys removed',
    failed: 'commands that failed',
    dryRun: 'true when nothing was sent',
  },
  async plan(inp, ctx): Promise<PlannedCommand[]> {
    const found = await scanFamily(ctx, inp, (ttl) => !inp.onlyWithoutTtl || ttl === -1);
    if (found.keys.length === 0) return [];
    const node = nodeKey(ctx.node);
    const names = found.keys.map((k) => k.key);
    const bytes = await bytesOf(ctx, names);
    const plan: PlannedCommand[] = [];
    for (let i = 0; i < names.length; i += inp.perCommand) {
      const part = names.slice(i, i + inp.perCommand);
      const head = i === 0 ? `batch of ${names.length} keys of ${inp.pattern} (${fmtBytes(bytes)})${found.exhausted ? ', last batch' : ''}; this command: ` : '';
      plan.push({ node, argv: ['UNLINK', ...part], note: `${head}${part.length} keys: ${sampleText(part, 3)}` });
    }
    return plan;
  },
  async run(inp, ctx, given) {
    const plan = given ?? (await familyDelete.plan?.(inp, ctx)) ?? [];
    if (ctx.dryRun) return { outcomes: [], deleted: 0, failed: 0, dryRun: true };
    const outcomes = await runPaced(ctx, plan, inp.perSecond, (c) => Math.max(1, c.argv.length - 1));
    return {
      outcomes,
      deleted: outcomes.reduce((s, o) => s + (o.ok ? Number(o.reply) || 0 : 0), 0),
      failed: outcomes.filter((o) => !o.ok).length,
    };
  },
  async applied(cmd, _inp, ctx) {
    if (cmd.argv[0] !== 'UNLINK' || cmd.argv.length < 2) return undefined;
    const left = Number(await sendCommand(ctx, ctx.node, ['EXISTS', ...cmd.argv.slice(1)]));
    return Number.isFinite(left) ? left === 0 : undefined;
  },
};
