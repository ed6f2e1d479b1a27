/**
 * `redis.bgsave`: retries the snapshot once its cause is gone: `BGSAVE` (`BGSAVE SCHEDULE` while an
 * AOF rewrite runs), or `BGREWRITEAOF` for a failed AOF rewrite. Plans nothing while one is already
 * running. `applied`: a save is running, or `rdb_last_save_time` moved past `since` (the last good
 * save seen by the diagnosis): a failed save never moves it, so a failed retry is sent again.
 */
import { z } from 'zod';
import type { ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { nodeKey } from '../types.js';
import { executePlan, parseNodeKey, readInfo } from './connection.js';
import { num } from './info.js';
import { OUTCOME_FIELDS } from './outcome-fields.js';

const input = z
  .object({
    /** `rdb`: BGSAVE; `aof`: BGREWRITEAOF. */
    kind: z.enum(['rdb', 'aof']).default('rdb'),
    /** rdb_last_save_time seen before the retry (unix seconds): a later one means the save happened. */
    since: z.number().int().nonnegative().optional(),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.bgsave`. */
export type BgsaveInput = z.infer<typeof input>;

/** Findings of `redis.bgsave`. */
export interface BgsaveResult {
  outcomes: CommandOutcome[];
  /** The server said one was already running (not an error: the save happens). */
  alreadyRunning: boolean;
  dryRun?: true;
}

const RUNNING = /already in progress/i;

/** BGSAVE / BGREWRITEAOF on `ctx.node`. */
export const bgsave: ActionDefinition<BgsaveInput, BgsaveResult> = {
  name: 'redis.bgsave',
  description: 'Retries the snapshot once its cause is fixed: BGSAVE (SCHEDULE while an AOF rewrite runs) or BGREWRITEAOF; nothing when one is already running.',
  risk: 'write',
  input,
  timeoutMs: 15_000,
  output: {
    ...OUTCOME_FIELDS,
    alreadyRunning: 'the server answered that a save/rewrite was already in progress',
    dryRun: 'true when nothing was sent',
  },
  async plan(inp, ctx): Promise<PlannedCommand[]> {
    const node = nodeKey(ctx.node);
    const p = (await readInfo(ctx, ctx.node, 'persistence'))['persistence'];
    const rdbRunning = num(p, 'rdb_bgsave_in_progress') === 1;
    const aofRunning = num(p, 'aof_rewrite_in_progress') === 1;
    if (inp.kind === 'aof') {
      if (aofRunning) return [];
      return [{ node, argv: ['BGREWRITEAOF'], note: `rewrite the AOF (last rewrite ${p?.['aof_last_bgrewrite_status'] ?? '?'})${rdbRunning ? '; starts after the running BGSAVE' : ''}` }];
    }
    if (rdbRunning) return [];
    const changes = num(p, 'rdb_changes_since_last_save');
    const note = `snapshot now: ${changes} changes since the last good save (last bgsave ${p?.['rdb_last_bgsave_status'] ?? '?'})`;
    return [{ node, argv: aofRunning ? ['BGSAVE', 'SCHEDULE'] : ['BGSAVE'], note: aofRunning ? `${note}; scheduled after the running AOF rewrite` : note }];
  },
  async run(inp, ctx, given) {
    const plan = given ?? (await bgsave.plan?.(inp, ctx)) ?? [];
    if (ctx.dryRun) return { outcomes: [], alreadyRunning: false, dryRun: true };
    const exec = await executePlan(ctx, plan, (cmd) => cmd.argv[0] !== 'BGSAVE' && cmd.argv[0] !== 'BGREWRITEAOF');
    const failed = exec.outcomes.find((o) => !o.ok);
    const alreadyRunning = failed !== undefined && RUNNING.test(failed.error ?? '');
    if (exec.error) throw exec.error;
    if (failed && !alreadyRunning) throw new Error(`${failed.argv.join(' ')} on ${failed.node} failed: ${failed.error ?? ''}`);
    return { outcomes: exec.outcomes, alreadyRunning };
  },
  async applied(cmd, inp, ctx) {
    const p = (await readInfo(ctx, parseNodeKey(cmd.node), 'persistence'))['persistence'];
    if (cmd.argv[0] === 'BGREWRITEAOF') return num(p, 'aof_rewrite_in_progress') === 1 ? true : undefined;
    if (num(p, 'rdb_bgsave_in_progress') === 1) return true;
    if (inp.since === undefined) return undefined;
    return num(p, 'rdb_last_save_time') > inp.since;
  },
};
