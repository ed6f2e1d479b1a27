/**
 * The HTTP door against an in-memory EnginePort double (the real engine is covered by the
 * integration tests): webhook validation, auth, limits, routing, 503 on store trouble, the API.
 */
import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/engine/metrics.js';
import type {
  AlertInput,
  DecisionResult,
  EnginePort,
  IncidentDetail,
  IncidentSummary,
  RoutedAlert,
  TimelineEntry,
} from '../../src/engine/types.js';
import { StoreUnavailableError } from '../../src/errors.js';
import { createHttpServer } from '../../src/triggers/http/server.js';
import type { HttpDoor, RouteResult } from '../../src/triggers/http/server.js';

import type { Role } from '../../src/config-types.js';
import type { TargetStatus } from '../../src/engine/types.js';

const TOKEN = 's3cret-token';
const MAX_BODY = 1024 * 1024;

/** In-memory EnginePort: records calls, dedupes on fingerprint + startsAt like the real engine. */
class FakeEngine implements EnginePort {
  ingested: RoutedAlert[] = [];
  seen = new Set<string>();
  isReady = true;
  ingestError: Error | undefined;
  decision: DecisionResult = { ok: true, state: 'remediating', message: 'approved' };
  decisions: { op: string; id: string; by: string; via: string; reason?: string }[] = [];
  runs: { runbook: string; target: string; dryRun: boolean; by: string }[] = [];
  listCalls: ({ open?: boolean; limit?: number } | undefined)[] = [];
  incidents = new Map<string, { detail: IncidentDetail; timeline: TimelineEntry[] }>();

  async ingest(alerts: RoutedAlert[]) {
    if (this.ingestError) throw this.ingestError;
    let enqueued = 0;
    let duplicates = 0;
    for (const r of alerts) {
      const key = `${r.alert.fingerprint}@${r.alert.startsAt}`;
      if (this.seen.has(key)) duplicates++;
      else {
        this.seen.add(key);
        this.ingested.push(r);
        enqueued++;
      }
    }
    return { enqueued, duplicates };
  }
  async run(runbook: string, target: string, opts: { dryRun: boolean; by: string }) {
    this.runs.push({ runbook, target, ...opts });
    return { incidentId: 'inc-run-1' };
  }
  async listIncidents(opts?: { open?: boolean; limit?: number }): Promise<IncidentSummary[]> {
    this.listCalls.push(opts);
    return [...this.incidents.values()].map((i) => i.detail);
  }
  async getIncident(id: string) {
    return this.incidents.get(id)?.detail;
  }
  async getTimeline(id: string) {
    return this.incidents.get(id)?.timeline;
  }
  async approve(id: string, by: string, via: 'cli' | 'http' | 'slack') {
    this.decisions.push({ op: 'approve', id, by, via });
    return this.decision;
  }
  async reject(id: string, by: string, via: 'cli' | 'http' | 'slack', reason?: string) {
    this.decisions.push({ op: 'reject', id, by, via, ...(reason !== undefined ? { reason } : {}) });
    return this.decision;
  }
  /** Configured approvers of the double (issue 12 #4: `by` is checked against them). */
  roles = new Map<string, Role[]>([
    ['alice', ['redis.dba-operator']],
    ['bob', ['redis.cluster-admin']],
    ['victor', ['redis.viewer']],
  ]);
  rolesOf(by: string): Role[] {
    return this.roles.get(by) ?? [];
  }
  names() {
    return { targets: ['cache-prod'], runbooks: ['redis-memory-pressure'] };
  }
  async targetStatus(): Promise<TargetStatus | undefined> {
    return undefined;
  }
  async ready() {
    return this.isReady;
  }
}

/** Routes RedisMemoryHigh / RedisReplicaLinkDown on cache-prod; everything else is unmatched. */
function route(a: AlertInput): RouteResult {
  const runbook = { RedisMemoryHigh: 'memory-high', RedisReplicaLinkDown: 'replication-stuck' }[a.labels['alertname'] ?? ''];
  if (!runbook || a.labels['redis_cluster'] !== 'cache-prod') {
    return { ok: false, reason: 'no_route', detail: `no route for ${a.labels['alertname'] ?? '?'}` };
  }
  return { ok: true, routed: { alert: a, runbook, target: 'cache-prod' } };
}

function alert(name: string, instance: string, status: 'firing' | 'resolved' = 'firing') {
  return {
    status,
    labels: { alertname: name, instance, job: 'redis', redis_cluster: 'cache-prod', severity: 'critical' },
    annotations: { summary: `${name} on ${instance}` },
    startsAt: '2026-11-25T14:11:03.512Z',
    endsAt: status === 'firing' ? '2026-11-25T14:15:03.512Z' : '2026-11-25T14:20:00Z',
    generatorURL: 'http://prom:9090/graph?g0.expr=redis_memory_used_bytes',
    fingerprint: createHash('sha256').update(`${name}/${instance}`).digest('hex').slice(0, 16),
  };
}

function body(alerts: ReturnType<typeof alert>[]) {
  return {
    version: '4',
    groupKey: '{}/{severity="critical"}:{alertname="RedisMemoryHigh"}',
    truncatedAlerts: 0,
    status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    receiver: 'runbook-engine',
    groupLabels: { alertname: 'RedisMemoryHigh' },
    commonLabels: { job: 'redis', redis_cluster: 'cache-prod' },
    commonAnnotations: {},
    externalURL: 'http://am:9093',
    notification_reason: 'first notification',
    alerts,
  };
}

let engine: FakeEngine;
let metrics: ReturnType<typeof createMetrics>;
let door: HttpDoor;
let base: string;

let logs: string[];

async function start(token: string | undefined = TOKEN): Promise<void> {
  engine = new FakeEngine();
  metrics = createMetrics();
  logs = [];
  door = createHttpServer({
    engine,
    route,
    metrics,
    log: pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) }),
    maxBodyBytes: MAX_BODY,
    readyTimeoutMs: 500,
    ...(token !== undefined ? { token } : {}),
  });
  const { port } = await door.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${port}`;
}

function post(path: string, payload: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers },
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
}

function get(path: string, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }): Promise<Response> {
  return fetch(`${base}${path}`, { headers });
}

async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}

beforeEach(() => start());
afterEach(() => door.close());

describe('POST /webhooks/alertmanager', () => {
  it('routes and ingests every alert of a valid batch and answers 202', async () => {
    const batch = body([
      alert('RedisMemoryHigh', 'redis://10.0.0.7:6379'),
      alert('RedisMemoryHigh', 'redis://10.0.0.8:6379'),
      alert('RedisReplicaLinkDown', 'redis://10.0.0.9:6379', 'resolved'),
    ]);
    const res = await post('/webhooks/alertmanager', batch);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 3, unmatched: 0, duplicates: 0 });
    expect(engine.ingested.map((r) => [r.runbook, r.target, r.alert.labels['instance'], r.alert.status])).toEqual([
      ['memory-high', 'cache-prod', 'redis://10.0.0.7:6379', 'firing'],
      ['memory-high', 'cache-prod', 'redis://10.0.0.8:6379', 'firing'],
      ['replication-stuck', 'cache-prod', 'redis://10.0.0.9:6379', 'resolved'],
    ]);

    // Alertmanager HA peers deliver the same notification twice: reported as duplicates.
    const again = await post('/webhooks/alertmanager', batch);
    expect(await again.json()).toEqual({ accepted: 0, unmatched: 0, duplicates: 3 });
    const text = await (await get('/metrics', {})).text();
    expect(text).toContain('redis_runbooks_alerts_received_total{status="firing",outcome="routed"} 2');
    expect(text).toContain('redis_runbooks_alerts_received_total{status="resolved",outcome="duplicate"} 1');
  });

  it('answers 400 naming the problem for malformed JSON, and ingests nothing', async () => {
    const res = await post('/webhooks/alertmanager', '{"version":"4","alerts":[');
    expect(res.status).toBe(400);
    const err = await errorOf(res);
    expect(err.code).toBe('json_invalid');
    expect(err.message).toMatch(/^invalid JSON: /);
    expect(engine.ingested).toHaveLength(0);
  });

  it('answers 400 naming the JSON path for a body that breaks the schema', async () => {
    const bad = body([alert('RedisMemoryHigh', 'redis://10.0.0.7:6379')]);
    delete (bad.alerts[0]!.labels as Partial<Record<string, string>>)['alertname'];
    const res = await post('/webhooks/alertmanager', bad);
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toEqual({ code: 'payload_invalid', message: 'alerts[0].labels.alertname: required' });
    expect(engine.ingested).toHaveLength(0);
    expect(await (await get('/metrics', {})).text()).toContain(
      'redis_runbooks_alerts_received_total{status="firing",outcome="invalid"} 1',
    );
  });

  it('rejects a missing or wrong bearer token with 401 and WWW-Authenticate', async () => {
    const payload = body([alert('RedisMemoryHigh', 'redis://10.0.0.7:6379')]);
    const missing = await post('/webhooks/alertmanager', payload, { authorization: '' });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const wrong = await post('/webhooks/alertmanager', payload, { authorization: 'Bearer s3cret-tokeX' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toContain('invalid_token');
    const basic = await post('/webhooks/alertmanager', payload, { authorization: `Basic ${TOKEN}` });
    expect(basic.status).toBe(401);
    expect(engine.ingested).toHaveLength(0);
    expect((await get('/api/incidents', {})).status).toBe(401);
    const metricsText = await (await get('/metrics', {})).text();
    expect(metricsText).toContain('redis_runbooks_webhook_requests_total{code="401"} 3');
  });

  it('answers 413 quickly to a 10 MB body, declared or chunked, without waiting for it', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024, 0x20);
    let t0 = Date.now();
    const declared = await post('/webhooks/alertmanager', big.toString());
    expect(declared.status).toBe(413);
    expect((await errorOf(declared)).code).toBe('payload_too_large');
    expect(Date.now() - t0).toBeLessThan(2000);

    // A chunked upload that sends 2 MB and then stalls forever: the limit must trip on what arrived.
    t0 = Date.now();
    const stalled = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 32; i++) c.enqueue(new Uint8Array(64 * 1024).fill(0x20));
      },
    });
    const res = await fetch(`${base}/webhooks/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: stalled,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    await res.body?.cancel();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(engine.ingested).toHaveLength(0);
  });

  it('refuses a non-JSON content type with 415', async () => {
    const res = await post('/webhooks/alertmanager', 'version=4', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(415);
  });

  it('counts and skips unmatched alerts, still answering 202', async () => {
    const res = await post('/webhooks/alertmanager', body([alert('RedisTooManyKeys', 'redis://10.0.0.7:6379')]));
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 0, unmatched: 1, duplicates: 0 });
    expect(engine.ingested).toHaveLength(0);
    const text = await (await get('/metrics', {})).text();
    expect(text).toContain('redis_runbooks_alerts_received_total{status="firing",outcome="unmatched"} 1');
    expect(text).toContain('redis_runbooks_webhook_requests_total{code="202"} 1');
  });

  it('logs unmatched alerts by alertname and instance, never the token, credentials or body', async () => {
    const a = alert('RedisTooManyKeys', 'redis://admin:hunter2@10.0.0.7:6379');
    a.annotations.summary = 'annotation-text-not-logged';
    await post('/webhooks/alertmanager', body([a]));
    const unmatched = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'alert matched no runbook route');
    expect(unmatched).toMatchObject({ alertname: 'RedisTooManyKeys', instance: 'redis://10.0.0.7:6379' });
    const all = logs.join('\n');
    for (const secret of [TOKEN, 'hunter2', 'annotation-text-not-logged']) expect(all).not.toContain(secret);
  });

  it('answers 503 when the store is unavailable, so Alertmanager retries', async () => {
    engine.ingestError = new StoreUnavailableError('connect ECONNREFUSED 127.0.0.1:6390');
    const payload = body([alert('RedisMemoryHigh', 'redis://10.0.0.7:6379')]);
    const res = await post('/webhooks/alertmanager', payload);
    expect(res.status).toBe(503);
    const err = await errorOf(res);
    expect(err.code).toBe('store_unavailable');
    expect(err.message).not.toContain('6390');

    engine.ingestError = undefined;
    engine.isReady = false;
    expect((await post('/webhooks/alertmanager', payload)).status).toBe(503);
    expect(engine.ingested).toHaveLength(0);
    engine.isReady = true;
    expect((await post('/webhooks/alertmanager', payload)).status).toBe(202);
    expect(engine.ingested).toHaveLength(1);
  });
});

describe('probes, metrics and routing errors', () => {
  it('serves /healthz, /readyz and /metrics without a token', async () => {
    expect((await get('/healthz', {})).status).toBe(200);
    expect((await get('/readyz', {})).status).toBe(200);
    engine.isReady = false;
    expect((await get('/readyz', {})).status).toBe(503);
    const m = await get('/metrics', {});
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toContain('text/plain');
    expect(await m.text()).toContain('redis_runbooks_process_cpu_seconds_total');
  });

  it('answers 404 to unknown routes and 405 (with Allow) to wrong methods', async () => {
    const nf = await get('/nope');
    expect(nf.status).toBe(404);
    expect((await errorOf(nf)).code).toBe('not_found');
    const wm = await get('/webhooks/alertmanager');
    expect(wm.status).toBe(405);
    expect(wm.headers.get('allow')).toBe('POST');
  });

  it('hands unknown paths to extraRoutes first', async () => {
    await door.close();
    engine = new FakeEngine();
    door = createHttpServer({
      engine,
      route,
      metrics: createMetrics(),
      log: pino({ level: 'silent' }),
      maxBodyBytes: MAX_BODY,
      extraRoutes: async (req, res) => {
        if (req.url !== '/slack/events') return false;
        res.writeHead(200).end('slack');
        return true;
      },
    });
    base = `http://127.0.0.1:${(await door.listen(0, '127.0.0.1')).port}`;
    expect(await (await get('/slack/events', {})).text()).toBe('slack');
    expect((await get('/other', {})).status).toBe(404);
    // No token configured: the API is open.
    expect((await get('/api/incidents', {})).status).toBe(200);
  });
});

describe('/api', () => {
  const incident: IncidentDetail = {
    id: 'inc-42',
    runbook: 'memory-high',
    target: 'cache-prod',
    state: 'resolved',
    outcome: 'remediated',
    title: 'Memory above 85% on cache-prod',
    severity: 'critical',
    fingerprints: ['5f2c9d1e0a7b3c44'],
    dryRun: false,
    createdAt: '2026-11-25T14:11:20.000Z',
    updatedAt: '2026-11-25T14:19:00.000Z',
    findings: {},
    labels: { alertname: 'RedisMemoryHigh', instance: 'redis://10.0.0.7:6379' },
    version: 7,
  };
  const timeline: TimelineEntry[] = [
    { at: '2026-11-25T14:11:20.000Z', kind: 'incident.opened', actor: { kind: 'alertmanager' }, summary: 'opened by RedisMemoryHigh' },
    { at: '2026-11-25T14:19:00.000Z', kind: 'incident.resolved', actor: { kind: 'engine' }, summary: 'memory back under 80%' },
  ];

  beforeEach(() => {
    engine.incidents.set(incident.id, { detail: incident, timeline });
  });

  it('lists incidents with open and limit from the query', async () => {
    const res = await get('/api/incidents?open=true&limit=5');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { incidents: unknown[] }).incidents).toHaveLength(1);
    expect(engine.listCalls).toEqual([{ open: true, limit: 5 }]);
    const bad = await get('/api/incidents?limit=0');
    expect(bad.status).toBe(400);
    expect((await errorOf(bad)).message).toMatch(/^limit: /);
  });

  it('serves one incident, its timeline, and 404 for unknown ids', async () => {
    expect(((await (await get('/api/incidents/inc-42')).json()) as IncidentDetail).version).toBe(7);
    const tl = (await (await get('/api/incidents/inc-42/timeline')).json()) as { timeline: TimelineEntry[] };
    expect(tl.timeline.map((e) => e.kind)).toEqual(['incident.opened', 'incident.resolved']);
    expect((await get('/api/incidents/inc-404')).status).toBe(404);
    expect((await get('/api/incidents/inc-404/timeline.md')).status).toBe(404);
  });

  it('renders the timeline as a Markdown postmortem draft', async () => {
    const res = await get('/api/incidents/inc-42/timeline.md');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/markdown; charset=utf-8');
    const md = await res.text();
    expect(md).toContain('# Postmortem (draft): Memory above 85% on cache-prod');
    expect(md).toContain('| Time (UTC) | Actor | Event | Detail |');
    expect(md).toContain('| 2026-11-25 14:19:00 | engine | incident.resolved | memory back under 80% |');
  });

  it('maps approval results to HTTP statuses', async () => {
    const ok = await post('/api/incidents/inc-42/approve', { by: 'alice' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ state: 'remediating', message: 'approved' });
    expect(engine.decisions[0]).toEqual({ op: 'approve', id: 'inc-42', by: 'alice', via: 'http' });

    const cases: [Extract<DecisionResult, { ok: false }>['code'], number][] = [
      ['not_found', 404],
      ['not_awaiting_approval', 409],
      ['forbidden', 403],
      ['duplicate_approver', 409],
      ['stale', 409],
    ];
    for (const [code, status] of cases) {
      engine.decision = { ok: false, code, message: code };
      const res = await post('/api/incidents/inc-42/approve', { by: 'alice' });
      expect([code, res.status]).toEqual([code, status]);
      expect((await errorOf(res)).code).toBe(code);
    }
  });

  it('passes rejections with their reason, and refuses a body without `by`', async () => {
    await post('/api/incidents/inc-42/reject', { by: 'bob', reason: 'not during peak' });
    expect(engine.decisions.at(-1)).toEqual({ op: 'reject', id: 'inc-42', by: 'bob', via: 'http', reason: 'not during peak' });
    const res = await post('/api/incidents/inc-42/approve', { reason: 'x' });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toBe('by: required');
    expect(engine.decisions).toHaveLength(1);
  });

  it('starts a manual run with POST /api/runs', async () => {
    const res = await post('/api/runs', { runbook: 'memory-high', target: 'cache-prod', dryRun: true, by: 'alice' });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe('/api/incidents/inc-run-1');
    expect(await res.json()).toEqual({ incidentId: 'inc-run-1' });
    expect(engine.runs).toEqual([{ runbook: 'memory-high', target: 'cache-prod', dryRun: true, by: 'alice', via: 'http' }]);
    expect((await post('/api/runs', { runbook: 'memory-high', by: 'alice' })).status).toBe(400);
  });

  it('issue 12 #4: POST /api/runs checks `by` against approvers: unknown 403, a run needs dba-operator, a dry run viewer', async () => {
    const unknown = await post('/api/runs', { runbook: 'memory-high', target: 'cache-prod', dryRun: true, by: 'mallory' });
    expect(unknown.status).toBe(403);
    expect((await errorOf(unknown)).message).toBe("unknown identity 'mallory': not in approvers");
    const proto = await post('/api/runs', { runbook: 'memory-high', target: 'cache-prod', by: 'constructor' });
    expect(proto.status).toBe(403);
    const viewerRun = await post('/api/runs', { runbook: 'memory-high', target: 'cache-prod', by: 'victor' });
    expect(viewerRun.status).toBe(403);
    expect((await errorOf(viewerRun)).message).toBe('victor may not request a run: needs redis.dba-operator, has redis.viewer');
    expect(engine.runs).toEqual([]);
    expect((await post('/api/runs', { runbook: 'memory-high', target: 'cache-prod', dryRun: true, by: 'victor' })).status).toBe(202);
    expect((await post('/api/runs', { runbook: 'memory-high', target: 'cache-prod', by: 'alice' })).status).toBe(202);
    expect(engine.runs.map((r) => [r.by, r.dryRun])).toEqual([
      ['victor', true],
      ['alice', false],
    ]);
  });
});

describe('issue 12 #5: bounded input at the door', () => {
  it('answers 400 naming the field for a label value over 4 KiB, more than 64 labels, or annotations over 16 KiB, and ingests nothing', async () => {
    const big = alert('RedisMemoryHigh', 'redis://10.0.0.7:6379');
    big.labels = { ...big.labels, team: 'x'.repeat(4097) } as typeof big.labels;
    let res = await post('/webhooks/alertmanager', body([big]));
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toBe('alerts[0].labels.team: label value of 4097 bytes (at most 4096)');

    const many = alert('RedisMemoryHigh', 'redis://10.0.0.7:6379');
    const labels: Record<string, string> = { ...many.labels };
    for (let i = 0; i < 60; i++) labels[`l${i}`] = 'v';
    many.labels = labels as typeof many.labels;
    res = await post('/webhooks/alertmanager', body([alert('RedisMemoryHigh', 'redis://10.0.0.8:6379'), many]));
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toBe('alerts[1].labels: 65 labels (at most 64)');

    const noisy = alert('RedisMemoryHigh', 'redis://10.0.0.7:6379');
    noisy.annotations = { summary: 's', description: 'd'.repeat(16 * 1024) } as typeof noisy.annotations;
    res = await post('/webhooks/alertmanager', body([noisy]));
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toBe('alerts[0].annotations: annotations of 16403 bytes in total (at most 16384)');
    expect(engine.ingested).toEqual([]);

    // At the limits exactly, the same alert is accepted.
    const edge = alert('RedisMemoryHigh', 'redis://10.0.0.7:6379');
    edge.labels = { ...edge.labels, team: 'x'.repeat(4096) } as typeof edge.labels;
    expect((await post('/webhooks/alertmanager', body([edge]))).status).toBe(202);
    expect(engine.ingested).toHaveLength(1);
  });
});
