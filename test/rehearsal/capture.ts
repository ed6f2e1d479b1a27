/**
 * Capture rehearsal cases from real servers: plant a fault on throwaway redis-server / Sentinel /
 * Cluster processes, let the real engine diagnose it (no dry run: it stops at the approval gate or
 * closes), and turn the incident into a case with `recordCase` (findings and plans from its
 * timeline; expectations from the rehearsal, checked against what the incident did). Writes
 * `runbooks/rehearsals/<runbook>.rehearsal.yaml`.
 *
 *   npx tsx test/rehearsal/capture.ts memory|replication|failover|cluster|auth …
 *
 * Not a test: it regenerates fixtures. `test/unit/rehearsal-shipped.test.ts` rehearses what it wrote.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { App } from '../../src/app.js';
import { loadDeps } from '../../src/app.js';
import { actions } from '../../src/actions/registry.js';
import type { ActionDefinition } from '../../src/actions/types.js';
import { FINAL_STATES } from '../../src/engine/types.js';
import { loadRunbookDir } from '../../src/engine/runbook/load.js';
import type { CompiledRunbook } from '../../src/engine/runbook/load.js';
import { recordCase } from '../../src/engine/rehearsal/record.js';
import type { RehearsalCase } from '../../src/engine/rehearsal/schema.js';
import { parseConfig } from '../../src/config.js';
import { post, RUNBOOKS_DIR, startTestApp, webhookBody } from '../helpers/app.js';
import { waitIncidentFor, waitState } from '../helpers/incidents.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';
import { plantMixed, publishBytes, slowSubscriber } from '../integration/memory-plant.js';
import { startFaultFleet, startFleetApp, until } from '../helpers/sentinel-faults.js';
import { fillSlot, killPrimary, openMigration, orphanPrimary, replicasOf, resetSlot, setNoFailover, startTestCluster } from '../helpers/cluster.js';
import { testConfigText, testPrefix } from '../helpers/app.js';
import { createApp } from '../../src/app.js';
import { pino } from 'pino';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { mkdirSync as mkdirNow, rmSync } from 'node:fs';
import { waitFor } from '../helpers/redis-server.js';
import { tmpdir } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { Redis } from 'ioredis';
import { makePki, startTlsServer } from '../helpers/tls.js';
import type { TlsServer } from '../helpers/tls.js';
import type { FaultFleet, FleetProcess } from '../helpers/sentinel-faults.js';

const deps = { actions: actions as ReadonlyMap<string, ActionDefinition<unknown, unknown>> };
const MiB = 1024 * 1024;

function runbooks(): Map<string, CompiledRunbook> {
  const cfg = parseConfig(`store: { url: "redis://127.0.0.1:1" }\nrunbooksDir: ${RUNBOOKS_DIR}\n`, '<capture>', {}, { baseDir: process.cwd() });
  const { runbooks: list, errors } = loadRunbookDir(RUNBOOKS_DIR, loadDeps(cfg));
  if (errors.length > 0) throw new Error(errors.join('\n'));
  return new Map(list.map((r) => [r.def.name, r]));
}

const STOP = ['awaiting_approval', ...FINAL_STATES];

interface Captured {
  runbook: string;
  cases: RehearsalCase[];
}

async function record(app: App, rb: CompiledRunbook, id: string, name: string, source: string, target: RehearsalCase['target'], params?: RehearsalCase['params']): Promise<RehearsalCase> {
  const inc = await waitState(app, id, STOP, 120_000);
  // the closing timeline entry is written with the state; the last proposal entries just before it
  await new Promise((r) => setTimeout(r, 300));
  const timeline = (await app.engine.getTimeline(id)) ?? [];
  const { case: c, disagreements } = recordCase(rb, { name, source, incident: inc, timeline, target, ...(params ? { params } : {}) }, deps);
  if (disagreements.length > 0) throw new Error(`${rb.def.name} / ${name}: the rehearsal does not replay the incident:\n  ${disagreements.join('\n  ')}`);
  process.stderr.write(`captured ${rb.def.name} / ${name}: ${c.expect.state} ${JSON.stringify(c.expect.proposes)}\n`);
  // close it, so the next alert on this target opens its own incident instead of joining this one
  if (inc.state === 'awaiting_approval') {
    const r = await app.engine.reject(id, 'bob', 'cli', 'captured for a rehearsal');
    if (!r.ok) throw new Error(`could not close ${id}: ${r.message}`);
    await waitState(app, id, [...FINAL_STATES], 30_000);
  }
  return c;
}

async function alertIncident(app: App, labels: Record<string, string>, fp: string): Promise<string> {
  const r = await post(`${app.http?.url ?? ''}/webhooks/alertmanager`, webhookBody([{ labels, fingerprint: fp }]));
  if (r.status !== 202) throw new Error(`webhook answered ${r.status}`);
  return waitIncidentFor(app, fp);
}

/** Approve `remediation` (an option number when several are offered) by each of `by`. */
async function approveOption(app: App, id: string, remediation: string, by: string[]): Promise<void> {
  const p = (await waitState(app, id, ['awaiting_approval'], 120_000)).pendingApproval;
  const option = p?.options?.find((o) => o.remediation === remediation)?.option;
  if (p?.options && option === undefined) throw new Error(`${remediation} not offered: ${p.options.map((o) => o.remediation).join(', ')}`);
  for (const who of by) {
    const r = await app.engine.approve(id, who, 'cli', option !== undefined ? { option } : {});
    if (!r.ok) throw new Error(`approval by ${who} refused: ${r.message}`);
    if (r.state !== 'awaiting_approval') return;
  }
}

async function used(p: RedisProcess): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await p.client().info('memory'))?.[1] ?? 0);
}

async function squeeze(p: RedisProcess, share: number, policy: string): Promise<void> {
  const c = p.client();
  await c.config('SET', 'maxmemory-policy', policy);
  await c.config('SET', 'maxmemory', String(Math.floor((await used(p)) / share)));
}

async function captureMemory(rbs: Map<string, CompiledRunbook>): Promise<Captured> {
  const rb = rbs.get('redis-memory-pressure');
  if (!rb) throw new Error('no memory runbook');
  const store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  const mixed = await startRedis();
  const volatile = await startRedis();
  const lru = await startRedis();
  const storeTarget = await startRedis();
  const raise = await startRedis();
  const buffers = await startRedis();
  const biglist = await startRedis();
  const bighash = await startRedis();
  const t = (p: RedisProcess, role: 'cache' | 'store' = 'cache') => ({ endpoints: [`${p.host}:${p.port}`], role });
  const app = await startTestApp({ storeUrl: store.url, targets: { mixed: t(mixed), volatile: t(volatile), lru: t(lru), orders: t(storeTarget, 'store'), raise: t(raise), buffers: t(buffers), biglist: t(biglist), bighash: t(bighash) } });
  const cases: RehearsalCase[] = [];
  const target = (name: string, role: 'cache' | 'store' = 'cache'): RehearsalCase['target'] => ({ name, role, mode: 'standalone', allowAutomatic: false });
  try {
    await plantMixed(mixed.client(), { sessions: 20_000, cachePages: 5000, profiles: 2000, listLen: 2000, hashFields: 100 });
    await squeeze(mixed, 0.9, 'noeviction');
    let id = await alertIncident(app, { alertname: 'RedisMemoryHigh', instance: `${mixed.host}:${mixed.port}`, severity: 'warning' }, 'mem000000000001');
    cases.push(await record(app, rb, id, 'noeviction cache, session:* without TTL dominates: family fixes side by side, allkeys-lru withheld (it would evict state)', 'redis-server 7.0, plantMixed: 20k session:* strings without TTL, 5k cache pages, 2k profiles, a 2k-element queue list; maxmemory cut to used/0.9, noeviction', target('mixed')));

    const c = volatile.client();
    const p0 = c.pipeline();
    for (let i = 0; i < 20_000; i++) p0.set(`catalog:item:${i}`, 'v'.repeat(400));
    await p0.exec();
    await squeeze(volatile, 0.9, 'volatile-lru');
    id = await alertIncident(app, { alertname: 'RedisOOMRejections', instance: `${volatile.host}:${volatile.port}`, severity: 'critical' }, 'mem000000000002');
    cases.push(await record(app, rb, id, 'volatile-lru with no key carrying a TTL: the policy change offered beside the family fixes', 'redis-server 7.0: 20k catalog:item:* × 400 B without TTL, maxmemory cut to used/0.9, volatile-lru', target('volatile')));

    const l = lru.client();
    await l.config('SET', 'maxmemory', String(16 * MiB));
    await l.config('SET', 'maxmemory-policy', 'allkeys-lru');
    for (let s = 0; s < 40_000; s += 100) {
      const p = l.pipeline();
      for (let i = s; i < s + 100; i++) p.set(`page:${i}`, 'v'.repeat(500));
      await p.exec();
    }
    for (let s = 0; s < 20_000; s += 100) {
      const hits = l.pipeline();
      for (let i = s; i < s + 100; i++) hits.get(`page:${39_999 - (i % 2000)}`);
      await hits.exec();
    }
    id = await alertIncident(app, { alertname: 'RedisEvicting', instance: `${lru.host}:${lru.port}`, severity: 'info' }, 'mem000000000003');
    cases.push(await record(app, rb, id, 'a full allkeys-lru cache whose hit ratio holds: expected eviction, nothing proposed', 'redis-server 7.0: maxmemory 16 MiB allkeys-lru, 40k page:* × 500 B written (evictions), 20k reads of recent pages', target('lru')));

    await plantMixed(storeTarget.client(), { sessions: 20_000, cachePages: 5000, profiles: 2000, listLen: 2000, hashFields: 100 });
    await squeeze(storeTarget, 0.9, 'noeviction');
    id = await alertIncident(app, { alertname: 'RedisMemoryHigh', instance: `${storeTarget.host}:${storeTarget.port}`, severity: 'warning' }, 'mem000000000004');
    cases.push(await record(app, rb, id, 'the same memory on a store target: never a policy change, the family fixes and the raise', 'as the first case, on a target with role store', target('orders', 'store')));

    // the same volatile-lru server, as a dry run: every candidate planned in turn, nothing sent
    const dry = await app.engine.run('redis-memory-pressure', 'volatile', { dryRun: true, by: 'alice' });
    cases.push(await record(app, rb, dry.incidentId, 'the volatile-lru server as a dry run: each candidate planned in turn, nothing sent, completed', 'as the volatile-lru case, run with --dry-run', target('volatile')));

    // a subscriber that never reads
    const b = buffers.client();
    const pb = b.pipeline();
    for (let i = 0; i < 5000; i++) pb.set(`cache:item:${i}`, 'v'.repeat(200), 'EX', 3600);
    await pb.exec();
    await b.config('SET', 'client-output-buffer-limit', 'pubsub 0 0 0');
    await b.config('SET', 'maxmemory', String(32 * MiB));
    const slow = await slowSubscriber(buffers.port, 'prices', 'price-feed');
    try {
      await publishBytes(b, 'prices', 40 * MiB);
      id = await alertIncident(app, { alertname: 'RedisMemoryHigh', instance: `${buffers.host}:${buffers.port}`, severity: 'warning' }, 'mem000000000006');
      cases.push(await record(app, rb, id, 'a pub/sub subscriber that never reads: kill that client by id and bound the pubsub class', 'redis-server 7.0: 5000 cache:item:* with TTL, client-output-buffer-limit pubsub 0 0 0, maxmemory 32 MiB; a raw-socket client price-feed SUBSCRIBEd and stopped reading while 40 MiB were published', target('buffers')));
    } finally {
      slow.close();
    }

    // one list nobody trims
    const l2 = biglist.client();
    for (let s = 0; s < 200_000; s += 5000) {
      const p = l2.pipeline();
      for (let i = s; i < s + 5000; i++) p.rpush('events:log', `{"event":${i},"kind":"click"}`);
      await p.exec();
    }
    const pc = l2.pipeline();
    for (let i = 0; i < 3000; i++) pc.set(`cache:page:${i}`, 'c'.repeat(200), 'EX', 3600);
    await pc.exec();
    await squeeze(biglist, 0.9, 'noeviction');
    id = await alertIncident(app, { alertname: 'RedisMemoryHigh', instance: `${biglist.host}:${biglist.port}`, severity: 'warning' }, 'mem000000000007');
    cases.push(await record(app, rb, id, 'one list nobody trims holds most key bytes: trim it (two approvers) or raise', 'redis-server 7.0: list events:log with 200k elements, 3000 cache:page:* with TTL; maxmemory cut to used/0.9, noeviction', target('biglist')));

    // one big hash
    const h2 = bighash.client();
    for (let s = 0; s < 60_000; s += 5000) {
      const p = h2.pipeline();
      for (let i = s; i < s + 5000; i++) p.hset('big:profiles', `field:${i}`, 'h'.repeat(100));
      await p.exec();
    }
    const ph = h2.pipeline();
    for (let i = 0; i < 3000; i++) ph.set(`cache:page:${i}`, 'c'.repeat(200), 'EX', 3600);
    await ph.exec();
    await squeeze(bighash, 0.9, 'noeviction');
    id = await alertIncident(app, { alertname: 'RedisMemoryHigh', instance: `${bighash.host}:${bighash.port}`, severity: 'warning' }, 'mem000000000008');
    cases.push(await record(app, rb, id, 'one hash holds most key bytes: delete it (UNLINK, two approvers) or raise', 'redis-server 7.0: hash big:profiles with 60k fields × 100 B, 3000 cache:page:* with TTL; maxmemory cut to used/0.9, noeviction', target('bighash')));

    // a full run: the raise chosen, sent, verified on the live target (usage under the threshold and no OOM for holdFor)
    await plantMixed(raise.client(), { sessions: 20_000, cachePages: 5000, profiles: 2000, listLen: 2000, hashFields: 100 });
    await squeeze(raise, 0.9, 'noeviction');
    id = await alertIncident(app, { alertname: 'RedisMemoryHigh', instance: `${raise.host}:${raise.port}`, severity: 'warning' }, 'mem000000000005');
    await approveOption(app, id, 'raise-maxmemory', ['alice']);
    await waitState(app, id, [...FINAL_STATES], 120_000);
    cases.push(await record(app, rb, id, 'raise maxmemory chosen: sent, verified on the live target, resolved', 'as the first case; option raise-maxmemory approved by alice, the engine sent it and polled memAfter and symNow until they held for 10 s', target('raise')));
  } finally {
    await app.close().catch(() => undefined);
    for (const p of [mixed, volatile, lru, storeTarget, raise, buffers, biglist, bighash, store]) await p.stop();
  }
  return { runbook: rb.def.name, cases };
}

/** A Sentinel fleet (primary with requirepass, two replicas with AOF, three Sentinels) for the replication and failover runbooks. */
async function withFleet<T>(failoverTimeoutMs: number, f: (fleet: FaultFleet, app: App) => Promise<T>): Promise<T> {
  const store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  const fleet = await startFaultFleet({ password: 'fleet-Secret-rh10', failoverTimeoutMs });
  await fleet.fill(5000, { prefix: 'session' });
  const app = await startFleetApp(fleet, { storeUrl: store.url });
  try {
    return await f(fleet, app);
  } finally {
    await app.close().catch(() => undefined);
    await fleet.stop();
    await store.stop();
  }
}

const SENTINEL_TARGET: RehearsalCase['target'] = { name: 'sess-prod', role: 'store', mode: 'sentinel', allowAutomatic: false };
let fp = 0;
const nextFp = (): string => `rh10${String(++fp).padStart(12, '0')}`;
const labelsFor = (alertname: string, node: FleetProcess): Record<string, string> => ({ alertname, instance: node.key, severity: 'critical' });

async function captureReplication(rbs: Map<string, CompiledRunbook>): Promise<Captured> {
  const rb = rbs.get('redis-replication-stuck');
  if (!rb) throw new Error('no replication runbook');
  const cases: RehearsalCase[] = [];
  await withFleet(60_000, async (fleet, app) => {
    const src = 'redis-server/redis-sentinel 7.0: primary with requirepass, two replicas with AOF, three Sentinels (failover-timeout 60 s), 5000 session:* keys';
    const primary = await fleet.primary();
    let id = await alertIncident(app, labelsFor('RedisReplicationLag', primary), nextFp());
    cases.push(await record(app, rb, id, 'a healthy fleet: nothing stuck, nothing proposed, resolved', `${src}; no fault`, SENTINEL_TARGET));

    let [victim] = await fleet.replicas();
    if (!victim) throw new Error('no replica');
    await fleet.pointAt(victim, '127.0.0.1', 1);
    id = await alertIncident(app, labelsFor('RedisReplicationBroken', victim), nextFp());
    await approveOption(app, id, 'repoint', ['alice']);
    await waitState(app, id, [...FINAL_STATES], 120_000);
    cases.push(await record(app, rb, id, 'a replica pointed at a wrong port: re-pointed at the primary the Sentinels name, verified, resolved', `${src}; REPLICAOF 127.0.0.1 1 on one replica; repoint approved by alice`, SENTINEL_TARGET));

    await fleet.restore();
    [, victim] = await fleet.replicas();
    if (!victim) throw new Error('no replica');
    await fleet.breakMasterauth(victim, 'not-the-password');
    const v = victim;
    await until(async () => /master_link_status:down/.test(String(await v.call('INFO', 'replication'))), 10_000, 'the link to drop');
    id = await alertIncident(app, labelsFor('RedisReplicationBroken', victim), nextFp());
    cases.push(await record(app, rb, id, 'a replica with a wrong masterauth: CONFIG SET masterauth from the target secret (a placeholder in the plan)', `${src}; CONFIG SET masterauth not-the-password on one replica and its link killed`, SENTINEL_TARGET));

    await fleet.restore();
    const p2 = await fleet.primary();
    [victim] = await fleet.replicas();
    if (!victim) throw new Error('no replica');
    await fleet.fill(20_000, { prefix: 'big', valueBytes: 1000 });
    await fleet.setReplicaBufferLimit(p2, '256kb 128kb 1');
    // the wrong-masterauth case's WRONGPASS entries are not this case's
    for (const n of fleet.nodes) await n.call('ACL', 'LOG', 'RESET');
    const load = fleet.writeLoad(p2, { valueBytes: 1024, keys: 1000, perSecond: 20_000, maxMs: 150_000 });
    try {
      await victim.kill();
      await victim.start();
      const syncFull = async (): Promise<number> => Number(/sync_full:(\d+)/.exec(String(await p2.call('INFO', 'stats')))?.[1] ?? 0);
      const s0 = await syncFull();
      await until(async () => (await syncFull()) >= s0 + 3, 30_000, 'full syncs to repeat');
      id = await alertIncident(app, labelsFor('RedisReplicaFullSyncLoop', p2), nextFp());
      cases.push(await record(app, rb, id, 'a full-sync loop under a write load: raise the replica output-buffer limit on the primary', `${src}; 20k × 1 KB keys more, client-output-buffer-limit replica 256kb 128kb 1 on the primary, a 20k writes/s load, a replica restarted`, SENTINEL_TARGET));
    } finally {
      await load.stop();
    }

  });
  return { runbook: rb.def.name, cases };
}

async function captureFailover(rbs: Map<string, CompiledRunbook>): Promise<Captured[]> {
  const missing = rbs.get('redis-failover-missing');
  const happened = rbs.get('redis-failover-happened');
  if (!missing || !happened) throw new Error('no failover runbooks');
  const m: RehearsalCase[] = [];
  const h: RehearsalCase[] = [];
  await withFleet(5000, async (fleet, app) => {
    const src = 'redis-server/redis-sentinel 7.0: primary with requirepass, two replicas with AOF, three Sentinels (down-after 1 s, failover-timeout 5 s), 5000 session:* keys';
    const [s0, s1, s2] = fleet.sentinels;
    if (!s0 || !s1 || !s2) throw new Error('sentinels');
    let id = await alertIncident(app, labelsFor('RedisSentinelMasterDown', s0), nextFp());
    m.push(await record(app, missing, id, 'a false alarm: the primary is up and every Sentinel names it', `${src}; no fault`, SENTINEL_TARGET));

    let old = await fleet.primary();
    await s1.kill();
    await s2.kill();
    await old.kill();
    await until(async () => /s_down/.test(JSON.stringify(await s0.call('SENTINEL', 'MASTER', fleet.masterName))), 10_000, 's_down on the last Sentinel');
    id = await alertIncident(app, labelsFor('RedisSentinelMasterDown', s0), nextFp());
    await approveOption(app, id, 'forced-failover', ['bob']);
    await waitState(app, id, [...FINAL_STATES], 120_000);
    m.push(await record(app, missing, id, 'two of three Sentinels down, then the primary killed: SENTINEL FAILOVER from the healthy one, verified, resolved', `${src}; two Sentinels stopped, then the primary SIGKILLed; forced-failover approved by bob`, SENTINEL_TARGET));

    await fleet.restore(60_000);
    old = await fleet.primary();
    for (const r of await fleet.replicas()) await fleet.setPriority(r, 0);
    await new Promise((r) => setTimeout(r, 1500));
    await old.kill();
    await until(async () => /o_down/.test(JSON.stringify(await s0.call('SENTINEL', 'MASTER', fleet.masterName))), 15_000, 'o_down');
    id = await alertIncident(app, labelsFor('RedisSentinelMasterDown', s0), nextFp());
    m.push(await record(app, missing, id, 'every replica at replica-priority 0, the primary killed: make the best replica eligible, then fail over', `${src}; replica-priority 0 on both replicas, then the primary SIGKILLed`, SENTINEL_TARGET));

    await fleet.restore(60_000);
    old = await fleet.primary();
    for (const x of fleet.sentinels) await x.kill();
    await old.kill();
    const [anyReplica] = fleet.nodes.filter((x) => x.running());
    if (!anyReplica) throw new Error('no replica running');
    id = await alertIncident(app, labelsFor('RedisMissingMaster', anyReplica), nextFp());
    m.push(await record(app, missing, id, 'no Sentinel answers and the primary is down: promote the best replica by hand (REPLICAOF NO ONE), re-point the others', `${src}; all three Sentinels stopped, then the primary SIGKILLed`, SENTINEL_TARGET));

    await fleet.restore(60_000);
    old = await fleet.primary();
    await old.kill();
    await until(async () => {
      const k = await fleet.sentinelPrimary();
      return k !== null && k !== old.key;
    }, 30_000, 'Sentinel to fail over');
    await old.start();
    const now = await fleet.waitSettled(60_000);
    id = await alertIncident(app, labelsFor('RedisSentinelFailover', fleet.sentinels[1] ?? now), nextFp());
    h.push(await record(app, happened, id, 'a real failover, the old primary back as a replica with its data: confirmed everywhere, resolved without a change', `${src}; the primary SIGKILLed, Sentinel failed over, the old primary restarted from its AOF`, SENTINEL_TARGET));

    const [rogue] = await fleet.replicas();
    if (!rogue) throw new Error('replica');
    await rogue.call('REPLICAOF', 'NO', 'ONE');
    id = await alertIncident(app, labelsFor('RedisSentinelFailover', s0), nextFp());
    h.push(await record(app, happened, id, "a replica promoted behind Sentinel's back: split views, escalated", `${src}; REPLICAOF NO ONE on a replica`, SENTINEL_TARGET));
  });
  return [
    { runbook: missing.def.name, cases: m },
    { runbook: happened.def.name, cases: h },
  ];
}

async function captureCluster(rbs: Map<string, CompiledRunbook>): Promise<Captured[]> {
  const slotRb = rbs.get('redis-slot-migration-stuck');
  const stateRb = rbs.get('redis-cluster-state-not-ok');
  if (!slotRb || !stateRb) throw new Error('no cluster runbooks');
  const store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  const tc = await startTestCluster({ nodeTimeout: 2000 });
  const text = testConfigText({ storeUrl: store.url, prefix: testPrefix(), targets: { 'cluster-test': { endpoints: tc.seeds, role: 'store' } } }).replace('  cluster-test:\n', '  cluster-test:\n    mode: cluster\n');
  const app = await createApp(parseConfig(text, '<capture>', {}, { baseDir: process.cwd() }), { http: true, worker: true, schedules: false, log: pino({ level: 'silent' }) });
  const target: RehearsalCase['target'] = { name: 'cluster-test', role: 'store', mode: 'cluster', allowAutomatic: false };
  const src = 'redis-server 7.0 cluster: 3 primaries, 3 replicas, cluster-node-timeout 2 s';
  const sl: RehearsalCase[] = [];
  const st: RehearsalCase[] = [];
  const labels = (alertname: string, instance: string, extra: Record<string, string> = {}) => ({ alertname, instance, severity: 'warning', job: 'redis', ...extra });
  try {
    let id = await alertIncident(app, labels('RedisClusterOpenSlots', tc.seeds[0] ?? ''), nextFp());
    sl.push(await record(app, slotRb, id, 'nothing open any more (the alert came late): resolved, nothing proposed', `${src}; no open slot`, target));

    let { slot } = await fillSlot(tc, 'finish', 250);
    let m = await openMigration(tc, slot, 60);
    id = await alertIncident(app, labels('RedisClusterOpenSlots', m.source.addr, { slot: String(slot), state: 'migrating' }), nextFp());
    await approveOption(app, id, 'finish', ['bob']);
    await waitState(app, id, [...FINAL_STATES], 120_000);
    sl.push(await record(app, slotRb, id, 'a half-done migration, both ends healthy: finished toward the destination in MIGRATE batches, slot assigned everywhere, verified', `${src}; 250 keys in one slot, SETSLOT IMPORTING/MIGRATING, 60 keys MIGRATEd; finish approved by bob`, target));

    ({ slot } = await fillSlot(tc, 'rollback', 120));
    m = await openMigration(tc, slot, 40);
    const used = Number(/used_memory:(\d+)/.exec(String(await m.destination.client().call('INFO', 'memory')))?.[1]);
    await m.destination.client().call('CONFIG', 'SET', 'maxmemory', String(Math.ceil(used * 1.02)));
    id = await alertIncident(app, labels('RedisClusterOpenSlots', m.destination.addr, { slot: String(slot), state: 'importing' }), nextFp());
    sl.push(await record(app, slotRb, id, 'the destination out of memory: roll the slot back to its source (move back what it has, clear both markers)', `${src}; 120 keys in one slot, 40 MIGRATEd, then the destination's maxmemory set 2% above its used memory`, target));
    await m.destination.client().call('CONFIG', 'SET', 'maxmemory', '0');
    await resetSlot(tc, slot, m.source);


    ({ slot } = await fillSlot(tc, 'failover', 50));
    const master = await tc.ownerOf(slot);
    const [replica] = await replicasOf(tc, master);
    if (!replica) throw new Error('no replica');
    await master.client().call('WAIT', '1', '2000');
    await setNoFailover(replica, true);
    await killPrimary(tc, master);
    const survivor = tc.nodes.find((n) => n.alive() && n !== replica);
    await new Promise((r) => setTimeout(r, 3 * tc.nodeTimeout));
    id = await alertIncident(app, labels('RedisClusterStateNotOk', survivor?.addr ?? ''), nextFp());
    await approveOption(app, id, 'failover-force', ['bob']);
    await waitState(app, id, [...FINAL_STATES], 120_000);
    st.push(await record(app, stateRb, id, 'a primary killed while its replica may not fail over: CLUSTER FAILOVER FORCE on the replica, verified, resolved', `${src}; cluster-replica-no-failover yes on the replica, its primary SIGKILLed, read 3 × node-timeout later; failover-force approved by bob`, target));
    await setNoFailover(replica, false);

    const live = await tc.live();
    const masters = live.filter((l) => l.flags.includes('master') && !l.flags.includes('fail') && l.slots.length > 0).map((l) => tc.byId(l.id));
    const [victim, other] = masters;
    if (!victim || !other) throw new Error('need two live masters');
    await orphanPrimary(tc, victim, other);
    await killPrimary(tc, victim);
    const alive = tc.nodes.find((n) => n.alive());
    await new Promise((r) => setTimeout(r, 3 * tc.nodeTimeout));
    id = await alertIncident(app, labels('RedisClusterStateNotOk', alive?.addr ?? ''), nextFp());
    st.push(await record(app, stateRb, id, 'a primary with no replica killed: escalated naming the lost slots, nothing proposed', `${src}; a primary's replica moved to another primary, then the primary SIGKILLed`, target));
  } finally {
    await app.close().catch(() => undefined);
    await tc.stop();
    await store.stop();
  }
  return [
    { runbook: slotRb.def.name, cases: sl },
    { runbook: stateRb.def.name, cases: st },
  ];
}

async function captureAuth(rbs: Map<string, CompiledRunbook>): Promise<Captured> {
  const rb = rbs.get('redis-auth-tls-errors');
  if (!rb) throw new Error('no auth-tls runbook');
  const dir = await mkdtemp(join(tmpdir(), 'rr-capture-auth-'));
  const pw = (p: string): string => `${p}-${randomBytes(9).toString('hex')}`;
  const [ENGINE_PW, APP_OLD, APP_NEW, ADMIN_PW] = [pw('Eng'), pw('Old'), pw('New'), pw('Adm')];
  const pki = await makePki(dir);
  const ca = await readFile(pki.caFile, 'utf8');
  const good = await pki.issue('good', { days: 60 });
  const soon = await pki.issue('soon', { days: 3 });
  const renewed = await pki.issue('renewed', { days: 90 });
  const expired = await pki.issue('expired', { notBefore: '20200101000000Z', notAfter: '20200201000000Z' });
  const served = { certFile: join(dir, 'served.crt'), keyFile: join(dir, 'served.key') };
  await copyFile(soon.certFile, served.certFile);
  await copyFile(soon.keyFile, served.keyFile);
  const [BILL_OLD, BILL_NEW] = [pw('BOld'), pw('BNew')];
  const users = [`user rr-ops on >${ENGINE_PW} ~* &* +@all`, `user app on >${APP_OLD} ~app:* +@read +@write -@dangerous`, `user billing on >${BILL_OLD} ~app:* +@read`];
  // The shipped runbook with a 2 s quiet period (the cases say params.quietFor: 2s) and 1 s polls of the wait.
  const runbooks = join(dir, 'runbooks');
  mkdirNow(runbooks);
  const shipped = await readFile(join(RUNBOOKS_DIR, 'redis-auth-tls-errors.yaml'), 'utf8');
  writeFileSync(join(runbooks, 'redis-auth-tls-errors.yaml'), shipped.replace(/quietFor: 10m/, 'quietFor: 2s').replace(/every: 30s/, 'every: 1s'));
  const quiet = { quietFor: '2s' };
  const store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  const rot: TlsServer = await startTlsServer({ dir: join(dir, 'rot'), cert: good, caFile: pki.caFile, adminPassword: ADMIN_PW, users });
  const certSrv: TlsServer = await startTlsServer({ dir: join(dir, 'cert'), cert: served, caFile: pki.caFile, adminPassword: ADMIN_PW, users });
  const tgt = (x: TlsServer, cluster: string) => ({ endpoints: [`${x.host}:${x.port}`], role: 'store' as const, username: 'rr-ops', password: '${RR_ENGINE_PW}', tls: { ca: pki.caFile }, labels: { redis_cluster: cluster } });
  const text = testConfigText({ storeUrl: store.url, prefix: testPrefix(), runbooksDir: runbooks, targets: { 'auth-rot': tgt(rot, 'rot'), 'auth-rot2': tgt(rot, 'rot2'), 'auth-cert': tgt(certSrv, 'cert') } })
    .replace(/(\n {2}auth-rot:[\s\S]*?\n {4}tls: .*)/, '$1\n    secrets: { rotation-new: "${RR_APP_NEW}", rotation-old: "${RR_APP_OLD}" }')
    .replace(/(\n {2}auth-rot2:[\s\S]*?\n {4}tls: .*)/, '$1\n    secrets: { rotation-new: "${RR_BILL_NEW}", rotation-old: "${RR_BILL_OLD}" }');
  const env = { RR_ENGINE_PW: ENGINE_PW, RR_APP_NEW: APP_NEW, RR_APP_OLD: APP_OLD, RR_BILL_NEW: BILL_NEW, RR_BILL_OLD: BILL_OLD };
  const app = await createApp(parseConfig(text, '<capture>', env, { baseDir: process.cwd() }), { http: true, worker: true, schedules: false, log: pino({ level: 'silent' }) });
  const target = (name: string): RehearsalCase['target'] => ({ name, role: 'store', mode: 'standalone', allowAutomatic: false });
  const src = 'TLS-only redis-server 7.0 with a test PKI, ACL users rr-ops (the engine), app (~app:* +@read +@write -@dangerous)';
  const cases: RehearsalCase[] = [];
  const appConnects = async (password: string, username = 'app'): Promise<string> => {
    const c = new Redis({ host: rot.host, port: rot.port, username, password, tls: { ca, servername: 'localhost' }, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false });
    c.on('error', () => undefined);
    try {
      await c.call('GET', 'app:1');
      return 'ok';
    } catch (e) {
      return (e as Error).message;
    } finally {
      c.disconnect();
    }
  };
  try {
    const raw = tlsConnect({ host: rot.host, port: rot.port, ca, servername: 'localhost' });
    raw.on('error', () => undefined);
    await new Promise((r) => raw.once('secureConnect', r));
    const spam = setInterval(() => raw.write('GET app:1\r\n'), 20);
    try {
      await new Promise((r) => setTimeout(r, 500));
      const id = await alertIncident(app, { alertname: 'RedisAuthFailures', instance: `${rot.host}:${rot.port}`, severity: 'warning', err: 'NOAUTH', redis_cluster: 'rot' }, nextFp());
      cases.push(await record(app, rb, id, 'a client without AUTH: reported by address, nothing proposed, the server unchanged', `${src}; a raw TLS client sending GET without AUTH every 20 ms`, target('auth-rot'), quiet));
    } finally {
      clearInterval(spam);
      raw.destroy();
    }
    await rot.client().call('ACL', 'LOG', 'RESET'); // the NOAUTH entries are not the next case's
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        await appConnects(APP_NEW);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    let id: string;
    try {
      await new Promise((r) => setTimeout(r, 500));
      id = await alertIncident(app, { alertname: 'RedisAuthFailures', instance: `${rot.host}:${rot.port}`, severity: 'warning', err: 'WRONGPASS', redis_cluster: 'rot' }, nextFp());
      cases.push(await record(app, rb, id, 'a client keeps using the rotated password: the two-phase rotation and the window only, side by side', `${src}; a client connecting as app with the new password every 100 ms while the server knows only the old one`, target('auth-rot'), quiet));
    } finally {
      stop = true;
      await loop;
    }

    // the two-phase rotation, run to the end: the new password added, the wait holds once nobody fails for 2 s, the old one removed
    stop = false;
    const billing = (async () => {
      while (!stop) {
        await appConnects(BILL_NEW, 'billing');
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 400));
      const started = await app.engine.run('redis-auth-tls-errors', 'auth-rot2', { dryRun: false, by: 'alice' });
      await approveOption(app, started.incidentId, 'rotate-password', ['alice']);
      await waitState(app, started.incidentId, [...FINAL_STATES], 90_000);
      cases.push(await record(app, rb, started.incidentId, 'the two-phase rotation run to the end: new password added, the wait holds once nobody fails, the old one removed, verified', `${src}; user billing; a client connecting as billing with the new password every 100 ms; run from the CLI, rotate-password approved by alice (quietFor 2 s)`, target('auth-rot2'), quiet));
    } finally {
      stop = true;
      await billing;
    }

    const conf = String(await readFile(certSrv.conf, 'utf8'));
    await copyFile(renewed.certFile, /tls-cert-file (\S+)/.exec(conf)?.[1] ?? '');
    await copyFile(renewed.keyFile, /tls-key-file (\S+)/.exec(conf)?.[1] ?? '');
    id = await alertIncident(app, { alertname: 'RedisCertificateExpiringSoon', instance: `${certSrv.host}:${certSrv.port}`, severity: 'warning' }, nextFp());
    await approveOption(app, id, 'reload-certificate', ['alice']);
    await waitState(app, id, [...FINAL_STATES], 60_000);
    cases.push(await record(app, rb, id, 'a certificate expiring in 3 days, a renewed one on disk: reloaded without a restart, verified on a fresh handshake', `${src}; served certificate valid 3 days, a 90-day one copied over its files; reload approved by alice`, target('auth-cert'), quiet));

    await certSrv.client().call('CONFIG', 'SET', 'tls-cert-file', expired.certFile, 'tls-key-file', expired.keyFile);
    id = await alertIncident(app, { alertname: 'RedisTLSHandshakeFailing', instance: `${certSrv.host}:${certSrv.port}`, severity: 'critical' }, nextFp());
    cases.push(await record(app, rb, id, 'an expired certificate served: new clients refused (cert_expired), escalated with the dates, nothing proposed', `${src}; CONFIG SET tls-cert-file to a certificate expired in 2020`, target('auth-cert'), quiet));
    await certSrv.client().call('CONFIG', 'SET', 'tls-cert-file', renewed.certFile, 'tls-key-file', renewed.keyFile);

  } finally {
    await app.close().catch(() => undefined);
    await Promise.allSettled([rot.stop(), certSrv.stop(), store.stop()]);
    await rm(dir, { recursive: true, force: true });
  }
  return { runbook: rb.def.name, cases };
}

async function captureLatency(rbs: Map<string, CompiledRunbook>): Promise<Captured> {
  const rb = rbs.get('redis-latency-spike');
  if (!rb) throw new Error('no latency runbook');
  const store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  const node = await startRedis({ args: ['--enable-debug-command', 'local', '--latency-monitor-threshold', '100'] });
  const app = await startTestApp({ storeUrl: store.url, targets: { api: { endpoints: [`${node.host}:${node.port}`], role: 'cache' } } });
  const target: RehearsalCase['target'] = { name: 'api', role: 'cache', mode: 'standalone', allowAutomatic: false };
  const src = 'redis-server 7.0 (enable-debug-command local, latency-monitor-threshold 100), 50k item:* keys';
  const named = (name: string): Redis => new Redis({ host: node.host, port: node.port, connectionName: name, maxRetriesPerRequest: 0, retryStrategy: () => null });
  const labels = { alertname: 'RedisLatencySpike', instance: `${node.host}:${node.port}`, severity: 'warning' };
  const cases: RehearsalCase[] = [];
  try {
    const c = node.client();
    for (let s = 0; s < 50_000; s += 5000) {
      const p = c.pipeline();
      for (let i = s; i < s + 5000; i++) p.set(`item:${i}`, 'v');
      await p.exec();
    }
    await c.call('SLOWLOG', 'RESET');
    const adhoc = named('adhoc');
    const job = named('report-job');
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        try {
          await job.call('DEBUG', 'SLEEP', '0.3');
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await adhoc.call('KEYS', 'item:secret*');
      await new Promise((r) => setTimeout(r, 1500));
      const id = await alertIncident(app, labels, nextFp());
      await approveOption(app, id, 'kill-client', ['alice']);
      await waitState(app, id, [...FINAL_STATES], 60_000);
      cases.push(await record(app, rb, id, 'a named client running DEBUG SLEEP 0.3 in a loop: CLIENT KILL ID of that client, latency clears, resolved', `${src}; client report-job running DEBUG SLEEP 0.3 every 100 ms, client adhoc ran KEYS once; the kill approved by alice`, target));
    } finally {
      stop = true;
      await loop;
      adhoc.disconnect();
      job.disconnect();
    }

    await c.call('SLOWLOG', 'RESET');
    const gone = named('nightly-export');
    for (let i = 0; i < 3; i++) await gone.call('DEBUG', 'SLEEP', '0.2');
    await gone.quit();
    const id = await alertIncident(app, labels, nextFp());
    cases.push(await record(app, rb, id, 'the slow job already left: it is the app, nothing proposed', `${src}; client nightly-export ran DEBUG SLEEP 0.2 three times and disconnected`, target));
  } finally {
    await app.close().catch(() => undefined);
    await node.stop();
    await store.stop();
  }
  return { runbook: rb.def.name, cases };
}

async function capturePersistence(rbs: Map<string, CompiledRunbook>): Promise<Captured> {
  const rb = rbs.get('redis-persistence-failing');
  if (!rb) throw new Error('no persistence runbook');
  const work = await mkdtemp(join(tmpdir(), 'rr-capture-persist-'));
  const goneDir = join(work, 'data');
  const stuckDir = join(work, 'stuck');
  mkdirNow(stuckDir);
  const fallbackDir = join(work, 'fallback');
  mkdirNow(goneDir);
  mkdirNow(fallbackDir);
  const base = ['--save', '3600 1', '--stop-writes-on-bgsave-error', 'yes', '--enable-protected-configs', 'local'];
  const store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  const gone = await startRedis({ configFile: true, args: [...base, '--dir', goneDir] });
  const blocked = await startRedis({ configFile: true, args: base });
  const stuck = await startRedis({ configFile: true, args: [...base, '--dir', stuckDir] });
  const t = (p: RedisProcess) => ({ endpoints: [`${p.host}:${p.port}`], role: 'store' as const });
  const app = await startTestApp({ storeUrl: store.url, targets: { orders: t(gone), ledger: t(blocked), audit: t(stuck) } });
  const persistence = async (r: RedisProcess): Promise<string> => String(await r.client().call('INFO', 'persistence'));
  const fill = async (r: RedisProcess, n: number): Promise<void> => {
    const p = r.client().pipeline();
    for (let i = 0; i < n; i++) p.set(`order:${i}`, `v${i}`);
    await p.exec();
  };
  const failSave = async (r: RedisProcess): Promise<void> => {
    await r.client().call('BGSAVE');
    await waitFor(async () => /rdb_last_bgsave_status:err/.test(await persistence(r)) && /rdb_bgsave_in_progress:0/.test(await persistence(r)), 10_000, 'bgsave error');
    await r.client().set('order:new', 'x').catch(() => undefined);
  };
  const labels = (r: RedisProcess, extra: Record<string, string> = {}) => ({ alertname: 'RedisPersistenceFailing', instance: `${r.host}:${r.port}`, severity: 'critical', failed: 'rdb_bgsave', ...extra });
  const src = 'redis-server 7.0 with a config file, save 3600 1, stop-writes-on-bgsave-error yes';
  const cases: RehearsalCase[] = [];
  try {
    await fill(gone, 2000);
    rmSync(goneDir, { recursive: true, force: true });
    await failSave(gone);
    let id = await alertIncident(app, labels(gone, { redis_fallback_dir: fallbackDir }), nextFp());
    await approveOption(app, id, 'move-dir', ['alice']);
    await waitState(app, id, [...FINAL_STATES], 60_000);
    cases.push(await record(app, rb, id, 'dir removed under the server: the fallback dir (from the alert label) chosen, a fresh save verified, resolved', `${src}; 2000 keys, dir removed, BGSAVE failed, a write refused with MISCONF; alert label redis_fallback_dir; move-dir approved by alice`, { name: 'orders', role: 'store', mode: 'standalone', allowAutomatic: false }));

    await fill(stuck, 300);
    rmSync(stuckDir, { recursive: true, force: true });
    await failSave(stuck);
    id = await alertIncident(app, labels(stuck), nextFp());
    cases.push(await record(app, rb, id, 'dir removed and no fallback configured: no retry can help, escalated saying what would', `${src}; 300 keys, dir removed, BGSAVE failed, no fallback directory anywhere`, { name: 'audit', role: 'store', mode: 'standalone', allowAutomatic: false }));

    await fill(blocked, 500);
    mkdirNow(join(blocked.dir, 'dump.rdb'));
    await failSave(blocked);
    id = await alertIncident(app, labels(blocked), nextFp());
    cases.push(await record(app, rb, id, 'dump.rdb blocked by a directory, no fallback configured: only the retry is offered, and says so', `${src}; 500 keys, a directory named dump.rdb in dir, BGSAVE failed (EISDIR)`, { name: 'ledger', role: 'store', mode: 'standalone', allowAutomatic: false }));
  } finally {
    await app.close().catch(() => undefined);
    for (const p of [gone, blocked, stuck, store]) await p.stop();
    await rm(work, { recursive: true, force: true });
  }
  return { runbook: rb.def.name, cases };
}

const CAPTURES: Record<string, (rbs: Map<string, CompiledRunbook>) => Promise<Captured | Captured[]>> = {
  memory: captureMemory,
  replication: captureReplication,
  failover: captureFailover,
  cluster: captureCluster,
  auth: captureAuth,
  latency: captureLatency,
  persistence: capturePersistence,
};

async function main(): Promise<void> {
  const rbs = runbooks();
  const which = process.argv.slice(2);
  for (const w of which.length > 0 ? which : Object.keys(CAPTURES)) {
    const f = CAPTURES[w];
    if (!f) throw new Error(`unknown capture ${w} (known: ${Object.keys(CAPTURES).join(', ')})`);
    const got = await f(rbs);
    for (const { runbook, cases } of Array.isArray(got) ? got : [got]) {
      const dir = join(RUNBOOKS_DIR, 'rehearsals');
      mkdirSync(dir, { recursive: true });
      const header = `# Rehearsals of ${runbook}: findings and plans captured from real servers by test/rehearsal/capture.ts (${w}).\n# Run: redis-runbooks test ${runbook}\n`;
      writeFileSync(join(dir, `${runbook}.rehearsal.yaml`), header + stringify({ runbook, cases }, { lineWidth: 0, aliasDuplicateObjects: false }));
    }
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
