/**
 * redis-replication-stuck end to end on a real Sentinel fleet (primary with requirepass, two
 * replicas with AOF, three Sentinels; failover-timeout 60 s so Sentinel does not repair the faults
 * itself during a test): an Alertmanager alert → diagnosis → the exact plan → nothing mutated
 * before the approval (INFO commandstats) → approval over HTTP → the fix on the live processes →
 * verification → resolved, with no key lost. Faults: a replica pointed at a wrong port, a replica
 * with a wrong masterauth, a full-sync loop (replica output-buffer limit too small under a write
 * load). One fleet for the file, restored between tests.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { FINAL_STATES } from '../../src/engine/types.js';
import type { IncidentDetail, TimelineEntry } from '../../src/engine/types.js';
import { post, webhookBody } from '../helpers/app.js';
import { startRedis, type RedisProcess } from '../helpers/redis-server.js';
import { waitIncidentFor, waitState } from '../helpers/incidents.js';
import { mutatingCalls, startFaultFleet, startFleetApp, until, type FaultFleet, type FleetProcess } from '../helpers/sentinel-faults.js';

const PW = 'fleet-Secret-7f3a';
let fleet: FaultFleet;
let store: RedisProcess;
let app: App;
let seq = 0;

beforeAll(async () => {
  store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  fleet = await startFaultFleet({ password: PW, failoverTimeoutMs: 60_000 });
  await fleet.fill(5000, { prefix: 'session' });
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
  const fp = `repl${String(++seq).padStart(12, '0')}`;
  const r = await post(`${app.http?.url ?? ''}/webhooks/alertmanager`, webhookBody([{ labels: { alertname: name, instance: instance.key, severity: 'critical' }, fingerprint: fp }]));
  expect(r.status).toBe(202);
  return waitIncidentFor(app, fp);
}

async function timeline(id: string): Promise<TimelineEntry[]> {
  return (await app.engine.getTimeline(id)) ?? [];
}

function notes(tl: TimelineEntry[]): string {
  return tl.filter((e) => e.kind === 'note' || e.kind.startsWith('decision')).map((e) => e.summary).join('\n');
}

async function replication(n: FleetProcess): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of String(await n.call('INFO', 'replication')).split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

async function approveAndFinish(id: string, by: string): Promise<IncidentDetail> {
  const ok = await post(`${app.http?.url ?? ''}/api/incidents/${id}/approve`, { by });
  expect(ok.status).toBe(200);
  return waitState(app, id, [...FINAL_STATES], 120_000);
}

async function keyCounts(): Promise<number[]> {
  return Promise.all(fleet.nodes.map((n) => fleet.dbsize(n)));
}

describe('redis-replication-stuck', () => {
  it('a replica pointed at a wrong port: names it, re-points it at the primary the Sentinels name, verified', async () => {
    const primary = await fleet.primary();
    const [victim] = await fleet.replicas();
    if (!victim) throw new Error('no replica');
    await fleet.pointAt(victim, '127.0.0.1', 1);
    const before = await mutatingCalls(fleet);
    const id = await alert('RedisReplicationBroken', victim);
    const waiting = await waitState(app, id, ['awaiting_approval'], 60_000);
    const p = waiting.pendingApproval;
    expect(p?.remediation).toBe('repoint');
    expect(p?.commands.map((c) => [c.node, c.argv.join(' ')])).toEqual([
      [victim.key, `REPLICAOF 127.0.0.1 ${primary.port}`],
      [victim.key, 'CONFIG REWRITE'],
    ]);
    const tl = await timeline(id);
    expect(notes(tl)).toContain(`${victim.key} (follows 127.0.0.1:1, link down`);
    expect(notes(tl)).toContain(`not following ${primary.key}`);
    expect(notes(tl)).toMatch(/failover-timeout \(60000 ms\)/);
    expect(await mutatingCalls(fleet)).toEqual(before); // nothing sent before the approval

    const done = await approveAndFinish(id, 'alice');
    expect(done.state).toBe('resolved');
    const r = await replication(victim);
    expect(`${r['master_host']}:${r['master_port']}`).toBe(primary.key);
    expect(r['master_link_status']).toBe('up');
    expect(await keyCounts()).toEqual([5000, 5000, 5000]);
    const kinds = (await timeline(id)).map((e) => e.kind);
    expect(kinds).toContain('verification.passed');
  });

  it('a wrong primary repaired meanwhile (as Sentinel does after failover-timeout): the live re-check skips the re-point, nothing sent', async () => {
    const primary = await fleet.primary();
    const [victim] = await fleet.replicas();
    if (!victim) throw new Error('no replica');
    await fleet.pointAt(victim, '127.0.0.1', 1);
    const id = await alert('RedisReplicationBroken', victim);
    const waiting = await waitState(app, id, ['awaiting_approval'], 60_000);
    expect(waiting.pendingApproval?.remediation).toBe('repoint');
    await fleet.pointAt(victim, primary.host, primary.port); // the repair Sentinel makes (+fix-slave-config)
    await until(async () => (await replication(victim))['master_link_status'] === 'up', 10_000, 'the link back up');
    const before = await mutatingCalls(fleet);
    const done = await approveAndFinish(id, 'alice');
    expect(done.state).toBe('resolved');
    const tl = await timeline(id);
    expect(tl.some((e) => e.kind === 'precondition.failed' || /skipped/.test(e.summary))).toBe(true);
    expect(tl.some((e) => e.kind === 'command.executed')).toBe(false);
    expect(await mutatingCalls(fleet)).toEqual(before);
  });

  it('a replica with wrong replication credentials: masterauth from the target secret, never shown', async () => {
    const primary = await fleet.primary();
    const [, victim] = await fleet.replicas();
    if (!victim) throw new Error('no replica');
    await fleet.breakMasterauth(victim, 'not-the-password');
    await until(async () => (await replication(victim))['master_link_status'] === 'down', 10_000, 'the link to drop');
    const before = await mutatingCalls(fleet);
    const id = await alert('RedisReplicationBroken', victim);
    const waiting = await waitState(app, id, ['awaiting_approval'], 60_000);
    const p = waiting.pendingApproval;
    expect(p?.remediation).toBe('fix-credentials');
    expect(p?.commands.map((c) => [c.node, c.argv.join(' ')])).toEqual([
      [victim.key, 'CONFIG SET masterauth ${secret:masterauth}'],
      [victim.key, 'CONFIG REWRITE'],
    ]);
    expect(notes(await timeline(id))).toMatch(new RegExp(`${victim.key.replace(/\./g, '\\.')} cannot authenticate to ${primary.key.replace(/\./g, '\\.')}: link down, WRONGPASS \\+\\d+`));
    expect(await mutatingCalls(fleet)).toEqual(before);

    const done = await approveAndFinish(id, 'alice');
    expect(done.state).toBe('resolved');
    expect((await replication(victim))['master_link_status']).toBe('up');
    expect(await victim.call('CONFIG', 'GET', 'masterauth')).toEqual(['masterauth', PW]);
    // the secret is nowhere people can see it
    const all = JSON.stringify(await timeline(id)) + JSON.stringify(await app.engine.getIncident(id));
    expect(all).not.toContain(PW);
    expect(all).not.toContain('not-the-password');
    expect(await keyCounts()).toEqual([5000, 5000, 5000]);
  });

  it('a full-sync loop under a write load: raises the replica output-buffer limit on the primary, the sync finishes', async () => {
    const primary = await fleet.primary();
    const [victim] = await fleet.replicas();
    if (!victim) throw new Error('no replica');
    await fleet.fill(20_000, { prefix: 'big', valueBytes: 1000 });
    await fleet.setReplicaBufferLimit(primary, '256kb 128kb 1');
    const load = fleet.writeLoad(primary, { valueBytes: 1024, keys: 1000, perSecond: 20_000, maxMs: 150_000 });
    try {
      await victim.kill();
      await victim.start();
      const syncFull = async (): Promise<number> => Number(/sync_full:(\d+)/.exec(String(await primary.call('INFO', 'stats')))?.[1] ?? 0);
      const s0 = await syncFull();
      await until(async () => (await syncFull()) >= s0 + 3, 20_000, 'full syncs to repeat');
      const before = await mutatingCalls(fleet);
      const id = await alert('RedisReplicaFullSyncLoop', primary);
      const waiting = await waitState(app, id, ['awaiting_approval'], 60_000);
      const p = waiting.pendingApproval;
      expect(p?.remediation).toBe('raise-buffer');
      expect(p?.commands.map((c) => [c.node, c.argv.join(' ')])).toEqual([
        [primary.key, 'CONFIG SET client-output-buffer-limit replica 268435456 67108864 60'],
        [primary.key, 'CONFIG REWRITE'],
      ]);
      expect(p?.commands[0]?.note).toContain('262144 131072 1 → 268435456 67108864 60');
      expect(notes(await timeline(id))).toMatch(/full-sync loop on 127\.0\.0\.1:\d+: sync_full \+\d+ in 1000 ms .* hard limit of 262144 B/);
      // nothing mutated: the commands the loop itself causes (psync, replconf) are not in MUTATING
      expect(await mutatingCalls(fleet)).toEqual(before);

      const done = await approveAndFinish(id, 'alice');
      expect(done.state).toBe('resolved');
      const r = await replication(victim);
      expect(r['master_link_status']).toBe('up');
      const after = await syncFull();
      await new Promise((res) => setTimeout(res, 3000));
      expect(await syncFull()).toBe(after); // no more full syncs, under the same load
    } finally {
      await load.stop();
    }
    await until(async () => new Set(await keyCounts()).size === 1, 20_000, 'equal key counts');
    expect(await keyCounts()).toEqual([26_000, 26_000, 26_000]);
  });
});
