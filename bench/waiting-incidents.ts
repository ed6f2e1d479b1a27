/**
 * §4 Many incidents waiting for approval. Incidents are opened through the engine API
 * (`engine.run`, not dry-run) and driven by the real BullMQ worker (in this process) through
 * diagnose → plan → request-approval, against a real target, with bench/runbooks/bench-approval.yaml
 * (one cheap diagnostic, always proposes MEMORY PURGE behind an approval). Then: the heap of the
 * process running the worker before/after (after a full GC), and the store's bytes per waiting
 * incident (INFO used_memory delta / n, and MEMORY USAGE of one incident's keys).
 * Baselines: used_memory of the empty store, and a plain 1 KB string key per incident.
 */
import type { App } from '../src/app.js';
import { TARGET_NAME, startBenchApp, usedMemory } from './app.js';
import type { RedisProcess } from '../test/helpers/redis-server.js';
import { pool, progress, row, sleep } from './stats.js';
import type { Row } from './stats.js';

export interface WaitingOptions {
  incidents: number;
  /** Stop opening new incidents after this long, then extrapolate (clearly labelled). */
  budgetMs: number;
  concurrency: number;
}

export const RUNBOOK = 'bench-approval';

export function fullGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc (bench/run.ts re-executes itself with NODE_OPTIONS=--expose-gc)');
  gc();
  gc();
}

async function heapAfterGc(): Promise<number> {
  await sleep(200);
  fullGc();
  await sleep(50);
  fullGc();
  return process.memoryUsage().heapUsed;
}

const MB = 1024 * 1024;

/** Calls per command so far (INFO commandstats). */
async function commandCalls(c: { info(section: string): Promise<string> }): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of (await c.info('commandstats')).matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) out.set(m[1] ?? '', Number(m[2]));
  return out;
}

function perIncidentCalls(before: Map<string, number>, after: Map<string, number>, n: number): { total: number; byCommand: Record<string, number> } {
  const byCommand: Record<string, number> = {};
  let total = 0;
  for (const [k, v] of after) {
    const d = (v - (before.get(k) ?? 0)) / n;
    if (d < 0.05) continue;
    byCommand[k] = Math.round(d * 10) / 10;
    total += d;
  }
  return { total, byCommand: Object.fromEntries(Object.entries(byCommand).sort((a, b) => b[1] - a[1])) };
}

/**
 * Open `n` incidents through the engine API and let the worker drive them to awaiting_approval.
 * Progress is counted from the worker's own `completed` events (the request-approval job is the last
 * one before the wait), so the bench sends no polling commands of its own to the store.
 */
async function openWaiting(app: App & { prefix: string }, n: number, budgetMs: number, label: string): Promise<{ opened: number; waiting: number; seconds: number; collisions: number }> {
  let collisions = 0;
  const worker = app.worker?.worker;
  if (!worker) throw new Error('§4 needs the app worker');
  let waiting = 0;
  const onDone = (job: { name: string }): void => {
    if (job.name === 'request-approval') waiting++;
  };
  worker.on('completed', onDone);
  const t0 = performance.now();
  const stopOpening = Date.now() + budgetMs;
  let opened = 0;
  let lastLog = Date.now();
  try {
    // Keep a bounded backlog ahead of the worker (as an alert storm through the door would).
    await pool(n, 8, async () => {
      if (Date.now() > stopOpening) return;
      while (opened - waiting >= 400) await sleep(10);
      // engine.run throws on an incident id collision (ids carry 24 random bits per day): a caller
      // retries, and so does the bench — counting them, since it is an engine finding of its own.
      for (let attempt = 0; ; attempt++) {
        try {
          await app.engine.run(RUNBOOK, TARGET_NAME, { dryRun: false, by: 'bench' });
          break;
        } catch (e) {
          if (!/id collision/.test((e as Error).message) || attempt >= 3) throw e;
          collisions++;
        }
      }
      opened++;
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        progress(`${label}: ${opened} opened, ${waiting} awaiting approval, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      }
    });
    const deadline = Date.now() + 60_000;
    while (waiting < opened && Date.now() < deadline) await sleep(10);
  } finally {
    worker.off('completed', onDone);
  }
  return { opened, waiting, seconds: (performance.now() - t0) / 1000, collisions };
}

/** MEMORY USAGE (exact) of every key of one waiting incident, engine keys and queue keys apart. */
async function sampleKeys(app: App & { prefix: string }, id: string): Promise<Record<string, number>> {
  const r = app.redis;
  const out: Record<string, number> = {};
  const mem = async (k: string): Promise<number> => Number((await r.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) ?? 0);
  const scan = async (pattern: string): Promise<string[]> => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [c, ks] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
      cursor = c;
      keys.push(...ks);
    } while (cursor !== '0');
    return keys;
  };
  for (const k of await scan(`${app.prefix}:inc:{${id}}*`)) out[`engine ${k.replace(`${app.prefix}:inc:{${id}}`, 'inc')}`] = await mem(k);
  for (const k of await scan(`{${app.prefix}}:runbooks:${id}*`)) out[`queue job ${k.replace(`{${app.prefix}}:runbooks:${id}`, '')}`] = await mem(k);
  return out;
}

/** What the same incident would take in other layouts: timeline as a STREAM (before) instead of the LIST (now), record as one JSON string instead of a hash. */
async function whatIfLayouts(app: App & { prefix: string }, id: string): Promise<Record<string, number>> {
  const r = app.redis;
  const mem = async (k: string): Promise<number> => Number((await r.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) ?? 0);
  const tl = await r.lrange(`${app.prefix}:inc:{${id}}:timeline`, 0, -1);
  const h = await r.hgetall(`${app.prefix}:inc:{${id}}`);
  const xk = `${app.prefix}:whatif:stream`;
  const sk = `${app.prefix}:whatif:string`;
  for (const e of tl) await r.xadd(xk, '*', 'e', e);
  await r.set(sk, JSON.stringify(h));
  const out = {
    'timeline as LIST (now)': await mem(`${app.prefix}:inc:{${id}}:timeline`),
    'timeline as STREAM': await mem(xk),
    'timeline JSON bytes': tl.reduce((a, e) => a + e.length, 0),
    'record as HASH (now)': await mem(`${app.prefix}:inc:{${id}}`),
    'record as one JSON string': await mem(sk),
  };
  await r.del(xk);
  await r.del(sk);
  return out;
}

export interface WaitingResult {
  rows: Row[];
  details: string[];
  raw: Record<string, unknown>;
  /** Ids of incidents now waiting for approval (for §3). */
  waitingIds: string[];
}

export async function benchWaiting(store: RedisProcess, target: RedisProcess, o: WaitingOptions): Promise<{ app: App & { prefix: string }; result: WaitingResult }> {
  const c = store.client();
  await c.flushall(); // our own bench store
  const emptyUsed = await usedMemory(c);
  // Baseline: a plain 1 KB string per incident.
  const plainN = Math.max(1000, Math.min(o.incidents, 10_000));
  const v = 'x'.repeat(1024);
  for (let i = 0; i < plainN; i += 1000) {
    const p = c.pipeline();
    for (let j = i; j < Math.min(plainN, i + 1000); j++) p.set(`plain:${j}`, v);
    await p.exec();
  }
  const plainPer = ((await usedMemory(c)) - emptyUsed) / plainN;
  await c.flushall();
  progress(`waiting: empty store used_memory ${emptyUsed} B; plain 1 KB string ${plainPer.toFixed(0)} B/key`);

  const app = await startBenchApp({ storeUrl: store.url, target: `${target.host}:${target.port}`, http: false, worker: true, concurrency: o.concurrency });
  const warm = await openWaiting(app, 200, 30_000, 'waiting warm-up');
  const heapBefore = await heapAfterGc();
  const usedBefore = await usedMemory(c);
  const rssBefore = process.memoryUsage().rss;
  const callsBefore = await commandCalls(c);
  const cpuBefore = process.cpuUsage();
  progress(`waiting: warm-up ${warm.waiting} waiting; heap ${(heapBefore / MB).toFixed(1)} MB; store used_memory ${(usedBefore / MB).toFixed(1)} MB; opening ${o.incidents} (budget ${(o.budgetMs / 1000).toFixed(0)} s, worker concurrency ${o.concurrency})`);

  const run = await openWaiting(app, o.incidents, o.budgetMs, 'waiting');
  const cpu = process.cpuUsage(cpuBefore);
  const calls = perIncidentCalls(callsBefore, await commandCalls(c), Math.max(1, run.waiting));
  const heapAfter = await heapAfterGc();
  const usedAfter = await usedMemory(c);
  const rssAfter = process.memoryUsage().rss;
  const n = run.waiting;
  const perIncident = (usedAfter - usedBefore) / n;
  const heapPer = (heapAfter - heapBefore) / n;
  const rate = n / run.seconds;
  const extrapolated = n < o.incidents;
  progress(
    `waiting: ${n} of ${o.incidents} reached awaiting_approval in ${run.seconds.toFixed(1)} s (${rate.toFixed(0)}/s); heap ${(heapBefore / MB).toFixed(1)} → ${(heapAfter / MB).toFixed(1)} MB; store +${((usedAfter - usedBefore) / MB).toFixed(1)} MB = ${perIncident.toFixed(0)} B/incident`,
  );

  const ids = await app.redis.smembers(`${app.prefix}:awaiting`);
  const sample = ids[Math.floor(ids.length / 2)] ?? '';
  const keys = await sampleKeys(app, sample);
  const engineBytes = Object.entries(keys).filter(([k]) => k.startsWith('engine')).reduce((a, [, b]) => a + b, 0);
  const queueBytes = Object.entries(keys).filter(([k]) => k.startsWith('queue')).reduce((a, [, b]) => a + b, 0);
  const counts = await app.queue.getJobCounts('completed', 'delayed', 'wait', 'active', 'failed');
  const layouts = await whatIfLayouts(app, sample);
  const cpuPer = (cpu.user + cpu.system) / 1000 / n;
  progress(`waiting: per incident: ${cpuPer.toFixed(2)} ms CPU in the worker process, ${calls.total.toFixed(0)} store commands ${JSON.stringify(calls.byCommand)}`);
  progress(`waiting: MEMORY USAGE of incident ${sample}: ${JSON.stringify(keys)}; engine keys ${engineBytes} B, queue jobs ${queueBytes} B; job counts ${JSON.stringify(counts)}`);

  const heapLimit = heapBefore * 1.1;
  const rows: Row[] = [
    row('4', `incidents waiting for approval${extrapolated ? ' (of target)' : ''}`, 'count', n, o.incidents, 'asked', { op: '>=', limit: o.incidents }, extrapolated ? `only ${n} within the ${(o.budgetMs / 1000).toFixed(0)} s budget; per-incident figures extrapolate` : `${rate.toFixed(0)} incidents/s through the worker`),
    row('4', `worker heap after GC, ${n} waiting`, 'MB', heapAfter / MB, heapBefore / MB, `before (${warm.waiting} waiting)`, { op: '<=', limit: heapLimit / MB }, 'target: ≤ 1.1× before'),
    row('4', 'worker heap growth per waiting incident', 'B', heapPer, 0, '0 = no growth', { op: 'info' }),
    row('4', 'incident id collisions while opening', 'count', run.collisions + warm.collisions, 0, '0 expected', { op: 'info' }, 'engine.run threw "incident id collision"; retried'),
    row('4', 'store bytes per waiting incident (used_memory Δ/n)', 'B', perIncident, plainPer, 'plain 1 KB string/key', { op: '<', limit: 4096 }),
    row('4', `store bytes, ${extrapolated ? `extrapolated to ${o.incidents}` : `${n}`} waiting`, 'MB', (perIncident * o.incidents) / MB, emptyUsed / MB, 'empty store used_memory', { op: 'info' }),
    row('4', 'split: engine keys of 1 incident (MEMORY USAGE)', 'B', engineBytes, plainPer, 'plain 1 KB string/key', { op: 'info' }, 'hash + timeline list + intent marker'),
    row('4', 'split: its BullMQ job hashes (MEMORY USAGE)', 'B', queueBytes, plainPer, 'plain 1 KB string/key', { op: 'info' }, 'retained completed effect jobs + delayed expiry job'),
  ];
  return {
    app,
    result: {
      rows,
      details: [
        `§4 per incident driven to awaiting_approval: ${cpuPer.toFixed(2)} ms CPU in the worker process, ${calls.total.toFixed(0)} store commands: ${JSON.stringify(calls.byCommand)}`,
        `§4 MEMORY USAGE of waiting incident ${sample}'s keys (B): ${JSON.stringify(keys)}; queue job counts ${JSON.stringify(counts)}`,
        `§4 same incident in other layouts (B): ${JSON.stringify(layouts)}`,
      ],
      waitingIds: ids,
      raw: {
        asked: o.incidents,
        waiting: n,
        opened: run.opened,
        idCollisions: run.collisions + warm.collisions,
        seconds: run.seconds,
        perSecond: rate,
        extrapolated,
        heapBefore,
        heapAfter,
        heapPerIncident: heapPer,
        rssBefore,
        rssAfter,
        store: { emptyUsed, usedBefore, usedAfter, perIncident, plainStringPerKey: plainPer },
        sampleIncident: sample,
        sampleKeys: keys,
        engineBytes,
        queueBytes,
        layouts,
        jobCounts: counts,
        cpuMsPerIncident: cpuPer,
        storeCommandsPerIncident: calls,
      },
    },
  };
}
