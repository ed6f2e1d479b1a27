/**
 * Throwaway Redis topologies for integration tests, on real processes and free loopback ports:
 * a Sentinel set (primary, replicas, three Sentinels), a 6-node Cluster (3 masters, 3 replicas),
 * and a TLS-only redis-server with an ACL user. Every helper stops exactly the processes it
 * started (SIGTERM, then SIGKILL after 3 s) and removes its temp dirs.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, startRedis, startReplicaSet, waitFor } from './redis-server.js';
import type { RedisProcess } from './redis-server.js';
import { exited, ownedServer, stopChild, track } from './processes.js';

const HOST = '127.0.0.1';
const run = promisify(execFile);

export interface Endpoint {
  host: string;
  port: number;
}

// ------------------------------------------------------------------------------------ processes

function spawnTracked(bin: string, args: string[]): ChildProcess {
  const child = track(spawn(bin, args, { stdio: 'ignore' }));
  child.once('error', () => undefined);
  return child;
}

async function tail(file: string, lines = 8): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** Runs `fn` on a short-lived plain connection to `node`; the connection is always closed. */
async function withConn<T>(node: Endpoint, fn: (c: Redis) => Promise<T>): Promise<T> {
  const c = new Redis({ host: node.host, port: node.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000, commandTimeout: 2000, enableReadyCheck: false });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return await fn(c);
  } finally {
    c.disconnect();
  }
}

/** A flat [k, v, k, v…] reply as an object. */
function pairs(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}

// ------------------------------------------------------------------------------------ Sentinel

export interface SentinelSet {
  masterName: string;
  /** The current primary (updated by {@link SentinelSet.failover}). */
  primary: RedisProcess;
  /** The current replicas (updated by {@link SentinelSet.failover}). */
  replicas: RedisProcess[];
  sentinels: Endpoint[];
  /** `SENTINEL FAILOVER`, then waits until every Sentinel reports a different master that is role:master. */
  failover(): Promise<RedisProcess>;
  stop(): Promise<void>;
}

interface SentinelProc {
  port: number;
  dir: string;
  child: ChildProcess;
}

async function startSentinel(masterName: string, primary: Endpoint): Promise<SentinelProc> {
  const dir = await mkdtemp(join(tmpdir(), 'rr-sentinel-'));
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const conf = join(dir, 'sentinel.conf');
    // Sentinel rewrites its config file: it must live in a writable dir of its own.
    await writeFile(
      conf,
      [
        `port ${port}`,
        `bind ${HOST}`,
        `dir ${dir}`,
        `logfile ${join(dir, 'sentinel.log')}`,
        'daemonize no',
        'sentinel resolve-hostnames no',
        `sentinel monitor ${masterName} ${primary.host} ${primary.port} 2`,
        `sentinel down-after-milliseconds ${masterName} 1000`,
        `sentinel failover-timeout ${masterName} 5000`,
        `sentinel parallel-syncs ${masterName} 1`,
        '',
      ].join('\n'),
    );
    const child = spawnTracked('redis-sentinel', [conf]);
    const deadline = Date.now() + 10_000;
    let up = false;
    while (Date.now() < deadline && !exited(child)) {
      if (await withConn({ host: HOST, port }, async (c) => (await c.ping()) === 'PONG').catch(() => false)) {
        up = true;
        break;
      }
      await sleep(50);
    }
    if (up) return { port, dir, child };
    await stopChild(child);
    lastError = (await tail(join(dir, 'sentinel.log'))) || 'redis-sentinel did not start';
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`redis-sentinel failed to start: ${lastError}`);
}

async function masterAddr(sentinel: Endpoint, name: string): Promise<string> {
  return withConn(sentinel, async (c) => {
    const r = (await c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string] | null;
    return r ? `${r[0]}:${r[1]}` : '';
  });
}

async function role(node: Endpoint): Promise<string> {
  return withConn(node, async (c) => String(((await c.call('ROLE')) as unknown[])[0]));
}

/**
 * The same process with a client that survives a failover: Sentinel's reconfiguration kills the
 * normal clients of the nodes it touches, and the shared client of startRedis never reconnects.
 */
function followingClient(p: RedisProcess): RedisProcess {
  let c: Redis | undefined;
  return {
    ...p,
    client(): Redis {
      if (!c || c.status === 'end') {
        c = new Redis({ host: p.host, port: p.port, maxRetriesPerRequest: 1, retryStrategy: (n) => (n > 50 ? null : 100) });
        c.on('error', () => undefined);
      }
      return c;
    },
    async stop(): Promise<void> {
      c?.disconnect();
      await p.stop();
    },
  };
}

/** A primary, `replicas` replicas and three Sentinels (quorum 2) that all see them. */
export async function startSentinelSet(opts: { replicas?: number; masterName?: string } = {}): Promise<SentinelSet> {
  const replicas = opts.replicas ?? 1;
  const masterName = opts.masterName ?? 'rrmaster';
  const rs = await startReplicaSet(replicas);
  const procs: SentinelProc[] = [];
  let stopped = false;
  const all = [rs.primary, ...rs.replicas].map(followingClient);
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(procs.map((p) => stopChild(p.child)));
    await Promise.all(procs.map((p) => rm(p.dir, { recursive: true, force: true })));
    await Promise.all(all.map((r) => r.stop()));
  };
  const set: SentinelSet = {
    masterName,
    primary: all[0]!,
    replicas: all.slice(1),
    sentinels: [],
    async failover() {
      const old = `${set.primary.host}:${set.primary.port}`;
      // Let the replicas catch up first, so the test is about following the master, not about
      // what an asynchronous failover may lose.
      await set.primary.client().call('WAIT', String(set.replicas.length), '2000');
      const s0 = set.sentinels[0];
      if (!s0) throw new Error('no sentinel');
      let reply = '';
      for (let i = 0; i < 50; i++) {
        // NOGOODSLAVE while a Sentinel has not refreshed its replica INFO yet: try again.
        reply = await withConn(s0, async (c) => String(await c.call('SENTINEL', 'FAILOVER', masterName))).catch((e: Error) => e.message);
        if (reply === 'OK') break;
        await sleep(200);
      }
      if (reply !== 'OK') throw new Error(`SENTINEL FAILOVER: ${reply}`);
      let next = '';
      await waitFor(
        async () => {
          const seen = await Promise.all(set.sentinels.map((s) => masterAddr(s, masterName)));
          next = seen[0] ?? '';
          if (next === '' || next === old || seen.some((a) => a !== next)) return false;
          const p = all.find((r) => `${r.host}:${r.port}` === next);
          return p !== undefined && (await role(p)) === 'master';
        },
        30_000,
        `every Sentinel to report a new master instead of ${old}`,
      );
      const np = all.find((r) => `${r.host}:${r.port}` === next);
      if (!np) throw new Error(`unknown new master ${next}`);
      set.primary = np;
      set.replicas = all.filter((r) => r !== np);
      return np;
    },
    stop,
  };
  try {
    for (let i = 0; i < 3; i++) procs.push(await startSentinel(masterName, set.primary));
    set.sentinels = procs.map((p) => ({ host: HOST, port: p.port }));
    for (const s of set.sentinels) {
      await waitFor(
        async () =>
          withConn(s, async (c) => {
            const m = pairs(await c.call('SENTINEL', 'MASTER', masterName));
            return m['num-slaves'] === String(replicas) && m['num-other-sentinels'] === '2' && (m['flags'] ?? '') === 'master';
          }),
        20_000,
        `sentinel ${s.port} to see the master, ${replicas} replica(s) and 2 other sentinels`,
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return set;
}

// ------------------------------------------------------------------------------------ Cluster

export interface ClusterSet {
  nodes: RedisProcess[];
  /** `host:port` of the six nodes (seed list for clients). */
  endpoints: Endpoint[];
  stop(): Promise<void>;
}

/** Six cluster-enabled nodes joined by `redis-cli --cluster create … --cluster-replicas 1`. */
export async function startCluster(opts: { nodes?: number } = {}): Promise<ClusterSet> {
  const count = opts.nodes ?? 6;
  const nodes: RedisProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < count; i++) {
      // An explicit bus port: the default (port + 10000) overflows for ephemeral ports.
      const bus = await freePort();
      nodes.push(
        await startRedis({
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(bus), '--cluster-node-timeout', '3000', '--maxmemory-policy', 'noeviction'],
        }),
      );
    }
    const addrs = nodes.map((n) => `${n.host}:${n.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', '1', '--cluster-yes'], { timeout: 60_000 });
    for (const n of nodes) {
      await waitFor(
        async () => {
          const info = String(await n.client().call('CLUSTER', 'INFO'));
          return /cluster_state:ok/.test(info) && new RegExp(`cluster_known_nodes:${count}\\b`).test(info);
        },
        30_000,
        `cluster_state:ok on ${n.port}`,
      );
    }
    // Replicas attached (so a client's CLUSTER SLOTS is complete and stable).
    await waitFor(
      async () => {
        const roles = await Promise.all(nodes.map((n) => n.client().call('ROLE') as Promise<unknown[]>));
        const linked = roles.filter((r) => r[0] === 'slave' && r[3] === 'connected').length;
        return linked === count / 2;
      },
      30_000,
      'cluster replicas connected',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, endpoints: nodes.map((n) => ({ host: n.host, port: n.port })), stop };
}

// ------------------------------------------------------------------------------------ TLS + ACL

export interface TlsRedis {
  host: string;
  /** The TLS port (the plaintext port is disabled). */
  port: number;
  /** PEM file of the throwaway CA that signed the server certificate. */
  caFile: string;
  user: string;
  password: string;
  dir: string;
  /** A shared client (TLS, ACL user), created on first use and quit by `stop()`. */
  client(): Redis;
  stop(): Promise<void>;
}

/** A throwaway CA and a server certificate for 127.0.0.1 / localhost, written into `dir`. */
export async function makeCerts(dir: string): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const certFile = join(dir, 'server.crt');
  const ext = join(dir, 'server.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', '/CN=redis-runbooks test CA']);
  await run('openssl', ['req', '-new', ...ec, '-keyout', keyFile, '-out', csr, '-subj', '/CN=localhost']);
  await writeFile(ext, 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', ext]);
  return { caFile, certFile, keyFile };
}

/** True when a TLS handshake with `ca` succeeds and the server answers a PING (+PONG or -NOAUTH). */
function tlsPing(port: number, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tlsConnect({ host: HOST, port, ca, servername: 'localhost' });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('error', () => done(false));
    sock.once('secureConnect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => done(/^(\+PONG|-NOAUTH)/.test(d.toString())));
  });
}

/**
 * redis-server reachable only over TLS (`port 0`, `tls-port`, no client certificates required)
 * with one ACL user allowed everything and the default user disabled. The settings live in a
 * redis.conf in the temp dir (so the password is not on the process command line, and CONFIG
 * REWRITE works).
 */
export async function startTlsRedis(opts: { aclUser?: string; aclPassword: string }): Promise<TlsRedis> {
  const user = opts.aclUser ?? 'rr-ops';
  const password = opts.aclPassword;
  if (!/^[A-Za-z0-9._~+-]+$/.test(password) || !/^[A-Za-z0-9._-]+$/.test(user)) throw new Error('startTlsRedis: keep user and password to [A-Za-z0-9._~+-] (they go into redis.conf)');
  const dir = await mkdtemp(join(tmpdir(), 'rr-tls-'));
  try {
    const { caFile, certFile, keyFile } = await makeCerts(dir);
    const ca = await readFile(caFile, 'utf8');
    let lastError = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const conf = join(dir, 'redis.conf');
      await writeFile(
        conf,
        [
          'port 0',
          `tls-port ${port}`,
          `bind ${HOST}`,
          `tls-cert-file ${certFile}`,
          `tls-key-file ${keyFile}`,
          `tls-ca-cert-file ${caFile}`,
          'tls-auth-clients no',
          'save ""',
          'appendonly no',
          `dir ${dir}`,
          `logfile ${join(dir, 'redis.log')}`,
          'daemonize no',
          'user default off',
          `user ${user} on >${password} ~* &* +@all`,
          '',
        ].join('\n'),
      );
      const child = spawnTracked('redis-server', [conf]);
      const deadline = Date.now() + 10_000;
      let up = false;
      while (Date.now() < deadline && !exited(child)) {
        if (await tlsPing(port, ca)) {
          up = true;
          break;
        }
        await sleep(50);
      }
      if (!up) {
        await stopChild(child);
        lastError = (await tail(join(dir, 'redis.log'))) || 'redis-server did not start';
        continue;
      }
      return {
        host: HOST,
        port,
        caFile,
        user,
        password,
        dir,
        ...ownedServer(child, dir, () => new Redis({ host: HOST, port, username: user, password, tls: { ca, servername: 'localhost' }, maxRetriesPerRequest: 1, retryStrategy: () => null })),
      };
    }
    throw new Error(`TLS redis-server failed to start: ${lastError}`);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
