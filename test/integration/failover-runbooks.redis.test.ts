/**
 * redis-failover-missing and redis-failover-happened end to end on a real Sentinel fleet (primary
 * with requirepass, two replicas with AOF, three Sentinels, down-after 1 s, failover-timeout 5 s):
 * two of three Sentinels stopped and then the primary killed; every replica at priority 0 and the
 * primary killed; a real failover after the primary is killed and the old primary restarted with
 * its data; a replica promoted behind Sentinel's back (split views). Each asserts the diagnosis,
 * the exact plan, nothing mutated before the approval (INFO commandstats of the data nodes and of
 * the Sentinels), the fix on the live processes, verification, and no key lost. One fleet for the
 * file, restored between tests (stopped processes started again, priorities reset).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { FINAL_STATES } from '../../src/engine/types.js';
import type { IncidentDetail, TimelineEntry } from '../../src/engine/types.js';
import { post, webhookBody } from '../helpers/app.js';
import { startRedis, type RedisProcess } from '../helpers/redis-server.js';
import { waitIncidentFor, waitState } from '../helpers/incidents.js';
import { mutatingCalls, startFaultFleet, startFleetApp, until, type FaultFleet, type FleetProcess } from '../helpers/sentinel-faults.js';

const PW = 'fleet-Secret-b41c';
const KEYS = 5000;
let fleet: FaultFleet;
let store: RedisProcess;
let app: App;
let seq = 0;

beforeAll(async () => {
  store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  fleet = await startFaultFleet({ password: PW });
  await fleet.fill(KEYS, { prefix: 'session' });
  app = await startFleetApp(fleet, { storeUrl: store.url });
});

afterAll(async () => {
  await app?.close().catch(() => undefined);
  await fleet?.stop();
  await store?.stop();
});

beforeEach(async () => {
  await fleet.restore();
});

async function alert(name: string, instance: FleetProcess): Promise<string> {
  const fp = `fail${String(++seq).padStart(12, '0')}`;
  const r = await post(`${app.http?.url ?? ''}/webhooks/alertmanager`, webhookBody([{ labels: { alertname: name, instance: instance.key, severity: 'critical' }, fingerprint: fp }]));
  expect(r.status).toBe(202);
  return waitIncidentFor(app, fp);
}

async function timeline(id: string): Promise<TimelineEntry[]> {
  return (await app.engine.getTimeline(id)) ?? [];
}

function notes(tl: TimelineEntry[]): string {
  return tl.filter((e) => e.kind === 'note' || e.kind.startsWith('decision') || e.kind.startsWith('incident.')).map((e) => e.summary).join('\n');
}

async function sentinelFailovers(): Promise<number[]> {
  return Promise.all(
    fleet.sentinels.filter((s) => s.running()).map(async (s) => Number(/cmdstat_sentinel\|failover:calls=(\d+)/.exec(String(await s.call('INFO', 'commandstats')))?.[1] ?? 0)),
  );
}

async function approve(id: string, by: string): Promise<void> {
  const ok = await post(`${app.http?.url ?? ''}/api/incidents/${id}/approve`, { by });
  expect(ok.status).toBe(200);
}

async function finish(id: string): Promise<IncidentDetail> {
  return waitState(app, id, [...FINAL_STATES], 120_000);
}

/** Every running Sentinel names `key`, it says role:master, and every other running node follows it. */
async function expectFollowing(key: string): Promise<void> {
  for (const s of fleet.sentinels.filter((x) => x.running())) {
    expect(await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', fleet.masterName)).toEqual(key.split(':'));
  }
  const p = fleet.node(key);
  expect(String(await p.call('INFO', 'replication'))).toMatch(/role:master/);
  for (const n of fleet.nodes.filter((x) => x.running() && x !== p)) {
    const info = String(await n.call('INFO', 'replication'));
    expect(info).toMatch(new RegExp(`master_port:${p.port}\\b`));
    expect(info).toMatch(/master_link_status:up/);
  }
  expect(await fleet.dbsize(p)).toBeGreaterThanOrEqual(KEYS);
}

describe('redis-failover-missing', () => {
  it('two of three Sentinels stopped, then the primary killed: a forced SENTINEL FAILOVER from the healthy one', async () => {
    const old = await fleet.primary();
    const [s0, s1, s2] = fleet.sentinels;
    if (!s0 || !s1 || !s2) throw new Error('sentinels');
    await s1.kill();
    await s2.kill();
    await old.kill();
    await until(async () => /s_down/.test(JSON.stringify(await s0.call('SENTINEL', 'MASTER', fleet.masterName))), 10_000, 's_down on the last Sentinel');
    const before = await mutatingCalls(fleet);
    const sBefore = await sentinelFailovers();
    const id = await alert('RedisSentinelMasterDown', s0);
    const waiting = await waitState(app, id, ['awaiting_approval'], 60_000);
    const p = waiting.pendingApproval;
    expect(p?.remediation).toBe('forced-failover');
    expect(p?.role).toBe('redis.cluster-admin');
    expect(p?.commands.map((c) => [c.node, c.argv.join(' ')])).toEqual([[s0.key, `SENTINEL FAILOVER ${fleet.masterName}`]]);
    const replicas = fleet.nodes.filter((n) => n !== old).map((n) => n.key);
    expect(p?.commands[0]?.note).toMatch(new RegExp(`from ${old.key.replace(/\./g, '\\.')} .*expected promotion: (${replicas.join('|').replace(/\./g, '\\.')})`));
    const text = notes(await timeline(id));
    expect(text).toContain(`1/3 Sentinels answer (down: ${[s1.key, s2.key].sort().join(', ')})`);
    expect(text).toContain(`${old.key} unreachable (refused)`);
    expect(text).toContain('o_down on 0, quorum 2, majority needs 2');
    expect(await mutatingCalls(fleet)).toEqual(before);
    expect(await sentinelFailovers()).toEqual(sBefore);
    expect(await fleet.sentinelPrimary()).toBe(old.key); // nothing failed over by itself

    // alice (dba-operator) may not approve a cluster-admin remediation; bob may
    expect((await post(`${app.http?.url ?? ''}/api/incidents/${id}/approve`, { by: 'alice' })).status).toBe(403);
    await approve(id, 'bob');
    const done = await finish(id);
    expect(done.state).toBe('resolved');
    const now = await fleet.sentinelPrimary();
    expect(now).not.toBe(old.key);
    expect(replicas).toContain(now);
    await expectFollowing(now ?? '');
    expect((await timeline(id)).map((e) => e.kind)).toContain('verification.passed');
  });

  it('every replica at priority 0 and the primary killed: makes the best replica eligible and forces the failover', async () => {
    const old = await fleet.primary();
    const replicas = await fleet.replicas();
    for (const r of replicas) await fleet.setPriority(r, 0);
    await new Promise((r) => setTimeout(r, 1500));
    await old.kill();
    const s0 = fleet.sentinels[0];
    if (!s0) throw new Error('sentinel');
    await until(async () => /o_down/.test(JSON.stringify(await s0.call('SENTINEL', 'MASTER', fleet.masterName))), 15_000, 'o_down');
    const before = await mutatingCalls(fleet);
    const sBefore = await sentinelFailovers();
    const id = await alert('RedisSentinelMasterDown', s0);
    const waiting = await waitState(app, id, ['awaiting_approval'], 60_000);
    const p = waiting.pendingApproval;
    expect(p?.remediation).toBe('make-eligible');
    const cmds = p?.commands.map((c) => [c.node, c.argv.join(' ')]) ?? [];
    expect(cmds).toHaveLength(3);
    const best = cmds[0]?.[0] ?? '';
    expect(replicas.map((r) => r.key)).toContain(best);
    expect(cmds.slice(0, 2)).toEqual([
      [best, 'CONFIG SET replica-priority 100'],
      [best, 'CONFIG REWRITE'],
    ]);
    expect(cmds[2]?.[1]).toBe(`SENTINEL FAILOVER ${fleet.masterName}`);
    expect(p?.commands[0]?.note).toMatch(/replica-priority 0 → 100 \(offset \d+, the highest of 2 replica\(s\) at priority 0/);
    expect(notes(await timeline(id))).toMatch(/eligible replicas: none \(127\.0\.0\.1:\d+: replica-priority 0; 127\.0\.0\.1:\d+: replica-priority 0\)/);
    expect(await mutatingCalls(fleet)).toEqual(before);
    expect(await sentinelFailovers()).toEqual(sBefore);

    await approve(id, 'bob');
    const done = await finish(id);
    expect(done.state).toBe('resolved');
    expect(await fleet.sentinelPrimary()).toBe(best);
    await expectFollowing(best);
  }, 150_000); // its own waits allow 60 s for the failover to settle: the file default (60 s) left no room
});

describe('redis-failover-happened', () => {
  it('a real failover, the old primary restarted with its data: confirmed from every Sentinel and node, resolved without approval', async () => {
    const old = await fleet.primary();
    await old.kill();
    await until(async () => {
      const k = await fleet.sentinelPrimary();
      return k !== null && k !== old.key;
    }, 30_000, 'Sentinel to fail over');
    await old.start(); // with its AOF: it comes back with its keys and is turned into a replica
    const now = await fleet.waitSettled(60_000);
    const before = await mutatingCalls(fleet);
    const id = await alert('RedisSentinelFailover', fleet.sentinels[1] ?? now);
    const done = await finish(id);
    expect(done.state).toBe('resolved');
    expect(done.pendingApproval).toBeUndefined();
    const text = notes(await timeline(id));
    expect(text).toContain(`3/3 Sentinels answer; primary ${now.key} named by 3; ${now.key} is up (role master)`);
    expect(text).toMatch(new RegExp(`config-epoch [1-9]\\d*: ${now.key.replace(/\./g, '\\.')} is the primary`));
    expect(text).toContain(`2 replica(s) follow ${now.key}, links up`);
    expect(text).toContain(`keys on the primary ${KEYS}, most on any node ${KEYS}, all equal true`);
    expect(text).toContain('no fail-back is proposed');
    expect(await mutatingCalls(fleet)).toEqual(before);
    expect(String(await old.call('INFO', 'replication'))).toMatch(new RegExp(`role:slave[\\s\\S]*master_port:${now.port}\\b`));
  });

  it('a replica promoted behind Sentinel\'s back: split views, escalated', async () => {
    const now = await fleet.primary();
    const [rogue] = await fleet.replicas();
    if (!rogue) throw new Error('replica');
    await rogue.call('REPLICAOF', 'NO', 'ONE');
    const id = await alert('RedisSentinelFailover', fleet.sentinels[0] ?? now);
    const done = await finish(id);
    expect(done.state).toBe('escalated');
    expect(done.outcome).toMatch(new RegExp(`claiming role:master besides ${now.key.replace(/\./g, '\\.')}: .*${rogue.key.replace(/\./g, '\\.')}`));
  });
});

describe('redis-failover-missing without any Sentinel', () => {
  it('no Sentinel answers and the primary is dead: promotion by hand of the highest offset, two approvers, escalated for the human follow-up', async () => {
    const old = await fleet.primary();
    const replicas = await fleet.replicas();
    for (const s of fleet.sentinels) await s.kill();
    await old.kill();
    const [first] = replicas;
    if (!first) throw new Error('replica');
    const before = await mutatingCalls(fleet);
    const id = await alert('RedisMissingMaster', first);
    const waiting = await waitState(app, id, ['awaiting_approval'], 60_000);
    const p = waiting.pendingApproval;
    expect(p?.remediation).toBe('manual-promote');
    expect(p?.risk).toBe('disruptive');
    expect(p?.approversRequired).toBe(2);
    const cmds = p?.commands.map((c) => [c.node, c.argv.join(' ')]) ?? [];
    const best = cmds[0]?.[0] ?? '';
    const other = replicas.map((r) => r.key).find((k) => k !== best) ?? '';
    expect(replicas.map((r) => r.key)).toContain(best);
    expect(cmds).toEqual([
      [best, 'REPLICAOF NO ONE'],
      [other, `REPLICAOF ${best.replace(':', ' ')}`],
    ]);
    expect(p?.commands[0]?.note).toMatch(new RegExp(`promote ${best.replace(/\./g, '\\.')}: highest offset \\d+ of 2 reachable replica\\(s\\).*old primary .* unreachable and not touched`));
    expect(notes(await timeline(id))).toContain('0/3 Sentinels answer');
    expect(await mutatingCalls(fleet)).toEqual(before);

    await approve(id, 'bob');
    await new Promise((r) => setTimeout(r, 500));
    expect((await app.engine.getIncident(id))?.state).toBe('awaiting_approval'); // one of two
    expect(await mutatingCalls(fleet)).toEqual(before);
    await approve(id, 'carol');
    const done = await finish(id);
    expect(done.state).toBe('escalated');
    expect((await timeline(id)).map((e) => e.kind)).toContain('verification.passed');
    const b = fleet.node(best);
    expect(String(await b.call('INFO', 'replication'))).toMatch(/role:master/);
    const o = String(await fleet.node(other).call('INFO', 'replication'));
    expect(o).toMatch(new RegExp(`master_port:${b.port}\\b`));
    await until(async () => /master_link_status:up/.test(String(await fleet.node(other).call('INFO', 'replication'))), 10_000, 'the other replica to link');
    expect(await fleet.dbsize(b)).toBe(KEYS);
  });
});
