/** The files we ship to operators stay true: example config parses, our rules route to runbooks. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { actions } from '../../src/actions/registry.js';
import { NODE_SELECTORS } from '../../src/actions/redis/topology.js';
import type { ActionDefinition } from '../../src/actions/types.js';
import { parseConfig } from '../../src/config.js';
import { loadRunbookDir } from '../../src/engine/runbook/load.js';
import { routeAlert } from '../../src/triggers/alertmanager/route.js';
import { RUNBOOKS_DIR } from '../helpers/app.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

describe('shipped files', () => {
  it('the example config is valid', () => {
    const text = readFileSync(join(ROOT, 'examples', 'redis-runbooks.yaml'), 'utf8');
    const cfg = parseConfig(text.replace('tls: { ca: /etc/redis/ca.crt }', ''), 'examples/redis-runbooks.yaml', { RR_HTTP_TOKEN: 't', CACHE_PROD_PASSWORD: 'p', SESSIONS_PASSWORD: 'q' }, { baseDir: ROOT });
    expect(Object.keys(cfg.targets)).toEqual(['cache-prod', 'sessions']);
    expect(cfg.schedules).toHaveLength(1);
  });

  it('every alert in our Prometheus rules whose runbook is shipped routes to exactly that runbook', () => {
    const rules = parse(readFileSync(join(ROOT, 'deploy', 'prometheus', 'redis-rules.yml'), 'utf8')) as { groups: { rules: { alert: string; labels: Record<string, string> }[] }[] };
    const { runbooks } = loadRunbookDir(RUNBOOKS_DIR, { actions: actions as ReadonlyMap<string, ActionDefinition<unknown, unknown>>, selectors: NODE_SELECTORS, defaultApprovalTimeoutMs: 1 });
    const ctx = {
      routes: [],
      runbooks: runbooks.map((r) => ({ name: r.def.name, match: r.def.match })),
      targets: { t: { name: 't', mode: 'standalone' as const, endpoints: [{ host: '10.0.0.7', port: 6379 }], role: 'cache' as const, labels: {}, allowAutomatic: false } },
    };
    // The `runbook` label names the runbook meant to answer (`memory` = redis-memory-pressure);
    // alerts of runbooks not shipped yet, and alerts without a runbook, are not checked here.
    const shipped = new Set(runbooks.map((r) => r.def.name));
    const alerts = rules.groups.flatMap((g) => g.rules).filter((r) => shipped.has(r.labels['runbook'] === 'memory' ? 'redis-memory-pressure' : (r.labels['runbook'] ?? '')));
    expect(alerts.length).toBeGreaterThan(0);
    for (const r of alerts) {
      const res = routeAlert({ status: 'firing', labels: { alertname: r.alert, instance: '10.0.0.7:6379', ...r.labels }, annotations: {}, startsAt: '2026-01-01T00:00:00Z', fingerprint: '0123456789abcdef' }, ctx);
      expect(res.ok, `${r.alert} is not routed`).toBe(true);
      const want = r.labels['runbook'] === 'memory' ? 'redis-memory-pressure' : r.labels['runbook'];
      expect(res.ok ? res.routed.runbook : undefined, `${r.alert} routes to another runbook`).toBe(want);
    }
  });
});
