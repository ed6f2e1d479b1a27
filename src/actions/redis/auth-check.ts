/**
 * `redis.auth-check`: does a configured secret authenticate a user on a fresh connection? Used to
 * verify a two-password window (both the old and the new secret work, then only the new one) and
 * by the password actions' `applied()`. The secrets are named (config `targets.<t>.secrets`); their
 * values go only into the connection's handshake and are scrubbed from every error. A secret that
 * does not work counts in the server's ACL LOG and `errorstat_WRONGPASS` like any failed login.
 */
import { z } from 'zod';
import { RunbooksError, TargetError } from '../../errors.js';
import type { ActionContext, ActionDefinition, NodeRef } from '../types.js';
import { nodeKey } from '../types.js';
import { createNodeConnection, toTargetError } from './connection.js';

const input = z
  .object({
    user: z.string().min(1).max(200),
    /** Names of configured secrets to try, e.g. `[app-new, app-old]`. */
    secrets: z.array(z.string().regex(/^[A-Za-z0-9_.-]+$/)).min(1).max(10),
  })
  .strict();

export type AuthCheckInput = z.infer<typeof input>;

/** `ok`, or the classified failure (`wrongpass`, `refused`, `cert_expired`, …). */
export type AuthOutcome = string;

/**
 * Authenticates `user` with the target's secret `secretName` on a new connection to `node` (the
 * target's TLS settings), runs ACL WHOAMI, and closes it. `ok` or the classified code.
 */
export async function tryAuth(ctx: Pick<ActionContext, 'target'>, node: NodeRef, user: string, secretName: string): Promise<AuthOutcome> {
  const value = ctx.target.secret?.(secretName);
  if (value === undefined || value === '') throw new TargetError('secret_missing', `secret ${JSON.stringify(secretName)} is not configured for target ${ctx.target.name}`, false);
  const tls = ctx.target.tls;
  const conn = createNodeConnection(node, { username: user, password: value, ...(tls !== undefined ? { tls: { ...tls } } : {}), maxReconnects: 0, commandTimeoutMs: 5000, connectionName: null });
  try {
    // ioredis authenticates with HELLO 3 AUTH on connect; HELLO itself needs no permission, so an
    // app user without @connection is checked without leaving a NOPERM in ACL LOG.
    await conn.call('HELLO', '3');
    return 'ok';
  } catch (e) {
    const te = toTargetError(e, node, 'AUTH', value);
    return te.code;
  } finally {
    conn.disconnect();
  }
}

export interface AuthCheckResult {
  node: string;
  user: string;
  /** Secret name → `ok` or the classified failure (`wrongpass`, …). */
  results: Record<string, AuthOutcome>;
  /** Secret names that authenticated. */
  working: string[];
}

export const authCheck: ActionDefinition<AuthCheckInput, AuthCheckResult> = {
  name: 'redis.auth-check',
  description: 'Tries named configured secrets for an ACL user on fresh connections (which ones authenticate).',
  risk: 'read',
  input,
  timeoutMs: 20_000,
  output: {
    node: 'the node (host:port)',
    user: 'the ACL user tried',
    results: 'secret name → ok, or the classified failure (wrongpass, refused, cert_expired, …)',
    'working[]': 'the secret names that authenticated',
  },
  async run(inp, ctx) {
    const results: Record<string, AuthOutcome> = {};
    for (const name of inp.secrets) {
      try {
        results[name] = await tryAuth(ctx, ctx.node, inp.user, name);
      } catch (e) {
        results[name] = e instanceof RunbooksError ? e.code : 'redis_error';
      }
    }
    return { node: nodeKey(ctx.node), user: inp.user, results, working: Object.keys(results).filter((k) => results[k] === 'ok') };
  },
};
