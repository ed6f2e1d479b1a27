/**
 * Issue 12 regressions on the real engine (real redis-server store and target, the real BullMQ
 * worker with concurrency 4, the real HTTP door): #1 one incident per target and runbook when one
 * POST carries two alerts for the same node; #4 the runs API never looks names up through the
 * object prototype; #5 refused approval attempts are bounded per incident.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { MAX_REFUSALS } from '../../src/engine/refusal-limit.js';
import { post, startTestApp, webhookBody } from '../helpers/app.js';
import { pressure, waitIncidentFor, waitState } from '../helpers/incidents.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

const MAXMEM = 32 * 1024 * 1024;
const TARGETS = ['ha-1', 'ha-2', 'ha-3'];

let store: RedisProcess;
let target: RedisProcess;
let app: App;
let url: string;

beforeAll(async () => {
  store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  target = await startRedis({ configFile: true });
  await pressure(target.client(), MAXMEM);
  const endpoint = `${target.host}:${target.port}`;
  app = await startTestApp({
    storeUrl: store.url,
    targets: Object.fromEntries(TARGETS.map((t) => [t, { endpoints: [endpoint], role: 'store' as const, labels: { redis_cluster: t } }])),
  });
  url = app.http?.url ?? '';
});

afterAll(async () => {
  await app?.close();
  await target?.stop();
  await store?.stop();
});

/** Two alerts for one node as an HA Prometheus pair sends them: same alert, different fingerprints. */
function haPair(t: string, fps: [string, string]) {
  const labels = (replica: string) => ({ alertname: 'RedisMemoryHigh', instance: `${target.host}:${target.port}`, redis_cluster: t, severity: 'warning', prometheus_replica: replica });
  return webhookBody([
    { labels: labels('a'), fingerprint: fps[0] },
    { labels: labels('b'), fingerprint: fps[1] },
  ]);
}

describe('issue 12 #1: one open incident per target and runbook', () => {
  it('one POST with two alerts (two fingerprints) for the same node opens one incident holding both fingerprints (3 of 3 tries)', async () => {
    for (const [i, t] of TARGETS.entries()) {
      const fps: [string, string] = [`a${i}00000000000001`, `b${i}00000000000002`];
      const r = await post(`${url}/webhooks/alertmanager`, haPair(t, fps));
      expect(r.status).toBe(202);
      expect(r.json).toEqual({ accepted: 2, unmatched: 0, duplicates: 0 });
      const first = await waitIncidentFor(app, fps[0]);
      const second = await waitIncidentFor(app, fps[1]);
      expect(second).toBe(first);
      await waitState(app, first, ['awaiting_approval']);
    }
    const all = await app.engine.listIncidents({ limit: 100 });
    for (const t of TARGETS) {
      const mine = all.filter((x) => x.target === t);
      expect(mine.map((x) => x.fingerprints.length)).toEqual([2]);
      const kinds = ((await app.engine.getTimeline(mine[0]?.id ?? '')) ?? []).map((e) => e.kind);
      expect(kinds.filter((k) => k === 'incident.joined')).toHaveLength(1);
      expect(kinds.filter((k) => k === 'approval.requested')).toHaveLength(1);
    }
  });
});

describe('issue 12 #4: the runs API trusts nothing it is given', () => {
  it('a target or runbook named like an Object.prototype member is unknown (404), and opens nothing', async () => {
    const before = (await app.engine.listIncidents({ limit: 100 })).length;
    for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      const t = await post(`${url}/api/runs`, { runbook: 'redis-memory-pressure', target: name, dryRun: true, by: 'alice' });
      expect([name, t.status]).toEqual([name, 404]);
      expect(JSON.stringify(t.json)).toContain(`unknown target '${name}'`);
      const rb = await post(`${url}/api/runs`, { runbook: name, target: 'ha-1', dryRun: true, by: 'alice' });
      expect([name, rb.status]).toEqual([name, 404]);
    }
    expect((await app.engine.listIncidents({ limit: 100 })).length).toBe(before);
  });

  it('`by` is checked against approvers: unknown 403, a viewer may dry-run but not run', async () => {
    expect((await post(`${url}/api/runs`, { runbook: 'redis-memory-pressure', target: 'ha-1', dryRun: true, by: 'mallory' })).status).toBe(403);
    expect((await post(`${url}/api/runs`, { runbook: 'redis-memory-pressure', target: 'ha-1', by: 'victor' })).status).toBe(403);
    const dry = await post(`${url}/api/runs`, { runbook: 'redis-memory-pressure', target: 'ha-1', dryRun: true, by: 'victor' });
    expect(dry.status).toBe(202);
  });
});

describe('issue 12 #5: refused approval attempts are bounded per incident', () => {
  it(`records at most ${MAX_REFUSALS} refusals per incident and window; later attempts get 429 and write nothing`, async () => {
    const id = await waitIncidentFor(app, 'a000000000000001');
    await waitState(app, id, ['awaiting_approval']);
    const statuses: number[] = [];
    for (let i = 0; i < MAX_REFUSALS + 5; i++) statuses.push((await post(`${url}/api/incidents/${id}/approve`, { by: i % 2 ? 'victor' : 'mallory' })).status);
    expect(statuses).toEqual([...Array<number>(MAX_REFUSALS).fill(403), ...Array<number>(5).fill(429)]);
    const refused = ((await app.engine.getTimeline(id)) ?? []).filter((e) => e.kind === 'approval.refused');
    expect(refused).toHaveLength(MAX_REFUSALS);
    // The window is a TTL key in the store, not process memory.
    const ttl = await store.client().pttl(`${app.config.engine.keyPrefix}:inc:{${id}}:refusals`);
    expect(ttl).toBeGreaterThan(9 * 60_000);
    // Someone with the role is not affected.
    const inc = await app.engine.getIncident(id);
    expect(inc?.state).toBe('awaiting_approval');
    const ok = await post(`${url}/api/incidents/${id}/reject`, { by: 'alice', reason: 'test over' });
    expect(ok.status).toBe(200);
  });
});
