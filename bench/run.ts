/**
 * `npm run bench`: the performance figures of issue #2 ("Performance"), measured in one run on this
 * machine, each beside a baseline measured in the same run. Prints a table to stdout and writes
 * bench/results.json. Progress goes to stderr.
 *
 *   §1 webhook ingest (bench/ingest.ts)
 *   §2 alert → first diagnostic recorded (bench/first-diagnostic.ts)
 *   §3 engine overhead per step, events/s by one worker (bench/step-overhead.ts)
 *   §4 incidents waiting for approval: heap and store bytes (bench/waiting-incidents.ts)
 *   §5 key census vs redis-cli --bigkeys / --memkeys on 1M keys (bench/census.ts)
 *
 * The bench starts its own redis-server processes on free loopback ports (a store per section and
 * one target) and stops them at the end. It re-executes itself once with NODE_OPTIONS=--expose-gc
 * so §4 can force a full GC before reading the heap. BENCH_QUICK=1 runs smaller sizes.
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { startRedis } from '../test/helpers/redis-server.js';
import type { RedisProcess } from '../test/helpers/redis-server.js';
import { benchFirstDiagnostic } from './first-diagnostic.js';
import { benchIngest } from './ingest.js';
import { benchCensus } from './census.js';
import { formatTable, progress, row } from './stats.js';
import type { Row } from './stats.js';
import { benchSteps } from './step-overhead.js';
import { benchWaiting } from './waiting-incidents.js';

const QUICK = process.env['BENCH_QUICK'] === '1';
/** BENCH_ONLY=1,2 runs some sections (§3 needs §4). */
const ONLY = new Set((process.env['BENCH_ONLY'] ?? '1,2,3,4,5').split(',').map((x) => x.trim()));
const SIZES = {
  ingest: { alerts: QUICK ? 3000 : 10_000, alertsBatch1: QUICK ? 2000 : 5000, splitAlerts: QUICK ? 1500 : 3000, rounds: 3, concurrency: 8, warmup: QUICK ? 500 : 2000 },
  firstDiagnostic: { alerts: QUICK ? 100 : 200, spacingMs: 20, concurrency: 4 },
  waiting: { incidents: QUICK ? 1000 : 10_000, budgetMs: QUICK ? 30_000 : 120_000, concurrency: 8 },
  census: { keys: QUICK ? 300_000 : 1_000_000 },
  steps: { iterations: QUICK ? 2000 : 5000, events: QUICK ? 500 : 2000, concurrency: 8 },
};

const SECTION_TITLES: Record<string, string> = {
  '1': 'webhook ingest (HTTP door, no worker)',
  '2': 'alert → first diagnostic recorded',
  '3': 'engine overhead per step; events/s by one worker',
  '4': 'incidents waiting for approval',
  '5': 'key census vs redis-cli --bigkeys/--memkeys',
};

function redisVersion(): string {
  try {
    return execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const loadBefore = loadavg()[0] ?? 0;
  const rows: Row[] = [];
  const raw: Record<string, unknown> = {};
  const details: string[] = [];
  const errors: string[] = [];
  const servers: RedisProcess[] = [];
  const storeArgs = { args: ['--maxmemory-policy', 'noeviction'] };
  const section = async (id: string, fn: () => Promise<void>): Promise<void> => {
    if (!ONLY.has(id) && !(id === '4' && ONLY.has('3'))) return;
    const t0 = Date.now();
    progress(`§${id} ${SECTION_TITLES[id] ?? ''}`);
    try {
      await fn();
    } catch (e) {
      const msg = (e as Error).stack ?? String(e);
      errors.push(`§${id}: ${msg}`);
      progress(`§${id} FAILED: ${msg}`);
      rows.push(row(id, `section failed: ${(e as Error).message.slice(0, 60)}`, '-', Number.NaN, Number.NaN, '', { op: '>=', limit: 0 }));
    }
    progress(`§${id} took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  };
  try {
    const target = await startRedis();
    servers.push(target);
    progress(`target redis-server on ${target.host}:${target.port}`);

    await section('1', async () => {
      const store = await startRedis(storeArgs);
      servers.push(store);
      const r = await benchIngest(store, target, SIZES.ingest);
      rows.push(...r.rows);
      raw['ingest'] = r.raw;
    });

    await section('2', async () => {
      const store = await startRedis(storeArgs);
      servers.push(store);
      const r = await benchFirstDiagnostic(store, target, SIZES.firstDiagnostic);
      rows.push(...r.rows);
      raw['firstDiagnostic'] = r.raw;
    });

    // §4 first: it leaves the waiting incidents whose real snapshots §3 steps.
    const store4 = await startRedis(storeArgs);
    servers.push(store4);
    let waiting: Awaited<ReturnType<typeof benchWaiting>> | undefined;
    await section('4', async () => {
      waiting = await benchWaiting(store4, target, SIZES.waiting);
      rows.push(...waiting.result.rows);
      details.push(...waiting.result.details);
      raw['waiting'] = waiting.result.raw;
    });

    await section('3', async () => {
      if (!waiting) throw new Error('§4 did not leave waiting incidents');
      const r = await benchSteps(waiting.app, waiting.result.waitingIds, SIZES.steps);
      rows.push(...r.rows);
      raw['steps'] = r.raw;
    });
    if (waiting) await waiting.app.close();

    await section('5', async () => {
      const r = await benchCensus(SIZES.census);
      rows.push(...r.rows);
      details.push(...r.details);
      raw['census'] = r.raw;
    });
  } finally {
    for (const s of servers.reverse()) await s.stop().catch(() => undefined);
  }

  const seconds = (Date.now() - started) / 1000;
  rows.sort((a, b) => a.section.localeCompare(b.section));
  const env = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, redis: redisVersion(), quick: QUICK, sections: [...ONLY], loadavg1mBefore: loadBefore, loadavg1mAfter: loadavg()[0] ?? 0 };
  const failed = rows.filter((r) => r.pass === false).length;
  const judged = rows.filter((r) => r.pass !== null).length;
  let out = `\nredis-runbooks bench — ${new Date(started).toISOString()} — ${env.cpus} × ${env.cpuModel}, node ${env.node}, ${env.redis.split(' ').slice(0, 3).join(' ')}${QUICK ? ' — QUICK sizes' : ''}${ONLY.size < 5 ? ` — sections ${[...ONLY].join(',')} only` : ''}\n`;
  out += `1-min load average ${env.loadavg1mBefore.toFixed(2)} before, ${env.loadavg1mAfter.toFixed(2)} after (other processes on this machine add noise).\n`;
  out += `ratio = value ÷ baseline (both measured in this run). Sections: ${Object.entries(SECTION_TITLES).map(([k, v]) => `§${k} ${v}`).join('; ')}.\n\n`;
  out += formatTable(rows);
  out += `\n${judged - failed}/${judged} targets met; ${failed} missed. Whole run ${seconds.toFixed(0)} s.\n`;
  if (details.length > 0) out += `\n${details.join('\n')}\n`;
  if (errors.length > 0) out += `\nErrors:\n${errors.join('\n')}\n`;
  process.stdout.write(out);
  const file = resolve(import.meta.dirname, 'results.json');
  writeFileSync(file, `${JSON.stringify({ startedAt: new Date(started).toISOString(), seconds, env, sizes: SIZES, rows, details, errors, raw }, null, 2)}\n`);
  process.stdout.write(`results written to ${file}\n`);
  if (errors.length > 0) process.exitCode = 1;
}

if (typeof (globalThis as { gc?: unknown }).gc !== 'function' && process.env['BENCH_REEXEC'] !== '1') {
  // Re-run this same script (same tsx loader) with a GC we can call, for the heap figures of §4.
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_REEXEC: '1', NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --expose-gc`.trim() },
  });
  const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  main().then(
    () => process.exit(),
    (e: unknown) => {
      process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
