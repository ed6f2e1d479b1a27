/**
 * The Grafana dashboard (deploy/grafana/redis-runbooks.json) queries only metrics a running engine
 * exposes: a real engine on real redis-server processes gets one alert, waits for approval, is
 * rejected, and every metric name (and every `by (…)` label) of every panel is found among the
 * samples of its `/metrics`; the scrape-time gauges show the incident and the queue.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { FINAL_STATES } from '../../src/engine/types.js';
import { post, startTestApp, webhookBody } from '../helpers/app.js';
import { pressure, waitIncidentFor, waitState } from '../helpers/incidents.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

const DASHBOARD = resolve(import.meta.dirname, '..', '..', 'deploy', 'grafana', 'redis-runbooks.json');
const MAXMEM = 32 * 1024 * 1024;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition → samples (comments skipped). */
function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m?.[1] === undefined || m[3] === undefined) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      if (l[1] !== undefined) labels[l[1]] = l[2] ?? '';
    }
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
}

function dashboardQueries(): { panel: string; expr: string }[] {
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  return d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
}

let store: RedisProcess;
let target: RedisProcess;
let app: App;

async function scrape(): Promise<Sample[]> {
  const res = await fetch(`${app.http?.url ?? ''}/metrics`);
  expect(res.status).toBe(200);
  return parseExposition(await res.text());
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

beforeAll(async () => {
  store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  target = await startRedis({ configFile: true });
  app = await startTestApp({ storeUrl: store.url, targets: { 'cache-prod': { endpoints: [`${target.host}:${target.port}`], role: 'store' } } });
});

afterAll(async () => {
  await app?.close().catch(() => undefined);
  await target?.stop();
  await store?.stop();
});

describe('Grafana dashboard vs /metrics of a running engine', () => {
  const seen: Sample[] = [];

  it('the scrape-time gauges show the incident waiting for approval and the queue', async () => {
    await pressure(target.client(), MAXMEM);
    const body = webhookBody([{ labels: { alertname: 'RedisMemoryHigh', instance: `${target.host}:${target.port}`, severity: 'warning', job: 'redis' }, fingerprint: 'dddd000000000001' }]);
    expect((await post(`${app.http?.url ?? ''}/webhooks/alertmanager`, body)).status).toBe(202);
    const id = await waitIncidentFor(app, 'dddd000000000001');
    await waitState(app, id, ['awaiting_approval']);

    // The pending-approvals gauge is set just after the state is written: scrape until it has caught up.
    let waiting = await scrape();
    for (let i = 0; i < 50 && value(waiting, 'redis_runbooks_pending_approvals') !== 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      waiting = await scrape();
    }
    seen.push(...waiting);
    expect(value(waiting, 'redis_runbooks_incidents_open', { runbook: 'redis-memory-pressure', state: 'awaiting_approval' })).toBe(1);
    expect(value(waiting, 'redis_runbooks_pending_approvals')).toBe(1);
    expect(value(waiting, 'redis_runbooks_oldest_pending_approval_seconds')).toBeGreaterThanOrEqual(0);
    expect(value(waiting, 'redis_runbooks_alerts_received_total', { status: 'firing', outcome: 'routed' })).toBe(1);
    for (const state of ['waiting', 'active', 'delayed', 'failed']) {
      expect(value(waiting, 'redis_runbooks_queue_jobs', { state }), `queue_jobs{state="${state}"}`).toBeGreaterThanOrEqual(0);
    }
    expect(waiting.some((s) => s.name === 'redis_runbooks_step_duration_seconds_count' && s.labels['kind'] === 'diagnostic' && s.value > 0)).toBe(true);

    // the store's own numbers: a second look a moment later sees the wait grow
    await new Promise((r) => setTimeout(r, 1100));
    const later = value(await scrape(), 'redis_runbooks_oldest_pending_approval_seconds') ?? 0;
    expect(later).toBeGreaterThan(value(waiting, 'redis_runbooks_oldest_pending_approval_seconds') ?? 0);

    const r = await post(`${app.http?.url ?? ''}/api/incidents/${id}/reject`, { by: 'alice', reason: 'dashboard test' });
    expect(r.status).toBe(200);
    const done = await waitState(app, id, [...FINAL_STATES]);
    const closed = await scrape();
    seen.push(...closed);
    expect(value(closed, 'redis_runbooks_incidents_closed_total', { runbook: 'redis-memory-pressure', outcome: done.state })).toBe(1);
    expect(value(closed, 'redis_runbooks_incidents_open', { state: 'awaiting_approval' })).toBeUndefined();
    expect(value(closed, 'redis_runbooks_pending_approvals')).toBe(0);
    expect(value(closed, 'redis_runbooks_oldest_pending_approval_seconds')).toBe(0);
  });

  it('every metric and every by() label a panel queries exists among the samples', () => {
    expect(seen.length).toBeGreaterThan(0);
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThanOrEqual(15);
    const names = new Set(seen.map((s) => s.name));
    for (const { panel, expr } of queries) {
      const metrics = [...expr.matchAll(/\b(redis_runbooks_[a-zA-Z0-9_]+)/g)].map((m) => m[1] ?? '');
      expect(metrics.length, `${panel}: no metric in ${expr}`).toBeGreaterThan(0);
      for (const m of metrics) expect(names.has(m), `${panel}: ${m} is not on /metrics`).toBe(true);
      for (const by of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
        for (const label of (by[1] ?? '').split(',').map((l) => l.trim()).filter((l) => l !== '' && l !== 'instance')) {
          // `instance` is added by Prometheus at scrape time, not by the engine
          expect(
            seen.some((s) => metrics.includes(s.name) && label in s.labels),
            `${panel}: no sample of ${metrics.join(', ')} has label ${label}`,
          ).toBe(true);
        }
      }
    }
  });
});
