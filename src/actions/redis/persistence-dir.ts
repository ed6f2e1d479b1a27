/**
 * `redis.persistence-dir`: points `dir` (where snapshots are written) at a directory the operator
 * configured for the target, then persists it with CONFIG REWRITE. Only this: it never touches
 * `stop-writes-on-bgsave-error` or `save` (turning those off restores writes by hiding data loss).
 *
 * Refused at plan time when the engine may not set `dir` (a protected config in Redis 7), when AOF
 * is on (its files would be split across two directories), or when the path is not absolute. The
 * directory must exist on the target's host: CONFIG SET dir fails otherwise, and nothing else runs.
 */
import { z } from 'zod';
import type { ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { nodeKey } from '../types.js';
import { TargetError } from '../../errors.js';
import { executePlan, parseNodeKey, replyText, sendCommand } from './connection.js';
import { rewriteStatus } from './config-set.js';
import { commonApplied } from './applied.js';
import { clientAddr, configPairs, isLocalAddr } from './persistence-parse.js';
import { OUTCOME_FIELDS } from './outcome-fields.js';

const input = z
  .object({
    /** The fallback directory, absolute (e.g. a runbook param or an alert label naming it). */
    dir: z
      .string()
      .min(2)
      .max(400)
      .regex(/^\/[A-Za-z0-9._/@+-]*$/, 'expected an absolute path of letters, digits and . _ / @ + -')
      .refine((d) => !d.split('/').includes('..'), 'no .. in the path'),
  })
  .strict();

/** Validated input of `redis.persistence-dir`. */
export type PersistenceDirInput = z.infer<typeof input>;

/** Findings of `redis.persistence-dir`. */
export interface PersistenceDirResult {
  outcomes: CommandOutcome[];
  persisted: boolean;
  note?: string;
  dryRun?: true;
}

const strip = (d: string): string => (d.length > 1 ? d.replace(/\/+$/, '') : d);

/** CONFIG SET dir <fallback> + CONFIG REWRITE on `ctx.node`. */
export const persistenceDir: ActionDefinition<PersistenceDirInput, PersistenceDirResult> = {
  name: 'redis.persistence-dir',
  description: 'Moves dir (where snapshots go) to the configured fallback directory with CONFIG SET dir, then CONFIG REWRITE. Never touches stop-writes-on-bgsave-error or save.',
  risk: 'write',
  input,
  timeoutMs: 15_000,
  output: {
    ...OUTCOME_FIELDS,
    persisted: 'CONFIG REWRITE succeeded: the new dir survives a restart',
    note: 'why it is not persisted (e.g. no config file); absent when persisted',
    dryRun: 'true when nothing was sent',
  },
  async plan(inp, ctx): Promise<PlannedCommand[]> {
    const node = nodeKey(ctx.node);
    const want = strip(inp.dir);
    const cfg = configPairs(await sendCommand(ctx, ctx.node, ['CONFIG', 'GET', 'dir', 'appendonly', 'enable-protected-configs', 'dbfilename']));
    const prot = cfg['enable-protected-configs'] ?? 'no';
    if (prot !== 'yes') {
      const addr = prot === 'local' ? clientAddr(replyText(await sendCommand(ctx, ctx.node, ['CLIENT', 'INFO']))) : '';
      if (prot !== 'local' || !isLocalAddr(addr)) {
        throw new TargetError('refused_protected_config', `dir is a protected config on ${node} (enable-protected-configs ${prot}${prot === 'local' ? `, this engine connects from ${addr}` : ''}): change it in the config file and restart`, false);
      }
    }
    if (cfg['appendonly'] === 'yes') {
      throw new TargetError('refused_aof_on', `AOF is on at ${node}: moving dir would split its files between two directories; needs a human`, false);
    }
    const current = cfg['dir'] ?? '';
    if (strip(current) === want) return [];
    const from = current === '' ? 'a removed directory (CONFIG GET dir is empty)' : current;
    return [
      { node, argv: ['CONFIG', 'SET', 'dir', want], note: `snapshots go to ${want}/${cfg['dbfilename'] ?? 'dump.rdb'} instead of ${from}` },
      { node, argv: ['CONFIG', 'REWRITE'], note: 'persist the new dir to the config file' },
    ];
  },
  async run(inp, ctx, given) {
    const plan = given ?? (await persistenceDir.plan?.(inp, ctx)) ?? [];
    if (ctx.dryRun) return { outcomes: [], persisted: false, dryRun: true };
    const exec = await executePlan(ctx, plan, (cmd) => cmd.argv[1]?.toUpperCase() !== 'REWRITE');
    if (exec.error) throw exec.error;
    if (!plan.some((c) => c.argv[1] === 'REWRITE')) return { outcomes: exec.outcomes, persisted: true };
    return { outcomes: exec.outcomes, ...rewriteStatus(exec.outcomes.find((o) => o.argv[1]?.toUpperCase() === 'REWRITE')) };
  },
  async applied(cmd, _inp, ctx) {
    if (cmd.argv[1]?.toUpperCase() !== 'SET') return commonApplied(cmd, ctx);
    // paths are case-sensitive: compare exactly (commonApplied lower-cases values)
    const now = configPairs(await sendCommand(ctx, parseNodeKey(cmd.node), ['CONFIG', 'GET', 'dir']))['dir'];
    return now === undefined ? undefined : strip(now) === strip(cmd.argv[3] ?? '');
  },
};
