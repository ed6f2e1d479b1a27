/**
 * `redis.memory-purge`: asks jemalloc to return dirty pages (MEMORY PURGE). Safe, but it does not
 * help when fragmentation is internal: verify the effect and do not repeat it.
 */
import { z } from 'zod';
import type { ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { nodeKey } from '../types.js';
import { executePlan } from './connection.js';
import { commonApplied } from './applied.js';

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
    'outcomes[]': 'each command sent, in plan order (empty in a dry run)',
    'outcomes[].node': 'host:port it was sent to',
    'outcomes[].argv': 'the command as sent (secrets as `${secret:<name>}` placeholders)',
    'outcomes[].note': 'why this command, one line',
    'outcomes[].ok': 'true when Redis answered without an error',
    'outcomes[].reply': 'the reply as text (when ok)',
    'outcomes[].error': 'the error reply or connection error (when not ok)',
    'outcomes[].step': 'index of the remediation step that planned it (set by the engine)',
    'outcomes[].origin': 'host:port the step was planned from (set by the engine)',
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
