/**
 * §2 Alert → first diagnostic recorded, excluding the diagnostic's own run time: for each alert,
 * (time of the incident's first `finding` timeline entry) − (the alert's receive time, `receivedAt`
 * of its alert job) − (`data.ms` of that finding = the action's run time). The real program runs
 * (HTTP door + BullMQ worker) against a real target redis-server, with a bench runbook that has ONE
 * cheap diagnostic step (bench/runbooks/bench-first-diagnostic.yaml: redis.info-stats), so what is
 * left is the engine's overhead. Alerts are spaced out so each incident closes before the next alert.
 * Baseline: a bare BullMQ enqueue → processor start on the same store (same worker concurrency).
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { alertJobId } from '../src/engine/queue.js';
import type { JobData } from '../src/engine/queue.js';
import type { TimelineEntry } from '../src/engine/types.js';
import type { RedisProcess } from '../test/helpers/redis-server.js';
import { benchPrefix, routedOf, startBenchApp, webhookBody, wireAlert } from './app.js';
import { progress, row, sleep, summarize } from './stats.js';
import type { Row } from './stats.js';

export interface FirstDiagnosticOptions {
  alerts: number;
  spacingMs: number;
  concurrency: number;
}

const RUNBOOK = 'bench-first-diagnostic';
const ALERTNAME = 'BenchFirstDiagnostic';

interface Sample {
  overheadMs: number;
  actionMs: number;
  toOpenedMs: number;
  totalMs: number;
}

async function bareEnqueueToStart(storeUrl: string, n: number, spacingMs: number, concurrency: number): Promise<number[]> {
  const conn = new Redis(storeUrl, { maxRetriesPerRequest: null });
  const wconn = new Redis(storeUrl, { maxRetriesPerRequest: null });
  const prefix = `{${benchPrefix()}}`;
  const queue = new Queue<{ i: number }>('bench-bare', { connection: conn, prefix });
  const started = new Map<number, number>();
  const t0s = new Map<number, number>();
  const worker = new Worker<{ i: number }>(
    'bench-bare',
    async (job) => {
      started.set(job.data.i, performance.now());
    },
    { connection: wconn, prefix, concurrency },
  );
  await queue.waitUntilReady();
  await worker.waitUntilReady();
  const total = n + 20;
  for (let i = 0; i < total; i++) {
    t0s.set(i, performance.now());
    await queue.add('noop', { i }, { removeOnComplete: true });
    await sleep(spacingMs);
  }
  const deadline = Date.now() + 10_000;
  while (started.size < total && Date.now() < deadline) await sleep(20);
  await worker.close();
  await queue.close();
  conn.disconnect();
  wconn.disconnect();
  const out: number[] = [];
  for (let i = 20; i < total; i++) {
    const a = t0s.get(i);
    const b = started.get(i);
    if (a !== undefined && b !== undefined) out.push(b - a);
  }
  return out;
}

export async function benchFirstDiagnostic(store: RedisProcess, target: RedisProcess, o: FirstDiagnosticOptions): Promise<{ rows: Row[]; raw: Record<string, unknown> }> {
  const instance = `${target.host}:${target.port}`;
  const app = await startBenchApp({ storeUrl: store.url, target: instance, http: true, worker: true, concurrency: o.concurrency });
  const url = `${app.http?.url ?? ''}/webhooks/alertmanager`;
  const keys = { open: `${app.prefix}:incidents:open`, all: `${app.prefix}:incidents` };
  const redis = store.client();
  const send = async (fp: string): Promise<void> => {
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(webhookBody([wireAlert(ALERTNAME, instance, fp)])) });
    await r.arrayBuffer();
    if (r.status !== 202) throw new Error(`webhook answered ${r.status}`);
  };
  const settle = async (expect: number): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if ((await redis.zcard(keys.open)) === 0 && (await redis.zcard(keys.all)) >= expect) return;
      await sleep(50);
    }
    progress(`first-diagnostic: WARNING not every incident closed within 30 s`);
  };
  try {
    // Warm-up (JIT, connections to the target, runbook definition stored): not measured.
    const warm = 20;
    for (let i = 0; i < warm; i++) {
      await send(`fdw${i.toString(16).padStart(8, '0')}`);
      await sleep(o.spacingMs);
    }
    await settle(1);
    const before = await redis.zcard(keys.all);

    progress(`first-diagnostic: ${o.alerts} alerts, one every ${o.spacingMs} ms, worker concurrency ${o.concurrency}`);
    const fps: string[] = [];
    for (let i = 0; i < o.alerts; i++) {
      const fp = `fdm${i.toString(16).padStart(8, '0')}`;
      fps.push(fp);
      await send(fp);
      await sleep(o.spacingMs);
    }
    await settle(before + 1);

    // fingerprint → incident that it opened (the first fingerprint of each incident).
    const incidents = await app.engine.listIncidents({ limit: o.alerts + warm + 100 });
    const openedBy = new Map<string, string>();
    let joined = 0;
    for (const inc of incidents) {
      const [first, ...rest] = inc.fingerprints;
      if (first !== undefined) openedBy.set(first, inc.id);
      joined += rest.filter((f) => f.startsWith('fdm')).length;
    }
    const samples: Sample[] = [];
    let missing = 0;
    for (const fp of fps) {
      const id = openedBy.get(fp);
      if (!id) continue;
      const job = await app.queue.getJob(alertJobId(routedOf(wireAlert(ALERTNAME, instance, fp), RUNBOOK, instance)));
      const receivedAt = (job?.data as Extract<JobData, { type: 'alert' }> | undefined)?.receivedAt;
      const tl: TimelineEntry[] = (await app.engine.getTimeline(id)) ?? [];
      const finding = tl.find((e) => e.kind === 'finding');
      const opened = tl.find((e) => e.kind === 'incident.opened');
      if (receivedAt === undefined || !finding || !opened) {
        missing++;
        continue;
      }
      const actionMs = Number(finding.data?.['ms'] ?? 0);
      const total = Date.parse(finding.at) - receivedAt;
      samples.push({ overheadMs: total - actionMs, actionMs, toOpenedMs: Date.parse(opened.at) - receivedAt, totalMs: total });
    }
    if (process.env["BENCH_DEBUG"]) progress(JSON.stringify([...samples].sort((a, b) => b.overheadMs - a.overheadMs).slice(0, 12)));
    if (joined > 0 || missing > 0) progress(`first-diagnostic: ${joined} alerts joined an open incident, ${missing} without a finding (excluded)`);
    const ov = summarize(samples.map((s) => s.overheadMs));
    const act = summarize(samples.map((s) => s.actionMs));
    const toOpened = summarize(samples.map((s) => s.toOpenedMs));
    const tot = summarize(samples.map((s) => s.totalMs));
    progress(`first-diagnostic: overhead p50 ${ov.p50} ms p99 ${ov.p99} ms (n=${ov.n}); action p50 ${act.p50} ms; receive→incident.opened p50 ${toOpened.p50} ms p99 ${toOpened.p99}`);

    const bare = summarize(await bareEnqueueToStart(store.url, o.alerts, o.spacingMs, o.concurrency));
    progress(`first-diagnostic: bare BullMQ enqueue → processor start p50 ${bare.p50.toFixed(2)} ms p99 ${bare.p99.toFixed(2)} ms`);
    const label = 'bare enqueue→start';
    return {
      rows: [
        row('2', 'alert → first diagnostic, p50 (excl. action)', 'ms', ov.p50, bare.p50, label, { op: '<', limit: 50 }, `n=${ov.n}, 1 ms timestamp resolution`),
        row('2', 'alert → first diagnostic, p99 (excl. action)', 'ms', ov.p99, bare.p99, label, { op: '<', limit: 250 }),
        row('2', 'split: receive → incident opened, p50', 'ms', toOpened.p50, bare.p50, label, { op: 'info' }),
        row('2', 'split: diagnostic action itself, p50', 'ms', act.p50, bare.p50, label, { op: 'info' }, 'excluded above'),
      ],
      raw: { overhead: ov, action: act, receiveToOpened: toOpened, total: tot, bareEnqueueToStart: bare, joined, missing, spacingMs: o.spacingMs, concurrency: o.concurrency },
    };
  } finally {
    await app.close();
  }
}
