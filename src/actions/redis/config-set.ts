/**
 * `redis.config-set`: one allow-listed runtime CONFIG SET on `ctx.node`, persisted with CONFIG
 * REWRITE. A failed rewrite (e.g. no config file) leaves the change live and reports `persisted: false`.
 */
import { z } from 'zod';
import type { ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { nodeKey } from '../types.js';
import { executePlan, isNoConfigFile } from './connection.js';
import { commonApplied } from './applied.js';
import { OUTCOME_FIELDS } from './outcome-fields.js';

/** Parameters this action may set. Secrets (masterauth, requirepass) are never put in argv. */
export const SETTABLE_PARAMETERS = [
  'maxmemory',
  'maxmemory-policy',
  'client-output-buffer-limit',
  'repl-backlog-size',
  'repl-timeout',
  'activedefrag',
  'maxclients',
  'slowlog-log-slower-than',
] as const;

/** Values accepted by `maxmemory-policy`. */
export const MAXMEMORY_POLICIES = [
  'noeviction',
  'allkeys-lru',
  'allkeys-lfu',
  'allkeys-random',
  'volatile-lru',
  'volatile-lfu',
  'volatile-random',
  'volatile-ttl',
] as const;

const MEMORY = /^\d+(b|k|kb|m|mb|g|gb)?$/i;
const VALUE_RULES: Record<(typeof SETTABLE_PARAMETERS)[number], RegExp> = {
  maxmemory: MEMORY,
  'maxmemory-policy': new RegExp(`^(${MAXMEMORY_POLICIES.join('|')})$`),
  'client-output-buffer-limit': /^((normal|replica|slave|pubsub) \d+[kmg]?b? \d+[kmg]?b? \d+ ?)+$/i,
  'repl-backlog-size': MEMORY,
  'repl-timeout': /^\d+$/,
  activedefrag: /^(yes|no)$/,
  maxclients: /^\d+$/,
  'slowlog-log-slower-than': /^-?\d+$/,
};

const input = z
  .object({ parameter: z.enum(SETTABLE_PARAMETERS), value: z.string().min(1).max(200) })
  .strict()
  .superRefine((v, c) => {
    if (!VALUE_RULES[v.parameter].test(v.value.trim())) {
      c.addIssue({ code: 'custom', path: ['value'], message: `not a valid value for ${v.parameter}` });
    }
  });

/** Validated input of `redis.config-set`. */
export type ConfigSetInput = z.infer<typeof input>;

/** Findings of `redis.config-set`. */
export interface ConfigSetResult {
  outcomes: CommandOutcome[];
  /** CONFIG REWRITE succeeded: the change survives a restart. */
  persisted: boolean;
  note?: string;
  dryRun?: true;
}

/** Reads the outcome of a CONFIG REWRITE: persisted, or why not. */
export function rewriteStatus(o: CommandOutcome | undefined): { persisted: boolean; note?: string } {
  if (!o) return { persisted: false, note: 'not persisted: CONFIG REWRITE not sent' };
  if (o.ok) return { persisted: true };
  if (isNoConfigFile(o.error ?? '')) return { persisted: false, note: 'not persisted: no config file' };
  return { persisted: false, note: `not persisted: ${o.error ?? 'CONFIG REWRITE failed'}` };
}

/** CONFIG SET + CONFIG REWRITE on `ctx.node`. */
export const configSet: ActionDefinition<ConfigSetInput, ConfigSetResult> = {
  name: 'redis.config-set',
  description: 'Sets one allow-listed config parameter at runtime and persists it with CONFIG REWRITE.',
  risk: 'write',
  input,
  timeoutMs: 15_000,
  output: {
    ...OUTCOME_FIELDS,
    persisted: 'true when CONFIG REWRITE succeeded: the change survives a restart',
    note: 'why it is not persisted (e.g. "not persisted: no config file"); absent when persisted',
    dryRun: 'true when nothing was sent (dry run); absent otherwise',
  },
  async plan(inp, ctx): Promise<PlannedCommand[]> {
    const node = nodeKey(ctx.node);
    return [
      { node, argv: ['CONFIG', 'SET', inp.parameter, inp.value.trim()], note: `set ${inp.parameter} to ${inp.value.trim()}` },
      { node, argv: ['CONFIG', 'REWRITE'], note: 'persist to the config file' },
    ];
  },
  async run(inp, ctx, given) {
    const plan = given ?? (await configSet.plan?.(inp, ctx)) ?? [];
    if (ctx.dryRun) return { outcomes: [], persisted: false, dryRun: true };
    // Stop on a failed SET; a failed REWRITE is reported, not thrown (the change is already live).
    const exec = await executePlan(ctx, plan, (cmd) => cmd.argv[1]?.toUpperCase() !== 'REWRITE');
    if (exec.error) throw exec.error;
    const rewrite = exec.outcomes.find((o) => o.argv[1]?.toUpperCase() === 'REWRITE');
    return { outcomes: exec.outcomes, ...rewriteStatus(rewrite) };
  },
  applied(cmd, _inp, ctx) {
    return commonApplied(cmd, ctx);
  },
};
