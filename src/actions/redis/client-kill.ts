/**
 * `redis.client-kill`: disconnects named clients (`CLIENT KILL ID <id>`, only normal and pub/sub
 * clients that are still connected at plan time) and, optionally, bounds their output-buffer class
 * (`CONFIG SET client-output-buffer-limit "<class> <hard> <soft> <seconds>"` + `CONFIG REWRITE`) so
 * the next slow consumer is cut off by Redis instead of filling memory. The clients reconnect.
 */
import { z } from 'zod';
import type { ActionContext, ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { nodeKey } from '../types.js';
import { executePlan, replyText, sendCommand } from './connection.js';
import { rewriteStatus } from './config-set.js';
import { fmtBytes } from './census-aggregate.js';
import { parseBufferLimits, parseClientList, type ClientInfo } from './client-list.js';

const input = z
  .object({
    /** CLIENT ids to disconnect (e.g. `client-buffers.offenderIds`). */
    ids: z.array(z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()])).max(100).default([]),
    /** Optional limit for one class, e.g. `pubsub 33554432 8388608 60` (null: none). */
    limit: z
      .string()
      .regex(/^(normal|pubsub) \d+ \d+ \d+$/, 'expected "<normal|pubsub> <hard bytes> <soft bytes> <soft seconds>"')
      .nullable()
      .default(null),
  })
  .strict();

/** Validated input of `redis.client-kill`. */
export type ClientKillInput = z.infer<typeof input>;

/** Findings of `redis.client-kill`. */
export interface ClientKillResult {
  outcomes: CommandOutcome[];
  /** Ids whose CLIENT KILL succeeded. */
  killed: string[];
  /** Ids that were already gone when the kill was sent. */
  gone: string[];
  /** CONFIG REWRITE succeeded (absent when no limit was planned). */
  persisted?: boolean;
  note?: string;
  dryRun?: true;
}

async function clientsById(ctx: ActionContext, ids: string[]): Promise<Map<string, ClientInfo>> {
  if (ids.length === 0) return new Map();
  const reply = await sendCommand(ctx, ctx.node, ['CLIENT', 'LIST', 'ID', ...ids]);
  return new Map(parseClientList(replyText(reply)).map((c) => [c.id, c]));
}

/** Disconnects clients by id; optionally sets an output-buffer limit for their class. */
export const clientKill: ActionDefinition<ClientKillInput, ClientKillResult> = {
  name: 'redis.client-kill',
  description: 'Disconnects named clients (CLIENT KILL ID) and optionally bounds their output-buffer class (CONFIG SET client-output-buffer-limit + REWRITE).',
  risk: 'disruptive',
  input,
  timeoutMs: 15_000,
  output: {
    outcomes: 'each command sent: node, argv, ok, reply or error',
    killed: 'ids disconnected',
    gone: 'ids already disconnected when the kill was sent (No such client)',
    persisted: 'CONFIG REWRITE of the limit succeeded (absent without a limit)',
    note: 'why the limit is not persisted, when it is not',
    dryRun: 'true when nothing was sent',
  },
  async plan(inp, ctx): Promise<PlannedCommand[]> {
    const node = nodeKey(ctx.node);
    const own = replyText(await sendCommand(ctx, ctx.node, ['CLIENT', 'ID']));
    const ids = [...new Set(inp.ids.map(String))].filter((id) => id !== own);
    const live = await clientsById(ctx, ids);
    const plan: PlannedCommand[] = [];
    for (const id of ids) {
      const c = live.get(id);
      if (!c || c.kind === 'replica' || c.kind === 'master') continue; // gone, or a replication link (not ours to cut)
      plan.push({ node, argv: ['CLIENT', 'KILL', 'ID', id], note: `disconnect id=${id} ${c.addr}${c.name ? ` name=${c.name}` : ''} cmd=${c.cmd} omem=${fmtBytes(c.omem)} age=${c.age}s (${c.kind})` });
    }
    if (inp.limit) {
      const [cls, hard, soft, secs] = inp.limit.split(' ');
      plan.push({ node, argv: ['CONFIG', 'SET', 'client-output-buffer-limit', inp.limit], note: `${cls} clients: disconnect at ${fmtBytes(Number(hard))}, or above ${fmtBytes(Number(soft))} for ${secs}s` });
      plan.push({ node, argv: ['CONFIG', 'REWRITE'], note: 'persist the limit to the config file' });
    }
    return plan;
  },
  async run(inp, ctx, given) {
    const plan = given ?? (await clientKill.plan?.(inp, ctx)) ?? [];
    if (ctx.dryRun) return { outcomes: [], killed: [], gone: [], dryRun: true };
    // a kill of a client that left meanwhile is not an error; a failed CONFIG SET stops the run
    const exec = await executePlan(ctx, plan, (cmd) => cmd.argv[0] === 'CONFIG' && cmd.argv[1] === 'SET');
    if (exec.error) throw exec.error;
    const killed: string[] = [];
    const gone: string[] = [];
    for (const o of exec.outcomes) {
      if (o.argv[1] !== 'KILL') continue;
      const id = o.argv[3] ?? '';
      if (o.ok) killed.push(id);
      else if (/no such client/i.test(o.error ?? '')) gone.push(id);
    }
    const hardFail = exec.outcomes.find((o) => o.argv[1] === 'KILL' && !o.ok && !/no such client/i.test(o.error ?? ''));
    if (hardFail) throw new Error(`CLIENT KILL ID ${hardFail.argv[3]} failed: ${hardFail.error ?? ''}`);
    const rewrite = exec.outcomes.find((o) => o.argv[1] === 'REWRITE');
    return { outcomes: exec.outcomes, killed, gone, ...(plan.some((p) => p.argv[1] === 'REWRITE') ? rewriteStatus(rewrite) : {}) };
  },
  async applied(cmd, _inp, ctx) {
    if (cmd.argv[1] === 'KILL') {
      const id = cmd.argv[3] ?? '';
      return !(await clientsById(ctx, [id])).has(id);
    }
    if (cmd.argv[1] === 'SET') {
      const want = parseBufferLimits(cmd.argv[3] ?? '');
      const reply = await sendCommand(ctx, ctx.node, ['CONFIG', 'GET', 'client-output-buffer-limit']);
      const now = parseBufferLimits(Array.isArray(reply) ? replyText(reply[1]) : '');
      return Object.entries(want).every(([k, v]) => {
        const cur = now[k as keyof typeof now];
        return cur !== undefined && cur.hard === v.hard && cur.soft === v.soft && cur.softSeconds === v.softSeconds;
      });
    }
    return undefined; // CONFIG REWRITE: the file cannot be compared from here
  },
};
