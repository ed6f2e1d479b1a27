/**
 * `redis.acl-remove-password`: closes a two-password window — removes the old password (a
 * configured secret, by name) from an ACL user (`ACL SETUSER <user> <${secret:<name>}`), then
 * persists. It never locks a user out: right before sending, it checks on each node that the
 * password it keeps (`keep`) authenticates the user, and sends nothing if not (the plan may have been
 * made a phase earlier, before the new password existed). Existing connections stay authenticated.
 * Applied = the removed secret is refused (WRONGPASS) on a fresh connection.
 */
import { z } from 'zod';
import { secretRef } from '../command-format.js';
import { TargetError } from '../../errors.js';
import type { ActionDefinition, PlannedCommand } from '../types.js';
import { nodeKey } from '../types.js';
import { parseNodeKey } from './connection.js';
import { tryAuth } from './auth-check.js';
import { isPersist, persistCommand, runPasswordPlan } from './acl-password.js';
import type { PasswordChangeResult } from './acl-password.js';

const input = z
  .object({
    user: z.string().regex(/^[^\s<>#!~%&@+-][^\s]*$/, 'an ACL user name'),
    /** Name of the configured secret holding the password to remove. */
    secret: z.string().regex(/^[A-Za-z0-9_.-]+$/),
    /** Name of the configured secret that must keep working (checked before planning). */
    keep: z.string().regex(/^[A-Za-z0-9_.-]+$/),
  })
  .strict()
  .refine((v) => v.secret !== v.keep, { message: 'secret and keep must differ', path: ['keep'] });

export type AclRemovePasswordInput = z.infer<typeof input>;

export const aclRemovePassword: ActionDefinition<AclRemovePasswordInput, PasswordChangeResult> = {
  name: 'redis.acl-remove-password',
  description: 'Removes the old password (a configured secret) from an ACL user once the new one works, then persists: ends a two-password rotation.',
  risk: 'write',
  input,
  timeoutMs: 20_000,
  output: {
    'outcomes[]': 'each command sent: { node, argv (placeholders only), ok, reply, error }',
    persisted: 'ACL SAVE / CONFIG REWRITE succeeded',
    note: 'why it is not persisted, when it is not',
  },
  async plan(inp, ctx): Promise<PlannedCommand[]> {
    for (const name of [inp.secret, inp.keep]) {
      if (ctx.target.secret?.(name) === undefined) throw new TargetError('secret_missing', `secret ${JSON.stringify(name)} is not configured for target ${ctx.target.name}`, false);
    }
    const node = nodeKey(ctx.node);
    const old = await tryAuth(ctx, ctx.node, inp.user, inp.secret);
    if (old === 'wrongpass') return []; // already gone on this node
    return [
      { node, argv: ['ACL', 'SETUSER', inp.user, `<${secretRef(inp.secret)}`], note: `remove the old password ${inp.secret} of user ${inp.user} (${inp.keep} keeps working)` },
      { node, argv: await persistCommand(ctx, ctx.node), note: `persist user ${inp.user} on ${node}` },
    ];
  },
  async run(inp, ctx, given) {
    const plan = given ?? (await aclRemovePassword.plan?.(inp, ctx)) ?? [];
    if (!ctx.dryRun) {
      for (const node of new Set(plan.filter((c) => !isPersist(c)).map((c) => c.node))) {
        const kept = await tryAuth(ctx, parseNodeKey(node), inp.user, inp.keep);
        if (kept !== 'ok') {
          throw new TargetError('precondition_failed', `not removing a password of ${inp.user} on ${node}: the password it keeps (${inp.keep}) does not authenticate (${kept}); nothing was sent`, false);
        }
      }
    }
    return runPasswordPlan(ctx, plan);
  },
  async applied(cmd, inp, ctx) {
    if (isPersist(cmd)) return false;
    const outcome = await tryAuth(ctx, parseNodeKey(cmd.node), inp.user, inp.secret);
    if (outcome === 'wrongpass') return true;
    if (outcome === 'ok') return false;
    return undefined;
  },
};
