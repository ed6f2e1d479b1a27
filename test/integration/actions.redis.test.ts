/**
 * Redis actions against real redis-server processes: one standalone started from a config file,
 * and a primary/replica pair started without one. Every process is stopped in afterAll.
 */
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionContext, NodeRef, TargetHandle } from '../../src/actions/types.js';
import { nodeKey } from '../../src/actions/types.js';
import { actions, getAction } from '../../src/actions/registry.js';
import { ConnectionPool, createNodeConnection, toTargetError } from '../../src/actions/redis/connection.js';
import { NODE_SELECTORS, resolveNodes } from '../../src/actions/redis/topology.js';
import { infoMemory } from '../../src/actions/redis/info-memory.js';
import { infoStats } from '../../src/actions/redis/info-stats.js';
import { infoKeyspace } from '../../src/actions/redis/info-keyspace.js';
import { memoryDoctor } from '../../src/actions/redis/memory-doctor.js';
import { configGet } from '../../src/actions/redis/config-get.js';
import { bigkeysSample } from '../../src/actions/redis/bigkeys-sample.js';
import { memoryPurge } from '../../src/actions/redis/memory-purge.js';
import { configSet } from '../../src/actions/redis/config-set.js';
import { maxmemoryRaise } from '../../src/actions/redis/maxmemory-raise.js';
import { fillMemory, freePort, startRedis, startReplicaSet, type RedisProcess, type ReplicaSet } from '../helpers/redis-server.js';

const MiB = 1024 * 1024;
const pool = new ConnectionPool();
const log = pino({ level: 'silent' });
let solo: RedisProcess;
let rs: ReplicaSet;
let lone: RedisProcess; // a replica whose primary does not exist: link down

const ref = (p: RedisProcess): NodeRef => ({ host: p.host, port: p.port });

function target(endpoints: NodeRef[]): TargetHandle {
  return {
    name: 'test',
    mode: 'standalone',
    role: 'cache',
    endpoints,
    sentinels: [],
    allowAutomatic: false,
    connect: async (n) => pool.get(n),
  };
}

function ctx(node: RedisProcess | NodeRef, over: Partial<ActionContext> = {}): ActionContext {
  const n = 'client' in node ? ref(node) : node;
  return {
    target: target([n]),
    node: n,
    findings: {},
    params: {},
    dryRun: false,
    log,
    signal: new AbortController().signal,
    now: () => Date.now(),
    ...over,
  };
}

const rsCtx = (node: RedisProcess, over: Partial<ActionContext> = {}): ActionContext =>
  ctx(node, { target: target([ref(rs.primary)]), ...over });

async function configValue(p: RedisProcess, name: string): Promise<string> {
  const reply = (await p.client().call('CONFIG', 'GET', name)) as string[];
  return reply[1] ?? '';
}

beforeAll(async () => {
  solo = await startRedis({ configFile: true, args: ['--maxmemory', '256mb', '--maxmemory-policy', 'allkeys-lru'] });
  rs = await startReplicaSet(1, { args: ['--maxmemory', '64mb'] });
  lone = await startRedis({ replicaOf: { host: '127.0.0.1', port: await freePort() } });
  const c = solo.client();
  await fillMemory(c, { keys: 20_000, valueBytes: 512, prefix: 'session', ttlShare: 0.1 });
  await fillMemory(c, { keys: 2000, valueBytes: 64, prefix: 'user' });
  await c.set('blob:1', 'b'.repeat(2 * MiB));
  for (let i = 0; i < 50; i++) await c.get(i % 2 === 0 ? `session:${i}` : `nope:${i}`);
});

afterAll(async () => {
  await pool.closeAll();
  await Promise.all([solo?.stop(), rs?.stop(), lone?.stop()]);
});

describe('registry', () => {
  it('holds every action under its name; mutating ones have a plan', () => {
    for (const [name, a] of actions) expect(a.name).toBe(name);
    // Each action lives in the file named after it (redis.<file>), one concept per file.
    for (const name of actions.keys()) expect(name).toMatch(/^redis\.[a-z][a-z0-9-]*$/);
    expect([...actions.keys()]).toEqual(expect.arrayContaining(['redis.bigkeys-sample', 'redis.config-get', 'redis.config-set', 'redis.info-keyspace', 'redis.info-memory', 'redis.info-stats', 'redis.maxmemory-raise', 'redis.memory-doctor', 'redis.memory-purge']));
    for (const a of actions.values()) expect(a.risk === 'read' || typeof a.plan === 'function').toBe(true);
    expect(getAction('redis.nope')).toBeUndefined();
  });
});

describe('read actions', () => {
  it('redis.info-memory', async () => {
    const m = await infoMemory.run(infoMemory.input.parse(undefined), ctx(solo));
    expect(m).toMatchObject({ role: 'primary', redisVersion: '7.0.15', maxmemory: 256 * MiB, policy: 'allkeys-lru' });
    expect(m.usedMemory).toBeGreaterThan(10 * MiB);
    expect(m.usage).toBeCloseTo(m.usedMemory / m.maxmemory, 6);
    expect(m.usedMemoryRss).toBeGreaterThan(0);
    expect(m.totalSystemMemory).toBeGreaterThan(m.maxmemory);
    expect(m.fragmentationRatio).toBeGreaterThan(0);
    expect(m.configFile).toMatch(/redis\.conf$/);
    const r = await infoMemory.run({}, rsCtx(rs.replicas[0]!));
    expect(r).toMatchObject({ role: 'replica', configFile: null, maxmemory: 64 * MiB });
  });

  it('redis.info-stats, including OOM rejections', async () => {
    const s = await infoStats.run({}, ctx(solo));
    expect(s.keyspaceHits).toBeGreaterThanOrEqual(25);
    expect(s.keyspaceMisses).toBeGreaterThanOrEqual(25);
    expect(s.hitRatio).toBeGreaterThan(0);
    expect(s.hitRatio).toBeLessThan(1);
    expect(s.oomErrors).toBe(0);
    const p = rs.primary.client();
    await p.call('CONFIG', 'SET', 'maxmemory', '1', 'maxmemory-policy', 'noeviction');
    await expect(p.set('oom:1', 'x')).rejects.toThrow(/^OOM/);
    await p.call('CONFIG', 'SET', 'maxmemory', String(64 * MiB));
    expect((await infoStats.run({}, rsCtx(rs.primary))).oomErrors).toBe(1);
  });

  it('redis.info-keyspace', async () => {
    const k = await infoKeyspace.run({}, ctx(solo));
    expect(k.keys).toBe(22_001);
    expect(k.expires).toBe(2000);
    expect(k.noTtlShare).toBeCloseTo(1 - 2000 / 22_001, 6);
    expect(k.perDb['db0']).toMatchObject({ keys: 22_001, expires: 2000 });
    expect((await infoKeyspace.run({}, ctx(lone))).noTtlShare).toBe(0);
  });

  it('redis.memory-doctor', async () => {
    const d = await memoryDoctor.run({}, ctx(solo));
    expect(d.text.length).toBeGreaterThan(20);
    expect(d.text.length).toBeLessThanOrEqual(2048);
    expect(d.healthy).toBe(d.issues.length === 0);
  });

  it('redis.config-get never returns secrets', async () => {
    expect(await configGet.run({ parameters: ['maxmemory', 'maxmemory-policy'] }, ctx(solo))).toEqual({
      maxmemory: String(256 * MiB),
      'maxmemory-policy': 'allkeys-lru',
    });
    const all = await configGet.run({ parameters: ['*'] }, ctx(solo));
    expect(Object.keys(all).length).toBeGreaterThan(100);
    expect(all).not.toHaveProperty('requirepass');
    expect(all).not.toHaveProperty('masterauth');
    await expect(configGet.run({ parameters: ['requirepass'] }, ctx(solo))).rejects.toMatchObject({ code: 'input_invalid' });
    expect(configGet.input.safeParse({ parameters: [] }).success).toBe(false);
    expect(configGet.input.safeParse({ parameters: Array(21).fill('maxmemory') }).success).toBe(false);
  });
});

describe('redis.bigkeys-sample', () => {
  it('applies defaults and caps', () => {
    expect(bigkeysSample.input.parse(undefined)).toEqual({ maxKeys: 20_000, maxMillis: 3000, top: 10, count: 500, pauseMs: 5 });
    expect(bigkeysSample.input.safeParse({ maxKeys: 200_001 }).success).toBe(false);
    expect(bigkeysSample.input.safeParse({ maxMillis: 30_001 }).success).toBe(false);
  });

  it('scans everything and finds the dominant prefix and the biggest key', async () => {
    const b = await bigkeysSample.run(bigkeysSample.input.parse({ maxKeys: 50_000, maxMillis: 20_000, pauseMs: 0 }), ctx(solo));
    expect(b).toMatchObject({ complete: true, stoppedBy: 'done', sampledKeys: 22_001, dbKeys: 22_001 });
    expect(b.topKeys[0]).toMatchObject({ key: 'blob:1' });
    expect(b.topKeys[0]!.bytes).toBeGreaterThan(2 * MiB);
    expect(b.topKeys).toHaveLength(10);
    expect(b.dominantPrefix?.prefix).toBe('session');
    expect(b.dominantPrefix?.share).toBeGreaterThan(0.5);
    expect(b.topPrefixes.map((p) => p.prefix)).toEqual(['session', 'blob', 'user']);
    expect(b.topPrefixes.reduce((s, p) => s + p.bytes, 0)).toBe(b.sampledBytes);
  });

  it('stops at the key budget', async () => {
    const b = await bigkeysSample.run(bigkeysSample.input.parse({ maxKeys: 100, count: 30 }), ctx(solo));
    expect(b).toMatchObject({ sampledKeys: 100, stoppedBy: 'key_budget', complete: false });
  });

  it('stops at the time budget (injected clock) and on abort', async () => {
    let t = 0;
    const timed = await bigkeysSample.run(bigkeysSample.input.parse({ maxMillis: 2500, count: 100 }), ctx(solo, { now: () => (t += 1000) }));
    expect(timed).toMatchObject({ stoppedBy: 'time_budget', complete: false });
    expect(timed.sampledKeys).toBeGreaterThan(0);
    expect(timed.sampledKeys).toBeLessThan(22_001);
    const ac = new AbortController();
    ac.abort();
    const aborted = await bigkeysSample.run(bigkeysSample.input.parse({}), ctx(solo, { signal: ac.signal }));
    expect(aborted).toMatchObject({ stoppedBy: 'aborted', sampledKeys: 0, dominantPrefix: null });
  });
});

describe('write actions', () => {
  it('redis.memory-purge: plan then run', async () => {
    const c = ctx(solo);
    const plan = await memoryPurge.plan!({}, c);
    expect(plan).toEqual([{ node: nodeKey(ref(solo)), argv: ['MEMORY', 'PURGE'], note: expect.any(String) }]);
    const res = await memoryPurge.run({}, c, plan);
    expect(res.outcomes).toEqual([{ ...plan[0], ok: true, reply: 'OK' }]);
    expect(await memoryPurge.run({}, ctx(solo, { dryRun: true }), plan)).toEqual({ outcomes: [], dryRun: true });
  });

  it('redis.config-set persists with a config file', async () => {
    const inp = configSet.input.parse({ parameter: 'maxmemory-policy', value: 'allkeys-lfu' });
    const c = ctx(solo);
    const plan = await configSet.plan!(inp, c);
    expect(plan.map((p) => p.argv)).toEqual([['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lfu'], ['CONFIG', 'REWRITE']]);
    const res = await configSet.run(inp, c, plan);
    expect(res).toMatchObject({ persisted: true });
    expect(res.outcomes.every((o) => o.ok)).toBe(true);
    expect(await configValue(solo, 'maxmemory-policy')).toBe('allkeys-lfu');
    expect(await readFile(`${solo.dir}/redis.conf`, 'utf8')).toMatch(/^maxmemory-policy allkeys-lfu$/m);
  });

  it('redis.config-set without a config file: live but not persisted', async () => {
    const inp = configSet.input.parse({ parameter: 'slowlog-log-slower-than', value: '20000' });
    const res = await configSet.run(inp, rsCtx(rs.primary));
    expect(res).toMatchObject({ persisted: false, note: 'not persisted: no config file' });
    expect(res.outcomes[0]).toMatchObject({ ok: true, reply: 'OK' });
    expect(res.outcomes[1]).toMatchObject({ ok: false, error: expect.stringMatching(/without a config file/) });
    expect(await configValue(rs.primary, 'slowlog-log-slower-than')).toBe('20000');
  });

  it('redis.config-set validates input and maps server errors', async () => {
    expect(configSet.input.safeParse({ parameter: 'masterauth', value: 'x' }).success).toBe(false);
    expect(configSet.input.safeParse({ parameter: 'maxmemory-policy', value: 'allkeys-everything' }).success).toBe(false);
    expect(configSet.input.safeParse({ parameter: 'maxmemory', value: '1gb; FLUSHALL' }).success).toBe(false);
    const bad = [{ node: nodeKey(ref(solo)), argv: ['CONFIG', 'SET', 'maxmemory', 'lots'] }];
    await expect(configSet.run({ parameter: 'maxmemory', value: 'lots' }, ctx(solo), bad)).rejects.toMatchObject({
      name: 'TargetError',
      code: 'redis_error',
      retryable: false,
    });
  });

  it('redis.maxmemory-raise: replicas first, then the primary', async () => {
    const c = rsCtx(rs.primary);
    const inp = maxmemoryRaise.input.parse(undefined);
    expect(inp).toEqual({ step: 0.25, headroom: 0.3 });
    const plan = await maxmemoryRaise.plan!(inp, c);
    const replicaKey = nodeKey(ref(rs.replicas[0]!));
    const primaryKey = nodeKey(ref(rs.primary));
    expect(plan.map((p) => [p.node, ...p.argv])).toEqual([
      [replicaKey, 'CONFIG', 'SET', 'maxmemory', String(80 * MiB)],
      [replicaKey, 'CONFIG', 'REWRITE'],
      [primaryKey, 'CONFIG', 'SET', 'maxmemory', String(80 * MiB)],
      [primaryKey, 'CONFIG', 'REWRITE'],
    ]);
    expect(plan[0]?.note).toMatch(/64\.0 MiB → 80\.0 MiB/);
    const res = await maxmemoryRaise.run(inp, c, plan);
    expect(res).toMatchObject({ complete: true, newMaxmemory: 80 * MiB, persisted: { [replicaKey]: false, [primaryKey]: false } });
    expect(res.notes.join('\n')).toMatch(/not persisted: no config file/);
    expect(await configValue(rs.replicas[0]!, 'maxmemory')).toBe(String(80 * MiB));
    expect(await configValue(rs.primary, 'maxmemory')).toBe(String(80 * MiB));
  });

  it('redis.maxmemory-raise respects host headroom', async () => {
    const ram = (await infoMemory.run({}, rsCtx(rs.primary))).totalSystemMemory;
    const cap = Math.floor((ram * 0.7) / MiB) * MiB;
    const p = rs.primary.client();
    try {
      await p.call('CONFIG', 'SET', 'maxmemory', String(cap - 10 * MiB));
      const capped = await maxmemoryRaise.plan!(maxmemoryRaise.input.parse({}), rsCtx(rs.primary));
      expect(capped.find((x) => x.node === nodeKey(ref(rs.primary)))?.argv[3]).toBe(String(cap));
      await p.call('CONFIG', 'SET', 'maxmemory', String(cap));
      expect(await maxmemoryRaise.plan!(maxmemoryRaise.input.parse({}), rsCtx(rs.primary))).toEqual([]);
      const res = await maxmemoryRaise.run(maxmemoryRaise.input.parse({}), rsCtx(rs.primary));
      expect(res).toMatchObject({ outcomes: [], newMaxmemory: null, reason: expect.stringMatching(/headroom/) });
    } finally {
      await p.call('CONFIG', 'SET', 'maxmemory', String(80 * MiB));
    }
    await expect(maxmemoryRaise.plan!(maxmemoryRaise.input.parse({}), rsCtx(rs.replicas[0]!))).rejects.toMatchObject({
      code: 'precondition_failed',
    });
  });
});

describe('topology', () => {
  it('exports every selector', () => {
    expect(NODE_SELECTORS).toEqual(['alerting-node', 'primary', 'replicas', 'preferred-replica', 'all-nodes', 'sentinels', 'cluster-masters', 'cluster-nodes']);
  });

  it('finds replicas through the primary and the primary through a replica', async () => {
    const primary: NodeRef = { ...ref(rs.primary), role: 'primary' };
    const replica: NodeRef = { ...ref(rs.replicas[0]!), role: 'replica' };
    for (const t of [target([ref(rs.primary)]), target([ref(rs.replicas[0]!)])]) {
      expect(await resolveNodes(t, 'primary')).toEqual([primary]);
      expect(await resolveNodes(t, 'replicas')).toEqual([replica]);
      expect(await resolveNodes(t, 'preferred-replica')).toEqual([replica]);
      expect(await resolveNodes(t, 'all-nodes')).toEqual([primary, replica]);
      expect(await resolveNodes(t, 'cluster-masters')).toEqual([primary]);
      expect(await resolveNodes(t, 'alerting-node')).toEqual([primary]);
      expect(await resolveNodes(t, 'sentinels')).toEqual([]);
    }
    expect(await resolveNodes(target([ref(rs.primary)]), 'alerting-node', nodeKey(replica))).toEqual([ref(rs.replicas[0]!)]);
  });

  it('preferred-replica skips replicas whose link is down, else falls back to the primary', async () => {
    const withLone = target([ref(rs.primary), ref(lone)]);
    expect(await resolveNodes(withLone, 'replicas')).toHaveLength(2);
    expect(await resolveNodes(withLone, 'preferred-replica')).toEqual([{ ...ref(rs.replicas[0]!), role: 'replica' }]);
    expect(await resolveNodes(target([ref(solo), ref(lone)]), 'preferred-replica')).toEqual([{ ...ref(solo), role: 'primary' }]);
  });

  it('an unreachable target is a retryable failure classified as refused', async () => {
    const dead = { host: '127.0.0.1', port: await freePort() };
    await expect(resolveNodes(target([dead]), 'primary')).rejects.toMatchObject({ code: 'refused', retryable: true });
  });
});

describe('connections', () => {
  it('maps auth failures without leaking the password', async () => {
    const guarded = await startRedis({ password: 'right-pw-123' });
    const conn = createNodeConnection(ref(guarded), { password: 'wrong-pw-456' });
    try {
      const err = await conn.call('PING').then(() => null, (e: unknown) => toTargetError(e, ref(guarded), 'PING', 'wrong-pw-456'));
      expect(err).toMatchObject({ code: 'wrongpass', retryable: false });
      expect(err?.message).not.toContain('wrong-pw-456');
    } finally {
      conn.disconnect();
      await guarded.stop();
    }
  });
});
