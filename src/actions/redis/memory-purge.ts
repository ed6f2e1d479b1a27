/**
 * `redis.memory-purge`: asks jemalloc to return dirty pages (MEMORY PURGE). Safe, but it does not
 * help when fragmentation is internal: verify the effect and do not repeat it.
 */
import { z } from 'zod';
import type { ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { nodeKey } from '../types.js';
import { executePlan } from './connection.js';
import { commonApplied } from './applied.js';
import { OUTCOME_FIELDS } from './outcome-fields.js';

const input = z.object({}).strict().prefault({});

/** Findings of `redis.memory-purge`. */
export interface MemoryPurgeResult {
  outcomes: CommandOutcome[];
  /** Set in dry runs: nothing was sent. */
  dryRun?: true;
}

/** MEMORY PURGE on `ctx.node`. */
export const memoryPurge: ActionDefinition<z.infer<typeof input>, MemoryPurgeResult> = {
  name: 'redis.memory-purge',
  description: 'Returns freed allocator pages to the OS (MEMORY PURGE). Verify RSS afterwards; do not repeat.',
  risk: 'write',
  input,
  timeoutMs: 15_000,
  output: {
    ...OUTCOME_FIELDS,
    dryRun: 'true when nothing was sent (dry run); absent otherwise',
  },
  async plan(_input, ctx): Promise<PlannedCommand[]> {
    return [{ node: nodeKey(ctx.node), argv: ['MEMORY', 'PURGE'], note: 'release allocator dirty pages (jemalloc)' }];
  },
  async run(inp, ctx, given) {
    const plan = given ?? (await memoryPurge.plan?.(inp, ctx)) ?? [];
    if (ctx.dryRun) return { outcomes: [], dryRun: true };
    const exec = await executePlan(ctx, plan);
    if (exec.error) throw exec.error;
    return { outcomes: exec.outcomes };
  },
  applied(cmd, _inp, ctx) {
    return commonApplied(cmd, ctx);
  },
};
