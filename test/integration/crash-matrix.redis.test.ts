/**
 * Issue 12: the crash matrix, generated. For every shipped runbook, every leaf state of its
 * compiled machine that `xstate/graph` reaches with the rehearsals' recorded data is a seed. Each
 * seed becomes incidents in that state, each with its own target (its own redis-server), crashed
 * three ways:
 *
 * - **persisted**: the transition into the state was written, then the process died before it
 *   dispatched the state's effect (the record is all that is left);
 * - **effect-done**: a real worker process ran the state's effect and was killed with SIGKILL
 *   before it recorded the result (the job is left active, its lock expires);
 * - **command-sent** (acting states): the worker was killed right after a remediation command
 *   reached the target, before it was marked done.
 *
 * A new worker process then recovers everything, and the test plays the approver. Every incident
 * must end (resolved, escalated, cancelled or completed) with a reason, its timeline must record
 * the interruption, and no planned command may reach its target more often than it was planned
 * (`INFO commandstats` on each incident's own redis-server).
 *
 * Reads and plans are answered from recorded findings (`EffectEnv.replay`, as rehearsals do), and
 * verification / wait timings are scaled to seconds: the live faults are slow, the crash points
 * are not. Remediation commands are real and go to each incident's own server.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, loadDeps } from '../../src/app.js';
import type { App } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import { makeKeys } from '../../src/engine/keys.js';
import type { Effect, MachineContext } from '../../src/engine/machine/types.js';
import { EFFECT_JOB_OPTS, effectJobId } from '../../src/engine/queue.js';
import { coverageOf } from '../../src/engine/rehearsal/coverage.js';
import { parseRehearsalText, materialize, rehearsalPath } from '../../src/engine/rehearsal/suite.js';
import { incidentStateOf } from '../../src/engine/machine/run.js';
import { loadRunbookDir } from '../../src/engine/runbook/load.js';
import { isWait } from '../../src/engine/runbook/schema.js';
import { IncidentStore } from '../../src/engine/store/incidents.js';
import type { IncidentRecord } from '../../src/engine/store/incidents.js';
import { FINAL_STATES } from '../../src/engine/types.js';
import type { TimelineEntry } from '../../src/engine/types.js';
import { replayPlan, scaleRunbooks } from '../helpers/crash-matrix.js';
import { capture, registerSecrets } from '../helpers/secrets-capture.js';
import type { IncidentReplay, ReplayData } from '../helpers/crash-matrix.js';
import { stopChild, track, waitExit } from '../helpers/processes.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const WORKER = join(ROOT, 'test', 'helpers', 'crash-worker.ts');
const T0 = Date.parse('2026-01-01T00:00:00Z');

type Window = 'persisted' | 'effect-done' | 'command-sent';

interface Seed {
  id: string;
  runbook: string;
  leaf: string;
  window: Window;
  target: string;
  server: RedisProcess;
  record: IncidentRecord;
  effect?: Effect;
  replay: IncidentReplay;
}

/** Shift the rehearsal clock (2026-01-01) to now, so deadlines and approval windows are live. */
function shiftTimes(v: unknown, by: number): unknown {
  if (typeof v === 'number') return v >= T0 - 86_400_000 && v <= T0 + 365 * 86_400_000 ? v + by : v;
  if (Array.isArray(v)) return v.map((x) => shiftTimes(x, by));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shiftTimes(x, by)]));
  return v;
}

/** The commandstats name of a command: `config|set` for container commands, else `set`. */
function statName(argv: readonly string[]): string {
  const a0 = (argv[0] ?? '').toLowerCase();
  const containers = new Set(['config', 'client', 'acl', 'cluster', 'memory', 'object', 'slowlog', 'latency', 'script', 'function', 'xgroup', 'command', 'pubsub', 'module']);
  return containers.has(a0) && argv[1] !== undefined ? `${a0}|${argv[1].toLowerCase()}` : a0;
}

async function commandCalls(s: RedisProcess): Promise<Map<string, number>> {
  const text = String(await s.client().call('INFO', 'commandstats'));
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1] ?? '', Number(m[2]));
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'rr-crash-matrix-'));
const runbooksDir = join(dir, 'runbooks');
let store: RedisProcess;
let harness: App;
let incidents: IncidentStore;
const seeds: Seed[] = [];
const servers: RedisProcess[] = [];
const children: ChildProcess[] = [];
const stats = { runbooks: 0, leafStates: 0, seededStates: 0, unseeded: [] as string[], kills: 0, hung: 0 };
const prefix = `cm${Date.now().toString(36)}`;
/** Distinctive values for the secrets the runbooks' plans use (`${secret:masterauth}`, the ACL rotation): the suite-wide scan looks for them. */
const SECRETS = { masterauth: `cm-masterauth-${randomBytes(6).toString('hex')}`, rotationNew: `cm-rotation-new-${randomBytes(6).toString('hex')}`, rotationOld: `cm-rotation-old-${randomBytes(6).toString('hex')}` };
registerSecrets(Object.values(SECRETS));

function configText(o: { hang: boolean; concurrency: number }): string {
  const targets = seeds.map((s) => `  ${s.target}:\n    endpoints: ["127.0.0.1:${s.server.port}"]\n    role: ${s.record.snapshot && (s.record.snapshot as { context: MachineContext }).context.target.role}\n    allowAutomatic: ${(s.record.snapshot as { context: MachineContext }).context.target.allowAutomatic}\n    secrets: { masterauth: "${SECRETS.masterauth}", rotation-new: "${SECRETS.rotationNew}", rotation-old: "${SECRETS.rotationOld}" }`).join('\n');
  return `store: { url: "${store.url}" }
runbooksDir: ${runbooksDir}
shippedRunbooks: false
engine:
  keyPrefix: ${prefix}
  queuePrefix: "{${prefix}}"
  workerConcurrency: ${o.concurrency}
  approvalTimeout: 10m
  shutdownTimeout: 2s
  circuitBreaker: { max: 1000, window: 1h }
${o.hang ? '  faultInjection: { hang: true }\n' : ''}logLevel: info
targets:
${targets}
approvers:
  - { id: alice, roles: [redis.dba-operator, redis.cluster-admin] }
  - { id: bob, roles: [redis.dba-operator, redis.cluster-admin] }
  - { id: carol, roles: [redis.dba-operator, redis.cluster-admin] }
`;
}

function startWorker(n: number, hang: boolean): ChildProcess {
  const cfg = join(dir, `worker-${n}.yaml`);
  writeFileSync(cfg, configText({ hang, concurrency: 512 }));
  const replay = join(dir, 'replay.json');
  const data: ReplayData = Object.fromEntries(seeds.map((s) => [s.id, s.replay]));
  writeFileSync(replay, JSON.stringify({ data, firstSteps }));
  const child = track(spawn(process.execPath, ['--import', 'tsx', WORKER, cfg, replay, join(dir, `worker-${n}.log`)], { cwd: ROOT, stdio: 'ignore' }));
  children.push(child);
  return child;
}

const firstSteps: Record<string, Record<string, number>> = {};

/** Build the seeds: one incident per (runbook, reached leaf state, crash window). */
async function buildSeeds(): Promise<void> {
  mkdirSync(runbooksDir);
  scaleRunbooks(join(ROOT, 'runbooks'), runbooksDir);
  const cfg = parseConfig(`store: { url: "redis://127.0.0.1:1" }\ntargets: {}\n`, '<crash-matrix>', {}, { baseDir: dir });
  const deps = loadDeps(cfg);
  const { runbooks, errors } = loadRunbookDir(runbooksDir, deps);
  expect(errors).toEqual([]);
  const shift = Date.now() - T0;
  let n = 0;
  for (const rb of runbooks.sort((a, b) => a.def.name.localeCompare(b.def.name))) {
    stats.runbooks++;
    const file = rehearsalPath(join(ROOT, 'runbooks'), rb.def.name);
    const parsed = parseRehearsalText(readFileSync(file, 'utf8'), file);
    const cases = await Promise.all(parsed.cases.map((c) => materialize(rb, c, { actions: deps.actions })));
    const cov = coverageOf(rb, cases, { samples: true });
    stats.leafStates += cov.states - 1; // `deciding` is transient: never a resting state
    stats.unseeded.push(...cov.unexercised.map((u) => `${rb.def.name}:${u}`));
    firstSteps[rb.def.name] = Object.fromEntries(Object.entries(rb.def.remediations).map(([id, r]) => [id, Math.max(0, r.steps.findIndex((s) => !isWait(s)))]));
    const plans: IncidentReplay['plans'] = {};
    let verify: Record<string, unknown> | null = null;
    for (const c of cases) {
      for (const [id, lines] of Object.entries(c.plans)) if (Array.isArray(lines) && lines.length > 0 && !plans[id]) plans[id] = { lines, step: firstSteps[rb.def.name]?.[id] ?? 0 };
      for (const t of c.then) if ('verify' in t && verify === null) verify = t.verify;
    }
    for (const [leaf, sample] of Object.entries(cov.samples ?? {})) {
      if (leaf === 'deciding') continue;
      stats.seededStates++;
      const snap = shiftTimes(sample, shift) as { value: unknown; context: MachineContext };
      const state = incidentStateOf(snap.value);
      const final = FINAL_STATES.includes(state);
      const ctx = snap.context;
      const pending = ctx.pendingEffect && ctx.pendingEffect.seq === ctx.awaiting ? ctx.pendingEffect : undefined;
      const acting = pending?.kind === 'act' && !ctx.dryRun && (ctx.current?.commands.length ?? 0) > 0;
      const windows: Window[] = ['persisted', ...(pending && !final ? (['effect-done'] as Window[]) : []), ...(acting ? (['command-sent'] as Window[]) : [])];
      for (const window of windows) {
        const server = await startRedis();
        servers.push(server);
        const node = `127.0.0.1:${server.port}`;
        const id = `inc-crash-${String(++n).padStart(4, '0')}`;
        const target = `t${n}`;
        const replay: IncidentReplay = { node, findings: ctx.findings, verify, plans };
        // The sample's plans become the commands this incident's server will get (as the replay plans them).
        const c = structuredClone(ctx);
        c.incidentId = id;
        c.target = { ...c.target, name: target };
        if (c.current) {
          const first = firstSteps[rb.def.name] ?? {};
          if (c.current.commands.length > 0) c.current.commands = replayPlan(replay, c.current.remediation, first[c.current.remediation] ?? 0, first[c.current.remediation] ?? 0);
          if (c.current.options) {
            c.current.options = c.current.options.map((o) => (o.commands.length > 0 ? { ...o, commands: replayPlan(replay, o.remediation, first[o.remediation] ?? 0, first[o.remediation] ?? 0) } : o));
          }
        }
        const labels = { ...ctx.labels, ...(window !== 'persisted' ? { rr_fault: window } : {}) };
        const iso = new Date().toISOString();
        const record: IncidentRecord = {
          id,
          runbook: rb.def.name,
          hash: rb.hash,
          target,
          title: `crash matrix: ${rb.def.name} in ${leaf} (${window})`,
          labels,
          annotations: {},
          fingerprints: [],
          dryRun: c.dryRun,
          createdAt: iso,
          updatedAt: iso,
          state,
          ...(c.outcome !== undefined ? { outcome: c.outcome } : {}),
          version: 1,
          snapshot: { ...snap, context: c },
        };
        seeds.push({ id, runbook: rb.def.name, leaf, window, target, server, record, ...(pending ? { effect: pending } : {}), replay });
      }
    }
  }
}

/** Write a seed as a worker would have left it: the record (and the lock once remediation began). */
async function writeRecord(s: Seed): Promise<void> {
  const { version: _v, ...fields } = s.record;
  const ok = await incidents.cas(s.id, 0, fields, [{ at: new Date().toISOString(), kind: 'incident.opened', actor: { kind: 'engine' }, summary: `crash matrix seed: ${s.runbook} in ${s.leaf}, crash window ${s.window}` }]);
  expect(ok).toBe(true);
  await incidents.index(s.id, Date.now());
  const keys = makeKeys(prefix);
  await harness.redis.set(keys.openFor(s.runbook, s.target), s.id, 'PX', 3600_000);
  const ctx = (s.record.snapshot as { context: MachineContext }).context;
  if (/acting|verifying|wait_|gate_/.test(s.leaf) || (FINAL_STATES.includes(s.record.state) && ctx.current)) {
    await harness.redis.set(keys.lock(s.target), s.id, 'PX', 60_000);
  }
}

async function enqueue(s: Seed): Promise<void> {
  const e = s.effect;
  if (!e) return;
  const delay = (e.kind === 'verify' || e.kind === 'wait') && e.delayMs > 0 ? { delay: e.delayMs } : {};
  await harness.queue.add(e.kind, { type: 'effect', incidentId: s.id, effect: e }, { jobId: effectJobId(s.id, e), ...EFFECT_JOB_OPTS, ...delay });
}

beforeAll(async () => {
  store = await startRedis();
  await buildSeeds();
  const cfg = parseConfig(configText({ hang: false, concurrency: 1 }), '<crash-matrix>', {}, { baseDir: dir });
  harness = await createApp(cfg, { worker: false, http: false });
  incidents = new IncidentStore(harness.redis, makeKeys(prefix));
}, 300_000);

afterAll(async () => {
  await harness?.close();
  for (const c of children) await stopChild(c);
  for (let i = 0; i < servers.length; i += 32) await Promise.all(servers.slice(i, i + 32).map((s) => s.stop()));
  await store?.stop();
  if (process.env['KEEP_CRASH_MATRIX'] === undefined) rmSync(dir, { recursive: true, force: true });
}, 300_000);

describe('issue 12: crash matrix (every state of every shipped runbook, kill -9 there)', () => {
  it('every incident killed in every state ends with a reason, its timeline records the interruption, and no command reaches its target twice', async () => {
    const crashed = seeds.filter((s) => s.window !== 'persisted');
    // 1. A worker runs every "effect-done" and "command-sent" seed up to its crash point and hangs there.
    for (const s of crashed) await writeRecord(s);
    for (const s of crashed) await enqueue(s);
    const w1 = startWorker(1, true);
    const keys = makeKeys(prefix);
    const deadline = Date.now() + 90_000;
    let hung = 0;
    let settled = 0;
    for (;;) {
      hung = 0;
      settled = 0;
      for (const s of crashed) {
        if ((await harness.redis.exists(keys.faultHung(s.id))) === 1) hung++;
        else {
          // no crash point on its way (e.g. a precondition skipped the commands): it ran on
          const r = await incidents.get(s.id);
          if (r && (FINAL_STATES.includes(r.state) || r.version > 1)) settled++;
        }
      }
      if (hung + settled >= crashed.length || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    // 2. kill -9 there.
    w1.kill('SIGKILL');
    expect(await waitExit(w1, 10_000)).toBe(true);
    stats.kills++;
    stats.hung = hung;
    // 3. The "persisted" seeds: a record written, the process gone before it dispatched anything.
    for (const s of seeds.filter((x) => x.window === 'persisted')) await writeRecord(s);
    // 4. A new worker recovers; the test approves whatever waits for a human.
    const w2 = startWorker(2, false);
    const w2Started = Date.now();
    const open = new Set(seeds.map((s) => s.id));
    /** Approve only once the new worker has taken the incident back (else a human simply overtook the crash). */
    const recovered = async (id: string): Promise<boolean> => {
      if (Date.now() - w2Started > 30_000) return true;
      const tl = (await harness.engine.getTimeline(id)) ?? [];
      return tl.some((e) => (e.data as { interrupted?: boolean } | undefined)?.interrupted === true);
    };
    const end = Date.now() + 180_000;
    while (open.size > 0 && Date.now() < end) {
      for (const id of [...open]) {
        const d = await harness.engine.getIncident(id);
        if (!d) continue;
        if (FINAL_STATES.includes(d.state)) {
          open.delete(id);
          continue;
        }
        const p = d.pendingApproval;
        if (d.state === 'awaiting_approval' && p && (await recovered(id))) {
          const option = p.options && p.options.length > 0 ? { option: 1 } : {};
          for (const by of ['alice', 'bob', 'carol']) {
            if (p.approvals.some((a) => a.by === by)) continue;
            await harness.engine.approve(id, by, 'cli', { key: p.key, ...option }).catch(() => undefined);
            break;
          }
        }
      }
      if (open.size > 0) await new Promise((r) => setTimeout(r, 300));
    }
    const stuck = seeds.filter((s) => open.has(s.id)).map((s) => `${s.runbook}:${s.leaf}:${s.window}`);
    expect(stuck, 'incidents that never ended').toEqual([]);

    // 5. Per incident: a reason, the interruption on the timeline, no command twice.
    const problems: string[] = [];
    let commandsSent = 0;
    let interrupted = 0;
    let secretCommands = 0;
    const outcomes: Record<string, number> = {};
    for (const s of seeds) {
      const d = await harness.engine.getIncident(s.id);
      const tl = ((await harness.engine.getTimeline(s.id)) ?? []) as TimelineEntry[];
      const where = `${s.runbook}:${s.leaf}:${s.window}`;
      if (!d || !FINAL_STATES.includes(d.state)) {
        problems.push(`${where}: not ended (${d?.state})`);
        continue;
      }
      outcomes[d.state] = (outcomes[d.state] ?? 0) + 1;
      if (!d.outcome || d.outcome.length < 8) problems.push(`${where}: ended ${d.state} without a reason`);
      const settledEarly = s.window !== 'persisted' && (await harness.redis.exists(keys.faultHung(s.id))) === 0;
      const noted = tl.some((e) => (e.data as { interrupted?: boolean } | undefined)?.interrupted === true || /interrupted/.test(e.summary));
      if (noted) interrupted++;
      else if (!settledEarly) problems.push(`${where}: the timeline does not record the interruption`);
      // Planned once per intent; sent again only after a live check found it not in place.
      const planned = new Map<string, number>();
      const add = (argv: string[]): void => void planned.set(statName(argv), (planned.get(statName(argv)) ?? 0) + 1);
      for (const e of tl) {
        const data = e.data as { commands?: { argv: string[] }[]; command?: { argv: string[] }; inPlace?: boolean } | undefined;
        if (e.kind === 'command.intent') for (const c of data?.commands ?? []) add(c.argv);
        if (data?.inPlace === false && data.command) add(data.command.argv);
      }
      secretCommands += tl.filter((e) => e.kind === 'command.executed' && e.summary.includes('${secret:')).length;
      const calls = await commandCalls(s.server);
      for (const [name, max] of planned) {
        const got = calls.get(name) ?? 0;
        commandsSent += got;
        if (got > max) problems.push(`${where}: ${name} reached the target ${got} times, planned ${max}`);
      }
    }
    const summary = {
      runbooks: stats.runbooks,
      restingStates: stats.leafStates,
      seededStates: stats.seededStates,
      notSeeded: stats.unseeded,
      incidents: seeds.length,
      byWindow: Object.fromEntries((['persisted', 'effect-done', 'command-sent'] as const).map((w) => [w, seeds.filter((s) => s.window === w).length])),
      hungAtCrashPoint: stats.hung,
      kills: stats.kills,
      interruptionsRecorded: interrupted,
      remediationCommandsSent: commandsSent,
      outcomes,
      duplicates: problems.filter((p) => /reached the target/.test(p)).length,
      commandsWithSecrets: secretCommands,
    };
    console.log(`crash matrix: ${JSON.stringify(summary)}`);
    // the suite-wide secrets scan reads what the worker processes logged and every timeline
    for (const n of [1, 2]) capture('log', readFileSync(join(dir, `worker-${n}.log`), 'utf8'));
    for (const s of seeds) capture('timeline', JSON.stringify({ id: s.id, detail: await harness.engine.getIncident(s.id), timeline: await harness.engine.getTimeline(s.id) }));
    if (problems.length > 0) {
      const bad = seeds.filter((s) => problems.some((p) => p.startsWith(`${s.runbook}:${s.leaf}:${s.window}:`)));
      const dump = await Promise.all(bad.map(async (s) => ({ id: s.id, where: `${s.runbook}:${s.leaf}:${s.window}`, timeline: await harness.engine.getTimeline(s.id) })));
      writeFileSync(join(dir, 'problems.json'), JSON.stringify(dump, null, 1));
    }
    expect(problems).toEqual([]);
    // the matrix really crashed things and really sent commands (the checks above can fail)
    expect(stats.hung).toBeGreaterThan(crashed.length / 2);
    expect(commandsSent).toBeGreaterThan(0);
    // secrets were really sent (resolved only on the wire; the suite-wide scan checks they appear nowhere)
    expect(secretCommands).toBeGreaterThan(0);
    // every resting state of every shipped runbook is seeded (else: a rehearsal case that reaches it is missing)
    expect(stats.unseeded, 'states the rehearsals never reach').toEqual([]);
    expect(stats.seededStates).toBe(stats.leafStates);
    await stopChild(w2);
  }, 600_000);
});
