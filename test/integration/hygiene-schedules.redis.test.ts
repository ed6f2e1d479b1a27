/**
 * Issue 10, hygiene schedules: two engine processes (`redis-runbooks start`) on one store with a
 * 2-second cron. One job scheduler per check×target, no duplicates; runs happen; after the files
 * change and both restart, the schedulers match the files (none left for the removed check).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHygieneQueue, SCHEDULER_PREFIX } from '../../src/engine/hygiene/scheduler.js';
import type { HygieneJobData } from '../../src/engine/hygiene/scheduler.js';
import type { Queue } from 'bullmq';
import { testConfigText, testPrefix } from '../helpers/app.js';
import { stopChild, track } from '../helpers/processes.js';
import { startRedis, waitFor } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

const BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'redis-runbooks.js');

let store: RedisProcess;
let t1: RedisProcess;
let t2: RedisProcess;
let dir: string;
let cfg: string;
let prefix: string;
let queue: Queue<HygieneJobData>;
let conn: Redis;
let children: ChildProcess[] = [];

const file = (name: string, type: string): string =>
  `apiVersion: redis-runbooks/v1\nkind: HygieneCheck\nname: ${name}\nschedule: "*/2 * * * * *"\njitterSeconds: 0\ntargets: all\ncheck: ${type}\n`;

function startEngine(): ChildProcess {
  return track(spawn(process.execPath, [BIN, 'start', '--config', cfg], { stdio: 'ignore', env: { ...process.env, LOG_LEVEL: 'silent' } }));
}

async function schedulerIds(): Promise<string[]> {
  return (await queue.getJobSchedulers(0, -1)).map((s) => s.key ?? s.id ?? '').filter((id) => id.startsWith(SCHEDULER_PREFIX)).sort();
}

beforeAll(async () => {
  [store, t1, t2] = await Promise.all([startRedis(), startRedis(), startRedis()]);
  dir = await mkdtemp(join(tmpdir(), 'rr-hygs-'));
  await mkdir(join(dir, 'hygiene'));
  await writeFile(join(dir, 'hygiene', 'policy.yaml'), file('h-policy', 'eviction-policy'));
  await writeFile(join(dir, 'hygiene', 'acl.yaml'), file('h-acl', 'acl'));
  prefix = testPrefix();
  cfg = join(store.dir, 'config.yaml');
  await writeFile(
    cfg,
    testConfigText({ prefix, storeUrl: store.url, runbooksDir: dir, extraYaml: 'shippedRunbooks: false\n', targets: { t1: { endpoints: [`${t1.host}:${t1.port}`], role: 'cache' }, t2: { endpoints: [`${t2.host}:${t2.port}`], role: 'store' } } }),
  );
  conn = new Redis(store.url, { maxRetriesPerRequest: null });
  queue = createHygieneQueue(conn, `{${prefix}}`);
}, 30_000);

afterAll(async () => {
  await Promise.all(children.map((c) => stopChild(c)));
  await queue?.close();
  conn?.disconnect();
  await Promise.all([t1?.stop(), t2?.stop(), store?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('two engine processes keep one scheduler per check×target, run them on the cron, and match the files after a restart', async () => {
  children = [startEngine(), startEngine()];
  await waitFor(async () => (await queue.getWorkersCount()) >= 2, 40_000, 'two hygiene workers');
  expect(await schedulerIds()).toEqual(['hyg-h-acl--t1', 'hyg-h-acl--t2', 'hyg-h-policy--t1', 'hyg-h-policy--t2']);
  expect(await queue.getGlobalConcurrency()).toBe(2);
  // Runs happen on the cron, on every target; t1 (cache, noeviction) has a policy finding.
  const runsOf = async (t: string): Promise<Record<string, string>> => conn.hgetall(`${prefix}:hygiene:{${t}}:runs`);
  await waitFor(async () => Object.keys(await runsOf('t1')).length === 2 && Object.keys(await runsOf('t2')).length === 2, 20_000, 'runs of both checks on both targets');
  const first = JSON.parse((await runsOf('t1'))['h-policy'] ?? '{}') as { at: string };
  await waitFor(async () => (JSON.parse((await runsOf('t1'))['h-policy'] ?? '{}') as { at: string }).at !== first.at, 10_000, 'a second run');
  const finding = JSON.parse((await conn.hget(`${prefix}:hygiene:{t1}`, `h-policy|policy:${t1.host}:${t1.port}`)) ?? '{}') as { runs: number; severity: string };
  expect(finding.severity).toBe('warning');
  expect(finding.runs).toBeGreaterThanOrEqual(2);
  // One run job per tick per check×target, whatever the number of processes: no two runs of h-policy on t1 within one 2 s slot.
  const done = (await queue.getJobs(['completed'], 0, -1)).filter((j) => j.name === 'run' && j.data.check === 'h-policy' && j.data.target === 't1');
  const slots = done.map((j) => Math.floor((j.processedOn ?? 0) / 2000));
  expect(new Set(slots).size).toBe(slots.length);

  // The acl check is removed from the files; both processes restart.
  await Promise.all(children.map((c) => stopChild(c)));
  await rm(join(dir, 'hygiene', 'acl.yaml'));
  children = [startEngine(), startEngine()];
  await waitFor(async () => (await schedulerIds()).length === 2, 40_000, 'schedulers synced to the files');
  await waitFor(async () => (await queue.getWorkersCount()) >= 2, 40_000, 'two hygiene workers again');
  expect(await schedulerIds()).toEqual(['hyg-h-policy--t1', 'hyg-h-policy--t2']);
}, 120_000);
