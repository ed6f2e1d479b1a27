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
import { DEFAULT_JOB_OPTS, QUEUE_NAME, alertJobId } from '../src/engine/queue.js';
import type { JobData } from '../src/engine/queue.js';
import type { RedisProcess } from '../test/helpers/redis-server.js';
import { benchPrefix, routedOf, startBenchApp, wireAlert } from './app.js';
import type { ClientResult } from './ingest-client.js';
import { progress, row, summarize } from './stats.js';
import type { Row } from './stats.js';

export interface IngestOptions {
  /** Alerts per measured run (each batch size). */
  alerts: number;
  /** Concurrent connections / calls in flight. */
  concurrency: number;
  warmup: number;
}

const RUNBOOK = 'bench-first-diagnostic';
const ALERTNAME = 'BenchFirstDiagnostic';

function runClient(cfg: Record<string, unknown>): Promise<ClientResult> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [...process.execArgv, resolve(import.meta.dirname, 'ingest-client.ts'), JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.once('error', rej);
    child.once('exit', (code) => {
      if (code !== 0) return rej(new Error(`ingest client exited with ${code}`));
      try {
        res(JSON.parse(out.trim().split('\n').at(-1) ?? '') as ClientResult);
      } catch (e) {
        rej(e as Error);
      }
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
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (;;) {
          const c = calls[next++];
          if (!c) return;
          const s = performance.now();
          await queue.addBulk(c);
          lat.push(performance.now() - s);
        }
      }),
    );
    return { lat, seconds: (performance.now() - t0) / 1000 };
  };
  await drive(mk(`${tag}w`, Math.min(2000, total)));
  const r = await drive(mk(`${tag}m`, total));
  const s = summarize(r.lat);
  await queue.close();
  conn.disconnect();
  return { alertsPerSec: total / r.seconds, p50: s.p50, p99: s.p99 };
}

export async function benchIngest(store: RedisProcess, target: RedisProcess, o: IngestOptions): Promise<{ rows: Row[]; raw: Record<string, unknown> }> {
  const instance = `${target.host}:${target.port}`;
  const app = await startBenchApp({ storeUrl: store.url, target: instance, http: true, worker: false });
  const rows: Row[] = [];
  const raw: Record<string, unknown> = {};
  try {
    const url = `${app.http?.url ?? ''}/webhooks/alertmanager`;
    for (const batch of [1, 10]) {
      progress(`ingest: batch ${batch}, ${o.alerts} alerts over ${o.concurrency} keep-alive connections (no worker)`);
      const http = await runClient({ url, batch, total: o.alerts, concurrency: o.concurrency, alertname: ALERTNAME, instance, fpPrefix: `b${batch}x`, warmup: o.warmup });
      if (http.accepted !== o.alerts) progress(`ingest: WARNING accepted ${http.accepted} of ${o.alerts} (statuses ${JSON.stringify(http.statuses)})`);
      const waiting = await app.queue.getWaitingCount();
      progress(`ingest: batch ${batch}: ${Math.round(http.alertsPerSec)} alerts/s, p50 ${http.p50.toFixed(2)} ms, p99 ${http.p99.toFixed(2)} ms; ${waiting} alert jobs waiting in the queue`);
      const bare = await bareAddBulk(store.url, instance, batch, o.alerts, o.concurrency, `bare${batch}x`);
      progress(`ingest: bare addBulk batch ${batch}: ${Math.round(bare.alertsPerSec)} alerts/s, p50 ${bare.p50.toFixed(2)} ms, p99 ${bare.p99.toFixed(2)} ms`);
      raw[`batch${batch}`] = { http, bareAddBulk: bare, queuedJobsAfter: waiting };
      const label = `bare addBulk(${batch})`;
      rows.push(
        row('1', `ingest, ${batch} alert${batch > 1 ? 's' : ''}/POST`, 'alerts/s', http.alertsPerSec, bare.alertsPerSec, label, { op: '>=', limit: 5000 }),
        row('1', `ingest, ${batch}/POST, p50 to 202`, 'ms', http.p50, bare.p50, label, { op: 'info' }),
        row('1', `ingest, ${batch}/POST, p99 to 202`, 'ms', http.p99, bare.p99, label, { op: '<', limit: 50 }),
      );
    }
  } finally {
    await app.close();
  }
  return { rows, raw };
}
