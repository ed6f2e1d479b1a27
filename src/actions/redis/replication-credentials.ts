/**
 * `redis.replication-credentials`: gives replicas that cannot authenticate to their primary the
 * replication credentials from the target's configured secret (never from chat, never in a plan):
 * `CONFIG SET masterauth ${secret:<name>}` (and `masteruser <user>` when given), then CONFIG
 * REWRITE. The placeholder is resolved only when the command is sent; people see the placeholder.
 * A replica retries its link every second, so the link comes up by itself once the secret is right.
 */
import { z } from 'zod';
import type { ActionContext, ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { TargetError } from '../../errors.js';
import { secretRef } from '../command-format.js';
import { executePlan, sendCommand } from './connection.js';
import { configReplyToRecord } from './config-get.js';
import { otherNodeStates, ref, replicationApplied, replicationNodes } from './replication-nodes.js';

const input = z
  .object({
    /** Name of the target secret holding the replication password (`targets.<t>.secrets.<name>`). */
    secret: z.string().regex(/^[A-Za-z0-9_.-]+$/).default('masterauth'),
    /** ACL user the replicas authenticate as (`masteruser`); default: leave it as is. */
    user: z.string().regex(/^[A-Za-z0-9_.-]+$/).optional(),
    /** Only this replica (`host:port`); default every replica whose link to the primary is down. */
    node: z.string().regex(/^.+:\d+$/).optional(),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.replication-credentials`. */
export type CredentialsInput = z.infer<typeof input>;

/** Findings of `redis.replication-credentials`. */
export interface CredentialsResult {
  outcomes: CommandOutcome[];
  complete: boolean;
  /** Replicas given the credentials. */
  fixed: string[];
  dryRun?: true;
}

/** Plans the credential fix on every replica of the primary whose link is down. */
export async function planCredentials(inp: CredentialsInput, ctx: Pick<ActionContext, 'target'>): Promise<PlannedCommand[]> {
  if (!ctx.target.secret?.(inp.secret)) throw new TargetError('secret_missing', `secret ${JSON.stringify(inp.secret)} is not configured for target ${ctx.target.name} (targets.${ctx.target.name}.secrets)`, false);
  const { primary, nodes } = await replicationNodes(ctx);
  if (!primary) throw new TargetError('precondition_failed', 'no primary is named', false);
  const plan: PlannedCommand[] = [];
  for (const { key: k, state: s } of await otherNodeStates(ctx, nodes, primary, inp.node)) {
    if (s.role !== 'replica' || s.master !== primary || (inp.node === undefined && s.linkStatus === 'up')) continue;
    const why = `${k}: link to ${primary} ${s.linkStatus ?? '?'}${s.linkDownSinceSeconds !== null ? ` for ${s.linkDownSinceSeconds} s` : ''}`;
    plan.push({ node: k, argv: ['CONFIG', 'SET', 'masterauth', secretRef(inp.secret)], note: `${why}; masterauth from the target secret "${inp.secret}"` });
    if (inp.user !== undefined) plan.push({ node: k, argv: ['CONFIG', 'SET', 'masteruser', inp.user], note: `${k}: authenticate as ACL user ${inp.user}` });
    plan.push({ node: k, argv: ['CONFIG', 'REWRITE'], note: `persist on ${k}` });
  }
  return plan;
}

export const replicationCredentials: ActionDefinition<CredentialsInput, CredentialsResult> = {
  name: 'redis.replication-credentials',
  description: "Sets the replicas' masterauth (and masteruser) from the target's configured secret, so they can authenticate to the primary; persisted with CONFIG REWRITE.",
  risk: 'write',
  input,
  timeoutMs: 15_000,
  output: {
    outcomes: 'each command sent: node, argv (with the ${secret:…} placeholder, never the value), ok, reply or error',
    complete: 'every CONFIG SET succeeded',
    fixed: 'replicas (host:port) given the credentials',
    dryRun: 'true when nothing was sent (dry run)',
  },
  plan: planCredentials,
  async run(inp, ctx, given) {
    const plan = given ?? (await planCredentials(inp, ctx));
    if (ctx.dryRun) return { outcomes: [], complete: false, fixed: [], dryRun: true };
    const exec = await executePlan(ctx, plan, (cmd) => cmd.argv[1]?.toUpperCase() === 'SET');
    if (exec.error) throw exec.error;
    return { outcomes: exec.outcomes, complete: true, fixed: [...new Set(exec.outcomes.filter((o) => o.ok && o.argv[2] === 'masterauth').map((o) => o.node))] };
  },
  async applied(cmd, inp, ctx) {
    if (cmd.argv[2]?.toLowerCase() !== 'masterauth') return replicationApplied(cmd, ctx);
    const want = ctx.target.secret?.(inp.secret);
    if (!want) return undefined;
    const cur = configReplyToRecord(await sendCommand(ctx, ref(cmd.node), ['CONFIG', 'GET', 'masterauth']))['masterauth'];
    return cur === undefined ? undefined : cur === want;
  },
};
