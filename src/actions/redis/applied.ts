/**
 * "Is this command's effect already in place?" for the commands several actions share. Used after
 * a crash to resume a remediation at the first command not known to be done.
 */
import type { ActionContext, PlannedCommand } from '../types.js';
import { parseNodeKey, replyText, sendCommand } from './connection.js';

/** Values CONFIG GET reports differently from how CONFIG SET accepts them (`64mb` → bytes). */
function normalise(v: string): string {
  const m = /^(\d+)(b|k|kb|m|mb|g|gb)$/i.exec(v.trim());
  if (!m) return v.trim().toLowerCase().replace(/\s+/g, ' ');
  const n = Number(m[1]);
  const u = (m[2] ?? 'b').toLowerCase();
  const mult = u === 'k' ? 1000 : u === 'kb' ? 1024 : u === 'm' ? 1e6 : u === 'mb' ? 1024 ** 2 : u === 'g' ? 1e9 : u === 'gb' ? 1024 ** 3 : 1;
  return String(n * mult);
}

/**
 * `CONFIG SET p v`: true when CONFIG GET p already shows v. `CONFIG REWRITE` and `MEMORY PURGE`:
 * false (repeating them is harmless). Anything else: undefined (cannot tell).
 */
export async function commonApplied(cmd: PlannedCommand, ctx: Pick<ActionContext, 'target'>): Promise<boolean | undefined> {
  const [a = '', b = '', p, v] = cmd.argv.map((x) => x);
  const verb = `${a.toUpperCase()} ${b.toUpperCase()}`;
  if (verb === 'CONFIG REWRITE' || verb === 'MEMORY PURGE') return false;
  if (verb === 'CONFIG SET' && p !== undefined && v !== undefined && cmd.argv.length === 4) {
    const reply = await sendCommand(ctx, parseNodeKey(cmd.node), ['CONFIG', 'GET', p]);
    const arr = Array.isArray(reply) ? reply.map(replyText) : [];
    const current = arr[1] ?? (reply && typeof reply === 'object' && !Array.isArray(reply) ? replyText((reply as Record<string, unknown>)[p]) : undefined);
    if (current === undefined) return undefined;
    return normalise(current) === normalise(v);
  }
  return undefined;
}
