/**
 * Plain single-node connections to target nodes, a per-target pool, and the few helpers every
 * Redis action shares: sending one command with error mapping, reading INFO, executing a plan.
 */
import { isIP } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import type { CommandOutcome, NodeRef, PlannedCommand, TargetHandle } from '../types.js';
import { nodeKey } from '../types.js';
import { isUnreachableCode, redisErrorCode, TargetError } from '../../errors.js';
import { formatCommand, scrubSecrets, SECRET_REF } from '../command-format.js';
import { parseInfo, type Info } from './info.js';
import { refineListenerClass } from './tls-probe.js';

/** TLS material for target connections (already read from files). */
export interface NodeTlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  rejectUnauthorized: boolean;
}

/** How to reach a target's nodes. */
export interface NodeConnectionOptions {
  username?: string;
  /** Secret: never logged and scrubbed from every error message. */
  password?: string;
  tls?: NodeTlsOptions;
  /** Per-command timeout (ms). Default 10 000. Target connections never run blocking commands. */
  commandTimeoutMs?: number;
  /** Reconnect attempts before the client gives up (the pool then makes a new one). Default 3. */
  maxReconnects?: number;
  /** CLIENT SETNAME on connect (default `redis-runbooks`); null sends none (a user may lack `client|setname`). */
  connectionName?: string | null;
}

/**
 * A plain single-node ioredis client (never Cluster/Sentinel: redirects would hide per-node state).
 * Lazy: nothing is sent until the first command. Errors are swallowed on the emitter (commands
 * reject on their own); callers map them with {@link toTargetError}.
 */
export function createNodeConnection(node: NodeRef, opts: NodeConnectionOptions = {}): Redis {
  const maxReconnects = opts.maxReconnects ?? 3;
  const options: RedisOptions = {
    host: node.host,
    port: node.port,
    username: opts.username,
    password: opts.password,
    enableReadyCheck: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
    commandTimeout: opts.commandTimeoutMs ?? 10_000,
    lazyConnect: true,
    // Needed with lazyConnect: the first command is queued while the socket opens.
    enableOfflineQueue: true,
    retryStrategy: (times) => (times > maxReconnects ? null : Math.min(times * 200, 1000)),
    ...(opts.connectionName === null ? {} : { connectionName: opts.connectionName ?? 'redis-runbooks' }),
  };
  if (opts.tls) {
    options.tls = {
      ca: opts.tls.ca,
      cert: opts.tls.cert,
      key: opts.tls.key,
      // SNI takes host names only (an IP is deprecated, DEP0123); the certificate is still checked against the IP.
      servername: opts.tls.servername ?? (isIP(node.host) ? undefined : node.host),
      rejectUnauthorized: opts.tls.rejectUnauthorized,
    };
  }
  const client = new Redis(options);
  connectionInfo.set(client, { node: { host: node.host, port: node.port }, tls: opts.tls, secrets: opts.password !== undefined ? [opts.password] : [] });
  // Remember the connection's own failure (WRONGPASS, TLS, reset): see withConnectionCause.
  client.on('error', (e: Error) => connectionErrors.set(client, e));
  client.on('ready', () => connectionErrors.delete(client));
  return client;
}

/** The last connection-level failure of each node connection, until it is ready again. */
const connectionErrors = new WeakMap<Redis, Error>();

/** How each node connection was made: to classify its failures and scrub its password from them. */
const connectionInfo = new WeakMap<Redis, { node: NodeRef; tls: NodeTlsOptions | undefined; secrets: string[] }>();

/** Connections that have answered at least one command (a failure before that is a connect/handshake failure). */
const answered = new WeakSet<Redis>();

/**
 * A command lost to a failing connection is rejected generically ("Reached the max retries per
 * request limit", "Connection is closed."), e.g. while ioredis retries a handshake that the server
 * refuses with WRONGPASS: report the connection's own failure instead.
 */
export function withConnectionCause(conn: Redis | undefined, err: unknown): unknown {
  const cause = conn ? connectionErrors.get(conn) : undefined;
  const msg = err instanceof Error ? err.message : String(err);
  return cause && /max retries per request|Connection is closed/i.test(msg) ? cause : err;
}

/** Connections to the nodes of one target, one per `host:port`. */
export class ConnectionPool {
  readonly #clients = new Map<string, Redis>();

  constructor(private readonly opts: NodeConnectionOptions = {}) {}

  /** The cached connection to `node`, created on first use (and again if the old one ended). */
  get(node: NodeRef): Redis {
    const key = nodeKey(node);
    const existing = this.#clients.get(key);
    if (existing && existing.status !== 'end') return existing;
    const client = createNodeConnection(node, this.opts);
    this.#clients.set(key, client);
    return client;
  }

  /** A new, uncached connection with the pool's settings and no reconnects: the caller disconnects it. */
  fresh(node: NodeRef): Redis {
    return createNodeConnection(node, { ...this.opts, maxReconnects: 0 });
  }

  /** Number of cached connections. */
  get size(): number {
    return this.#clients.size;
  }

  /** QUITs every connection (forcing a disconnect after 2 s) and empties the pool. */
  async closeAll(): Promise<void> {
    const clients = [...this.#clients.values()];
    this.#clients.clear();
    await Promise.all(
      clients.map(async (c) => {
        if (c.status === 'end' || c.status === 'wait') {
          c.disconnect();
          return;
        }
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([c.quit().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 2000)))]);
        clearTimeout(timer);
        c.disconnect();
      }),
    );
  }
}

/** Removes secrets from a message (defence in depth: ioredis errors do not normally echo them, Redis sometimes does). */
export function scrub(message: string, ...secrets: Array<string | undefined>): string {
  return scrubSecrets(message, secrets);
}

/**
 * Maps any failure of a command on `node` to a TargetError (`what` names the command) whose code
 * is the classified one (`refused`, `wrongpass`, `cert_expired`, … see classifyConnectionError),
 * or `redis_<prefix>` for other error replies. The message is scrubbed of `secrets` and of the
 * connection's own password. Retryable: the node was not reached, or is still loading.
 */
export function toTargetError(err: unknown, node: NodeRef | string, what: string, ...secrets: Array<string | undefined>): TargetError {
  if (err instanceof TargetError) return err;
  const msg = scrub(err instanceof Error ? err.message : String(err), ...secrets);
  const code = redisErrorCode(err);
  const where = typeof node === 'string' ? node : nodeKey(node);
  // The cause keeps the original's name and code but only the scrubbed message.
  const cause = Object.assign(new Error(msg), { name: err instanceof Error ? err.name : 'Error', ...(typeof (err as { code?: unknown } | null)?.code === 'string' ? { code: (err as { code: string }).code } : {}) });
  return new TargetError(code, `${what} on ${where}: ${msg}`, isUnreachableCode(code) || code === 'redis_loading', cause);
}

/** The target's secrets a handle can give (see `secrets:` in the target config). */
type SecretSource = { secret?(name: string): string | undefined };

/**
 * argv with every `${secret:<name>}` placeholder replaced by the target's secret, just before
 * sending; and the values used (to scrub them from errors and replies). A missing secret is a
 * non-retryable `secret_missing` error naming it (never its value).
 */
export function resolveSecrets(target: SecretSource, argv: readonly string[]): { argv: string[]; values: string[] } {
  const values: string[] = [];
  const out = argv.map((arg) =>
    arg.replace(SECRET_REF, (_m, name: string) => {
      const v = target.secret?.(name);
      if (v === undefined || v === '') throw new TargetError('secret_missing', `secret ${JSON.stringify(name)} is not configured for this target (targets.<name>.secrets)`, false);
      values.push(v);
      return v;
    }),
  );
  return { argv: out, values };
}

/**
 * Sends one command to `node`, mapping failures to TargetError. `${secret:<name>}` placeholders
 * are resolved from the target's secrets here and nowhere else; errors are scrubbed of them. A
 * connection that fails before its first answer is classified from a listener probe when the
 * error alone is ambiguous (a reset: TLS-only port or refused client certificate; a TLS timeout:
 * plain port).
 */
export async function sendCommand(ctx: { target: Pick<TargetHandle, 'connect'> & SecretSource }, node: NodeRef, argv: readonly string[]): Promise<unknown> {
  if (argv[0] === undefined) throw new TargetError('redis_error', 'empty command', false);
  const what = formatCommand(argv.slice(0, 2));
  const { argv: resolved, values } = resolveSecrets(ctx.target, argv);
  const [cmd, ...args] = resolved as [string, ...string[]];
  let conn: Redis | undefined;
  try {
    conn = await ctx.target.connect(node);
    const reply = await conn.call(cmd, ...args);
    answered.add(conn);
    return reply;
  } catch (err) {
    const info = conn ? connectionInfo.get(conn) : undefined;
    const cause = withConnectionCause(conn, err);
    const te = toTargetError(cause, node, what, ...values, ...(info?.secrets ?? []));
    if (conn && info && !answered.has(conn) && !(err instanceof TargetError)) {
      // Before any answer: a reset means a TLS-only port (plain) or a refused handshake (TLS).
      const code = redisErrorCode(cause, { tls: info.tls !== undefined, beforeReady: true });
      const refined = (await refineListenerClass(info.node, info.tls, code)) ?? code;
      if (refined !== te.code) throw new TargetError(refined, `${te.message} (${refined === code ? 'before any answer' : `listener probe: ${refined}`})`, isUnreachableCode(refined), te.cause);
    }
    throw te;
  }
}

/** `INFO <sections…>` on `node`, parsed. Redis 7 accepts several sections in one call. */
export async function readInfo(ctx: { target: Pick<TargetHandle, 'connect'> & SecretSource }, node: NodeRef, ...sections: string[]): Promise<Info> {
  const reply = await sendCommand(ctx, node, ['INFO', ...sections]);
  return parseInfo(replyText(reply));
}

/** A reply as text: strings and Buffers as is, numbers as digits, anything else as JSON. */
export function replyText(reply: unknown): string {
  if (typeof reply === 'string') return reply;
  if (Buffer.isBuffer(reply)) return reply.toString('utf8');
  if (typeof reply === 'number' || typeof reply === 'bigint') return String(reply);
  return JSON.stringify(reply) ?? '';
}

/** Parses `host:port` (IPv6 as `[::1]:6379` or `::1:6379`). */
export function parseNodeKey(key: string): NodeRef {
  const m = /^\[?(.+?)\]?:(\d+)$/.exec(key.trim());
  const port = Number(m?.[2]);
  if (!m?.[1] || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new TargetError('node_invalid', `not a host:port node name: ${JSON.stringify(key)}`, false);
  }
  return { host: m[1], port };
}

/** Result of {@link executePlan}. */
export interface PlanExecution {
  outcomes: CommandOutcome[];
  /** True when a failure (or an abort) ended the run before the last command. */
  stopped: boolean;
  /** The failure that stopped the run, mapped. */
  error?: TargetError;
}

/**
 * Executes planned commands in order, one outcome each (`error` holds the server's message).
 * `stopOnError(cmd)` decides whether a failed command ends the run; commands after it are not
 * sent and get no outcome. An aborted signal stops before the next command.
 */
export async function executePlan(
  ctx: { target: Pick<TargetHandle, 'connect'> & SecretSource; signal: AbortSignal },
  plan: readonly PlannedCommand[],
  stopOnError: (cmd: PlannedCommand) => boolean = () => true,
): Promise<PlanExecution> {
  const outcomes: CommandOutcome[] = [];
  for (const cmd of plan) {
    if (ctx.signal.aborted) {
      return { outcomes, stopped: true, error: new TargetError('aborted', 'plan execution aborted', false) };
    }
    let values: string[] = [];
    try {
      values = resolveSecrets(ctx.target, cmd.argv).values;
      const reply = await sendCommand(ctx, parseNodeKey(cmd.node), cmd.argv);
      outcomes.push({ ...cmd, ok: true, reply: scrub(replyText(reply), ...values) });
    } catch (err) {
      const te = toTargetError(err, cmd.node, formatCommand(cmd.argv.slice(0, 2)), ...values);
      const cause = te.cause instanceof Error ? te.cause.message : te.message;
      outcomes.push({ ...cmd, ok: false, error: scrub(cause, ...values) });
      if (stopOnError(cmd)) return { outcomes, stopped: true, error: te };
    }
  }
  return { outcomes, stopped: false };
}

/** True when a CONFIG REWRITE error means "no config file" (the change is live but not persisted). */
export function isNoConfigFile(message: string): boolean {
  return /running without a config file/i.test(message);
}
