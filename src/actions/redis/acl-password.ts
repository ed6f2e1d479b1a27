/**
 * Shared by `redis.acl-add-password` and `redis.acl-remove-password`: how a changed ACL user is
 * persisted on a node (ACL SAVE with an aclfile, else CONFIG REWRITE for users in redis.conf), and
 * running a plan where only the ACL SETUSER must succeed (a failed persist is reported, not fatal).
 */
import type { ActionContext, CommandOutcome, PlannedCommand } from '../types.js';
import { executePlan, isNoConfigFile, replyText, sendCommand } from './connection.js';
import type { NodeRef } from '../types.js';

/** The command that persists ACL users on `node`: `ACL SAVE` when an aclfile is configured, else `CONFIG REWRITE`. */
export async function persistCommand(ctx: Pick<ActionContext, 'target'>, node: NodeRef): Promise<string[]> {
  const reply = await sendCommand(ctx, node, ['CONFIG', 'GET', 'aclfile']);
  const arr = Array.isArray(reply) ? reply.map(replyText) : [];
  const file = arr[1] ?? (reply && typeof reply === 'object' && !Array.isArray(reply) ? replyText((reply as Record<string, unknown>)['aclfile']) : '');
  return file ? ['ACL', 'SAVE'] : ['CONFIG', 'REWRITE'];
}

/** Outcome of a password change on one node. */
export interface PasswordChangeResult {
  outcomes: CommandOutcome[];
  /** The change survives a restart (ACL SAVE / CONFIG REWRITE succeeded). */
  persisted: boolean;
  note?: string;
  dryRun?: true;
}

function isPersist(cmd: PlannedCommand): boolean {
  const v = `${cmd.argv[0] ?? ''} ${cmd.argv[1] ?? ''}`.toUpperCase();
  return v === 'ACL SAVE' || v === 'CONFIG REWRITE';
}

/** Runs a password plan: stops on a failed ACL SETUSER; a failed persist is reported. */
export async function runPasswordPlan(ctx: ActionContext, plan: readonly PlannedCommand[]): Promise<PasswordChangeResult> {
  if (ctx.dryRun) return { outcomes: [], persisted: false, dryRun: true };
  const exec = await executePlan(ctx, plan, (cmd) => !isPersist(cmd));
  if (exec.error) throw exec.error;
  const persist = exec.outcomes.find(isPersist);
  if (!persist) return { outcomes: exec.outcomes, persisted: false, note: 'not persisted: no ACL SAVE / CONFIG REWRITE in the plan' };
  if (persist.ok) return { outcomes: exec.outcomes, persisted: true };
  return { outcomes: exec.outcomes, persisted: false, note: isNoConfigFile(persist.error ?? '') ? 'not persisted: no config file' : `not persisted: ${persist.error ?? 'failed'}` };
}

/** True for the persist command of a password plan (repeating it is harmless). */
export { isPersist };
