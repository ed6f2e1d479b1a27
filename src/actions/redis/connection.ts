/**
 * Plain single-node connections to target nodes, a per-target pool, and the few helpers every
 * Redis action shares: sending one command with error mapping, reading INFO, executing a plan.
 */
import { isIP } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import type { CommandOutcome, NodeRef, PlannedCommand, TargetHandle } from '../types.js';
import { nodeKey } from '../types.js';
import { redisErrorCode, TargetError } from '../../errors.js';
import { parseInfo, type Info } from './info.js';

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
    connectionName: 'redis-runbooks',
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
  // Remember the connection's own failure (WRONGPASS, TLS, reset): see withConnectionCause.
  client.on('error', (e: Error) => connectionErrors.set(client, e));
  client.on('ready', () => connectionErrors.delete(client));
  return client;
}

/** The last connection-level failure of each node connection, until it is ready again. */
const connectionErrors = new WeakMap<Redis, Error>();

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

/** Removes a secret from a message (defence in depth: ioredis errors do not normally echo it). */
export function scrub(message: string, secret?: string): string {
  return secret ? message.split(secret).join('***') : message;
}

/** Error codes worth retrying: the node could not be reached, or is still loading its dataset. */
const RETRYABLE = new Set(['target_unreachable', 'target_timeout', 'redis_loading']);

/** Maps any failure of a command on `node` to a TargetError (`what` names the command). */
export function toTargetError(err: unknown, node: NodeRef | string, what: string, secret?: string): TargetError {
  if (err instanceof TargetError) return err;
  const msg = scrub(err instanceof Error ? err.message : String(err), secret);
  const code = /Command timed out/i.test(msg) ? 'target_timeout' : redisErrorCode(err);
  const where = typeof node === 'string' ? node : nodeKey(node);
  return new TargetError(code, `${what} on ${where}: ${msg}`, RETRYABLE.has(code), err);
}

/** Sends one command to `node`, mapping failures to TargetError. */
export async function sendCommand(ctx: { target: Pick<TargetHandle, 'connect'> }, node: NodeRef, argv: readonly string[]): Promise<unknown> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new TargetError('redis_error', 'empty command', false);
  let conn: Redis | undefined;
  try {
    conn = await ctx.target.connect(node);
    return await conn.call(cmd, ...args);
  } catch (err) {
    throw toTargetError(withConnectionCause(conn, err), node, argv.slice(0, 2).join(' '));
  }
}

/** `INFO <sections…>` on `node`, parsed. Redis 7 accepts several sections in one call. */
export async function readInfo(ctx: { target: Pick<TargetHandle, 'connect'> }, node: NodeRef, ...sections: string[]): Promise<Info> {
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
  ctx: { target: Pick<TargetHandle, 'connect'>; signal: AbortSignal },
  plan: readonly PlannedCommand[],
  stopOnError: (cmd: PlannedCommand) => boolean = () => true,
): Promise<PlanExecution> {
  const outcomes: CommandOutcome[] = [];
  for (const cmd of plan) {
    if (ctx.signal.aborted) {
      return { outcomes, stopped: true, error: new TargetError('aborted', 'plan execution aborted', false) };
    }
    try {
      const reply = await sendCommand(ctx, parseNodeKey(cmd.node), cmd.argv);
      outcomes.push({ ...cmd, ok: true, reply: replyText(reply) });
    } catch (err) {
      const te = toTargetError(err, cmd.node, cmd.argv.slice(0, 2).join(' '));
      const cause = te.cause instanceof Error ? te.cause.message : te.message;
      outcomes.push({ ...cmd, ok: false, error: cause });
      if (stopOnError(cmd)) return { outcomes, stopped: true, error: te };
    }
  }
  return { outcomes, stopped: false };
}

/** True when a CONFIG REWRITE error means "no config file" (the change is live but not persisted). */
export function isNoConfigFile(message: string): boolean {
  return /running without a config file/i.test(message);
}
