/**
 * Load generator for the webhook ingest bench, run as its own process (so the client does not share
 * the server's event loop): POSTs Alertmanager bodies of `batch` alerts over `concurrency`
 * keep-alive connections and prints one JSON line with the throughput and latencies to the 202.
 *
 * Usage (from bench/ingest.ts): node <tsx loader> bench/ingest-client.ts '<json config>'
 */
import { Agent, request } from 'node:http';
import { webhookBody, wireAlert } from './app.js';
import { summarize } from './stats.js';

interface ClientConfig {
  url: string;
  batch: number;
  total: number;
  concurrency: number;
  alertname: string;
  instance: string;
  fpPrefix: string;
  warmup: number;
}

export interface ClientResult {
  alerts: number;
  posts: number;
  seconds: number;
  alertsPerSec: number;
  p50: number;
  p99: number;
  accepted: number;
  non202: number;
  statuses: Record<string, number>;
  /** CPU time of this client process during the measured run (ms). */
  clientCpuMs: number;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as ClientConfig;
const u = new URL(cfg.url);
const agent = new Agent({ keepAlive: true, maxSockets: cfg.concurrency, keepAliveMsecs: 1000 });

function bodies(prefix: string, total: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < total; i += cfg.batch) {
    const alerts = [];
    for (let j = i; j < Math.min(total, i + cfg.batch); j++) alerts.push(wireAlert(cfg.alertname, cfg.instance, `${prefix}${j.toString(16).padStart(8, '0')}`));
    out.push(JSON.stringify(webhookBody(alerts)));
  }
  return out;
}

function post(body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function drive(list: string[]): Promise<{ lat: number[]; accepted: number; statuses: Record<string, number>; seconds: number }> {
  const lat: number[] = [];
  const statuses: Record<string, number> = {};
  let accepted = 0;
  let next = 0;
  const t0 = performance.now();
  const lane = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      const body = list[i];
      if (body === undefined) return;
      const s = performance.now();
      const r = await post(body);
      lat.push(performance.now() - s);
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (r.status === 202) accepted += (JSON.parse(r.text) as { accepted: number }).accepted;
    }
  };
  await Promise.all(Array.from({ length: cfg.concurrency }, lane));
  return { lat, accepted, statuses, seconds: (performance.now() - t0) / 1000 };
}

async function main(): Promise<void> {
  if (cfg.warmup > 0) await drive(bodies(`${cfg.fpPrefix}w`, cfg.warmup));
  const list = bodies(`${cfg.fpPrefix}m`, cfg.total);
  process.stdout.write('ready\n');
  await new Promise<void>((res) => process.stdin.once('data', () => res()));
  const cpu0 = process.cpuUsage();
  const r = await drive(list);
  const cpu = process.cpuUsage(cpu0);
  const s = summarize(r.lat);
  const out: ClientResult = {
    alerts: cfg.total,
    posts: list.length,
    seconds: r.seconds,
    alertsPerSec: r.accepted / r.seconds,
    p50: s.p50,
    p99: s.p99,
    accepted: r.accepted,
    non202: list.length - (r.statuses['202'] ?? 0),
    statuses: r.statuses,
    clientCpuMs: (cpu.user + cpu.system) / 1000,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  agent.destroy();
  process.stdin.destroy();
}

main().catch((e: unknown) => {
  process.stderr.write(`ingest client failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
