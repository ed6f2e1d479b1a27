/**
 * A 6-node Redis Cluster (3 primaries, 3 replicas) for the cluster runbook tests, on real
 * processes with explicit bus ports and a short `cluster-node-timeout` (failure detection in
 * ~2 s), plus the faults those tests plant: a slot left half-migrated, a killed primary, a replica
 * that may not fail over, a primary without a replica. Nodes can be SIGKILLed and restarted on the
 * same port and directory (their nodes.conf survives). `stop()` ends exactly the processes started
 * here and removes their directories.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { exited, stopChild, track, waitExit } from './processes.js';
import { freePort, waitFor } from './redis-server.js';

const HOST = '127.0.0.1';
const run = promisify(execFile);

/** One cluster node process. Its port, bus port and directory stay the same across restarts. */
export interface ClusterNodeProc {
  host: string;
  port: number;
  busPort: number;
  dir: string;
  /** `host:port`. */
  addr: string;
  /** Cluster node id (fixed once the node exists; kept across restarts by nodes.conf). */
  id: string;
  /** A shared plain client (reconnects; made on first use). */
  client(): Redis;
  alive(): boolean;
  /** SIGKILL: no shutdown, no save. */
  kill(): Promise<void>;
  /** Starts the process again on the same port and directory (after {@link kill}). */
  restart(): Promise<void>;
}

/** The live role of every node, read from one node's CLUSTER NODES. */
export interface LiveNode {
  id: string;
  addr: string;
  flags: string[];
  masterId: string | null;
  slots: string[];
}

export interface TestCluster {
  nodes: ClusterNodeProc[];
  /** `host:port` of every node (seed list for clients and target config). */
  seeds: string[];
  nodeTimeout: number;
  byAddr(addr: string): ClusterNodeProc;
  byId(id: string): ClusterNodeProc;
  /** CLUSTER NODES as seen by a live node. */
  live(): Promise<LiveNode[]>;
  /** The master owning `slot` (as a live node sees it). */
  ownerOf(slot: number): Promise<ClusterNodeProc>;
  /** An ioredis Cluster client (made on first use, closed by stop). */
  clusterClient(): Cluster;
  /** Waits until every live node says cluster_state:ok, 16384 slots ok, and agrees on the owners. */
  waitOk(ms?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Options for {@link startTestCluster}. */
export interface TestClusterOptions {
  /** `cluster-node-timeout` in ms (default 2000). */
  nodeTimeout?: number;
}

function plainClient(port: number): Redis {
  const c = new Redis({ host: HOST, port, maxRetriesPerRequest: 1, enableReadyCheck: false, connectTimeout: 1000, retryStrategy: (n) => (n > 1000 ? null : 200) });
  c.on('error', () => undefined);
  return c;
}

async function tail(file: string): Promise<string> {
  return (await readFile(file, 'utf8').catch(() => '')).trim().split('\n').slice(-6).join('\n');
}

async function pingable(port: number): Promise<boolean> {
  const c = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500, enableReadyCheck: false });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

async function startNode(nodeTimeout: number): Promise<ClusterNodeProc> {
  const dir = await mkdtemp(join(tmpdir(), 'rr-cluster-'));
  let child: ChildProcess | undefined;
  let shared: Redis | undefined;
  let port = 0;
  let busPort = 0;
  const spawnIt = async (): Promise<boolean> => {
    const args = [
      '--port', String(port), '--bind', HOST, '--dir', dir, '--logfile', join(dir, 'redis.log'), '--daemonize', 'no',
      '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction',
      '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(busPort),
      '--cluster-node-timeout', String(nodeTimeout),
    ];
    const c = track(spawn('redis-server', args, { stdio: 'ignore' }));
    c.once('error', () => undefined);
    child = c;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !exited(c)) {
      if (await pingable(port)) return true;
      await sleep(50);
    }
    await stopChild(c);
    return false;
  };
  let ok = false;
  for (let attempt = 0; attempt < 3 && !ok; attempt++) {
    port = await freePort();
    busPort = await freePort();
    ok = await spawnIt();
  }
  if (!ok) {
    const why = await tail(join(dir, 'redis.log'));
    await rm(dir, { recursive: true, force: true });
    throw new Error(`cluster node failed to start: ${why}`);
  }
  const node: ClusterNodeProc = {
    host: HOST,
    port,
    busPort,
    dir,
    addr: `${HOST}:${port}`,
    id: '',
    client() {
      if (!shared || shared.status === 'end') shared = plainClient(port);
      return shared;
    },
    alive: () => child !== undefined && !exited(child),
    async kill() {
      if (child && !exited(child)) {
        child.kill('SIGKILL');
        await waitExit(child, 5000);
      }
    },
    async restart() {
      if (child && !exited(child)) throw new Error(`node ${port} is still running`);
      if (!(await spawnIt())) throw new Error(`node ${port} did not restart: ${await tail(join(dir, 'redis.log'))}`);
    },
  };
  Object.defineProperty(node, 'stopAll', {
    enumerable: false,
    value: async () => {
      shared?.disconnect();
      if (child) await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  });
  node.id = String(await node.client().call('CLUSTER', 'MYID'));
  return node;
}

/** Parses CLUSTER NODES just enough for the helpers (the code under test has its own parser). */
function liveNodes(text: string): LiveNode[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 8)
    .map((f) => ({
      id: f[0] ?? '',
      addr: (f[1] ?? '').split('@')[0] ?? '',
      flags: (f[2] ?? '').split(','),
      masterId: f[3] === '-' ? null : (f[3] ?? null),
      slots: f.slice(8),
    }));
}

function ownsSlot(n: LiveNode, slot: number): boolean {
  return n.slots.some((s) => {
    if (s.startsWith('[')) return false;
    const [a, b] = s.split('-').map(Number);
    return a !== undefined && slot >= a && slot <= (b ?? a);
  });
}

/** Six nodes joined by `redis-cli --cluster create … --cluster-replicas 1`, all ok and linked. */
export async function startTestCluster(opts: TestClusterOptions = {}): Promise<TestCluster> {
  const nodeTimeout = opts.nodeTimeout ?? 2000;
  const nodes: ClusterNodeProc[] = [];
  let cc: Cluster | undefined;
  const stop = async (): Promise<void> => {
    cc?.disconnect();
    await Promise.all(nodes.map((n) => (n as unknown as { stopAll(): Promise<void> }).stopAll()));
  };
  const tc: TestCluster = {
    nodes,
    seeds: [],
    nodeTimeout,
    byAddr(addr) {
      const n = nodes.find((x) => x.addr === addr);
      if (!n) throw new Error(`no node ${addr}`);
      return n;
    },
    byId(id) {
      const n = nodes.find((x) => x.id === id);
      if (!n) throw new Error(`no node ${id}`);
      return n;
    },
    async live() {
      for (const n of nodes) {
        if (!n.alive()) continue;
        try {
          return liveNodes(String(await n.client().call('CLUSTER', 'NODES')));
        } catch {
          continue;
        }
      }
      throw new Error('no live cluster node answered CLUSTER NODES');
    },
    async ownerOf(slot) {
      const owner = (await tc.live()).find((l) => l.flags.includes('master') && !l.flags.includes('fail') && ownsSlot(l, slot));
      if (!owner) throw new Error(`no owner for slot ${slot}`);
      return tc.byId(owner.id);
    },
    clusterClient() {
      if (!cc) {
        cc = new Cluster(
          nodes.map((n) => ({ host: n.host, port: n.port })),
          { redisOptions: { maxRetriesPerRequest: 2, connectTimeout: 1000 }, clusterRetryStrategy: (n) => (n > 20 ? null : 200), slotsRefreshTimeout: 2000 },
        );
        cc.on('error', () => undefined);
      }
      return cc;
    },
    async waitOk(ms = 30_000) {
      await waitFor(
        async () => {
          const views: string[] = [];
          for (const n of nodes) {
            if (!n.alive()) continue;
            const info = String(await n.client().call('CLUSTER', 'INFO'));
            if (!/cluster_state:ok/.test(info) || !/cluster_slots_ok:16384\b/.test(info)) return false;
            const owners = liveNodes(String(await n.client().call('CLUSTER', 'NODES')))
              .filter((l) => l.flags.includes('master') && l.slots.length > 0)
              .map((l) => `${l.id}:${l.slots.filter((s) => !s.startsWith('[')).join(',')}`)
              .sort()
              .join(' ');
            views.push(owners);
          }
          return views.length > 0 && views.every((v) => v === views[0]);
        },
        ms,
        'every live node: cluster_state:ok, 16384 slots ok, same owners',
      );
    },
    stop,
  };
  try {
    for (let i = 0; i < 6; i++) nodes.push(await startNode(nodeTimeout));
    tc.seeds = nodes.map((n) => n.addr);
    await run('redis-cli', ['--cluster', 'create', ...tc.seeds, '--cluster-replicas', '1', '--cluster-yes'], { timeout: 60_000 });
    await tc.waitOk();
    await waitFor(
      async () => {
        const roles = await Promise.all(nodes.map((n) => n.client().call('ROLE') as Promise<unknown[]>));
        return roles.filter((r) => r[0] === 'slave' && r[3] === 'connected').length === 3;
      },
      30_000,
      'cluster replicas connected',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return tc;
}

// ------------------------------------------------------------------------------------ keys

/** `count` keys `{tag}:<i>` (one hash slot), written through the cluster client; returns slot and keys. */
export async function fillSlot(tc: TestCluster, tag: string, count: number, valueBytes = 64): Promise<{ slot: number; keys: string[] }> {
  const owner = await tc.ownerOf(await slotOf(tc, `{${tag}}`));
  const keys = Array.from({ length: count }, (_, i) => `{${tag}}:${i}`);
  const value = 'v'.repeat(valueBytes);
  const p = owner.client().pipeline();
  for (const k of keys) p.set(k, value);
  for (const [err] of (await p.exec()) ?? []) if (err) throw err;
  return { slot: await slotOf(tc, `{${tag}}`), keys };
}

/** CLUSTER KEYSLOT on a live node. */
export async function slotOf(tc: TestCluster, key: string): Promise<number> {
  const n = tc.nodes.find((x) => x.alive());
  if (!n) throw new Error('no live node');
  return Number(await n.client().call('CLUSTER', 'KEYSLOT', key));
}

/** CLUSTER COUNTKEYSINSLOT on one node. */
export async function countKeys(n: ClusterNodeProc, slot: number): Promise<number> {
  return Number(await n.client().call('CLUSTER', 'COUNTKEYSINSLOT', String(slot)));
}

/** Every key of `slot` stored on `n` (CLUSTER GETKEYSINSLOT, not key-routed). */
export async function keysOn(n: ClusterNodeProc, slot: number): Promise<string[]> {
  const count = await countKeys(n, slot);
  if (count === 0) return [];
  return (await n.client().call('CLUSTER', 'GETKEYSINSLOT', String(slot), String(count))) as string[];
}

// ------------------------------------------------------------------------------------ faults

/** A migration opened by hand and left half done. */
export interface OpenMigration {
  slot: number;
  source: ClusterNodeProc;
  destination: ClusterNodeProc;
  keys: string[];
  moved: string[];
}

/**
 * Opens slot `slot`'s migration by hand, as a reshard would: IMPORTING on the destination,
 * MIGRATING on the source, MIGRATE the first `move` keys — and stops there.
 */
export async function openMigration(tc: TestCluster, slot: number, move: number, destination?: ClusterNodeProc): Promise<OpenMigration> {
  const source = await tc.ownerOf(slot);
  const live = await tc.live();
  const dest =
    destination ??
    tc.byId(live.find((l) => l.flags.includes('master') && !l.flags.includes('fail') && l.id !== source.id && l.slots.length > 0)?.id ?? '');
  const keys = await keysOn(source, slot);
  await dest.client().call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', source.id);
  await source.client().call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', dest.id);
  const moved = keys.slice(0, move);
  if (moved.length > 0) await source.client().call('MIGRATE', dest.host, String(dest.port), '', '0', '5000', 'KEYS', ...moved);
  return { slot, source, destination: dest, keys, moved };
}

/**
 * Puts `slot` back on `owner` whatever state it is in: keys moved back, STABLE on every master,
 * SETSLOT NODE owner everywhere; then waits for a clean, agreeing cluster.
 */
export async function resetSlot(tc: TestCluster, slot: number, owner: ClusterNodeProc): Promise<void> {
  const masters = (await tc.live()).filter((l) => l.flags.includes('master') && !l.flags.includes('fail')).map((l) => tc.byId(l.id));
  // The owner first: while it is MIGRATING it answers ASK to keys moved back to it.
  await owner.client().call('CLUSTER', 'SETSLOT', String(slot), 'STABLE');
  for (const m of masters) {
    if (m === owner) continue;
    const keys = await keysOn(m, slot);
    for (let i = 0; i < keys.length; i += 100) {
      await m.client().call('MIGRATE', owner.host, String(owner.port), '', '0', '5000', 'REPLACE', 'KEYS', ...keys.slice(i, i + 100));
    }
  }
  await owner.client().call('CLUSTER', 'SETSLOT', String(slot), 'NODE', owner.id);
  for (const m of masters) {
    if (m === owner) continue;
    await m.client().call('CLUSTER', 'SETSLOT', String(slot), 'STABLE');
    await m.client().call('CLUSTER', 'SETSLOT', String(slot), 'NODE', owner.id);
  }
  await tc.waitOk();
}

/** `cluster-replica-no-failover yes|no` on a replica. */
export async function setNoFailover(n: ClusterNodeProc, on: boolean): Promise<void> {
  await n.client().call('CONFIG', 'SET', 'cluster-replica-no-failover', on ? 'yes' : 'no');
}

/** The replicas of `master` as a live node sees them. */
export async function replicasOf(tc: TestCluster, master: ClusterNodeProc): Promise<ClusterNodeProc[]> {
  return (await tc.live()).filter((l) => l.masterId === master.id).map((l) => tc.byId(l.id));
}

/** Kills `master` and waits until the live nodes flag it `fail` (cluster_state:fail if no one takes over). */
export async function killPrimary(tc: TestCluster, master: ClusterNodeProc): Promise<void> {
  await master.kill();
  await waitFor(
    async () => (await tc.live()).some((l) => l.id === master.id && l.flags.includes('fail')),
    tc.nodeTimeout * 10,
    `node ${master.addr} flagged fail`,
  );
}

/**
 * Leaves `master` without a replica: its replica becomes a replica of `other` instead. Returns the
 * moved replica (give it back with `CLUSTER REPLICATE <master id>`).
 */
export async function orphanPrimary(tc: TestCluster, master: ClusterNodeProc, other: ClusterNodeProc): Promise<ClusterNodeProc[]> {
  const reps = await replicasOf(tc, master);
  for (const r of reps) await r.client().call('CLUSTER', 'REPLICATE', other.id);
  await waitFor(async () => (await tc.live()).every((l) => l.masterId !== master.id), 15_000, `${master.addr} without replicas`);
  return reps;
}

/**
 * Brings a killed node back and, when it returns as a replica of its promoted replica, makes it
 * the master again (CLUSTER FAILOVER, coordinated) so the next test starts from the first layout.
 */
export async function healNode(tc: TestCluster, n: ClusterNodeProc, wasMaster: boolean): Promise<void> {
  if (!n.alive()) await n.restart();
  await waitFor(async () => !(await tc.live()).some((l) => l.id === n.id && (l.flags.includes('fail') || l.flags.includes('fail?'))), 30_000, `${n.addr} back`);
  if (wasMaster) {
    await waitFor(
      async () => {
        const roles = (await n.client().call('ROLE')) as unknown[];
        if (roles[0] === 'master') return true;
        if (roles[3] !== 'connected') return false;
        await n.client().call('CLUSTER', 'FAILOVER').catch(() => undefined);
        await sleep(1000);
        return ((await n.client().call('ROLE')) as unknown[])[0] === 'master';
      },
      30_000,
      `${n.addr} master again`,
    );
  }
  await tc.waitOk();
}
