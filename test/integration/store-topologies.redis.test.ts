/**
 * The engine's own store on Redis Sentinel and on Redis Cluster (real redis-server,
 * redis-sentinel and `redis-cli --cluster create`): alert → awaiting approval → approve over HTTP
 * → resolved, a dry run, and — on Sentinel — a store failover while an incident waits for
 * approval. The topologies run one after the other (each stopped before the next starts).
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { FINAL_STATES } from '../../src/engine/types.js';
import { post, startTestApp, testPrefix, webhookBody } from '../helpers/app.js';

// The store's behaviour is shown on a fixed memory runbook (the shipped one evolves with its own tests).
const MEMORY_DIR = resolve(import.meta.dirname, '..', 'fixtures', 'runbooks-machine');
import { startCluster, startSentinelSet } from '../helpers/fleet.js';
import type { ClusterSet, SentinelSet } from '../helpers/fleet.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';
import { closedTimeline, pressure, waitIncidentFor, waitState } from '../helpers/incidents.js';

const MAXMEM = 32 * 1024 * 1024;

let target: RedisProcess;

function memoryAlert(fp: string) {
  return webhookBody([{ labels: { alertname: 'RedisMemoryHigh', instance: `${target.host}:${target.port}`, severity: 'warning', job: 'redis' }, fingerprint: fp }]);
}

const targets = () => ({ 'cache-prod': { endpoints: [`${target.host}:${target.port}`], role: 'store' as const } });
const endpointList = (eps: { host: string; port: number }[]) => eps.map((e) => JSON.stringify(`${e.host}:${e.port}`)).join(', ');
const maxmemory = async () => Number((await target.client().config('GET', 'maxmemory'))[1]);

/** The webhook → approval over HTTP → resolved flow, with the store in whatever topology `app` uses. */
async function alertToResolved(app: App): Promise<string> {
  await pressure(target.client(), MAXMEM);
  const url = app.http?.url ?? '';
  const fp = randomBytes(8).toString('hex');
  expect((await post(`${url}/webhooks/alertmanager`, memoryAlert(fp))).status).toBe(202);
  const id = await waitIncidentFor(app, fp);
  const waiting = await waitState(app, id, ['awaiting_approval']);
  expect(waiting.pendingApproval?.remediation).toBe('raise-maxmemory');
  expect(await maxmemory()).toBe(MAXMEM);
  expect((await post(`${url}/api/incidents/${id}/approve`, { by: 'alice' })).status).toBe(200);
  const done = await waitState(app, id, FINAL_STATES);
  expect(done.state).toBe('resolved');
  expect(await maxmemory()).toBeGreaterThan(MAXMEM);
  const kinds = (await closedTimeline(app, id)).map((e) => e.kind);
  expect(kinds).toEqual(expect.arrayContaining(['alert.firing', 'incident.opened', 'finding', 'approval.requested', 'approval.granted', 'command.intent', 'command.executed', 'verification.passed']));
  const md = await (await fetch(`${url}/api/incidents/${id}/timeline.md`)).text();
  expect(md).toContain('CONFIG SET maxmemory');
  return id;
}

async function dryRun(app: App): Promise<void> {
  await pressure(target.client(), MAXMEM);
  const { incidentId: id } = await app.engine.run('redis-memory-pressure', 'cache-prod', { dryRun: true, by: 'alice' });
  const done = await waitState(app, id, FINAL_STATES);
  expect(done.state).toBe('completed');
  const tl = (await app.engine.getTimeline(id)) ?? [];
  expect(tl.find((e) => e.kind === 'command.dry-run')?.summary).toContain(`${target.host}:${target.port}: CONFIG SET maxmemory`);
  expect(tl.some((e) => e.kind === 'command.intent' || e.kind === 'command.executed')).toBe(false);
  expect(await maxmemory()).toBe(MAXMEM);
}

beforeAll(async () => {
  target = await startRedis({ configFile: true });
});

afterAll(async () => {
  await target?.stop();
});

describe('the engine store on Redis Sentinel', () => {
  let set: SentinelSet | undefined;
  let app: App | undefined;
  const prefix = testPrefix();

  beforeAll(async () => {
    set = await startSentinelSet({ replicas: 1 });
    app = await startTestApp({
      storeYaml: `store: { sentinel: { endpoints: [${endpointList(set.sentinels)}], masterName: ${set.masterName} } }`,
      prefix,
      queuePrefix: `{rrt-${prefix}}`,
      targets: targets(),
      runbooksDir: MEMORY_DIR,
    });
  });

  afterAll(async () => {
    await app?.close();
    await set?.stop();
  });

  it('alert → awaiting approval → approved over HTTP → resolved', async () => {
    const id = await alertToResolved(app!);
    // the incident lives on the primary Sentinel names, and was replicated
    expect(await set!.primary.client().exists(`${prefix}:inc:{${id}}`)).toBe(1);
  });

  it('dry run shows the commands and changes nothing', async () => {
    await dryRun(app!);
  });

  it('the store fails over while an incident waits for approval; the approval still resolves it', async () => {
    const a = app!;
    await pressure(target.client(), MAXMEM);
    const url = a.http?.url ?? '';
    const fp = randomBytes(8).toString('hex');
    expect((await post(`${url}/webhooks/alertmanager`, memoryAlert(fp))).status).toBe(202);
    const id = await waitIncidentFor(a, fp);
    await waitState(a, id, ['awaiting_approval']);
    const before = set!.primary;

    const next = await set!.failover();
    expect(next.port).not.toBe(before.port);
    expect(await next.client().exists(`${prefix}:inc:{${id}}`)).toBe(1);

    // The door fails fast while ioredis re-resolves the master: an operator (or Alertmanager) retries.
    let status = 0;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      status = (await post(`${url}/api/incidents/${id}/approve`, { by: 'alice' })).status;
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(200);
    const done = await waitState(a, id, FINAL_STATES);
    expect(done.state).toBe('resolved');
    expect(await maxmemory()).toBeGreaterThan(MAXMEM);
    // written to the new primary: ioredis followed the master (nothing went to the demoted one)
    const kinds = (await closedTimeline(a, id)).map((e) => e.kind);
    expect(kinds).toContain('incident.resolved');
    expect(await next.client().llen(`${prefix}:inc:{${id}}:timeline`)).toBe(kinds.length);
    expect((await next.client().hget(`${prefix}:inc:{${id}}`, 'state'))).toBe('resolved');
  });
});

describe('the engine store on Redis Cluster', () => {
  let cluster: ClusterSet | undefined;
  let app: App | undefined;
  const prefix = testPrefix();

  beforeAll(async () => {
    cluster = await startCluster();
    app = await startTestApp({
      storeYaml: `store: { cluster: { nodes: [${endpointList(cluster.endpoints)}] } }`,
      prefix,
      queuePrefix: `{rrt-${prefix}}`,
      targets: targets(),
      runbooksDir: MEMORY_DIR,
    });
  });

  afterAll(async () => {
    await app?.close();
    await cluster?.stop();
  });

  it('alert → awaiting approval → approved over HTTP → resolved', async () => {
    await alertToResolved(app!);
  });

  it('dry run shows the commands and changes nothing', async () => {
    await dryRun(app!);
  });

  it('the queue lives on one node under its hash tag; each incident keeps its keys together', async () => {
    const a = app!;
    const { incidentId: id } = await a.engine.run('redis-memory-pressure', 'cache-prod', { dryRun: true, by: 'alice' });
    await waitState(a, id, FINAL_STATES);
    const where = new Map<string, string>(); // key → master
    for (const n of cluster!.nodes) {
      const role = (await n.client().call('ROLE')) as unknown[];
      if (role[0] !== 'master') continue;
      let cursor = '0';
      do {
        const [next, keys] = (await n.client().scan(cursor, 'COUNT', 1000)) as [string, string[]];
        for (const k of keys) where.set(k, String(n.port));
        cursor = next;
      } while (cursor !== '0');
    }
    const queueNodes = new Set([...where].filter(([k]) => k.startsWith(`{rrt-${prefix}}:`)).map(([, n]) => n));
    expect(queueNodes.size).toBe(1);
    expect(where.get(`${prefix}:inc:{${id}}`)).toBeDefined();
    expect(where.get(`${prefix}:inc:{${id}}:timeline`)).toBe(where.get(`${prefix}:inc:{${id}}`));
    // the engine's other keys are spread over the cluster, not funnelled into one slot
    const engineNodes = new Set([...where].filter(([k]) => k.startsWith(`${prefix}:`)).map(([, n]) => n));
    expect(engineNodes.size).toBeGreaterThan(1);
  });
});
