/**
 * A Sentinel-managed fleet that tests can break and mend: a primary, replicas and three Sentinels
 * on free loopback ports, each process started from a config file in a directory of its own that
 * outlives the process, so a node or a Sentinel can be killed and started again on the same port
 * with its data (AOF) and its rewritten config. Small `down-after-milliseconds` and
 * `failover-timeout` keep the tests fast. Secrets live in the config files, never in argv.
 *
 * Faults: stop/kill a Sentinel or a data node, replica priority 0, a replica pointed at a wrong
 * port, wrong `masterauth` on a replica, a shrunk replica output-buffer limit on the primary with a
 * bounded write load during a full sync, and the old primary restarted with its data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import { RUNBOOKS_DIR, testPrefix } from './app.js';
import { freePort } from './ports.js';
import { exited, stopChild, track, waitExit } from './processes.js';

const HOST = '127.0.0.1';

/** Options of {@link startFaultFleet}. */
export interface FaultFleetOptions {
  /** Number of replicas (default 2). */
  replicas?: number;
  masterName?: string;
  /** `requirepass` + `masterauth` on every data node, `sentinel auth-pass` on the Sentinels. */
  password?: string;
  /** Sentinel `down-after-milliseconds` (default 1000). */
  downAfterMs?: number;
  /** Sentinel `failover-timeout` (default 5000). */
  failoverTimeoutMs?: number;
  /** Sentinel quorum (default 2 of 3). */
  quorum?: number;
  /** Extra redis.conf lines for every data node. */
  extraConf?: string[];
}

/** One process the fleet owns, restartable on the same port from the same directory. */
export interface FleetProcess {
  readonly host: string;
  readonly port: number;
  /** `host:port`. */
  readonly key: string;
  readonly dir: string;
  running(): boolean;
  /** Starts it again (same port, same config file, same data). No-op while running. */
  start(): Promise<void>;
  /** SIGKILL (no shutdown save) or SIGTERM, and waits for the exit. */
  kill(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** One command on a short-lived connection (authenticated for data nodes). */
  call(...argv: string[]): Promise<unknown>;
}

/** The fleet and its faults. */
export interface FaultFleet {
  masterName: string;
  password?: string;
  /** Data nodes; `nodes[0]` was the first primary. */
  nodes: FleetProcess[];
  sentinels: FleetProcess[];
  node(key: string): FleetProcess;
  /** `host:port` most running Sentinels name as primary (null when none answers). */
  sentinelPrimary(): Promise<string | null>;
  /** The data node the Sentinels name as primary. */
  primary(): Promise<FleetProcess>;
  /** Running data nodes other than the Sentinels' primary. */
  replicas(): Promise<FleetProcess[]>;
  /**
   * Waits until every running Sentinel names the same primary, that node says role:master, every
   * other running data node replicates it with the link up, and every Sentinel sees the others.
   */
  waitSettled(ms?: number): Promise<FleetProcess>;
  /**
   * Undoes every fault: starts stopped processes, priority 100, default output-buffer limits and
   * masterauth on every node, replicas pointed at the Sentinels' primary; then {@link waitSettled}.
   */
  restore(ms?: number): Promise<FleetProcess>;
  /** `replica-priority` on a data node. */
  setPriority(node: FleetProcess, priority: number): Promise<void>;
  /** REPLICAOF host port on a data node. */
  pointAt(node: FleetProcess, host: string, port: number): Promise<void>;
  /** Sets a wrong `masterauth` on a replica and drops its link, so it must authenticate again. */
  breakMasterauth(node: FleetProcess, wrong: string): Promise<void>;
  /** CONFIG SET client-output-buffer-limit "replica <hard> <soft> <secs>" on a node. */
  setReplicaBufferLimit(node: FleetProcess, spec: string): Promise<void>;
  /** Writes `keys` string keys of `valueBytes` under `prefix:` on the primary. */
  fill(keys: number, opts?: { prefix?: string; valueBytes?: number }): Promise<void>;
  /** A bounded write load on `node` (overwrites `keys` keys) until `stop()` or `maxMs`; returns the writes done. */
  writeLoad(node: FleetProcess, opts?: { keys?: number; valueBytes?: number; maxMs?: number; prefix?: string; perSecond?: number }): { stop(): Promise<number> };
  /** DBSIZE of a data node. */
  dbsize(node: FleetProcess): Promise<number>;
  /** INFO commandstats of a data node: command → calls. */
  commandCalls(node: FleetProcess): Promise<Record<string, number>>;
  /** The last lines of a process's log. */
  log(p: FleetProcess, lines?: number): Promise<string>;
  stop(): Promise<void>;
}

function connect(port: number, password?: string): Redis {
  const c = new Redis({ host: HOST, port, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000, commandTimeout: 5000, enableReadyCheck: false });
  c.on('error', () => undefined);
  return c;
}

async function callOn(port: number, password: string | undefined, argv: string[]): Promise<unknown> {
  const c = connect(port, password);
  try {
    await c.connect();
    const [cmd, ...args] = argv;
    return await c.call(cmd ?? 'PING', ...args);
  } finally {
    c.disconnect();
  }
}

function makeProcess(bin: string, port: number, dir: string, conf: string, password: string | undefined): FleetProcess {
  let child: ChildProcess | undefined;
  const running = (): boolean => child !== undefined && !exited(child);
  const proc: FleetProcess = {
    host: HOST,
    port,
    key: `${HOST}:${port}`,
    dir,
    running,
    async start() {
      if (running()) return;
      child = track(spawn(bin, [conf], { stdio: 'ignore' }));
      child.once('error', () => undefined);
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && running()) {
        const ok = await callOn(port, password, ['PING']).then(
          (r) => r === 'PONG',
          (e: Error) => /LOADING/.test(e.message),
        );
        if (ok) return;
        await sleep(50);
      }
      const log = await readFile(join(dir, 'log.txt'), 'utf8').catch(() => '');
      throw new Error(`${bin} on ${port} did not start: ${log.trim().split('\n').slice(-5).join('\n')}`);
    },
    async kill(signal = 'SIGKILL') {
      if (!child || !running()) return;
      if (signal === 'SIGTERM') {
        await stopChild(child);
        return;
      }
      child.kill('SIGKILL');
      await waitExit(child, 5000);
    },
    call: (...argv) => callOn(port, password, argv),
  };
  return proc;
}

function pairs(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}

function field(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/** Polls `check` until true; throws naming `what` after `ms`. */
export async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

/** Starts the fleet and waits until it is settled. */
export async function startFaultFleet(opts: FaultFleetOptions = {}): Promise<FaultFleet> {
  const replicaCount = opts.replicas ?? 2;
  const masterName = opts.masterName ?? 'rrmaster';
  const pw = opts.password;
  const downAfter = opts.downAfterMs ?? 1000;
  const failoverTimeout = opts.failoverTimeoutMs ?? 5000;
  const dirs: string[] = [];
  const nodes: FleetProcess[] = [];
  const sentinels: FleetProcess[] = [];
  const loads = new Set<{ stop(): Promise<number> }>();
  const dataConf = (port: number, dir: string, replicaOf?: number): string[] => [
    `port ${port}`,
    `bind ${HOST}`,
    `dir ${dir}`,
    `logfile ${join(dir, 'log.txt')}`,
    'daemonize no',
    'save ""',
    'appendonly yes',
    'appendfsync everysec',
    'repl-diskless-sync-delay 0',
    ...(pw !== undefined ? [`requirepass ${pw}`, `masterauth ${pw}`] : []),
    ...(replicaOf !== undefined ? [`replicaof ${HOST} ${replicaOf}`] : []),
    ...(opts.extraConf ?? []),
    '',
  ];

  const stopAll = async (): Promise<void> => {
    await Promise.all([...loads].map((l) => l.stop()));
    await Promise.all([...sentinels, ...nodes].map((p) => p.kill('SIGTERM')));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  };

  try {
    for (let i = 0; i <= replicaCount; i++) {
      const dir = await mkdtemp(join(tmpdir(), 'rr-fault-node-'));
      dirs.push(dir);
      const port = await freePort();
      const conf = join(dir, 'redis.conf');
      await writeFile(conf, dataConf(port, dir, i === 0 ? undefined : nodes[0]?.port).join('\n'));
      const p = makeProcess('redis-server', port, dir, conf, pw);
      await p.start();
      nodes.push(p);
    }
    const first = nodes[0];
    if (!first) throw new Error('no primary');
    for (let i = 0; i < 3; i++) {
      const dir = await mkdtemp(join(tmpdir(), 'rr-fault-sentinel-'));
      dirs.push(dir);
      const port = await freePort();
      const conf = join(dir, 'sentinel.conf');
      await writeFile(
        conf,
        [
          `port ${port}`,
          `bind ${HOST}`,
          `dir ${dir}`,
          `logfile ${join(dir, 'log.txt')}`,
          'daemonize no',
          'sentinel resolve-hostnames no',
          `sentinel monitor ${masterName} ${HOST} ${first.port} ${opts.quorum ?? 2}`,
          ...(pw !== undefined ? [`sentinel auth-pass ${masterName} ${pw}`] : []),
          `sentinel down-after-milliseconds ${masterName} ${downAfter}`,
          `sentinel failover-timeout ${masterName} ${failoverTimeout}`,
          `sentinel parallel-syncs ${masterName} 1`,
          '',
        ].join('\n'),
      );
      const s = makeProcess('redis-sentinel', port, dir, conf, undefined);
      await s.start();
      sentinels.push(s);
    }
  } catch (err) {
    await stopAll();
    throw err;
  }

  const fleet: FaultFleet = {
    masterName,
    ...(pw !== undefined ? { password: pw } : {}),
    nodes,
    sentinels,
    node(key) {
      const n = nodes.find((p) => p.key === key);
      if (!n) throw new Error(`not a fleet node: ${key}`);
      return n;
    },
    async sentinelPrimary() {
      const votes = new Map<string, number>();
      for (const s of sentinels.filter((x) => x.running())) {
        const r = await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName).catch(() => null);
        if (Array.isArray(r) && r.length >= 2) {
          const k = `${String(r[0])}:${String(r[1])}`;
          votes.set(k, (votes.get(k) ?? 0) + 1);
        }
      }
      let best: string | null = null;
      let n = 0;
      for (const [k, v] of votes) if (v > n) [best, n] = [k, v];
      return best;
    },
    async primary() {
      const k = await fleet.sentinelPrimary();
      if (!k) throw new Error('no Sentinel names a primary');
      return fleet.node(k);
    },
    async replicas() {
      const p = await fleet.sentinelPrimary();
      return nodes.filter((n) => n.key !== p && n.running());
    },
    async waitSettled(ms = 45_000) {
      let primaryKey = '';
      await until(
        async () => {
          const live = sentinels.filter((s) => s.running());
          const named = await Promise.all(live.map(async (s) => pairs(await s.call('SENTINEL', 'MASTER', masterName))));
          const addr = named.map((m) => `${m['ip']}:${m['port']}`);
          primaryKey = addr[0] ?? '';
          if (!primaryKey || addr.some((a) => a !== primaryKey)) return false;
          const running = nodes.filter((n) => n.running());
          if (named.some((m) => m['flags'] !== 'master' || m['num-other-sentinels'] !== String(sentinels.length - 1) || Number(m['num-slaves']) < running.length - 1)) return false;
          const p = fleet.node(primaryKey);
          if (!p.running() || field(String(await p.call('INFO', 'replication')), 'role') !== 'master') return false;
          for (const r of running) {
            if (r === p) continue;
            const info = String(await r.call('INFO', 'replication'));
            if (field(info, 'role') !== 'slave' || field(info, 'master_port') !== String(p.port) || field(info, 'master_link_status') !== 'up') return false;
          }
          // Every Sentinel sees every running replica as healthy (not s_down, not disconnected).
          for (const s of live) {
            const reps = (await s.call('SENTINEL', 'REPLICAS', masterName)) as unknown[];
            const ok = reps.map(pairs).filter((r) => r['flags'] === 'slave' && r['master-link-status'] === 'ok');
            if (ok.length < running.length - 1) return false;
          }
          return true;
        },
        ms,
        'the fleet to settle (one primary named by every Sentinel, replicas linked)',
      );
      return fleet.node(primaryKey);
    },
    async restore(ms = 60_000) {
      for (const l of [...loads]) await l.stop();
      for (const s of sentinels) await s.start();
      for (const n of nodes) await n.start();
      await until(async () => (await fleet.sentinelPrimary()) !== null, ms, 'a Sentinel to name a primary');
      const pk = await fleet.sentinelPrimary();
      for (const n of nodes) {
        await n.call('CONFIG', 'SET', 'replica-priority', '100');
        await n.call('CONFIG', 'SET', 'client-output-buffer-limit', 'replica 256mb 64mb 60');
        if (pw !== undefined) await n.call('CONFIG', 'SET', 'masterauth', pw);
        const info = String(await n.call('INFO', 'replication'));
        if (n.key !== pk && pk && `${field(info, 'master_host')}:${field(info, 'master_port')}` !== pk) {
          const [h, p] = pk.split(':');
          await n.call('REPLICAOF', h ?? HOST, p ?? '0');
        }
      }
      return fleet.waitSettled(ms);
    },
    async setPriority(node, priority) {
      await node.call('CONFIG', 'SET', 'replica-priority', String(priority));
    },
    async pointAt(node, host, port) {
      await node.call('REPLICAOF', host, String(port));
    },
    async breakMasterauth(node, wrong) {
      await node.call('CONFIG', 'SET', 'masterauth', wrong);
      await node.call('CLIENT', 'KILL', 'TYPE', 'master');
    },
    async setReplicaBufferLimit(node, spec) {
      await node.call('CONFIG', 'SET', 'client-output-buffer-limit', `replica ${spec}`);
    },
    async fill(keys, o = {}) {
      const p = await fleet.primary();
      const c = connect(p.port, pw);
      await c.connect();
      try {
        const value = 'v'.repeat(o.valueBytes ?? 100);
        for (let start = 0; start < keys; start += 1000) {
          const pipe = c.pipeline();
          for (let i = start; i < Math.min(keys, start + 1000); i++) pipe.set(`${o.prefix ?? 'data'}:${i}`, value);
          await pipe.exec();
        }
      } finally {
        c.disconnect();
      }
    },
    writeLoad(node, o = {}) {
      const keys = o.keys ?? 2000;
      const value = 'w'.repeat(o.valueBytes ?? 1024);
      const deadline = Date.now() + (o.maxMs ?? 60_000);
      let stopped = false;
      let writes = 0;
      const c = connect(node.port, pw);
      const loop = (async () => {
        await c.connect().catch(() => undefined);
        let i = 0;
        const started = Date.now();
        while (!stopped && Date.now() < deadline) {
          if (o.perSecond !== undefined) {
            const ahead = writes / o.perSecond - (Date.now() - started) / 1000;
            if (ahead > 0) await sleep(Math.min(200, ahead * 1000));
            if (writes / o.perSecond > (Date.now() - started) / 1000) continue;
          }
          const pipe = c.pipeline();
          for (let j = 0; j < 100; j++) pipe.set(`${o.prefix ?? 'load'}:${i++ % keys}`, value);
          await pipe.exec().then(
            () => void (writes += 100),
            () => sleep(50),
          );
        }
      })();
      const handle = {
        async stop() {
          stopped = true;
          await loop;
          c.disconnect();
          loads.delete(handle);
          return writes;
        },
      };
      loads.add(handle);
      return handle;
    },
    async dbsize(node) {
      return Number(await node.call('DBSIZE'));
    },
    async commandCalls(node) {
      const out: Record<string, number> = {};
      for (const m of String(await node.call('INFO', 'commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1] ?? ''] = Number(m[2]);
      return out;
    },
    async log(p, lines = 30) {
      const text = await readFile(join(p.dir, 'log.txt'), 'utf8').catch(() => '');
      return text.trim().split('\n').slice(-lines).join('\n');
    },
    stop: stopAll,
  };
  try {
    await fleet.waitSettled();
  } catch (err) {
    await stopAll();
    throw err;
  }
  return fleet;
}

/**
 * The engine (HTTP door + worker) with the fleet as a Sentinel-mode target named `name`: data
 * nodes and Sentinels as endpoints, the fleet password as `${RR_FLEET_PW}` (and as the target
 * secret `masterauth`). Approvers: alice (dba-operator), bob and carol (cluster-admin).
 */
export async function startFleetApp(fleet: FaultFleet, opts: { storeUrl: string; name?: string; approvalTimeout?: string }): Promise<App> {
  const prefix = testPrefix();
  const name = opts.name ?? 'sess-prod';
  const quote = (xs: FleetProcess[]): string => xs.map((x) => `"${x.key}"`).join(', ');
  const text = `store: { url: "${opts.storeUrl}" }
http: { host: 127.0.0.1, port: 0 }
runbooksDir: ${RUNBOOKS_DIR}
engine:
  dryRun: false
  approvalTimeout: ${opts.approvalTimeout ?? '30m'}
  keyPrefix: ${prefix}
  queuePrefix: "{${prefix}}"
  workerConcurrency: 4
logLevel: ${process.env['TEST_LOG_LEVEL'] ?? 'silent'}
targets:
  ${name}:
    mode: sentinel
    endpoints: [${quote(fleet.nodes)}]
    sentinel: { masterName: ${fleet.masterName}, endpoints: [${quote(fleet.sentinels)}] }
    role: store
${fleet.password !== undefined ? '    password: "${RR_FLEET_PW}"\n    secrets: { masterauth: "${RR_FLEET_PW}" }\n' : ''}approvers:
  - { id: alice, roles: [redis.dba-operator] }
  - { id: bob, roles: [redis.cluster-admin] }
  - { id: carol, roles: [redis.cluster-admin] }
`;
  const env = fleet.password !== undefined ? { RR_FLEET_PW: fleet.password } : {};
  const config = parseConfig(text, '<fleet test>', env, { baseDir: process.cwd() });
  return createApp(config, { http: true, worker: true, schedules: false, log: pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }) });
}

/** Mutating commands (INFO commandstats names) a test asserts were not sent before an approval. */
export const MUTATING = ['replicaof', 'slaveof', 'config|set', 'config|rewrite', 'failover', 'sentinel|failover', 'flushall', 'flushdb', 'client|kill', 'acl|setuser'];

/** Calls of the mutating commands on every running data node, `node command` → calls. */
export async function mutatingCalls(fleet: FaultFleet): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const n of fleet.nodes.filter((x) => x.running())) {
    const calls = await fleet.commandCalls(n);
    for (const c of MUTATING) out[`${n.key} ${c}`] = calls[c] ?? 0;
  }
  return out;
}
