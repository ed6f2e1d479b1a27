/**
 * `redis.acl-add-password`: opens a two-password window — adds a new password (a configured secret,
 * by name) to an ACL user beside the old one (`ACL SETUSER <user> >${secret:<name>}`), then persists
 * (ACL SAVE or CONFIG REWRITE). Clients with the old password keep working; the old one is removed
 * later by `redis.acl-remove-password`. The plan holds only the placeholder; the value is put in
 * at send time. Applied = the new secret authenticates the user on a fresh connection.
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
    /** The ACL user (not `default` with requirepass semantics: any ACL user works). */
    user: z.string().regex(/^[^\s<>#!~%&@+-][^\s]*$/, 'an ACL user name'),
    /** Name of the configured secret holding the new password (`targets.<t>.secrets.<name>`). */
    secret: z.string().regex(/^[A-Za-z0-9_.-]+$/),
  })
  .strict();

export type AclAddPasswordInput = z.infer<typeof input>;

export const aclAddPassword: ActionDefinition<AclAddPasswordInput, PasswordChangeResult> = {
  name: 'redis.acl-add-password',
  description: 'Adds a new password (a configured secret) to an ACL user beside the old one, then persists: a two-password rotation window.',
  risk: 'write',
  input,
  timeoutMs: 15_000,
  output: {
    'outcomes[]': 'each command sent: { node, argv (placeholders only), ok, reply, error }',
    persisted: 'ACL SAVE / CONFIG REWRITE succeeded',
    note: 'why it is not persisted, when it is not',
  },
  async plan(inp, ctx): Promise<PlannedCommand[]> {
    if (ctx.target.secret?.(inp.secret) === undefined) {
      throw new TargetError('secret_missing', `secret ${JSON.stringify(inp.secret)} is not configured for target ${ctx.target.name}`, false);
    }
    const node = nodeKey(ctx.node);
    return [
      { node, argv: ['ACL', 'SETUSER', inp.user, `>${secretRef(inp.secret)}`], note: `add the password ${inp.secret} to user ${inp.user} (the old one keeps working)` },
      { node, argv: await persistCommand(ctx, ctx.node), note: `persist user ${inp.user} on ${node}` },
    ];
  },
  async run(inp, ctx, given) {
    const plan = given ?? (await aclAddPassword.plan?.(inp, ctx)) ?? [];
    return runPasswordPlan(ctx, plan);
  },
  async applied(cmd, inp, ctx) {
    if (isPersist(cmd)) return false;
    const outcome = await tryAuth(ctx, parseNodeKey(cmd.node), inp.user, inp.secret);
    if (outcome === 'ok') return true;
    if (outcome === 'wrongpass') return false;
    return undefined;
  },
};
