/**
 * `redis.config-get`: selected configuration parameters of one node. Secret parameters are never
 * returned, even when a glob pattern matches them.
 */
import { z } from 'zod';
import type { ActionDefinition } from '../types.js';
import { TargetError } from '../../errors.js';
import { replyText, sendCommand } from './connection.js';

/** Parameters whose values are secrets: dropped from every reply. */
export const SECRET_PARAMETERS: ReadonlySet<string> = new Set([
  'requirepass',
  'masterauth',
  'tls-key-file-pass',
  'tls-client-key-file-pass',
  'sentinel-pass',
]);

const input = z
  .object({
    parameters: z
      .array(z.string().min(1).max(64).regex(/^[a-z0-9*?\-[\]]+$/i, 'a parameter name or glob'))
      .min(1)
      .max(20),
  })
  .strict();

/** Parameter name → value (as Redis returns them; memory sizes in bytes). */
export type ConfigGetResult = Record<string, string>;

/** Turns a CONFIG GET reply (flat `[name, value, …]` array, or a map) into a record. */
export function configReplyToRecord(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) out[replyText(reply[i])] = replyText(reply[i + 1]);
  } else if (reply instanceof Map) {
    for (const [k, v] of reply) out[replyText(k)] = replyText(v);
  } else if (reply && typeof reply === 'object') {
    for (const [k, v] of Object.entries(reply)) out[k] = replyText(v);
  }
  return out;
}

/** `CONFIG GET p1 p2 …` on `ctx.node` (Redis 7 takes several parameters at once). */
export const configGet: ActionDefinition<z.infer<typeof input>, ConfigGetResult> = {
  name: 'redis.config-get',
  description: 'Reads configuration parameters of the node (secrets are never returned).',
  risk: 'read',
  input,
  timeoutMs: 10_000,
  output: {
    '*': 'one field per parameter matched (lower-case name) → its value as Redis answers it (text; memory sizes in bytes, times as configured); secret parameters never appear',
  },
  async run(inp, ctx) {
    const wanted = inp.parameters.map((p) => p.toLowerCase());
    const asked = wanted.find((p) => SECRET_PARAMETERS.has(p));
    if (asked) throw new TargetError('input_invalid', `redis.config-get: ${asked} is a secret and is never read`, false);
    const record = configReplyToRecord(await sendCommand(ctx, ctx.node, ['CONFIG', 'GET', ...wanted]));
    const out: ConfigGetResult = {};
    for (const [k, v] of Object.entries(record).sort(([a], [b]) => a.localeCompare(b))) {
      if (!SECRET_PARAMETERS.has(k)) out[k] = v;
    }
    return out;
  },
};
