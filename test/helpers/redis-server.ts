/**
 * Spawns throwaway redis-server processes for integration tests: a free port, a temp dir, no
 * persistence. `stop()` ends exactly the process it started and removes its directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { exited, ownedServer, track, waitExit } from './processes.js';
import { Redis } from 'ioredis';

/** Options for {@link startRedis}. */
export interface StartRedisOptions {
  /** Extra command-line arguments, e.g. `['--maxmemory', '64mb']`. */
  args?: string[];
  /** Start from a `redis.conf` written in the temp dir, so `CONFIG REWRITE` works. */
  configFile?: boolean;
  /** Start as a replica of this primary. */
  replicaOf?: { host: string; port: number };
  /** `requirepass` (and `masterauth`, for replicas). */
  password?: string;
  /** redis-server binary (default `redis-server` on PATH). */
  bin?: string;
}

/** A running redis-server started by a test. */
export interface RedisProcess {
  host: string;
  port: number;
  url: string;
  dir: string;
  pid: number;
  /** A shared client for this server (created on first use, quit by `stop()`). */
  client(): Redis;
  /** SIGTERM, then SIGKILL after 3 s; removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** A primary and its replicas, all with the link up. */
export interface ReplicaSet {
  primary: RedisProcess;
  replicas: RedisProcess[];
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
import { freePort } from './ports.js';

export { freePort };

/** One raw PING; true when the server answers (+PONG, or -NOAUTH/-LOADING: it is up). */
function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: HOST, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => done(/^(\+PONG|-NOAUTH)/.test(d.toString())));
  });
}

async function spawnOnce(opts: StartRedisOptions, port: number, dir: string): Promise<ChildProcess | string> {
  const base = ['port', String(port), 'bind', HOST, 'save', '""', 'appendonly', 'no', 'dir', dir, 'logfile', join(dir, 'redis.log'), 'daemonize', 'no'];
  const extra: string[] = [];
  if (opts.password !== undefined) extra.push('--requirepass', opts.password, '--masterauth', opts.password);
  if (opts.replicaOf) extra.push('--replicaof', opts.replicaOf.host, String(opts.replicaOf.port));
  let argv: string[];
  if (opts.configFile) {
    const conf = join(dir, 'redis.conf');
    const lines: string[] = [];
    for (let i = 0; i < base.length; i += 2) lines.push(`${base[i]} ${base[i + 1]}`);
    await writeFile(conf, `${lines.join('\n')}\n`);
    argv = [conf, ...extra, ...(opts.args ?? [])];
  } else {
    const cli: string[] = [];
    for (let i = 0; i < base.length; i += 2) cli.push(`--${base[i]}`, base[i + 1] === '""' ? '' : (base[i + 1] ?? ''));
    argv = [...cli, ...extra, ...(opts.args ?? [])];
  }
  const child = track(spawn(opts.bin ?? 'redis-server', argv, { stdio: 'ignore' }));
  child.once('error', () => undefined);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (exited(child)) break;
    if (await pingOnce(port)) return child;
    await sleep(50);
  }
  if (!exited(child)) {
    child.kill('SIGKILL');
    await waitExit(child, 3000);
  }
  const log = await readFile(join(dir, 'redis.log'), 'utf8').catch(() => '');
  return log.split('\n').slice(-5).join('\n') || 'redis-server did not start';
}

/** Starts a redis-server on a free loopback port in a fresh temp dir and waits for PING. */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'rr-redis-'));
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = await spawnOnce(opts, port, dir);
    if (typeof child === 'string') {
      lastError = child; // most likely the port was taken meanwhile: try another
      continue;
    }
    return {
      host: HOST,
      port,
      dir,
      pid: child.pid ?? -1,
      url: `redis://${opts.password === undefined ? '' : `:${encodeURIComponent(opts.password)}@`}${HOST}:${port}`,
      ...ownedServer(child, dir, () => new Redis({ host: HOST, port, password: opts.password, maxRetriesPerRequest: 1, retryStrategy: () => null })),
    };
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`redis-server failed to start: ${lastError}`);
}

/** Polls until `check` returns true (or throws after `ms`). */
export async function waitFor(check: () => Promise<boolean>, ms = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Starts a primary and `replicas` replicas and waits until every replica's link is up. */
export async function startReplicaSet(
  replicas = 1,
  opts: Omit<StartRedisOptions, 'replicaOf'> = {},
): Promise<ReplicaSet> {
  const primary = await startRedis(opts);
  const started: RedisProcess[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(started.map((r) => r.stop()));
    await primary.stop();
  };
  try {
    for (let i = 0; i < replicas; i++) {
      started.push(await startRedis({ ...opts, replicaOf: { host: primary.host, port: primary.port } }));
    }
    for (const r of started) {
      await waitFor(async () => /master_link_status:up/.test(String(await r.client().call('INFO', 'replication'))), 15_000, `replica ${r.port} link up`);
    }
    await waitFor(async () => new RegExp(`connected_slaves:${replicas}\\b`).test(String(await primary.client().call('INFO', 'replication'))), 15_000, 'primary sees replicas');
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { primary, replicas: started, stop: stopAll };
}

/** Options for {@link fillMemory}. */
export interface FillOptions {
  keys: number;
  valueBytes: number;
  /** Key names are `<prefix>:<i>`. */
  prefix: string;
  /** Share of keys (0..1) written with a 1 h TTL. Default 0. */
  ttlShare?: number;
  /** Keys per pipeline. Default 1000. */
  batch?: number;
}

/** Writes `keys` string keys of `valueBytes` bytes with pipelined SETs; returns the number written. */
export async function fillMemory(client: Redis, opts: FillOptions): Promise<number> {
  const batch = opts.batch ?? 1000;
  const ttlEvery = opts.ttlShare && opts.ttlShare > 0 ? 1 / opts.ttlShare : Infinity;
  const value = 'v'.repeat(opts.valueBytes);
  let written = 0;
  for (let start = 0; start < opts.keys; start += batch) {
    const p = client.pipeline();
    const end = Math.min(start + batch, opts.keys);
    for (let i = start; i < end; i++) {
      const key = `${opts.prefix}:${i}`;
      // Spread TTL keys evenly: key i has a TTL when it crosses the next multiple of 1/ttlShare.
      if (Math.floor((i + 1) / ttlEvery) > Math.floor(i / ttlEvery)) p.set(key, value, 'EX', 3600);
      else p.set(key, value);
    }
    const res = await p.exec();
    for (const [err] of res ?? []) if (err) throw err;
    written += end - start;
  }
  return written;
}
