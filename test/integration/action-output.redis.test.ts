/**
 * Issue 6: the memory actions return no field their `output` does not document. Each runs on a
 * real primary (config file, maxmemory 64 MiB, keys with and without TTL, a big hash) and its
 * replica (no config file: a CONFIG REWRITE there fails), through the paths that add optional
 * fields: dry runs, a persisted and a not-persisted rewrite, nothing to raise.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionContext, ActionDefinition, NodeRef } from '../../src/actions/types.js';
import { getAction } from '../../src/actions/registry.js';
import { ConnectionPool } from '../../src/actions/redis/connection.js';
import { undocumentedFields } from '../../src/engine/runbook/action-docs.js';
import { fillMemory, startRedis, waitFor, type RedisProcess } from '../helpers/redis-server.js';

const MiB = 1024 * 1024;
const pool = new ConnectionPool();
let primary: RedisProcess;
let replica: RedisProcess;

function ctx(over: Partial<ActionContext> = {}): ActionContext {
  const node: NodeRef = { host: primary.host, port: primary.port };
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

function action(name: string): ActionDefinition<unknown, unknown> {
  const a = getAction(name);
  if (!a) throw new Error(`${name} is not registered`);
  return a as ActionDefinition<unknown, unknown>;
}

/** Runs `name` as the engine does (plan, then run exactly that plan) and returns its findings. */
async function runAction(name: string, withValues: unknown, c: ActionContext = ctx()): Promise<unknown> {
  const a = action(name);
  const inp = a.input.parse(withValues);
  const plan = a.plan ? await a.plan(inp, c) : undefined;
  return a.run(inp, c, plan);
}

function expectDocumented(name: string, result: unknown): void {
  expect(undocumentedFields(result, action(name).output), `${name} returned fields its output does not document`).toEqual([]);
}

beforeAll(async () => {
  primary = await startRedis({ configFile: true, args: ['--maxmemory', '64mb'] });
  replica = await startRedis({ replicaOf: { host: primary.host, port: primary.port } });
  await waitFor(async () => /master_link_status:up/.test(String(await replica.client().call('INFO', 'replication'))), 15_000, 'replica link up');
  const c = primary.client();
  await fillMemory(c, { keys: 3000, valueBytes: 512, prefix: 'session', ttlShare: 0.5 });
  await fillMemory(c, { keys: 500, valueBytes: 100, prefix: 'cache' });
  await c.select(1);
  await c.set('db1key', 'x');
  await c.select(0);
  const h = c.pipeline();
  for (let i = 0; i < 2000; i++) h.hset('big:hash', `f${i}`, 'v'.repeat(200));
  await h.exec();
  await c.call('CONFIG', 'SET', 'slowlog-log-slower-than', '10000');
});

afterAll(async () => {
  await pool.closeAll();
  await replica?.stop();
  await primary?.stop();
});

describe('read actions return only documented fields', () => {
  it('redis.info-memory', async () => {
    const r = (await runAction('redis.info-memory', {})) as Record<string, unknown>;
    expect(r['maxmemory']).toBe(64 * MiB);
    expect(r['configFile']).toMatch(/redis\.conf$/);
    expectDocumented('redis.info-memory', r);
  });

  it('redis.info-stats', async () => {
    expectDocumented('redis.info-stats', await runAction('redis.info-stats', {}));
  });

  it('redis.info-keyspace (two databases: perDb.*)', async () => {
    const r = (await runAction('redis.info-keyspace', {})) as { perDb: Record<string, unknown>; keys: number };
    expect(Object.keys(r.perDb).sort()).toEqual(['db0', 'db1']);
    expect(r.keys).toBe(3000 + 500 + 1 + 1);
    expectDocumented('redis.info-keyspace', r);
  });

  it('redis.memory-doctor', async () => {
    expectDocumented('redis.memory-doctor', await runAction('redis.memory-doctor', {}));
  });

  it('redis.config-get (every parameter is a `*` field)', async () => {
    const r = (await runAction('redis.config-get', { parameters: ['maxmemory*', 'slowlog-log-slower-than'] })) as Record<string, string>;
    expect(r['maxmemory']).toBe(String(64 * MiB));
    expect(r['maxmemory-policy']).toBe('noeviction');
    expectDocumented('redis.config-get', r);
  });

  it('redis.bigkeys-sample (a dominant prefix, so dominantPrefix.* is filled)', async () => {
    const r = (await runAction('redis.bigkeys-sample', { maxKeys: 10_000 })) as { topKeys: Array<{ key: string }>; dominantPrefix: { prefix: string } | null };
    expect(r.topKeys[0]?.key).toBe('big:hash');
    expect(r.dominantPrefix?.prefix).toBe('session');
    expectDocumented('redis.bigkeys-sample', r);
  });
});

describe('mutating actions return only documented fields', () => {
  it('redis.memory-purge, sent and dry run', async () => {
    const r = (await runAction('redis.memory-purge', {})) as { outcomes: Array<{ ok: boolean }> };
    expect(r.outcomes.map((o) => o.ok)).toEqual([true]);
    expectDocumented('redis.memory-purge', r);
    expectDocumented('redis.memory-purge', await runAction('redis.memory-purge', {}, ctx({ dryRun: true })));
  });

  it('redis.config-set: persisted on the primary; not persisted (note) on the replica; dry run', async () => {
    const p = (await runAction('redis.config-set', { parameter: 'slowlog-log-slower-than', value: '20000' })) as { persisted: boolean };
    expect(p.persisted).toBe(true);
    expectDocumented('redis.config-set', p);
    const onReplica = ctx({ node: { host: replica.host, port: replica.port } });
    const r = (await runAction('redis.config-set', { parameter: 'slowlog-log-slower-than', value: '20000' }, onReplica)) as { persisted: boolean; note?: string };
    expect(r).toMatchObject({ persisted: false, note: 'not persisted: no config file' });
    expectDocumented('redis.config-set', r);
    expectDocumented('redis.config-set', await runAction('redis.config-set', { parameter: 'maxclients', value: '5000' }, ctx({ dryRun: true })));
  });

  it('redis.maxmemory-raise: replica then primary (persisted.*, notes), dry run, and nothing to raise (reason)', async () => {
    const dry = await runAction('redis.maxmemory-raise', { step: 0.25, headroom: 0 }, ctx({ dryRun: true }));
    expectDocumented('redis.maxmemory-raise', dry);
    const r = (await runAction('redis.maxmemory-raise', { step: 0.25, headroom: 0 })) as { newMaxmemory: number; persisted: Record<string, boolean> };
    expect(r.newMaxmemory).toBe(80 * MiB);
    expect(r.persisted).toEqual({ [`${replica.host}:${replica.port}`]: false, [`${primary.host}:${primary.port}`]: true });
    expectDocumented('redis.maxmemory-raise', r);
    await primary.client().call('CONFIG', 'SET', 'maxmemory', '0');
    const none = (await runAction('redis.maxmemory-raise', {})) as { reason?: string };
    expect(none.reason).toMatch(/nothing to raise/);
    expectDocumented('redis.maxmemory-raise', none);
  });
});
