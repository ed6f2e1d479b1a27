/**
 * Issue 12, alert storm: 10,000 alerts in about 10 s across 20 targets through the real webhook —
 * Alertmanager repeats, HA-pair duplicates (a second fingerprint for the same node), resolves
 * and flapping (a new startsAt) — end in exactly one open incident per target and runbook, in the
 * right state, with the store's memory bounded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import type { App } from '../../src/app.js';
import { post, startTestApp, testPrefix } from '../helpers/app.js';
import type { TestTarget } from '../helpers/app.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

const RUNBOOKS = resolve(import.meta.dirname, '..', 'fixtures', 'runbooks-storm');
const TARGETS = 20;
const TOTAL = 10_000;
const PER_POST = 100;

let store: RedisProcess;
let target: RedisProcess;
let app: App;

function alert(t: number, copy: 'a' | 'b', opts: { status?: 'firing' | 'resolved'; startsAt?: string } = {}) {
  const status = opts.status ?? 'firing';
  return {
    status,
    labels: { alertname: 'StormAlert', storm_target: `t${t}`, replica: copy, severity: 'warning' },
    annotations: { summary: `storm on t${t}` },
    startsAt: opts.startsAt ?? '2026-12-01T10:00:00Z',
    endsAt: status === 'resolved' ? '2026-12-01T10:30:00Z' : '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus:9090/graph',
    // An HA Prometheus pair: the same alert with a different `replica` label, so another fingerprint.
    fingerprint: `${copy === 'a' ? 'a' : 'b'}${String(t).padStart(15, '0')}`,
  };
}

beforeAll(async () => {
  store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  target = await startRedis({});
  await target.client().config('SET', 'maxclients', '1000');
  const targets: Record<string, TestTarget> = {};
  for (let t = 0; t < TARGETS; t++) targets[`t${t}`] = { endpoints: [`${target.host}:${target.port}`], role: 'store', labels: { storm_target: `t${t}` } };
  app = await startTestApp({ storeUrl: store.url, prefix: testPrefix(), targets, runbooksDir: RUNBOOKS });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await target?.stop();
  await store?.stop();
});

describe('issue 12: an alert storm', () => {
  it('10,000 alerts in ~10 s over 20 targets: one incident per target and runbook, the right final states, bounded memory', async () => {
    const url = `${app.http?.url ?? ''}/webhooks/alertmanager`;
    const memBefore = Number(/used_memory:(\d+)/.exec(String(await store.client().call('INFO', 'memory')))?.[1]);
    // Targets 0–4: the alert resolves at the end of the storm (its incident is cancelled).
    // Targets 5–9: flapping: it fires again with a new startsAt while the first incident is open.
    const alerts: ReturnType<typeof alert>[] = [];
    for (let i = 0; alerts.length < TOTAL - 10; i++) {
      const t = i % TARGETS;
      const flapping = t >= 5 && t < 10 && i > TOTAL / 2;
      alerts.push(alert(t, i % 3 === 0 ? 'b' : 'a', flapping ? { startsAt: '2026-12-01T10:05:00Z' } : {}));
    }
    for (let t = 0; t < 5; t++) alerts.push(alert(t, 'a', { status: 'resolved' }), alert(t, 'b', { status: 'resolved' }));
    const t0 = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < alerts.length; i += PER_POST) {
      const batch = alerts.slice(i, i + PER_POST);
      const body = { version: '4', groupKey: '{}:{alertname="StormAlert"}', truncatedAlerts: 0, status: 'firing', receiver: 'rr', groupLabels: {}, commonLabels: {}, commonAnnotations: {}, externalURL: 'http://am', alerts: batch };
      statuses.push((await post(url, body)).status);
      // ~10 s for the whole storm
      const due = t0 + ((i + PER_POST) / alerts.length) * 10_000;
      if (Date.now() < due) await new Promise((r) => setTimeout(r, due - Date.now()));
    }
    const sentMs = Date.now() - t0;
    expect(statuses.every((s) => s === 202)).toBe(true);
    expect(sentMs).toBeLessThan(20_000);

    // Settle: every incident is past diagnosis.
    const settled = Date.now() + 60_000;
    let list = await app.engine.listIncidents({ limit: 500 });
    while (Date.now() < settled && (list.length < TARGETS || list.some((i) => ['diagnosing', 'deciding', 'planning'].includes(i.state)))) {
      await new Promise((r) => setTimeout(r, 200));
      list = await app.engine.listIncidents({ limit: 500 });
    }
    const open = list.filter((i) => !['resolved', 'escalated', 'cancelled', 'completed'].includes(i.state));
    const byTarget = new Map<string, typeof list>();
    for (const i of open) byTarget.set(i.target, [...(byTarget.get(i.target) ?? []), i]);
    // Exactly one open incident per target and runbook, waiting for approval, holding both HA fingerprints.
    for (let t = 5; t < TARGETS; t++) {
      const mine = byTarget.get(`t${t}`) ?? [];
      expect({ t, n: mine.length }).toEqual({ t, n: 1 });
      expect(mine[0]?.state).toBe('awaiting_approval');
      expect([...(mine[0]?.fingerprints ?? [])].sort()).toEqual([`a${String(t).padStart(15, '0')}`, `b${String(t).padStart(15, '0')}`]);
    }
    // Resolved alerts cancelled theirs: no open incident, one cancelled, nothing changed on the target.
    for (let t = 0; t < 5; t++) {
      expect(byTarget.get(`t${t}`) ?? []).toEqual([]);
      const all = list.filter((i) => i.target === `t${t}`);
      expect(all.map((i) => i.state)).toEqual(['cancelled']);
    }
    // One incident per target in all (flapping joined the open one; no duplicates anywhere).
    expect(list.length).toBe(TARGETS);
    expect(((await target.client().config('GET', 'maxclients')) as string[])[1]).toBe('1000');
    const memAfter = Number(/used_memory:(\d+)/.exec(String(await store.client().call('INFO', 'memory')))?.[1]);
    // Bounded: repeats and duplicates are not stored one by one (10,000 alerts, well under 2 KB each).
    expect(memAfter - memBefore).toBeLessThan(20 * 1024 * 1024);
    const repeats = await Promise.all(open.slice(0, 3).map(async (i) => ((await app.engine.getTimeline(i.id)) ?? []).length));
    for (const n of repeats) expect(n).toBeLessThan(200);
    console.info(`storm: ${alerts.length} alerts in ${sentMs} ms; ${list.length} incidents; store grew ${((memAfter - memBefore) / 1024).toFixed(0)} KiB; timeline lengths ${repeats.join(', ')}`);
  }, 180_000);
});
