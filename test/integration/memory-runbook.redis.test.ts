/**
 * The memory-pressure runbook end to end through the engine (issue 13), one real redis-server per
 * planted situation: mixed families whose state-like members (sessions, a job queue, profile
 * hashes without TTL) block allkeys-lru, a pub/sub subscriber that never reads, volatile-lru with
 * no key carrying a TTL, and a full allkeys-lru cache with a good hit ratio. Asserts the named
 * culprits (and a dead-letter list nobody trims), the alternatives offered, that nothing outside the
 * chosen pattern changed (key counts per family before/after), and that verification fails when
 * usage does not fall.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { App } from '../../src/app.js';
import type { TimelineEntry } from '../../src/engine/types.js';
import { FINAL_STATES } from '../../src/engine/types.js';
import { post, RUNBOOKS_DIR, startTestApp, webhookBody } from '../helpers/app.js';
import { startRedis, type RedisProcess } from '../helpers/redis-server.js';
import { closedTimeline, waitState } from '../helpers/incidents.js';
import { familyCounts, plantMixed, publishBytes, slowSubscriber, type SlowSubscriber } from './memory-plant.js';

const MiB = 1024 * 1024;
let store: RedisProcess;
const servers: Record<'mixed' | 'buffers' | 'volatile' | 'lru' | 'list', RedisProcess> = {} as never;
let app: App;
let runbooksDir = '';

async function used(c: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await c.info('memory'))?.[1] ?? 0);
}

/** maxmemory such that used memory is `share` of it. */
async function squeeze(c: Redis, share: number, policy: string): Promise<void> {
  await c.config('SET', 'maxmemory-policy', policy);
  await c.config('SET', 'maxmemory', String(Math.floor((await used(c)) / share)));
}

async function optionOf(id: string, remediation: string): Promise<number> {
  const p = (await app.engine.getIncident(id))?.pendingApproval;
  const o = p?.options?.find((x) => x.remediation === remediation);
  if (!o) throw new Error(`${remediation} not offered: ${JSON.stringify(p?.options?.map((x) => x.remediation) ?? p?.remediation)}`);
  return o.option;
}

function notes(tl: TimelineEntry[]): string[] {
  return tl.filter((e) => e.kind === 'note').map((e) => e.summary);
}

beforeAll(async () => {
  store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  for (const k of ['mixed', 'buffers', 'volatile', 'lru', 'list'] as const) servers[k] = await startRedis();
  const t = (p: RedisProcess) => ({ endpoints: [`${p.host}:${p.port}`], role: 'cache' as const });
  // only the shipped memory runbook (other runbooks being written beside it do not matter here)
  runbooksDir = await mkdtemp(join(tmpdir(), 'rr-memory-runbook-'));
  await copyFile(join(RUNBOOKS_DIR, 'redis-memory-pressure.yaml'), join(runbooksDir, 'redis-memory-pressure.yaml'));
  app = await startTestApp({ storeUrl: store.url, runbooksDir, targets: { mixed: t(servers.mixed), buffers: t(servers.buffers), volatile: t(servers.volatile), lru: t(servers.lru), list: t(servers.list) } });
});

afterAll(async () => {
  await app?.close().catch(() => undefined);
  for (const s of Object.values(servers)) await s?.stop();
  await store?.stop();
  if (runbooksDir) await rm(runbooksDir, { recursive: true, force: true });
});

describe('memory-pressure runbook on planted situations', () => {
  it('mixed families: state-like families without TTL block allkeys-lru (and the note says which); the chosen family delete touches only its pattern', async () => {
    const c = servers.mixed.client();
    await plantMixed(c, { sessions: 20_000, cachePages: 5000, profiles: 2000, listLen: 2000, hashFields: 100 });
    await squeeze(c, 0.9, 'noeviction');
    const before = await familyCounts(c);
    const { incidentId: id } = await app.engine.run('redis-memory-pressure', 'mixed', { dryRun: false, by: 'alice' });
    const waiting = await waitState(app, id, ['awaiting_approval']);
    const p = waiting.pendingApproval;
    // a cache target with noeviction, yet no allkeys-lru: it would evict sessions, the job queue, profiles
    expect(p?.options?.map((o) => o.remediation)).toEqual(['expire-family', 'delete-family', 'raise-maxmemory']);
    const tl = (await app.engine.getTimeline(id)) ?? [];
    const blocked = notes(tl).find((n) => n.startsWith('allkeys-lru is not proposed'));
    expect(blocked).toMatch(/session:\* \(string, 20000 keys without TTL, [\d.]+ MiB: named like state \('session'\)\)/);
    expect(blocked).toMatch(/queue:\* \(list, 1 keys without TTL/);
    expect(notes(tl).find((n) => n.startsWith('key family session:*'))).toMatch(/holds [\d.]+% of key bytes: 20000 keys, [\d.]+ MiB, 100% without TTL, mostly string; e\.g\. session:\d+$/);
    expect(notes(tl).find((n) => n.startsWith('census:'))).toContain('all ');
    const del = p?.options?.find((o) => o.remediation === 'delete-family');
    expect(del?.risk).toBe('disruptive');
    expect(del?.approversRequired).toBe(2);
    expect(del?.cost).toMatch(/^deletes 20000 keys of session:\* \(e\.g\. session:\d+\); frees about [\d.]+ MiB$/);
    expect(del?.commands.every((cmd) => cmd.argv[0] === 'UNLINK' && cmd.argv.slice(1).every((k) => /^session:\d+$/.test(k)))).toBe(true);
    expect(p?.options?.find((o) => o.remediation === 'raise-maxmemory')?.title).toMatch(/buys time/);
    expect(p?.options?.find((o) => o.remediation === 'expire-family')?.cost).toMatch(/usage stays until the TTL passes/);

    const option = await optionOf(id, 'delete-family');
    expect((await app.engine.approve(id, 'alice', 'cli', { option })).ok).toBe(true);
    expect((await app.engine.getIncident(id))?.state).toBe('awaiting_approval'); // two distinct approvers
    expect((await app.engine.approve(id, 'bob', 'cli', { option })).ok).toBe(true);
    const done = await waitState(app, id, [...FINAL_STATES], 90_000);
    expect(done.state, done.outcome).toBe('resolved');
    const after = await familyCounts(c);
    expect(after['session']).toBeUndefined();
    for (const fam of ['cache', 'user', 'queue', 'big']) expect(after[fam], fam).toEqual(before[fam]);
    const kinds = (await closedTimeline(app, id)).map((e) => e.kind);
    expect(kinds).toContain('verification.passed');
  });

  it('a dead-letter list nobody trims: trim it (or raise), LTRIM keeps the head, every other key stays', async () => {
    const c = servers.list.client();
    const p0 = c.pipeline();
    for (let i = 0; i < 3000; i++) p0.set(`cache:item:${i}`, 'v'.repeat(100), 'EX', 3600);
    await p0.exec();
    for (let s = 0; s < 300_000; s += 10_000) {
      const p = c.pipeline();
      for (let i = s; i < s + 10_000; i++) p.lpush('jobs:dead', `{"job":${i},"error":"timeout after 30s"}`);
      await p.exec();
    }
    await squeeze(c, 0.9, 'noeviction');
    const before = await familyCounts(c);
    const { incidentId: id } = await app.engine.run('redis-memory-pressure', 'list', { dryRun: false, by: 'alice' });
    const waiting = await waitState(app, id, ['awaiting_approval']);
    const p = waiting.pendingApproval;
    expect(p?.options?.map((o) => o.remediation)).toEqual(['trim-collection', 'raise-maxmemory']);
    const tl = (await app.engine.getTimeline(id)) ?? [];
    expect(notes(tl).find((n) => n.startsWith('one list holds'))).toMatch(/of key bytes: jobs:dead, 300000 elements, [\d.]+ MiB$/);
    const trimOpt = p?.options?.[0];
    expect(trimOpt?.commands.map((x) => x.argv.join(' '))).toEqual(['LTRIM jobs:dead 0 9999']);
    expect(trimOpt?.cost).toMatch(/^drops 290000 of 300000 elements of jobs:dead; frees about [\d.]+ MiB$/);
    expect(trimOpt?.approversRequired).toBe(2);
    const option = await optionOf(id, 'trim-collection');
    expect((await app.engine.approve(id, 'alice', 'cli', { option })).ok).toBe(true);
    expect((await app.engine.approve(id, 'bob', 'cli', { option })).ok).toBe(true);
    const done = await waitState(app, id, [...FINAL_STATES], 60_000);
    expect(done.state, done.outcome).toBe('resolved');
    expect(await c.llen('jobs:dead')).toBe(10_000);
    expect(await c.lindex('jobs:dead', 0)).toBe('{"job":299999,"error":"timeout after 30s"}'); // the newest kept
    const after = await familyCounts(c);
    expect(after['cache']).toEqual(before['cache']);
    expect(after['jobs']).toEqual(before['jobs']); // still one key, now short
  });

  it('a subscriber that never reads: kill exactly that client (by id) and bound the pubsub class; resolved once the buffer is gone', async () => {
    const c = servers.buffers.client();
    const p0 = c.pipeline();
    for (let i = 0; i < 5000; i++) p0.set(`cache:item:${i}`, 'v'.repeat(200), 'EX', 3600);
    await p0.exec();
    await c.config('SET', 'client-output-buffer-limit', 'pubsub 0 0 0');
    await c.config('SET', 'maxmemory', String(32 * MiB));
    const slow: SlowSubscriber = await slowSubscriber(servers.buffers.port, 'prices', 'price-feed');
    const fine: SlowSubscriber = await slowSubscriber(servers.buffers.port, 'other', 'audit-feed');
    const closed = new Promise<boolean>((resolve) => {
      slow.socket.once('close', () => resolve(true));
      setTimeout(() => resolve(false), 60_000).unref();
    });
    try {
      await publishBytes(c, 'prices', 40 * MiB);
      const { incidentId: id } = await app.engine.run('redis-memory-pressure', 'buffers', { dryRun: false, by: 'alice' });
      const waiting = await waitState(app, id, ['awaiting_approval']);
      const p = waiting.pendingApproval;
      expect(p?.options).toBeUndefined(); // one fix: raising or changing the policy would not stop the growth
      expect(p?.remediation).toBe('kill-clients');
      const findings = waiting.findings as { buffers: { offenders: Array<{ id: string; addr: string; name: string; omem: number }> } };
      const hog = findings.buffers.offenders[0];
      expect(findings.buffers.offenders).toHaveLength(1);
      expect(hog).toMatchObject({ addr: slow.addr, name: 'price-feed' });
      expect(hog?.omem).toBeGreaterThan(16 * MiB);
      expect(p?.commands.map((x) => x.argv.join(' '))).toEqual([`CLIENT KILL ID ${hog?.id}`, 'CONFIG SET client-output-buffer-limit pubsub 8388608 2097152 60', 'CONFIG REWRITE']);
      const tl = (await app.engine.getTimeline(id)) ?? [];
      expect(tl.find((e) => e.kind === 'decision')?.summary).toContain(`id=${hog?.id} ${slow.addr} name=price-feed cmd=subscribe omem=`);
      expect((await app.engine.approve(id, 'alice', 'cli')).ok).toBe(true);
      const done = await waitState(app, id, [...FINAL_STATES], 60_000);
      expect(done.state, done.outcome).toBe('resolved');
      slow.socket.resume(); // drain what was buffered: the server's close arrives after it
      expect(await closed).toBe(true);
      const list = String(await c.call('CLIENT', 'LIST'));
      expect(list).not.toContain(slow.addr);
      expect(list).toContain(fine.addr); // the other subscriber was not touched
      expect((await c.config('GET', 'client-output-buffer-limit'))[1]).toContain('pubsub 8388608 2097152 60');
      expect(await c.dbsize()).toBe(5000);
    } finally {
      slow.close();
      fine.close();
    }
  });

  it('volatile-lru with no key carrying a TTL: the policy change is offered beside the family fixes; it does not bring usage down, so it is not resolved', async () => {
    const c = servers.volatile.client();
    const p0 = c.pipeline();
    for (let i = 0; i < 20_000; i++) p0.set(`catalog:item:${i}`, 'v'.repeat(400));
    await p0.exec();
    await squeeze(c, 0.9, 'volatile-lru');
    const before = await familyCounts(c);
    const { incidentId: id } = await app.engine.run('redis-memory-pressure', 'volatile', { dryRun: false, by: 'alice' });
    const waiting = await waitState(app, id, ['awaiting_approval']);
    expect(waiting.pendingApproval?.options?.map((o) => o.remediation)).toEqual(['expire-family', 'delete-family', 'allkeys-lru', 'raise-maxmemory']);
    const tl = (await app.engine.getTimeline(id)) ?? [];
    expect(notes(tl)).toContain('policy volatile-lru but only 0% of 20000 keys carry a TTL: nothing can be evicted, this behaves like noeviction');
    const policy = waiting.pendingApproval?.options?.find((o) => o.remediation === 'allkeys-lru');
    expect(policy?.commands.map((x) => x.argv.join(' '))).toEqual(['CONFIG SET maxmemory-policy allkeys-lru', 'CONFIG REWRITE']);
    expect(policy?.cost).toMatch(/20000 keys without TTL/);
    expect((await app.engine.approve(id, 'alice', 'cli', { option: await optionOf(id, 'allkeys-lru') })).ok).toBe(true);
    const done = await waitState(app, id, [...FINAL_STATES], 90_000);
    // the change is in place, the symptom is not gone: escalated, not "resolved"
    expect(done.state).toBe('escalated');
    expect(done.outcome).toMatch(/Switch maxmemory-policy to allkeys-lru/);
    expect((await c.config('GET', 'maxmemory-policy'))[1]).toBe('allkeys-lru');
    const kinds = (await closedTimeline(app, id)).map((e) => e.kind);
    expect(kinds).toContain('verification.failed');
    expect(kinds).not.toContain('verification.passed');
    expect(await familyCounts(c)).toEqual(before);
  });

  it('a full allkeys-lru cache whose hit ratio holds: RedisEvicting is noted as expected eviction, nothing is proposed or changed', async () => {
    const c = servers.lru.client();
    await c.config('SET', 'maxmemory', String(16 * MiB));
    await c.config('SET', 'maxmemory-policy', 'allkeys-lru');
    // small pipelines: a big one's query buffer counts as used memory and would leave room after it
    for (let s = 0; s < 40_000; s += 100) {
      const p = c.pipeline();
      for (let i = s; i < s + 100; i++) p.set(`page:${i}`, 'v'.repeat(500));
      await p.exec();
    }
    const evicted = Number(/evicted_keys:(\d+)/.exec(await c.info('stats'))?.[1]);
    expect(evicted).toBeGreaterThan(1000);
    // readers hit the recent pages (small pipelines: reply buffers count as used memory too)
    for (let s = 0; s < 20_000; s += 100) {
      const hits = c.pipeline();
      for (let i = s; i < s + 100; i++) hits.get(`page:${39_999 - (i % 2000)}`);
      await hits.exec();
    }
    const before = await c.dbsize();
    const url = app.http?.url ?? '';
    const alert = webhookBody([{ labels: { alertname: 'RedisEvicting', instance: `${servers.lru.host}:${servers.lru.port}`, severity: 'info' }, fingerprint: 'eeee000000000001' }]);
    expect((await post(`${url}/webhooks/alertmanager`, alert)).status).toBe(202);
    let id = '';
    for (let i = 0; i < 100 && !id; i++) {
      id = (await app.engine.listIncidents({ limit: 50 })).find((x) => x.fingerprints.includes('eeee000000000001'))?.id ?? '';
      if (!id) await new Promise((r) => setTimeout(r, 100));
    }
    const done = await waitState(app, id, [...FINAL_STATES]);
    expect(done.state).toBe('resolved');
    expect(done.outcome).toBe('diagnosed; no remediation needed');
    const tl = await closedTimeline(app, id);
    expect(notes(tl).find((n) => n.startsWith('expected eviction'))).toMatch(/a full allkeys-lru cache \((9\d|100)(\.\d+)?% of 16 MiB\), hit ratio (8\d|9\d|100)(\.\d+)?%/);
    expect(tl.some((e) => e.kind === 'proposal' || e.kind.startsWith('command.') || e.kind.startsWith('approval.'))).toBe(false);
    expect((await c.config('GET', 'maxmemory'))[1]).toBe(String(16 * MiB));
    expect((await c.config('GET', 'maxmemory-policy'))[1]).toBe('allkeys-lru');
    // nothing deleted by us; a full cache still evicts a little while it is read (reply buffers count
    // as used memory), so the key count may dip by a few percent, never more
    expect(await c.dbsize()).toBeGreaterThan(before * 0.95);
  });
});
