/**
 * deploy/grafana/redis-runbooks.json is an importable dashboard: every query is valid PromQL
 * (checked by promtool as recording rules, with the dashboard variables filled in), every panel
 * uses the datasource variable, and panels do not overlap. That every queried metric exists on a
 * running engine is test/integration/dashboard-metrics.redis.test.ts.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { findPromtool } from '../helpers/promtool.js';

const run = promisify(execFile);
const FILE = resolve(import.meta.dirname, '..', '..', 'deploy', 'grafana', 'redis-runbooks.json');

interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { expr: string; refId: string; datasource?: { uid: string } }[];
}

const dash = JSON.parse(readFileSync(FILE, 'utf8')) as { uid: string; title: string; panels: Panel[]; templating: { list: { name: string; type: string }[] } };
const panels = dash.panels.filter((p) => p.type !== 'row');

describe('Grafana dashboard file', () => {
  it('has a stable uid, a datasource variable, and every panel queries through it', () => {
    expect(dash.uid).toBe('redis-runbooks');
    expect(dash.templating.list.find((v) => v.name === 'datasource')?.type).toBe('datasource');
    expect(panels.length).toBeGreaterThanOrEqual(10);
    for (const p of panels) {
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.targets?.length ?? 0, `${p.title} has no query`).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, `${p.title} ${t.refId}`).toBe('${datasource}');
    }
  });

  it('covers what operators asked for: alerts, incidents by state, approvals and their age, steps, queue depth, failures', () => {
    const all = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
    for (const m of [
      'redis_runbooks_alerts_received_total',
      'redis_runbooks_incidents_open',
      'redis_runbooks_incidents_opened_total',
      'redis_runbooks_incidents_closed_total',
      'redis_runbooks_pending_approvals',
      'redis_runbooks_oldest_pending_approval_seconds',
      'redis_runbooks_step_duration_seconds_bucket',
      'redis_runbooks_queue_jobs',
      'redis_runbooks_webhook_requests_total',
    ]) {
      expect(all, m).toContain(m);
    }
  });

  it('panels stay on the 24-column grid and never overlap', () => {
    for (const [i, a] of dash.panels.entries()) {
      expect(a.gridPos.x + a.gridPos.w, a.title).toBeLessThanOrEqual(24);
      for (const b of dash.panels.slice(i + 1)) {
        const overlap = a.gridPos.x < b.gridPos.x + b.gridPos.w && b.gridPos.x < a.gridPos.x + a.gridPos.w && a.gridPos.y < b.gridPos.y + b.gridPos.h && b.gridPos.y < a.gridPos.y + a.gridPos.h;
        expect(overlap, `${a.title} overlaps ${b.title}`).toBe(false);
      }
    }
  });

  it('every query is valid PromQL (promtool check rules)', async () => {
    const bin = findPromtool();
    const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr.replaceAll('$__rate_interval', '1m').replaceAll('$job', '.*')));
    const dir = mkdtempSync(join(tmpdir(), 'dash-'));
    try {
      writeFileSync(join(dir, 'dash.yml'), stringify({ groups: [{ name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) }] }));
      const { stdout } = await run(bin, ['check', 'rules', 'dash.yml'], { cwd: dir }).catch((e: { stdout?: string; stderr?: string }) => {
        throw new Error(`promtool rejected a dashboard query:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
      });
      expect(stdout).toContain(`SUCCESS: ${exprs.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
