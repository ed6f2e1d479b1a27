/**
 * Capture rehearsal cases from real servers: plant a fault on throwaway redis-server / Sentinel /
 * Cluster processes, let the real engine diagnose it (no dry run: it stops at the approval gate or
 * closes), and turn the incident into a case with `recordCase` (findings and plans from its
 * timeline; expectations from the rehearsal, checked against what the incident did). Writes
 * `runbooks/rehearsals/<runbook>.rehearsal.yaml`.
 *
 *   npx tsx test/rehearsal/capture.ts memory|replication|failover|cluster|auth …
 *
 * Not a test: it regenerates fixtures. `test/unit/rehearsal-shipped.test.ts` rehearses what it wrote.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { App } from '../../src/app.js';
import { loadDeps } from '../../src/app.js';
import { actions } from '../../src/actions/registry.js';
import type { ActionDefinition } from '../../src/actions/types.js';
import { FINAL_STATES } from '../../src/engine/types.js';
import { loadRunbookDir } from '../../src/engine/runbook/load.js';
import type { CompiledRunbook } from '../../src/engine/runbook/load.js';
import { recordCase } from '../../src/engine/rehearsal/record.js';
import type { RehearsalCase } from '../../src/engine/rehearsal/schema.js';
import { parseConfig } from '../../src/config.js';
import { post, RUNBOOKS_DIR, startTestApp, webhookBody } from '../helpers/app.js';
import { waitIncidentFor, waitState } from '../helpers/incidents.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';
import { plantMixed } from '../integration/memory-plant.js';

const deps = { actions: actions as ReadonlyMap<string, ActionDefinition<unknown, unknown>> };
const MiB = 1024 * 1024;

function runbooks(): Map<string, CompiledRunbook> {
  const cfg = parseConfig(`store: { url: "redis://127.0.0.1:1" }\nrunbooksDir: ${RUNBOOKS_DIR}\n`, '<capture>', {}, { baseDir: process.cwd() });
  const { runbooks: list, errors } = loadRunbookDir(RUNBOOKS_DIR, loadDeps(cfg));
  if (errors.length > 0) throw new Error(errors.join('\n'));
  return new Map(list.map((r) => [r.def.name, r]));
}

const STOP = ['awaiting_approval', ...FINAL_STATES];

interface Captured {
  runbook: string;
  cases: RehearsalCase[];
}

async function record(app: App, rb: CompiledRunbook, id: string, name: string, source: string, target: RehearsalCase['target']): Promise<RehearsalCase> {
  const inc = await waitState(app, id, STOP, 120_000);
  // the closing timeline entry is written with the state; the last proposal entries just before it
  await new Promise((r) => setTimeout(r, 300));
  const timeline = (await app.engine.getTimeline(id)) ?? [];
  const { case: c, disagreements } = recordCase(rb, { name, source, incident: inc, timeline, target }, deps);
  if (disagreements.length > 0) throw new Error(`${rb.def.name} / ${name}: the rehearsal does not replay the incident:\n  ${disagreements.join('\n  ')}`);
  process.stderr.write(`captured ${rb.def.name} / ${name}: ${c.expect.state} ${JSON.stringify(c.expect.proposes)}\n`);
  return c;
}

async function alertIncident(app: App, labels: Record<string, string>, fp: string): Promise<string> {
  const r = await post(`${app.http?.url ?? ''}/webhooks/alertmanager`, webhookBody([{ labels, fingerprint: fp }]));
  if (r.status !== 202) throw new Error(`webhook answered ${r.status}`);
  return waitIncidentFor(app, fp);
}

/** Approve `remediation` (an option number when several are offered) by each of `by`. */
async function approveOption(app: App, id: string, remediation: string, by: string[]): Promise<void> {
  const p = (await waitState(app, id, ['awaiting_approval'], 120_000)).pendingApproval;
  const option = p?.options?.find((o) => o.remediation === remediation)?.option;
  if (p?.options && option === undefined) throw new Error(`${remediation} not offered: ${p.options.map((o) => o.remediation).join(', ')}`);
  for (const who of by) {
    const r = await app.engine.approve(id, who, 'cli', option !== undefined ? { option } : {});
    if (!r.ok) throw new Error(`approval by ${who} refused: ${r.message}`);
  }
}

async function used(p: RedisProcess): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await p.client().info('memory'))?.[1] ?? 0);
}

async function squeeze(p: RedisProcess, share: number, policy: string): Promise<void> {
  const c = p.client();
  await c.config('SET', 'maxmemory-policy', policy);
  await c.config('SET', 'maxmemory', String(Math.floor((await used(p)) / share)));
}

async function captureMemory(rbs: Map<string, CompiledRunbook>): Promise<Captured> {
  const rb = rbs.get('redis-memory-pressure');
  if (!rb) throw new Error('no memory runbook');
  const store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  const mixed = await startRedis();
  const volatile = await startRedis();
  const lru = await startRedis();
  const storeTarget = await startRedis();
  const raise = await startRedis();
  const t = (p: RedisProcess, role: 'cache' | 'store' = 'cache') => ({ endpoints: [`${p.host}:${p.port}`], role });
  const app = await startTestApp({ storeUrl: store.url, targets: { mixed: t(mixed), volatile: t(volatile), lru: t(lru), orders: t(storeTarget, 'store'), raise: t(raise) } });
  const cases: RehearsalCase[] = [];
  const target = (name: string, role: 'cache' | 'store' = 'cache'): RehearsalCase['target'] => ({ name, role, mode: 'standalone', allowAutomatic: false });
  try {
    await plantMixed(mixed.client(), { sessions: 20_000, cachePages: 5000, profiles: 2000, listLen: 2000, hashFields: 100 });
    await squeeze(mixed, 0.9, 'noeviction');
    let id = await alertIncident(app, { alertname: 'RedisMemoryHigh', instance: `${mixed.host}:${mixed.port}`, severity: 'warning' }, 'mem000000000001');
    cases.push(await record(app, rb, id, 'noeviction cache, session:* without TTL dominates: family fixes side by side, allkeys-lru withheld (it would evict state)', 'redis-server 7.0, plantMixed: 20k session:* strings without TTL, 5k cache pages, 2k profiles, a 2k-element queue list; maxmemory cut to used/0.9, noeviction', target('mixed')));

    const c = volatile.client();
    const p0 = c.pipeline();
    for (let i = 0; i < 20_000; i++) p0.set(`catalog:item:${i}`, 'v'.repeat(400));
    await p0.exec();
    await squeeze(volatile, 0.9, 'volatile-lru');
    id = await alertIncident(app, { alertname: 'RedisOOMRejections', instance: `${volatile.host}:${volatile.port}`, severity: 'critical' }, 'mem000000000002');
    cases.push(await record(app, rb, id, 'volatile-lru with no key carrying a TTL: the policy change offered beside the family fixes', 'redis-server 7.0: 20k catalog:item:* × 400 B without TTL, maxmemory cut to used/0.9, volatile-lru', target('volatile')));

    const l = lru.client();
    await l.config('SET', 'maxmemory', String(16 * MiB));
    await l.config('SET', 'maxmemory-policy', 'allkeys-lru');
    for (let s = 0; s < 40_000; s += 100) {
      const p = l.pipeline();
      for (let i = s; i < s + 100; i++) p.set(`page:${i}`, 'v'.repeat(500));
      await p.exec();
    }
    for (let s = 0; s < 20_000; s += 100) {
      const hits = l.pipeline();
      for (let i = s; i < s + 100; i++) hits.get(`page:${39_999 - (i % 2000)}`);
      await hits.exec();
    }
    id = await alertIncident(app, { alertname: 'RedisEvicting', instance: `${lru.host}:${lru.port}`, severity: 'info' }, 'mem000000000003');
    cases.push(await record(app, rb, id, 'a full allkeys-lru cache whose hit ratio holds: expected eviction, nothing proposed', 'redis-server 7.0: maxmemory 16 MiB allkeys-lru, 40k page:* × 500 B written (evictions), 20k reads of recent pages', target('lru')));

    await plantMixed(storeTarget.client(), { sessions: 20_000, cachePages: 5000, profiles: 2000, listLen: 2000, hashFields: 100 });
    await squeeze(storeTarget, 0.9, 'noeviction');
    id = await alertIncident(app, { alertname: 'RedisMemoryHigh', instance: `${storeTarget.host}:${storeTarget.port}`, severity: 'warning' }, 'mem000000000004');
    cases.push(await record(app, rb, id, 'the same memory on a store target: never a policy change, the family fixes and the raise', 'as the first case, on a target with role store', target('orders', 'store')));

    // a full run: the raise chosen, sent, verified on the live target (usage under the threshold and no OOM for holdFor)
    await plantMixed(raise.client(), { sessions: 20_000, cachePages: 5000, profiles: 2000, listLen: 2000, hashFields: 100 });
    await squeeze(raise, 0.9, 'noeviction');
    id = await alertIncident(app, { alertname: 'RedisMemoryHigh', instance: `${raise.host}:${raise.port}`, severity: 'warning' }, 'mem000000000005');
    await approveOption(app, id, 'raise-maxmemory', ['alice']);
    await waitState(app, id, [...FINAL_STATES], 120_000);
    cases.push(await record(app, rb, id, 'raise maxmemory chosen: sent, verified on the live target, resolved', 'as the first case; option raise-maxmemory approved by alice, the engine sent it and polled memAfter and symNow until they held for 10 s', target('raise')));
  } finally {
    await app.close().catch(() => undefined);
    for (const p of [mixed, volatile, lru, storeTarget, raise, store]) await p.stop();
  }
  return { runbook: rb.def.name, cases };
}

const CAPTURES: Record<string, (rbs: Map<string, CompiledRunbook>) => Promise<Captured>> = {
  memory: captureMemory,
};

async function main(): Promise<void> {
  const rbs = runbooks();
  const which = process.argv.slice(2);
  for (const w of which.length > 0 ? which : Object.keys(CAPTURES)) {
    const f = CAPTURES[w];
    if (!f) throw new Error(`unknown capture ${w} (known: ${Object.keys(CAPTURES).join(', ')})`);
    const { runbook, cases } = await f(rbs);
    const dir = join(RUNBOOKS_DIR, 'rehearsals');
    mkdirSync(dir, { recursive: true });
    const header = `# Rehearsals of ${runbook}: findings and plans captured from real servers by test/rehearsal/capture.ts (${w}).\n# Run: redis-runbooks test ${runbook}\n`;
    writeFileSync(join(dir, `${runbook}.rehearsal.yaml`), header + stringify({ runbook, cases }, { lineWidth: 0, aliasDuplicateObjects: false }));
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
