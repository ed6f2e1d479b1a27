/**
 * Diagnostics that go on without a command the engine may not run: production nodes often rename
 * or deny admin commands (`rename-command CONFIG ""`, ACL `-@admin`). A read action asks for such a
 * command through {@link optionalCommand}: a refusal (NOPERM, unknown command) is recorded in
 * `unavailable` and the action reports what it could read; any other failure still fails the step.
 */
import type { ActionContext, NodeRef } from '../types.js';
import { TargetError } from '../../errors.js';
import { sendCommand } from './connection.js';

/** Is this failure "the server will not run that command for us" (denied, renamed, disabled)? */
export function isRefusedCommand(err: unknown): boolean {
  if (!(err instanceof TargetError)) return false;
  if (err.code === 'noperm') return true;
  return err.code === 'redis_error' && /unknown (sub)?command|command not allowed|DEBUG command not allowed/i.test(err.message);
}

/**
 * Sends `argv` to `node`; on a refusal adds `"<COMMAND>: <why>"` to `unavailable` (once) and returns
 * undefined. Connection failures and other errors are thrown as usual.
 */
export async function optionalCommand(ctx: Pick<ActionContext, 'target'>, node: NodeRef, argv: readonly string[], unavailable: string[]): Promise<unknown> {
  try {
    return await sendCommand(ctx, node, argv);
  } catch (err) {
    if (!isRefusedCommand(err)) throw err;
    const what = argv.slice(0, 2).join(' ').toUpperCase();
    const line = `${what}: ${err instanceof TargetError && err.code === 'noperm' ? 'denied by ACL (NOPERM)' : 'unknown command (renamed or disabled)'}`;
    if (!unavailable.includes(line)) unavailable.push(line);
    return undefined;
  }
}
