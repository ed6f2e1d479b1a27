/**
 * The cluster runbooks end to end on one real 6-node cluster (3 primaries, 3 replicas,
 * cluster-node-timeout 2 s): Alertmanager webhook → diagnosis → proposal → approval over HTTP →
 * execution → verification on the live processes, for a slot left half-migrated (finished when
 * both ends are healthy, rolled back when the destination is out of memory), and for a primary
 * killed while its replica may not fail over, then one killed with no replica at all. The
 * actions' crash-recovery checks (applied) and their refusals are exercised directly first.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { createScannedApp, post, testConfigText, testPrefix, webhookBody } from '../helpers/app.js';
import { parseConfig } from '../../src/config.js';
import type { ActionContext, TargetHandle } from '../../src/actions/types.js';
import { ConnectionPool } from '../../src/actions/redis/connection.js';
import { clusterMigrateBatch } from '../../src/actions/redis/cluster-migrate-batch.js';
import { clusterSetslotNode } from '../../src/actions/redis/cluster-setslot-node.js';
import { clusterSlotKeys } from '../../src/actions/redis/cluster-slot-keys.js';
import { FINAL_STATES } from '../../src/engine/types.js';
import type { TimelineEntry } from '../../src/engine/types.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';
import { closedTimeline, waitIncidentFor, waitState } from '../helpers/incidents.js';
import { stopChild, track, waitExit } from '../helpers/processes.js';
import type { ClusterNodeProc, TestCluster } from '../helpers/cluster.js';
import { countKeys, fillSlot, keysOn, killPrimary, openMigration, orphanPrimary, replicasOf, resetSlot, setNoFailover, startTestCluster } from '../helpers/cluster.js';

const BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'redis-runbooks.js');
const dir = mkdtempSync(join(tmpdir(), 'rr-cluster-rb-'));

let store: RedisProcess;
let tc: TestCluster;
let app: App;
const pool = new ConnectionPool();
const log = pino({ level: 'silent' });

function ctx(node: ClusterNodeProc): ActionContext {
  const target: TargetHandle = {
    name: 'cluster-test',
    mode: 'cluster',
    role: 'store',
    endpoints: tc.nodes.map((n) => ({ host: n.host, port: n.port })),
    sentinels: [],
    allowAutomatic: false,
    connect: async (n) => pool.get(n),
  };
  return { target, node: { host: node.host, port: node.port }, findings: {}, params: {}, dryRun: false, log, signal: new AbortController().signal, now: () => Date.now() };
}

/** Every live node's CLUSTER NODES `myself` line markers and slot list, for before/after comparisons. */
async function snapshot(): Promise<string[]> {
  const out: string[] = [];
  for (const n of tc.nodes) {
    if (!n.alive()) continue;
    const self = String(await n.client().call('CLUSTER', 'NODES')).split('\n').find((l) => l.includes('myself')) ?? '';
    const f = self.trim().split(/\s+/);
    out.push(`${n.addr} ${f[2]} ${f[3]} ${f.slice(8).join(' ')}`);
  }
  return out;
}

async function timeline(id: string): Promise<TimelineEntry[]> {
  return (await app.engine.getTimeline(id)) ?? [];
}

/** Reads every key through a real cluster client (follows MOVED/ASK like an application). */
async function readAll(keys: string[]): Promise<number> {
  const c = tc.clusterClient();
  let found = 0;
  for (const k of keys) if ((await c.get(k)) !== null) found++;
  return found;
}

function alert(alertname: string, instance: string, fp: string, extra: Record<string, string> = {}) {
  return webhookBody([{ labels: { alertname, instance, severity: 'warning', job: 'redis', ...extra }, fingerprint: fp }]);
}

beforeAll(async () => {
  store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  tc = await startTestCluster({ nodeTimeout: 2000 });
  app = await clusterApp(testPrefix(), { http: true, worker: true });
}, 90_000);

/** The engine's config with the test cluster as target `cluster-test` (mode cluster). */
function configText(prefix: string, engineYaml?: string): string {
  return testConfigText({ storeUrl: store.url, prefix, targets: { 'cluster-test': { endpoints: tc.seeds, role: 'store' } }, ...(engineYaml ? { engineYaml } : {}) }).replace('  cluster-test:\n', '  cluster-test:\n    mode: cluster\n');
}

async function clusterApp(prefix: string, parts: { http: boolean; worker: boolean }): Promise<App> {
  const config = parseConfig(configText(prefix), '<test>', {}, { baseDir: process.cwd() });
  return createScannedApp(config, { ...parts, schedules: false, log });
}

afterAll(async () => {
  await app?.close().catch(() => undefined);
  await pool.closeAll();
  await tc?.stop();
  await store?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('cluster actions, directly', () => {
  it('plan names the exact keys; applied() tells a moved batch from one not sent; keys on both sides are refused', async () => {
    const { slot, keys } = await fillSlot(tc, 'direct', 30);
    const m = await openMigration(tc, slot, 10);
    const found = await clusterSlotKeys.run(clusterSlotKeys.input.parse({ slot }), ctx(m.source));
    expect(found).toMatchObject({ slot, source: m.source.addr, destination: m.destination.addr, sourceKeys: 20, destinationKeys: 10, totalKeys: 30, bothSides: [], sourceHealthy: true, destinationHealthy: true });

    const input = clusterMigrateBatch.input.parse({ slot, batch: 8 });
    const plan = await clusterMigrateBatch.plan!(input, ctx(m.source));
    expect(plan).toHaveLength(1);
    const cmd = plan[0]!;
    expect(cmd.node).toBe(m.source.addr);
    expect(cmd.argv.slice(0, 7)).toEqual(['MIGRATE', m.destination.host, String(m.destination.port), '', '0', '5000', 'KEYS']);
    const batch = cmd.argv.slice(7);
    expect(batch).toHaveLength(8);
    expect(batch.every((k) => keys.includes(k) && !m.moved.includes(k))).toBe(true);
    expect(await clusterMigrateBatch.applied!(cmd, input, ctx(m.source))).toBe(false);
    const res = await clusterMigrateBatch.run(input, ctx(m.source), plan);
    expect(res).toMatchObject({ moved: 8, remaining: 12, complete: true });
    expect(await clusterMigrateBatch.applied!(cmd, input, ctx(m.source))).toBe(true);

    // AUTH2 through a secret reference: the plan names the secret, the value is only sent
    const withAuth = clusterMigrateBatch.input.parse({ slot, batch: 2, authSecret: 'cluster-pass' });
    const secretCtx = ctx(m.source);
    secretCtx.target.secret = (name) => (name === 'cluster-pass' ? 's3cr3t-value' : undefined);
    const authPlan = await clusterMigrateBatch.plan!(withAuth, secretCtx);
    expect(authPlan[0]?.argv.slice(6, 10)).toEqual(['AUTH2', 'default', '${secret:cluster-pass}', 'KEYS']);
    const authRes = await clusterMigrateBatch.run(withAuth, secretCtx, authPlan); // default user has nopass: any password is accepted
    expect(authRes).toMatchObject({ moved: 2, complete: true });
    expect(JSON.stringify(authRes)).not.toContain('s3cr3t-value');

    // the same key on both ends: never overwritten, the plan is refused naming it
    const dup = (await keysOn(m.source, slot))[0]!;
    await m.destination.client().call('RESTORE-ASKING', dup, '0', (await m.source.client().dumpBuffer(dup)) as Buffer);
    expect(await clusterMigrateBatch.applied!({ ...cmd, argv: [...cmd.argv.slice(0, 7), dup] }, input, ctx(m.source))).toBeUndefined();
    await expect(clusterMigrateBatch.plan!(input, ctx(m.source))).rejects.toThrow(new RegExp(`exist on both .*${dup.replace(/[{}]/g, '\\$&')}`));
    // SETSLOT NODE plan: destination first, then the source, then the third master
    const setPlan = await clusterSetslotNode.plan!(clusterSetslotNode.input.parse({ slot }), ctx(m.source));
    expect(setPlan.map((c) => c.node).slice(0, 2)).toEqual([m.destination.addr, m.source.addr]);
    expect(setPlan).toHaveLength(3);
    expect(setPlan.every((c) => c.argv.join(' ') === `CLUSTER SETSLOT ${slot} NODE ${m.destination.id}`)).toBe(true);
    await m.destination.client().call('ASKING');
    await m.destination.client().call('DEL', dup);
    await resetSlot(tc, slot, m.source);
    expect(await countKeys(m.source, slot)).toBe(30);
  }, 60_000);
});

describe('redis-slot-migration-stuck', () => {
  it('finishes a half-done migration toward its destination after approval, in batches, losing no key', async () => {
    const { slot, keys } = await fillSlot(tc, 'finish', 250);
    const m = await openMigration(tc, slot, 60);
    const before = await snapshot();
    const url = app.http?.url ?? '';
    expect((await post(`${url}/webhooks/alertmanager`, alert('RedisClusterOpenSlots', m.source.addr, 'c1a0000000000001', { slot: String(slot), state: 'migrating' }))).status).toBe(202);
    const id = await waitIncidentFor(app, 'c1a0000000000001');
    const waiting = await waitState(app, id, ['awaiting_approval'], 60_000);
    const p = waiting.pendingApproval;
    expect(p?.remediation).toBe('finish');
    expect(p?.risk).toBe('disruptive');
    expect(p?.role).toBe('redis.cluster-admin');
    const cmds = p?.commands ?? [];
    // the exact plan: one batch of 100 from the source to the destination, then SETSLOT NODE on
    // the destination, the source and the third master
    expect(cmds[0]?.node).toBe(m.source.addr);
    expect(cmds[0]?.argv.slice(0, 7)).toEqual(['MIGRATE', m.destination.host, String(m.destination.port), '', '0', '5000', 'KEYS']);
    expect(cmds[0]?.argv.length).toBe(7 + 100);
    expect(cmds.slice(1).map((c) => [c.node, c.argv.join(' ')])).toEqual([
      [m.destination.addr, `CLUSTER SETSLOT ${slot} NODE ${m.destination.id}`],
      [m.source.addr, `CLUSTER SETSLOT ${slot} NODE ${m.destination.id}`],
      [expect.any(String), `CLUSTER SETSLOT ${slot} NODE ${m.destination.id}`],
    ]);
    const notes = (await timeline(id)).map((e) => e.summary).join('\n');
    expect(notes).toContain(`slot ${slot} open: ${m.source.addr} MIGRATING → ${m.destination.addr}`);
    expect(notes).toContain('190 keys left on the source, 60 already on the destination');
    // nothing changed before the approval
    expect(await snapshot()).toEqual(before);
    expect([await countKeys(m.source, slot), await countKeys(m.destination, slot)]).toEqual([190, 60]);

    expect((await post(`${url}/api/incidents/${id}/approve`, { by: 'alice' })).status).toBe(403); // dba-operator < cluster-admin
    expect((await post(`${url}/api/incidents/${id}/approve`, { by: 'bob' })).status).toBe(200);
    const done = await waitState(app, id, [...FINAL_STATES], 90_000);
    expect(done.state, done.outcome).toBe('resolved');

    // live: the destination owns the slot everywhere, no marker anywhere, every key there once
    const after = await snapshot();
    expect(after.some((l) => l.includes(`[${slot}-`))).toBe(false);
    expect((await tc.ownerOf(slot)).id).toBe(m.destination.id);
    expect([await countKeys(m.source, slot), await countKeys(m.destination, slot)]).toEqual([0, 250]);
    expect((await keysOn(m.destination, slot)).sort()).toEqual([...keys].sort());
    expect(await readAll(keys)).toBe(250);
    const tl = await timeline(id);
    const migrates = tl.filter((e) => e.kind === 'command.executed' && e.summary.includes('MIGRATE'));
    expect(migrates.map((e) => e.summary.split(' KEYS ')[1]?.split(' → ')[0]?.split(' ').length)).toEqual([100, 90]);
    expect(tl.some((e) => e.kind === 'verification.passed')).toBe(true);
  }, 150_000);

  it('rolls back when the destination cannot take the keys (out of memory), moving back what it already has', async () => {
    const { slot, keys } = await fillSlot(tc, 'rollback', 120);
    const m = await openMigration(tc, slot, 40);
    const used = Number(/used_memory:(\d+)/.exec(String(await m.destination.client().call('INFO', 'memory')))?.[1]);
    await m.destination.client().call('CONFIG', 'SET', 'maxmemory', String(Math.ceil(used * 1.02)));
    try {
      const before = await snapshot();
      const url = app.http?.url ?? '';
      await post(`${url}/webhooks/alertmanager`, alert('RedisClusterOpenSlots', m.destination.addr, 'c1a0000000000002', { slot: String(slot), state: 'importing' }));
      const id = await waitIncidentFor(app, 'c1a0000000000002');
      const waiting = await waitState(app, id, ['awaiting_approval'], 60_000);
      const p = waiting.pendingApproval;
      expect(p?.remediation).toBe('rollback');
      const cmds = p?.commands ?? [];
      expect(cmds.map((c) => [c.node, c.argv.slice(0, 4).join(' ')])).toEqual([
        [m.source.addr, `CLUSTER SETSLOT ${slot} STABLE`],
        [m.destination.addr, `MIGRATE ${m.source.host} ${m.source.port} `],
        [m.destination.addr, `CLUSTER SETSLOT ${slot} STABLE`],
      ]);
      expect(cmds[1]?.argv.slice(7).sort()).toEqual([...m.moved].sort());
      const notes = (await timeline(id)).map((e) => e.summary).join('\n');
      expect(notes).toMatch(new RegExp(`destination ${m.destination.addr} is unhealthy .*memory at \\d+% of maxmemory`));
      expect(notes).toContain('80 keys left on the source, 40 already on the destination');
      expect(await snapshot()).toEqual(before);

      expect((await post(`${url}/api/incidents/${id}/approve`, { by: 'bob' })).status).toBe(200);
      const done = await waitState(app, id, [...FINAL_STATES], 90_000);
      expect(done.state, done.outcome).toBe('resolved');
      expect((await snapshot()).some((l) => l.includes(`[${slot}-`))).toBe(false);
      expect((await tc.ownerOf(slot)).id).toBe(m.source.id);
      expect([await countKeys(m.source, slot), await countKeys(m.destination, slot)]).toEqual([120, 0]);
      expect(await readAll(keys)).toBe(120);
    } finally {
      await m.destination.client().call('CONFIG', 'SET', 'maxmemory', '0');
    }
  }, 150_000);

  it('a worker killed -9 in the middle of the key moves: the next one resumes, no key moved twice or lost', async () => {
    const { slot, keys } = await fillSlot(tc, 'crash', 450);
    const m = await openMigration(tc, slot, 50);
    const prefix = testPrefix();
    const cfg = (n: number): string => {
      const f = join(dir, `worker-${n}.yaml`);
      writeFileSync(f, configText(prefix, `  faultInjection: { killAfterCommands: ${n} }`));
      return f;
    };
    const worker = (file: string): ChildProcess => track(spawn(process.execPath, [BIN, 'worker', '--config', file], { stdio: 'ignore', env: { ...process.env, LOG_LEVEL: 'silent' } }));
    const door = await clusterApp(prefix, { http: true, worker: false });
    const children: ChildProcess[] = [];
    try {
      children.push(worker(cfg(1)));
      const url = door.http?.url ?? '';
      await post(`${url}/webhooks/alertmanager`, alert('RedisClusterOpenSlots', m.source.addr, 'c1a0000000000005', { slot: String(slot), state: 'migrating' }));
      const id = await waitIncidentFor(door, 'c1a0000000000005');
      await waitState(door, id, ['awaiting_approval'], 60_000);
      expect((await post(`${url}/api/incidents/${id}/approve`, { by: 'bob' })).status).toBe(200);
      // Worker 1 is killed right after its first MIGRATE, workers 2 and 3 after two more each.
      expect(await waitExit(children[0]!, 60_000)).toBe(true);
      expect(children[0]!.signalCode).toBe('SIGKILL');
      for (const n of [2, 2]) {
        const child = worker(cfg(n));
        children.push(child);
        expect(await waitExit(child, 60_000)).toBe(true);
        expect(child.signalCode).toBe('SIGKILL');
        // between crashes: the slot's keys are on one end or the other, never both, never lost
        const [onA, onB] = [await keysOn(m.source, slot), await keysOn(m.destination, slot)];
        expect(onA.length + onB.length).toBe(450);
        expect(onA.filter((k) => onB.includes(k))).toEqual([]);
      }
      const finisher = await clusterApp(prefix, { http: false, worker: true });
      try {
        const done = await waitState(finisher, id, [...FINAL_STATES], 90_000);
        expect(done.state, done.outcome).toBe('resolved');
        const tl = await closedTimeline(finisher, id);
        expect(tl.filter((e) => /interrupted \(the worker stopped while sending it\); checked on the live target: already in place, not sent again/.test(e.summary)).length).toBe(3);
        const sent = tl.filter((e) => e.kind === 'command.executed' && e.summary.includes('MIGRATE')).flatMap((e) => e.summary.split(' KEYS ')[1]?.split(' → ')[0]?.split(' ') ?? []);
        expect(new Set(sent).size).toBe(sent.length); // no key in two MIGRATEs
      } finally {
        await finisher.close();
      }
      expect([await countKeys(m.source, slot), await countKeys(m.destination, slot)]).toEqual([0, 450]);
      expect((await tc.ownerOf(slot)).id).toBe(m.destination.id);
      expect(await readAll(keys)).toBe(450);
    } finally {
      for (const c of children) await stopChild(c);
      await door.close();
    }
  }, 240_000);
});

describe('redis-cluster-state-not-ok', () => {
  it('a primary killed while its replica may not fail over: the replica is promoted with FORCE after approval, with the keys', async () => {
    const { slot, keys } = await fillSlot(tc, 'failover', 50);
    const master = await tc.ownerOf(slot);
    const lost = (await tc.live()).find((l) => l.id === master.id)?.slots.reduce((n, r) => n + (Number(r.split('-')[1] ?? r) - Number(r.split('-')[0]) + 1), 0);
    const [replica] = await replicasOf(tc, master);
    if (!replica) throw new Error('no replica');
    await master.client().call('WAIT', '1', '2000');
    await setNoFailover(replica, true);
    await killPrimary(tc, master);
    const survivor = tc.nodes.find((n) => n.alive() && n !== replica)!;
    // it does not fail over on its own
    await new Promise((r) => setTimeout(r, 3 * tc.nodeTimeout));
    expect(String(await survivor.client().call('CLUSTER', 'INFO'))).toContain('cluster_state:fail');
    expect(((await replica.client().call('ROLE')) as unknown[])[0]).toBe('slave');

    const url = app.http?.url ?? '';
    await post(`${url}/webhooks/alertmanager`, alert('RedisClusterStateNotOk', survivor.addr, 'c1a0000000000003'));
    const id = await waitIncidentFor(app, 'c1a0000000000003');
    const waiting = await waitState(app, id, ['awaiting_approval'], 60_000);
    const p = waiting.pendingApproval;
    expect(p?.remediation).toBe('failover-force');
    expect(p?.commands.map((c) => [c.node, c.argv.join(' ')])).toEqual([[replica.addr, 'CLUSTER FAILOVER FORCE']]);
    const notes = (await timeline(id)).map((e) => e.summary).join('\n');
    expect(notes).toContain(`${replica.addr} has cluster-replica-no-failover yes`);
    expect(notes, notes).toContain(`${lost} slots not served`);
    expect(notes).toContain('2 of 3 slot-owning primaries reachable');
    expect(((await replica.client().call('ROLE')) as unknown[])[0]).toBe('slave'); // nothing before approval

    expect((await post(`${url}/api/incidents/${id}/approve`, { by: 'bob' })).status).toBe(200);
    const done = await waitState(app, id, [...FINAL_STATES], 90_000);
    expect(done.state, (await timeline(id)).map((e) => `${e.kind}: ${e.summary}`).join('\n')).toBe('resolved');
    expect(((await replica.client().call('ROLE')) as unknown[])[0]).toBe('master');
    for (const n of tc.nodes.filter((x) => x.alive())) {
      expect(String(await n.client().call('CLUSTER', 'INFO'))).toMatch(/cluster_state:ok[\s\S]*cluster_slots_ok:16384/);
    }
    expect(await countKeys(replica, slot)).toBe(50);
    expect(await readAll(keys)).toBe(50);
    await setNoFailover(replica, false);
  }, 150_000);

  it('a primary with no replica is killed: escalated, naming the lost slots, nothing sent', async () => {
    const live = await tc.live();
    const masters = live.filter((l) => l.flags.includes('master') && !l.flags.includes('fail') && l.slots.length > 0).map((l) => tc.byId(l.id));
    const [victim, other] = masters;
    if (!victim || !other) throw new Error('need two live masters');
    await orphanPrimary(tc, victim, other);
    const slots = live.find((l) => l.id === victim.id)?.slots.join(' ') ?? '';
    await killPrimary(tc, victim);
    const survivor = tc.nodes.find((n) => n.alive())!;
    const url = app.http?.url ?? '';
    await post(`${url}/webhooks/alertmanager`, alert('RedisClusterStateNotOk', survivor.addr, 'c1a0000000000004'));
    const id = await waitIncidentFor(app, 'c1a0000000000004');
    const done = await waitState(app, id, [...FINAL_STATES], 60_000);
    expect(done.state).toBe('escalated');
    expect(done.outcome).toContain(`slots ${slots}`);
    expect(done.outcome).toMatch(/no reachable replica/);
    const tl = await timeline(id);
    expect(tl.some((e) => e.kind === 'command.intent' || e.kind === 'command.executed' || e.kind === 'approval.requested')).toBe(false);
  }, 90_000);
});
