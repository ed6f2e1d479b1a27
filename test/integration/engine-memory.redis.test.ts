/**
 * The engine end to end on real redis-server processes: Alertmanager webhook → memory-pressure
 * runbook → approval → remediation → verification → timeline; plus restart, duplicates,
 * resolved alerts, the per-target lock, dry runs, two workers, and a store outage.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { FINAL_STATES } from '../../src/engine/types.js';
import type { TimelineEntry } from '../../src/engine/types.js';
import { post, startTestApp, testPrefix, webhookBody } from '../helpers/app.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';
import { pressure, waitIncidentFor, waitState } from '../helpers/incidents.js';

const MAXMEM = 32 * 1024 * 1024;

let store: RedisProcess;
let target: RedisProcess;
let app: App;
const apps: App[] = [];

/** The option number of `remediation` in the pending offer (throws when it is not offered). */
async function optionOf(a: App, id: string, remediation: string): Promise<number> {
  const p = (await a.engine.getIncident(id))?.pendingApproval;
  const o = p?.options?.find((x) => x.remediation === remediation);
  if (!o) throw new Error(`${remediation} not offered: ${JSON.stringify(p?.options?.map((x) => x.remediation) ?? p?.remediation)}`);
  return o.option;
}

async function approveRaise(a: App, id: string): Promise<void> {
  const r = await a.engine.approve(id, 'alice', 'cli', { option: await optionOf(a, id, 'raise-maxmemory') });
  expect(r.ok).toBe(true);
}

async function kinds(a: App, id: string): Promise<string[]> {
  return ((await a.engine.getTimeline(id)) ?? []).map((e: TimelineEntry) => e.kind);
}

function memoryAlert(fp: string, status: 'firing' | 'resolved' = 'firing') {
  return webhookBody([{ labels: { alertname: 'RedisMemoryHigh', instance: `${target.host}:${target.port}`, severity: 'warning', job: 'redis' }, fingerprint: fp, status }]);
}

beforeAll(async () => {
  store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  target = await startRedis({ configFile: true });
  app = await startTestApp({ storeUrl: store.url, targets: { 'cache-prod': { endpoints: [`${target.host}:${target.port}`], role: 'store' } } });
  apps.push(app);
});

afterAll(async () => {
  for (const a of apps) await a.close().catch(() => undefined);
  await target?.stop();
  await store?.stop();
});

describe('memory-pressure runbook, from alert to verified fix', () => {
  it('diagnoses, offers the session:* family fixes beside a bounded maxmemory raise, waits for approval, runs the chosen one, verifies and resolves', async () => {
    await pressure(target.client(), MAXMEM);
    const url = app.http?.url ?? '';
    const r = await post(`${url}/webhooks/alertmanager`, memoryAlert('aaaa000000000001'));
    expect(r.status).toBe(202);
    const id = await waitIncidentFor(app, 'aaaa000000000001');
    const waiting = await waitState(app, id, ['awaiting_approval']);
    const p = waiting.pendingApproval;
    // a store target: no policy change; the family fixes first, the raise labelled as buying time
    expect(p?.options?.map((o) => o.remediation)).toEqual(['expire-family', 'delete-family', 'raise-maxmemory']);
    const raise = p?.options?.find((o) => o.remediation === 'raise-maxmemory');
    expect(raise?.commands.map((c) => c.argv.slice(0, 3).join(' '))).toContain('CONFIG SET maxmemory');
    expect(raise?.title).toMatch(/buys time/);
    expect(p?.options?.[0]?.commands[0]?.argv).toEqual(['EXPIRE', expect.stringMatching(/^session:/), '600', 'NX']);
    expect(p?.options?.[1]?.cost).toMatch(/^deletes \d+ keys of session:\* .*frees about/);
    // nothing changed before the approval
    expect(await target.client().config('GET', 'maxmemory')).toEqual(['maxmemory', String(MAXMEM)]);
    const findings = waiting.findings as { mem: { usage: number }; keyspace: { noTtlShare: number }; census: { dominantFamily: { family: string } | null; coverage: number } };
    expect(findings.mem.usage).toBeGreaterThan(0.85);
    expect(findings.keyspace.noTtlShare).toBeGreaterThan(0.9);
    expect(findings.census.dominantFamily?.family).toBe('session:*');
    expect(findings.census.coverage).toBe(1);

    // a viewer may not approve; the attempt is on the timeline
    const refused = await post(`${url}/api/incidents/${id}/approve`, { by: 'victor', option: await optionOf(app, id, 'raise-maxmemory') });
    expect(refused.status).toBe(403);
    const ok = await post(`${url}/api/incidents/${id}/approve`, { by: 'alice', option: await optionOf(app, id, 'raise-maxmemory') });
    expect(ok.status).toBe(200);

    const done = await waitState(app, id, [...FINAL_STATES], 60_000);
    expect(done.state).toBe('resolved');
    const newMax = Number((await target.client().config('GET', 'maxmemory'))[1]);
    expect(newMax).toBeGreaterThan(MAXMEM);
    expect(newMax).toBeLessThanOrEqual(Math.ceil(MAXMEM * 1.25) + 1024 * 1024);
    // persisted with CONFIG REWRITE (the server runs from a config file)
    const k = await kinds(app, id);
    expect(k.indexOf('command.intent')).toBeGreaterThan(-1);
    expect(k.indexOf('command.intent')).toBeLessThan(k.indexOf('command.executed'));
    // written with the state change (regression: a fast approval used to beat the request entry)
    expect(k.indexOf('approval.requested')).toBeGreaterThan(-1);
    expect(k.indexOf('approval.requested')).toBeLessThan(k.indexOf('approval.refused'));
    expect(k).toContain('approval.refused');
    expect(k).toContain('approval.granted');
    expect(k).toContain('verification.passed');
    expect(k.indexOf('incident.resolved')).toBeGreaterThan(k.indexOf('verification.passed'));
    const tl = (await app.engine.getTimeline(id)) ?? [];
    expect(tl.find((e) => e.kind === 'approval.granted')?.actor).toEqual({ kind: 'user', id: 'alice', via: 'http' });
    expect(tl.some((e) => e.kind === 'note' && /no TTL/.test(e.summary))).toBe(true);

    const md = await fetch(`${url}/api/incidents/${id}/timeline.md`);
    const text = await md.text();
    expect(text).toContain('CONFIG SET maxmemory');
    expect(text).toContain('alice');
  });

  it('a duplicate notification and a second alert for the same target join one incident', async () => {
    await pressure(target.client(), MAXMEM);
    const url = app.http?.url ?? '';
    const body = memoryAlert('bbbb000000000001');
    expect((await post(`${url}/webhooks/alertmanager`, body)).status).toBe(202);
    const again = await post(`${url}/webhooks/alertmanager`, body);
    expect(again.status).toBe(202);
    expect((again.json as { duplicates: number }).duplicates).toBe(1);
    const id = await waitIncidentFor(app, 'bbbb000000000001');
    await waitState(app, id, ['awaiting_approval']);
    const other = webhookBody([{ labels: { alertname: 'RedisOOMRejections', instance: `${target.host}:${target.port}`, severity: 'critical' }, fingerprint: 'bbbb000000000002' }]);
    expect((await post(`${url}/webhooks/alertmanager`, other)).status).toBe(202);
    await new Promise((r) => setTimeout(r, 500));
    const open = (await app.engine.listIncidents({ open: true })).filter((i) => i.target === 'cache-prod');
    expect(open).toHaveLength(1);
    expect(open[0]?.fingerprints.sort()).toEqual(['bbbb000000000001', 'bbbb000000000002']);

    // the alert resolves: the pending approval is cancelled with a note, nothing changed
    expect((await post(`${url}/webhooks/alertmanager`, memoryAlert('bbbb000000000001', 'resolved'))).status).toBe(202);
    const done = await waitState(app, id, ['cancelled']);
    expect(done.outcome).toMatch(/resolved/);
    expect(await kinds(app, id)).toContain('approval.cancelled');
    expect(await target.client().config('GET', 'maxmemory')).toEqual(['maxmemory', String(MAXMEM)]);
    const stale = await post(`${url}/api/incidents/${id}/approve`, { by: 'alice', option: 3 });
    expect(stale.status).toBe(409);
  });

  it('resumes an incident waiting for approval after the worker process restarts', async () => {
    await pressure(target.client(), MAXMEM);
    const prefix = testPrefix();
    const opts = { storeUrl: store.url, prefix, targets: { 'cache-prod': { endpoints: [`${target.host}:${target.port}`], role: 'store' as const } } };
    const first = await startTestApp({ ...opts, http: false });
    const { incidentId: id } = await first.engine.run('redis-memory-pressure', 'cache-prod', { dryRun: false, by: 'alice' });
    await waitState(first, id, ['awaiting_approval']);
    await first.close();
    const second = await startTestApp({ ...opts, http: false });
    apps.push(second);
    await approveRaise(second, id);
    const done = await waitState(second, id, [...FINAL_STATES]);
    expect(done.state).toBe('resolved');
  });

  it('one remediation at a time per target: a second incident waits for the lock', async () => {
    await pressure(target.client(), MAXMEM);
    const { incidentId: id } = await app.engine.run('redis-memory-pressure', 'cache-prod', { dryRun: false, by: 'alice' });
    await waitState(app, id, ['awaiting_approval']);
    const lockKey = `${app.config.engine.keyPrefix}:lock:cache-prod`;
    await app.redis.set(lockKey, 'inc-other-incident', 'PX', 60_000);
    await approveRaise(app, id);
    await waitState(app, id, ['remediating']);
    await new Promise((r) => setTimeout(r, 2500));
    expect((await app.engine.getIncident(id))?.state).toBe('remediating');
    expect(await kinds(app, id)).toContain('lock.waiting');
    expect(await kinds(app, id)).not.toContain('command.intent');
    await app.redis.del(lockKey);
    const done = await waitState(app, id, [...FINAL_STATES], 60_000);
    expect(done.state).toBe('resolved');
    // released right after the final state is written
    const until = Date.now() + 5000;
    while ((await app.redis.get(lockKey)) !== null && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(await app.redis.get(lockKey)).toBeNull();
  });

  it('re-checks the precondition on the live target right before acting, and skips when it no longer holds', async () => {
    await pressure(target.client(), MAXMEM);
    const { incidentId: id } = await app.engine.run('redis-memory-pressure', 'cache-prod', { dryRun: false, by: 'alice' });
    await waitState(app, id, ['awaiting_approval']);
    await target.client().config('SET', 'maxmemory', String(MAXMEM * 2)); // someone fixed it meanwhile
    await approveRaise(app, id);
    const done = await waitState(app, id, [...FINAL_STATES], 60_000);
    expect(done.state).toBe('resolved');
    const tl = (await app.engine.getTimeline(id)) ?? [];
    expect(tl.find((e) => e.kind === 'precondition.failed')?.summary).toMatch(/no longer holds.*skipped/);
    expect(tl.some((e) => e.kind === 'command.intent' || e.kind === 'command.executed')).toBe(false);
    expect(Number((await target.client().config('GET', 'maxmemory'))[1])).toBe(MAXMEM * 2);
  });

  it('a mutating step whose intent was recorded before a crash is never repeated: it escalates', async () => {
    await pressure(target.client(), MAXMEM);
    const { incidentId: id } = await app.engine.run('redis-memory-pressure', 'cache-prod', { dryRun: false, by: 'alice' });
    const waiting = await waitState(app, id, ['awaiting_approval']);
    // what a worker that died between "intent" and "outcome" leaves behind
    const intentKey = `${app.config.engine.keyPrefix}:inc:{${id}}:intent:${waiting.pendingApproval?.key ?? ''}`;
    await app.redis.hset(intentKey, { status: 'started', at: new Date().toISOString() });
    await approveRaise(app, id);
    const done = await waitState(app, id, [...FINAL_STATES]);
    expect(done.state).toBe('escalated');
    expect(done.outcome).toMatch(/interrupted; it is not repeated/);
    expect(await kinds(app, id)).not.toContain('command.executed');
    expect(await target.client().config('GET', 'maxmemory')).toEqual(['maxmemory', String(MAXMEM)]);
  });

  it('stopped after recording its intent but before the timeline said so: the resumed step writes "about to send" once, then sends', async () => {
    await pressure(target.client(), MAXMEM);
    const { incidentId: id } = await app.engine.run('redis-memory-pressure', 'cache-prod', { dryRun: false, by: 'alice' });
    const waiting = await waitState(app, id, ['awaiting_approval']);
    // a worker killed between the intent record and its timeline entry: no command was marked sending
    const intentKey = `${app.config.engine.keyPrefix}:inc:{${id}}:intent:${waiting.pendingApproval?.key ?? ''}`;
    await app.redis.hset(intentKey, { v: '2', status: 'started', at: new Date().toISOString(), commands: '[]' });
    await approveRaise(app, id);
    const done = await waitState(app, id, [...FINAL_STATES], 60_000);
    expect(done.state).toBe('resolved');
    const k = await kinds(app, id);
    expect(k.filter((x) => x === 'command.intent')).toHaveLength(1);
    expect(k.indexOf('command.intent')).toBeLessThan(k.indexOf('command.executed'));
    expect(((await app.engine.getTimeline(id)) ?? []).some((e) => /resuming after an interruption/.test(e.summary))).toBe(true);
    expect(Number((await target.client().config('GET', 'maxmemory'))[1])).toBeGreaterThan(MAXMEM);
  });

  it('dry run shows the exact commands and changes nothing', async () => {
    await pressure(target.client(), MAXMEM);
    const { incidentId: id } = await app.engine.run('redis-memory-pressure', 'cache-prod', { dryRun: true, by: 'alice' });
    const done = await waitState(app, id, [...FINAL_STATES]);
    expect(done.state).toBe('completed');
    const tl = (await app.engine.getTimeline(id)) ?? [];
    const dry = tl.filter((e) => e.kind === 'command.dry-run').map((e) => e.summary);
    expect(dry.some((d) => d.includes(`${target.host}:${target.port}: CONFIG SET maxmemory`))).toBe(true);
    expect(dry.some((d) => /EXPIRE session:\d+:\d+ 600 NX/.test(d)), dry.join('\n').slice(0, 2000)).toBe(true);
    expect(tl.some((e) => e.kind === 'command.intent' || e.kind === 'command.executed')).toBe(false);
    expect(await target.client().config('GET', 'maxmemory')).toEqual(['maxmemory', String(MAXMEM)]);
  });

  it('two worker processes sharing one store split the work', async () => {
    await pressure(target.client(), MAXMEM);
    const prefix = testPrefix();
    const opts = { storeUrl: store.url, prefix, http: false, targets: { 'cache-prod': { endpoints: [`${target.host}:${target.port}`], role: 'store' as const } } };
    const w1 = await startTestApp(opts);
    const w2 = await startTestApp(opts);
    apps.push(w1, w2);
    const seen = [0, 0];
    w1.worker?.worker.on('completed', () => void seen[0]!++);
    w2.worker?.worker.on('completed', () => void seen[1]!++);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await w1.engine.run('redis-memory-pressure', 'cache-prod', { dryRun: true, by: 'alice' })).incidentId);
    for (const id of ids) expect((await waitState(w1, id, [...FINAL_STATES], 60_000)).state).toBe('completed');
    expect(seen[0]).toBeGreaterThan(0);
    expect(seen[1]).toBeGreaterThan(0);
  });

  it('an approval that nobody gives expires through a delayed job and escalates', async () => {
    await pressure(target.client(), MAXMEM);
    const a = await startTestApp({ storeUrl: store.url, http: false, approvalTimeout: '1s', targets: { 'cache-prod': { endpoints: [`${target.host}:${target.port}`], role: 'store' } } });
    apps.push(a);
    const { incidentId: id } = await a.engine.run('redis-memory-pressure', 'cache-prod', { dryRun: false, by: 'alice' });
    const done = await waitState(a, id, ['escalated'], 20_000);
    expect(done.outcome).toMatch(/approval expired/);
    expect(await kinds(a, id)).toContain('approval.expired');
    expect(await target.client().config('GET', 'maxmemory')).toEqual(['maxmemory', String(MAXMEM)]);
  });

  it('bad webhook input gets a clear 4xx and enqueues nothing; unmatched alerts are accepted and counted', async () => {
    const url = app.http?.url ?? '';
    const before = await app.queue.getJobCounts();
    const bad = await fetch(`${url}/webhooks/alertmanager`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"version":"4","alerts":[' });
    expect(bad.status).toBe(400);
    const schema = await post(`${url}/webhooks/alertmanager`, webhookBody([{ labels: { instance: 'x:6379' } }]));
    expect(schema.status).toBe(400);
    expect(JSON.stringify(schema.json)).toContain('alerts[0].labels.alertname');
    const unmatched = await post(`${url}/webhooks/alertmanager`, webhookBody([{ labels: { alertname: 'SomethingElse', instance: '10.9.9.9:6379' } }]));
    expect(unmatched.status).toBe(202);
    expect(unmatched.json).toMatchObject({ accepted: 0, unmatched: 1 });
    expect(await app.queue.getJobCounts()).toEqual(before);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/redis_runbooks_alerts_received_total\{[^}]*outcome="unmatched"[^}]*\} 1/);
  });

  it('answers 503 when its store is unreachable, so Alertmanager retries', async () => {
    // A store of its own: the apps of the other tests close against a live store (closing against a
    // dead one waits out every bounded step, ~16 s per app).
    const lost = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
    const door = await startTestApp({ storeUrl: lost.url, worker: false, targets: { 'cache-prod': { endpoints: [`${target.host}:${target.port}`], role: 'store' } } });
    apps.push(door);
    const url = door.http?.url ?? '';
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    await lost.stop();
    const r = await post(`${url}/webhooks/alertmanager`, memoryAlert('cccc000000000001'));
    expect(r.status).toBe(503);
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
  });
});
