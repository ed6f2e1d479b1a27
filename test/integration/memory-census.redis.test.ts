/**
 * The memory actions on a real redis-server (issue 13): the key census over ~50k mixed keys with a
 * big list and a 4 MB hash placed late in SCAN order, family grouping by depth, client buffers of
 * a subscriber that never reads, and the remediations (client-kill, family-expire, family-delete,
 * trim) planned, run and checked with applied(), touching nothing outside their pattern.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionContext, NodeRef } from '../../src/actions/types.js';
import { getAction } from '../../src/actions/registry.js';
import { ConnectionPool } from '../../src/actions/redis/connection.js';
import { keyCensus } from '../../src/actions/redis/key-census.js';
import { clientBuffers } from '../../src/actions/redis/client-buffers.js';
import { clientKill } from '../../src/actions/redis/client-kill.js';
import { familyExpire } from '../../src/actions/redis/family-expire.js';
import { familyDelete } from '../../src/actions/redis/family-delete.js';
import { trim } from '../../src/actions/redis/trim.js';
import { memorySymptom } from '../../src/actions/redis/memory-symptom.js';
import { startRedis, startReplicaSet, waitFor, type RedisProcess } from '../helpers/redis-server.js';
import { familyCounts, plantMixed, publishBytes, slowSubscriber, type Planted } from './memory-plant.js';

const MiB = 1024 * 1024;
const pool = new ConnectionPool();
let srv: RedisProcess;
let planted: Planted;

function ctx(over: Partial<ActionContext> = {}): ActionContext {
  const node: NodeRef = { host: srv.host, port: srv.port };
  return {
    target: { name: 't', mode: 'standalone', role: 'cache', endpoints: [node], sentinels: [], allowAutomatic: false, connect: async (n) => pool.get(n) },
    node,
    findings: {},
    params: {},
    dryRun: false,
    log: pino({ level: 'silent' }),
    signal: new AbortController().signal,
    now: () => Date.now(),
    ...over,
  };
}

beforeAll(async () => {
  srv = await startRedis();
  planted = await plantMixed(srv.client());
});

afterAll(async () => {
  await pool.closeAll();
  await srv?.stop();
});

describe('redis.key-census', () => {
  it('covers every key of a ~50k-key instance and names the 4 MB hash found late in SCAN order and the big list', async () => {
    expect(planted.total).toBeGreaterThan(50_000);
    expect(planted.bigHashScanPos).toBeGreaterThan(0.9); // really late: a 38% sample would miss it
    const r = await keyCensus.run(keyCensus.input.parse({}), ctx());
    expect(r.complete).toBe(true);
    expect(r.coverage).toBe(1);
    expect(r.scannedKeys).toBe(planted.total);
    expect(r.load.mode).toBe('lua');
    const top = r.topKeysByBytes[0];
    expect(top?.key).toBe(planted.bigHash);
    expect(top?.type).toBe('hash');
    expect(top?.measured).toBe(true);
    expect(top?.bytes).toBeGreaterThan(4 * MiB);
    expect(r.topKeysByElements[0]).toMatchObject({ key: 'queue:dead', type: 'list', size: 120_000 });
    expect(r.bigKeys.map((k) => k.key)).toEqual(expect.arrayContaining([planted.bigHash, 'queue:dead']));
    const fam = Object.fromEntries(r.families.map((f) => [f.family, f]));
    expect(fam['session:*']).toMatchObject({ keys: 24_000, noTtlShare: 1, mainType: 'string' });
    expect(fam['cache:*']).toMatchObject({ keys: 18_000, noTtlShare: 0 });
    expect(fam['user:*']).toMatchObject({ keys: 8000, mainType: 'hash' });
    expect(fam['session:*']?.access?.metric).toBe('idle_seconds');
    // bytes: the session family estimate is within 10% of MEMORY USAGE summed over all its keys
    const c = srv.client();
    let exact = 0;
    for (let s = 0; s < 24_000; s += 4000) {
      const p = c.pipeline();
      for (let i = s; i < s + 4000; i++) p.call('MEMORY', 'USAGE', `session:${i}`, 'SAMPLES', '5');
      for (const [, v] of (await p.exec()) ?? []) exact += Number(v);
    }
    expect(Math.abs((fam['session:*']?.bytes ?? 0) - exact) / exact).toBeLessThan(0.1);
    // state-like families without TTL that an allkeys-* policy would evict, with reasons
    const state = Object.fromEntries(r.stateFamilies.map((f) => [f.family, f.reason]));
    expect(state['queue:*']).toMatch(/queue/);
    expect(state['session:*']).toMatch(/session/);
    expect(state['cache:*']).toBeUndefined();
    // the one-line summary names keys and families with sizes
    expect(r.summary).toContain(planted.bigHash);
    expect(r.summary).toMatch(/session:\* \d+% \(24000 keys, [\d.]+ (KiB|MiB)/);
    expect(r.load.busyShare).toBeGreaterThan(0);
  });

  it('keeps the node\'s main thread under the load budget by pausing between batches', async () => {
    const free = await keyCensus.run(keyCensus.input.parse({ maxBusy: 1, accessSample: 0 }), ctx());
    const r = await keyCensus.run(keyCensus.input.parse({ maxBusy: 0.1, accessSample: 0 }), ctx());
    expect(r.complete).toBe(true);
    expect(r.load.pauses).toBeGreaterThan(0);
    expect(r.load.busyShare).toBeLessThan(0.15); // over the whole census; bursts show in peakBusyShare
    expect(r.elapsedMs).toBeGreaterThan(free.elapsedMs);
    expect(free.load.pauses).toBe(0);
  });

  it('runs on a read-only replica (the no-writes script is allowed there) and sees what the primary holds', async () => {
    const rs = await startReplicaSet(1);
    try {
      const p = rs.primary.client().pipeline();
      for (let i = 0; i < 3000; i++) p.set(`order:${i}`, 'o'.repeat(50));
      for (let i = 0; i < 1000; i++) p.set(`tmp:${i}`, 't', 'EX', 600);
      await p.exec();
      const replica = rs.replicas[0]!;
      await waitFor(async () => (await replica.client().dbsize()) === 4000, 10_000, 'replica caught up');
      const node: NodeRef = { host: replica.host, port: replica.port };
      const r = await keyCensus.run(keyCensus.input.parse({}), ctx({ node }));
      expect(r.node).toBe(`${replica.host}:${replica.port}`);
      expect(r.load.mode).toBe('lua');
      expect(r.complete).toBe(true);
      expect(r.scannedKeys).toBe(4000);
      expect(r.families.find((f) => f.family === 'order:*')).toMatchObject({ keys: 3000, noTtlShare: 1 });
      expect(r.families.find((f) => f.family === 'tmp:*')).toMatchObject({ keys: 1000, noTtlShare: 0 });
    } finally {
      await rs.stop();
    }
  });

  it('falls back to pipelines when the user may not run scripts (ACL -@scripting), with the same findings', async () => {
    await srv.client().call('ACL', 'SETUSER', 'census-ro', 'on', '>census-pw', '~*', '+@read', '+@connection', '+info', '+memory|usage', '+object', '+config|get', '-@scripting');
    const roPool = new ConnectionPool({ username: 'census-ro', password: 'census-pw' });
    try {
      const r = await keyCensus.run(keyCensus.input.parse({ accessSample: 0 }), ctx({ target: { ...ctx().target, connect: async (n) => roPool.get(n) } }));
      expect(r.load.mode).toBe('pipeline');
      expect(r.complete).toBe(true);
      expect(r.scannedKeys).toBe(await srv.client().dbsize());
      expect(r.topKeysByBytes[0]?.key).toBe(planted.bigHash);
    } finally {
      await roPool.closeAll();
      await srv.client().call('ACL', 'DELUSER', 'census-ro');
    }
  });

  it('groups families by separator and depth, ids collapsed to *', async () => {
    const d2 = await keyCensus.run(keyCensus.input.parse({ depth: 2, accessSample: 0 }), ctx());
    const names2 = d2.families.map((f) => f.family);
    expect(names2).toEqual(expect.arrayContaining(['cache:page:*', 'user:*', 'session:*', 'queue:dead']));
    const d3 = await keyCensus.run(keyCensus.input.parse({ depth: 3, accessSample: 0 }), ctx());
    expect(d3.families.find((f) => f.family === 'user:*:profile')?.keys).toBe(8000);
  });

  it('reports a sample, with its coverage, when the key budget ends the scan; the pipelined mode agrees with the Lua one', async () => {
    const r = await keyCensus.run(keyCensus.input.parse({ maxKeys: 10_000, mode: 'pipeline', accessSample: 0 }), ctx());
    expect(r.complete).toBe(false);
    expect(r.stoppedBy).toBe('key_budget');
    expect(r.scannedKeys).toBe(10_000);
    expect(r.coverage).toBeCloseTo(10_000 / planted.total, 3);
    expect(r.summary).toMatch(/sampled \d+%/);
    expect(r.load.mode).toBe('pipeline');
    const s = r.families.find((f) => f.family === 'session:*');
    expect(s?.noTtlShare).toBe(1);
  });
});

describe('client buffers and redis.client-kill', () => {
  it('names the subscriber that never reads (id, addr, omem) and proposes a pubsub limit; client-kill disconnects exactly it', async () => {
    const c = srv.client();
    await c.config('SET', 'client-output-buffer-limit', 'pubsub 0 0 0');
    const sub = await slowSubscriber(srv.port, 'events');
    const healthy = await slowSubscriber(srv.port, 'quiet', 'fast-consumer');
    try {
      await publishBytes(c, 'events', 24 * MiB);
      const r = await clientBuffers.run(clientBuffers.input.parse({}), ctx());
      const worst = r.offenders[0];
      expect(worst).toMatchObject({ name: 'slow-consumer', addr: sub.addr, kind: 'pubsub', sub: 1, cmd: 'subscribe' });
      expect(worst?.omem).toBeGreaterThan(8 * MiB);
      expect(r.offenderIds).toEqual([worst?.id]);
      expect(r.memClientsNormal).toBeGreaterThan(8 * MiB);
      expect(r.limits?.pubsub).toEqual({ hard: 0, soft: 0, softSeconds: 0 });
      expect(r.proposedLimit).toMatchObject({ class: 'pubsub' });
      expect(r.summary).toContain(`id=${worst?.id} ${sub.addr} name=slow-consumer cmd=subscribe`);

      const inp = clientKill.input.parse({ ids: r.offenderIds, limit: r.proposedLimit?.value ?? null });
      const plan = (await clientKill.plan?.(inp, ctx())) ?? [];
      expect(plan.map((p) => p.argv.join(' '))).toEqual([`CLIENT KILL ID ${worst?.id}`, `CONFIG SET client-output-buffer-limit ${r.proposedLimit?.value}`, 'CONFIG REWRITE']);
      expect(plan[0]?.note).toContain(sub.addr);
      expect(await clientKill.applied?.(plan[0]!, inp, ctx())).toBe(false);
      expect(await clientKill.applied?.(plan[1]!, inp, ctx())).toBe(false);
      const out = await clientKill.run(inp, ctx(), plan);
      expect(out.killed).toEqual([worst?.id]);
      expect(out.persisted).toBe(false); // started without a config file
      expect(await clientKill.applied?.(plan[0]!, inp, ctx())).toBe(true);
      expect(await clientKill.applied?.(plan[1]!, inp, ctx())).toBe(true);
      const after = await clientBuffers.run(clientBuffers.input.parse({}), ctx());
      expect(after.offenders).toEqual([]);
      expect(after.worst.some((w) => w.name === 'fast-consumer')).toBe(true); // the other subscriber stays
      expect(String(await c.call('CLIENT', 'LIST'))).not.toContain(sub.addr);
      // ids that are gone, and replication links, are never planned
      expect(await clientKill.plan?.(clientKill.input.parse({ ids: r.offenderIds }), ctx())).toEqual([]);
    } finally {
      sub.close();
      healthy.close();
      await c.config('SET', 'client-output-buffer-limit', 'pubsub 33554432 8388608 60');
    }
  });
});

describe('family remediations touch only their pattern', () => {
  it('redis.family-expire gives a TTL to session:* keys without one, batch by batch, and nothing else', async () => {
    const c = srv.client();
    await c.set('session', 'no separator: not in session:*');
    await c.set('sessionx:1', 'outside the pattern');
    await c.set('session:ttl-already', 'x', 'EX', 500);
    const before = await familyCounts(c);
    const inp = familyExpire.input.parse({ pattern: 'session:*', ttlSeconds: 3600, batch: 5000, perSecond: 50_000 });
    const first = (await familyExpire.plan?.(inp, ctx())) ?? [];
    expect(first).toHaveLength(5000);
    expect(first.every((p) => p.argv[0] === 'EXPIRE' && /^session:/.test(p.argv[1] ?? '') && p.argv[3] === 'NX')).toBe(true);
    expect(first.some((p) => p.argv[1] === 'session:ttl-already')).toBe(false);
    expect(first[0]?.note).toMatch(/5000 keys of session:\* without TTL \([\d.]+ (KiB|MiB)\) get a 3600s TTL/);
    expect(await familyExpire.applied?.(first[0]!, inp, ctx())).toBe(false);
    let rounds = 0;
    let plan = first;
    const t0 = Date.now();
    while (plan.length > 0 && rounds < 20) {
      const out = await familyExpire.run(inp, ctx(), plan);
      expect(out.failed).toBe(0);
      rounds++;
      plan = (await familyExpire.plan?.(inp, ctx())) ?? [];
    }
    expect(rounds).toBe(5); // 24,000 keys in batches of 5,000
    expect(Date.now() - t0).toBeGreaterThan(24_000 / 50_000 * 1000 * 0.8); // paced per second
    expect(await familyExpire.applied?.(first[0]!, inp, ctx())).toBe(true);
    const after = await familyCounts(c);
    expect(after['session']).toEqual({ keys: before['session']!.keys, withTtl: before['session']!.keys - 1 }); // all but the bare `session`
    for (const fam of ['cache', 'user', 'queue', 'big', 'sessionx']) expect(after[fam]).toEqual(before[fam]);
    expect(await c.pttl('session:ttl-already')).toBeLessThanOrEqual(500_000);
    expect(await c.ttl('session')).toBe(-1);
  });

  it('redis.family-delete UNLINKs user:*:profile in batches; every other family keeps its count', async () => {
    const c = srv.client();
    await c.set('user:admin', 'outside user:*:profile');
    const before = await familyCounts(c);
    const inp = familyDelete.input.parse({ pattern: 'user:*:profile', batch: 3000, perCommand: 500, perSecond: 100_000 });
    const first = (await familyDelete.plan?.(inp, ctx())) ?? [];
    expect(first).toHaveLength(6);
    expect(first[0]?.note).toMatch(/batch of 3000 keys of user:\*:profile \([\d.]+ (KiB|MiB)\)/);
    expect(first.flatMap((p) => p.argv.slice(1)).every((k) => /^user:\d+:profile$/.test(k))).toBe(true);
    let plan = first;
    let deleted = 0;
    while (plan.length > 0) {
      deleted += (await familyDelete.run(inp, ctx(), plan)).deleted;
      plan = (await familyDelete.plan?.(inp, ctx())) ?? [];
    }
    expect(deleted).toBe(8000);
    expect(await familyDelete.applied?.(first[0]!, inp, ctx())).toBe(true);
    const after = await familyCounts(c);
    expect(after['user']).toEqual({ keys: 1, withTtl: 0 });
    for (const fam of ['cache', 'session', 'queue', 'big']) expect(after[fam]).toEqual(before[fam]);
  });

  it('refuses whole-keyspace patterns', () => {
    expect(() => familyDelete.input.parse({ pattern: '*' })).toThrow(/3 literal characters/);
    expect(() => familyExpire.input.parse({ pattern: '*:*', ttlSeconds: 10 })).toThrow(/3 literal characters/);
  });

  it('redis.trim bounds the dead-letter list and a stream to N', async () => {
    const c = srv.client();
    const inp = trim.input.parse({ key: 'queue:dead', maxLen: 1000 });
    const plan = (await trim.plan?.(inp, ctx())) ?? [];
    expect(plan.map((p) => p.argv.join(' '))).toEqual(['LTRIM queue:dead 0 999']);
    expect(plan[0]?.note).toMatch(/list queue:dead: 120000 elements .* drops 119000/);
    expect(await trim.applied?.(plan[0]!, inp, ctx())).toBe(false);
    expect((await trim.run(inp, ctx(), plan)).lengthAfter).toBe(1000);
    expect(await c.lindex('queue:dead', 0)).toBe('{"job":0,"error":"timeout"}');
    expect(await trim.applied?.(plan[0]!, inp, ctx())).toBe(true);
    expect(await trim.plan?.(inp, ctx())).toEqual([]);
    const p = c.pipeline();
    for (let i = 0; i < 3000; i++) p.xadd('events:stream', '*', 'n', String(i));
    await p.exec();
    const sp = (await trim.plan?.(trim.input.parse({ key: 'events:stream', maxLen: 100 }), ctx())) ?? [];
    expect(sp.map((x) => x.argv.join(' '))).toEqual(['XTRIM events:stream MAXLEN = 100']);
    await trim.run(trim.input.parse({ key: 'events:stream', maxLen: 100 }), ctx(), sp);
    expect(await c.xlen('events:stream')).toBe(100);
    await expect(trim.plan?.(trim.input.parse({ key: 'session:1', maxLen: 1 }), ctx())).rejects.toThrow(/string, not a list or stream/);
  });
});

describe('redis.memory-symptom', () => {
  it('counts OOM rejections between its two reads, not since diagnosis', async () => {
    const c = srv.client();
    const used = Number(/used_memory:(\d+)/.exec(await c.info('memory'))?.[1]);
    await c.config('SET', 'maxmemory', String(used - MiB));
    await c.config('SET', 'maxmemory-policy', 'noeviction');
    try {
      await c.set('oom:1', 'x').catch(() => undefined); // an old rejection, before the window
      const quiet = await memorySymptom.run(memorySymptom.input.parse({ gapMs: 200 }), ctx());
      expect(quiet.oomErrors).toBeGreaterThan(0);
      expect(quiet.oomErrorsDelta).toBe(0);
      expect(quiet.usage).toBeGreaterThan(1);
      const busy = memorySymptom.run(memorySymptom.input.parse({ gapMs: 400 }), ctx());
      await new Promise((r) => setTimeout(r, 100));
      for (let i = 0; i < 3; i++) await c.set(`oom:${i}`, 'x').catch(() => undefined);
      expect((await busy).oomErrorsDelta).toBe(3);
    } finally {
      await c.config('SET', 'maxmemory', '0');
    }
  });

  it('every new action is registered and documents its output', () => {
    for (const name of ['redis.key-census', 'redis.client-buffers', 'redis.memory-symptom', 'redis.client-kill', 'redis.family-expire', 'redis.family-delete', 'redis.trim']) {
      const a = getAction(name);
      expect(a, name).toBeDefined();
      expect(Object.keys(a?.output ?? {}).length, name).toBeGreaterThan(2);
      if (a?.risk !== 'read') expect(a?.applied, name).toBeDefined();
    }
  });
});
