/**
 * §1 Webhook ingest: alerts/s accepted through the real HTTP door (`POST /webhooks/alertmanager`),
 * batches of 1 and of 10 alerts per POST, unique fingerprints, routed to a bench runbook and target,
 * from a separate client process over keep-alive connections. The app runs with NO worker, so
 * nothing competes with ingest. Baseline: a bare BullMQ `queue.addBulk` of the same alert jobs
 * (same payload, job ids and job options), same store, same number of calls in flight.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { DEFAULT_JOB_OPTS, QUEUE_NAME, alertJobId } from '../src/engine/queue.js';
import type { JobData } from '../src/engine/queue.js';
import type { App } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import type { RoutedAlert } from '../src/engine/types.js';
import { routeAlert } from '../src/triggers/alertmanager/route.js';
import { createHttpServer } from '../src/triggers/http/server.js';
import type { RedisProcess } from '../test/helpers/redis-server.js';
import { benchPrefix, routedOf, startBenchApp, wireAlert } from './app.js';
import type { ClientResult } from './ingest-client.js';
import { pool, progress, row, summarize } from './stats.js';
import type { Row } from './stats.js';

export interface IngestOptions {
  /** Alerts per measured round, batches of 10. */
  alerts: number;
  /** Alerts per measured round, batches of 1. */
  alertsBatch1: number;
  /** Alerts per round of the split runs (batch 1). */
  splitAlerts: number;
  /** Rounds per figure (the median is reported). */
  rounds: number;
  /** Concurrent connections / calls in flight. */
  concurrency: number;
  warmup: number;
}

const RUNBOOK = 'bench-first-diagnostic';
const ALERTNAME = 'BenchFirstDiagnostic';

/** CPU seconds redis-server has used so far (INFO cpu). */
async function redisCpuMs(c: Redis): Promise<number> {
  const info = await c.info('cpu');
  const f = (k: string): number => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (f('used_cpu_sys') + f('used_cpu_user')) * 1000;
}

interface CpuSplit {
  serverMs: number;
  clientMs: number;
  redisMs: number;
}

/** Run the client process; CPU of the server (this process) and of the store is counted from its "ready" to its exit. */
function runClient(cfg: Record<string, unknown>, storeClient: Redis): Promise<ClientResult & { cpu: CpuSplit }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [...process.execArgv, resolve(import.meta.dirname, 'ingest-client.ts'), JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    let started: { server: NodeJS.CpuUsage; redis: Promise<number> } | undefined;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      if (!started && out.includes('ready\n')) {
        const redis = redisCpuMs(storeClient);
        started = { server: process.cpuUsage(), redis };
        void redis.then(() => child.stdin.write('go\n'));
      }
    });
    child.once('error', rej);
    child.once('exit', (code) => {
      if (code !== 0 || !started) return rej(new Error(`ingest client exited with ${code}`));
      const server = process.cpuUsage(started.server);
      const redis0 = started.redis;
      void (async () => {
        try {
          const redisMs = (await redisCpuMs(storeClient)) - (await redis0);
          const r = JSON.parse(out.trim().split('\n').at(-1) ?? '') as ClientResult;
          res({ ...r, cpu: { serverMs: (server.user + server.system) / 1000, clientMs: r.clientCpuMs, redisMs } });
        } catch (e) {
          rej(e as Error);
        }
      })();
    });
  });
}

/** Bare BullMQ: addBulk of the same alert jobs, `concurrency` calls in flight. */
async function bareAddBulk(storeUrl: string, instance: string, batch: number, total: number, concurrency: number, tag: string): Promise<{ alertsPerSec: number; p50: number; p99: number }> {
  const conn = new Redis(storeUrl, { maxRetriesPerRequest: null });
  const prefix = `{${benchPrefix()}}`;
  const queue = new Queue<JobData>(QUEUE_NAME, { connection: conn, prefix, defaultJobOptions: DEFAULT_JOB_OPTS });
  await queue.waitUntilReady();
  const now = Date.now();
  const mk = (pfx: string, n: number): { name: string; data: JobData; opts: { jobId: string } }[][] => {
    const out: { name: string; data: JobData; opts: { jobId: string } }[][] = [];
    for (let i = 0; i < n; i += batch) {
      const b = [];
      for (let j = i; j < Math.min(n, i + batch); j++) {
        const r = routedOf(wireAlert(ALERTNAME, instance, `${pfx}${j.toString(16).padStart(8, '0')}`), RUNBOOK, instance);
        b.push({ name: 'alert', data: { type: 'alert' as const, routed: r, receivedAt: now }, opts: { jobId: alertJobId(r) } });
      }
      out.push(b);
    }
    return out;
  };
  const drive = async (calls: ReturnType<typeof mk>): Promise<{ lat: number[]; seconds: number }> => {
    const lat: number[] = [];
    const t0 = performance.now();
    await pool(calls.length, concurrency, async (i) => {
      const s = performance.now();
      await queue.addBulk(calls[i] ?? []);
      lat.push(performance.now() - s);
    });
    return { lat, seconds: (performance.now() - t0) / 1000 };
  };
  await drive(mk(`${tag}w`, Math.min(2000, total)));
  const r = await drive(mk(`${tag}m`, total));
  const s = summarize(r.lat);
  await queue.close();
  conn.disconnect();
  return { alertsPerSec: total / r.seconds, p50: s.p50, p99: s.p99 };
}

/** The same door as the app's, on its own port, with (parts of) the engine replaced: to split the cost. */
async function variantDoor(app: App, kind: 'no-ready-ping' | 'stub-engine'): Promise<{ url: string; close(): Promise<void> }> {
  const engine = Object.create(app.engine) as Engine;
  engine.ready = async () => true;
  if (kind === 'stub-engine') engine.ingest = async (a: RoutedAlert[]) => ({ enqueued: a.length, duplicates: 0 });
  const door = createHttpServer({
    engine,
    route: (a) => routeAlert(a, { routes: app.config.routes, runbooks: app.catalog.matchers(), targets: app.config.targets }),
    metrics: app.metrics,
    log: pino({ level: 'silent' }),
    maxBodyBytes: app.config.http.maxBodyBytes,
  });
  const { port } = await door.listen(0, '127.0.0.1');
  return { url: `http://127.0.0.1:${port}/webhooks/alertmanager`, close: () => door.close() };
}

/** engine.ingest() called directly (no HTTP, no readiness PING), `concurrency` calls in flight. */
async function directIngest(app: App, instance: string, batch: number, total: number, concurrency: number, tag: string): Promise<{ alertsPerSec: number; p50: number; p99: number }> {
  const calls: RoutedAlert[][] = [];
  for (let i = 0; i < total; i += batch) {
    const b: RoutedAlert[] = [];
    for (let j = i; j < Math.min(total, i + batch); j++) b.push(routedOf(wireAlert(ALERTNAME, instance, `${tag}${j.toString(16).padStart(8, '0')}`), RUNBOOK, instance));
    calls.push(b);
  }
  const lat: number[] = [];
  const t0 = performance.now();
  await pool(calls.length, concurrency, async (i) => {
    const s = performance.now();
    await app.engine.ingest(calls[i] ?? []);
    lat.push(performance.now() - s);
  });
  const sum = summarize(lat);
  return { alertsPerSec: total / ((performance.now() - t0) / 1000), p50: sum.p50, p99: sum.p99 };
}

const perAlertUs = (cpuMs: number, n: number): string => ((cpuMs / n) * 1000).toFixed(0);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

type HttpRun = ClientResult & { cpu: CpuSplit };

/** Median of each figure over the rounds (the machine is shared: one disturbed round must not decide). */
function medianRun(runs: HttpRun[]): { alertsPerSec: number; p50: number; p99: number; seconds: number; cpu: CpuSplit; alerts: number } {
  return {
    alerts: runs[0]?.alerts ?? 0,
    alertsPerSec: median(runs.map((r) => r.alertsPerSec)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    seconds: median(runs.map((r) => r.seconds)),
    cpu: { serverMs: median(runs.map((r) => r.cpu.serverMs)), clientMs: median(runs.map((r) => r.cpu.clientMs)), redisMs: median(runs.map((r) => r.cpu.redisMs)) },
  };
}

function medianBare(runs: { alertsPerSec: number; p50: number; p99: number }[]): { alertsPerSec: number; p50: number; p99: number } {
  return { alertsPerSec: median(runs.map((r) => r.alertsPerSec)), p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)) };
}

export async function benchIngest(store: RedisProcess, target: RedisProcess, o: IngestOptions): Promise<{ rows: Row[]; raw: Record<string, unknown> }> {
  const instance = `${target.host}:${target.port}`;
  const app = await startBenchApp({ storeUrl: store.url, target: instance, http: true, worker: false });
  const rows: Row[] = [];
  const raw: Record<string, unknown> = {};
  const client = (url: string, batch: number, total: number, tag: string, warmup: number): Promise<HttpRun> =>
    runClient({ url, batch, total, concurrency: o.concurrency, alertname: ALERTNAME, instance, fpPrefix: tag, warmup }, store.client());
  const n1 = o.alertsBatch1;
  try {
    const url = `${app.http?.url ?? ''}/webhooks/alertmanager`;
    let full1: ReturnType<typeof medianRun> | undefined;
    let bare1: ReturnType<typeof medianBare> | undefined;
    for (const batch of [1, 10]) {
      const total = batch === 1 ? n1 : o.alerts;
      progress(`ingest: batch ${batch}, ${o.rounds} rounds of ${total} alerts over ${o.concurrency} keep-alive connections (no worker), each beside a bare addBulk round`);
      const httpRuns: HttpRun[] = [];
      const bareRuns: { alertsPerSec: number; p50: number; p99: number }[] = [];
      for (let r = 0; r < o.rounds; r++) {
        const h = await client(url, batch, total, `b${batch}r${r}x`, r === 0 ? o.warmup : 0);
        if (h.accepted !== total) progress(`ingest: WARNING accepted ${h.accepted} of ${total} (statuses ${JSON.stringify(h.statuses)})`);
        httpRuns.push(h);
        bareRuns.push(await bareAddBulk(store.url, instance, batch, total, o.concurrency, `bare${batch}r${r}x`));
      }
      const http = medianRun(httpRuns);
      const bare = medianBare(bareRuns);
      if (batch === 1) {
        full1 = http;
        bare1 = bare;
      }
      progress(
        `ingest: batch ${batch}: ${Math.round(http.alertsPerSec)} alerts/s (rounds ${httpRuns.map((h) => Math.round(h.alertsPerSec)).join(', ')}), p50 ${http.p50.toFixed(2)} ms, p99 ${http.p99.toFixed(2)} ms; CPU per alert: server ${perAlertUs(http.cpu.serverMs, total)} µs, client ${perAlertUs(http.cpu.clientMs, total)} µs, store ${perAlertUs(http.cpu.redisMs, total)} µs`,
      );
      progress(`ingest: bare addBulk batch ${batch}: ${Math.round(bare.alertsPerSec)} alerts/s (rounds ${bareRuns.map((b) => Math.round(b.alertsPerSec)).join(', ')}), p50 ${bare.p50.toFixed(2)} ms, p99 ${bare.p99.toFixed(2)} ms`);
      raw[`batch${batch}`] = { alertsPerRound: total, median: { http, bareAddBulk: bare }, rounds: { http: httpRuns, bareAddBulk: bareRuns } };
      const label = `bare addBulk(${batch})`;
      rows.push(
        row('1', `ingest, ${batch} alert${batch > 1 ? 's' : ''}/POST`, 'alerts/s', http.alertsPerSec, bare.alertsPerSec, label, { op: '>=', limit: 5000 }, `median of ${o.rounds} rounds × ${total} alerts`),
        row('1', `ingest, ${batch}/POST, p50 to 202`, 'ms', http.p50, bare.p50, label, { op: 'info' }),
        row('1', `ingest, ${batch}/POST, p99 to 202`, 'ms', http.p99, bare.p99, label, { op: '<', limit: 50 }),
      );
    }

    // Where the batch-of-1 time goes: the same load with parts of the path removed.
    const n = o.splitAlerts;
    const split: Record<string, unknown> = {};
    const directRuns: { alertsPerSec: number; p50: number; p99: number }[] = [];
    for (let r = 0; r < o.rounds; r++) directRuns.push(await directIngest(app, instance, 1, n, o.concurrency, `d1r${r}x`));
    const direct = medianBare(directRuns);
    split['engine.ingest direct (no HTTP)'] = { median: direct, rounds: directRuns };
    progress(`ingest split: engine.ingest() direct, batch 1: ${Math.round(direct.alertsPerSec)} alerts/s, p50 ${direct.p50.toFixed(2)} ms`);
    const variants: Record<string, ReturnType<typeof medianRun>> = {};
    for (const kind of ['no-ready-ping', 'stub-engine'] as const) {
      const door = await variantDoor(app, kind);
      try {
        const runs: HttpRun[] = [];
        for (let r = 0; r < o.rounds; r++) runs.push(await client(door.url, 1, n, `${kind === 'stub-engine' ? 's' : 'p'}1r${r}x`, r === 0 ? 500 : 0));
        const m = medianRun(runs);
        variants[kind] = m;
        split[kind] = { median: m, rounds: runs };
        progress(`ingest split: door ${kind}, batch 1: ${Math.round(m.alertsPerSec)} alerts/s, p50 ${m.p50.toFixed(2)} ms; server CPU ${perAlertUs(m.cpu.serverMs, n)} µs/alert`);
      } finally {
        await door.close();
      }
    }
    // ioredis copies every script defined on a connection into each new Pipeline; the door
    // connection is shared with the BullMQ Queue, which defines its Lua scripts on it.
    const plain = new Redis(store.url);
    const pipelineUs = (c: Redis): number => {
      for (let i = 0; i < 2000; i++) c.pipeline();
      const t0 = performance.now();
      for (let i = 0; i < 20_000; i++) c.pipeline();
      return ((performance.now() - t0) / 20_000) * 1000;
    };
    const door = app.redis as Redis;
    const pipeDoor = pipelineUs(door);
    const pipePlain = pipelineUs(plain);
    plain.disconnect();
    const scripts = Object.keys((door as unknown as { scriptsSet: Record<string, unknown> }).scriptsSet).length;
    split['pipeline()'] = { doorUs: pipeDoor, plainUs: pipePlain, scriptsOnDoorConnection: scripts };
    progress(`ingest split: redis.pipeline() costs ${pipeDoor.toFixed(1)} µs on the door connection (${scripts} BullMQ scripts defined on it), ${pipePlain.toFixed(1)} µs on a plain connection`);
    raw['split'] = split;
    const noPing = variants['no-ready-ping'];
    const stub = variants['stub-engine'];
    if (full1 && bare1 && noPing && stub) {
      rows.push(
        row('1', 'split: engine.ingest() direct, 1/call', 'alerts/s', direct.alertsPerSec, bare1.alertsPerSec, 'bare addBulk(1)', { op: 'info' }, 'dedup pipeline + addBulk, no HTTP'),
        row('1', 'split: door w/o readiness PING, 1/POST', 'alerts/s', noPing.alertsPerSec, full1.alertsPerSec, 'full door', { op: 'info' }, 'engine.ready() stubbed'),
        row('1', 'split: door, engine stubbed, 1/POST', 'alerts/s', stub.alertsPerSec, full1.alertsPerSec, 'full door', { op: 'info' }, 'HTTP + zod + routing only, no Redis'),
        row('1', 'server CPU per alert, 1/POST', 'µs', (full1.cpu.serverMs / n1) * 1000, (stub.cpu.serverMs / n) * 1000, 'door w/ stub engine', { op: 'info' }),
        row('1', 'split: redis.pipeline() on the door connection', 'µs', pipeDoor, pipePlain, 'plain connection', { op: 'info' }, `${scripts} BullMQ scripts copied per pipeline`),
      );
    }
  } finally {
    await app.close();
  }
  return { rows, raw };
}
