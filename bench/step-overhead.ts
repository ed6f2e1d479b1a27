/**
 * §3 Engine overhead per step, on real persisted snapshots of the incidents §4 left waiting:
 * - stepMachine() (restore snapshot → transition → persisted snapshot), for approval.granted on an
 *   awaiting_approval snapshot and for effect.done(diagnose) on a freshly opened (diagnosing) one;
 * - the IncidentStore.cas() round trip (Lua compare-and-set of snapshot + timeline notes);
 * - both together as applyEvent does them (get → stepMachine → cas).
 * Baselines: a bare XState createActor+start+send+getPersistedSnapshot on a trivial 2-state
 * machine, and a bare HSET round trip of a payload of the same size.
 * Then events applied per second by one worker: `approval.expired` event jobs for waiting incidents,
 * processed by the app's BullMQ worker (handleEvent → applyEvent → escalated → close) — beside a
 * bare BullMQ no-op worker with the same concurrency on the same store.
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createActor, createMachine } from 'xstate';
import type { AnyStateMachine } from 'xstate';
import type { App } from '../src/app.js';
import { makeKeys } from '../src/engine/keys.js';
import { stepMachine } from '../src/engine/machine/run.js';
import type { Effect, MachineContext, MachineEvent, MachineNote } from '../src/engine/machine/types.js';
import type { JobData } from '../src/engine/queue.js';
import { IncidentStore } from '../src/engine/store/incidents.js';
import type { IncidentRecord } from '../src/engine/store/incidents.js';
import { benchPrefix } from './app.js';
import { progress, row, sleep, summarize } from './stats.js';
import type { Row, Summary } from './stats.js';

export interface StepOptions {
  iterations: number;
  /** Event jobs for the events/s measurement. */
  events: number;
  concurrency: number;
}

const ROUNDS = 3;

/**
 * Time `n` iterations, ROUNDS times. Each round starts from a full GC (and a short pause for the
 * concurrent sweeper), so it pays for its own garbage only. p50/p99 are the medians over the rounds
 * (the 2-core machine also runs both redis-servers: one unlucky round must not decide the p99).
 * `fn` returns the measured milliseconds of one iteration (so untimed resets can live inside it).
 */
async function rounds(n: number, fn: (i: number) => number | Promise<number>): Promise<Summary & { rounds: Summary[] }> {
  const per: Summary[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    (globalThis as { gc?: () => void }).gc?.();
    await sleep(30);
    const xs: number[] = [];
    for (let i = 0; i < n; i++) xs.push(await fn(i));
    per.push(summarize(xs));
  }
  const med = (k: 'p50' | 'p99' | 'mean' | 'max'): number => [...per.map((x) => x[k])].sort((a, b) => a - b)[Math.floor(ROUNDS / 2)] ?? Number.NaN;
  return { n: n * ROUNDS, p50: med('p50'), p99: med('p99'), mean: med('mean'), max: Math.max(...per.map((x) => x.max)), rounds: per };
}

function time(n: number, fn: () => void): Promise<Summary & { rounds: Summary[] }> {
  return rounds(n, () => {
    const t0 = performance.now();
    fn();
    return performance.now() - t0;
  });
}

function timeAsync(n: number, fn: () => Promise<void>): Promise<Summary & { rounds: Summary[] }> {
  return rounds(n, async () => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  });
}

/**
 * What-if (not the engine's code): stepMachine with the effect/note implementations provided ONCE
 * per compiled machine, collecting into per-call arrays, instead of machine.provide() on every step.
 * Same restore → send → persisted snapshot → JSON clone as src/engine/machine/run.ts.
 */
function cachedStepper(machine: AnyStateMachine): (snapshot: unknown, event: MachineEvent) => { snapshot: unknown; effects: Effect[]; notes: MachineNote[]; changed: boolean } {
  let effects: Effect[] = [];
  let notes: MachineNote[] = [];
  const m = machine.provide({
    actions: {
      effect: (_: unknown, p: Effect) => void effects.push(p),
      note: (_: unknown, p: MachineNote) => {
        if (p.summary) notes.push(p);
      },
    },
  });
  return (snapshot, event) => {
    effects = [];
    notes = [];
    const actor = createActor(m, { snapshot: snapshot as never });
    actor.start();
    const before = JSON.stringify(snapshot);
    actor.send(event);
    const persisted = actor.getPersistedSnapshot();
    actor.stop();
    const json = JSON.stringify(persisted);
    return { snapshot: JSON.parse(json) as unknown, effects, notes, changed: json !== before };
  };
}

const f = (s: Summary): string => `p50 ${(s.p50 * 1000).toFixed(0)} µs, p99 ${(s.p99 * 1000).toFixed(0)} µs`;

export async function benchSteps(app: App & { prefix: string }, waitingIds: string[], o: StepOptions): Promise<{ rows: Row[]; raw: Record<string, unknown> }> {
  const store = new IncidentStore(app.redis, makeKeys(app.prefix));
  const sampleId = waitingIds[0];
  if (!sampleId) throw new Error('no waiting incident to take a snapshot from');
  const rec = (await store.get(sampleId)) as IncidentRecord;
  const rb = await app.catalog.byHash(rec.hash, store);
  if (!rb) throw new Error('runbook of the waiting incident is unknown');
  const ctx = (rec.snapshot as { context: MachineContext }).context;
  const key = ctx.current?.key ?? '';
  const granted: MachineEvent = { type: 'approval.granted', at: Date.now(), key, by: 'alice' };
  const n = o.iterations;
  const handle = app.worker;
  if (!handle) throw new Error('§3 needs the app worker');
  await handle.worker.pause(); // idle anyway; paused so nothing else runs during the timings

  // A freshly opened incident's snapshot (what open() persists) and the diagnose result it awaits.
  const input: MachineContext = { incidentId: 'inc-bench-fresh', target: ctx.target, labels: ctx.labels, dryRun: false, params: ctx.params, findings: {}, tried: [], seq: 0, awaiting: 0 };
  const fresh = stepMachine(rb.machine, { input });
  const diagnosed: MachineEvent = { type: 'effect.done', seq: 1, at: Date.now(), result: { kind: 'diagnose', findings: ctx.findings } };

  // ---- stepMachine on real snapshots (warm up first)
  const snapBytes = JSON.stringify(rec.snapshot).length;
  await time(500, () => void stepMachine(rb.machine, { snapshot: rec.snapshot }, granted));
  const stepGranted = await time(n, () => void stepMachine(rb.machine, { snapshot: rec.snapshot }, granted));
  await time(300, () => void stepMachine(rb.machine, { snapshot: fresh.snapshot }, diagnosed));
  const stepDiagnosed = await time(n, () => void stepMachine(rb.machine, { snapshot: fresh.snapshot }, diagnosed));
  const check = stepMachine(rb.machine, { snapshot: rec.snapshot }, granted);
  if (check.state !== 'remediating') progress(`step: WARNING approval.granted led to ${check.state}`);
  // Where it goes: the machine.provide() stepMachine does on every call, and the JSON passes.
  await time(300, () => void rb.machine.provide({ actions: { effect: () => undefined, note: () => undefined } }));
  const provide = await time(n, () => void rb.machine.provide({ actions: { effect: () => undefined, note: () => undefined } }));
  const json = await time(n, () => void JSON.parse(JSON.stringify(rec.snapshot)));
  const cached = cachedStepper(rb.machine);
  const cachedCheck = cached(rec.snapshot, granted);
  if (JSON.stringify(cachedCheck.snapshot) !== JSON.stringify(check.snapshot) || JSON.stringify(cachedCheck.effects) !== JSON.stringify(check.effects)) progress('step: WARNING the what-if stepper differs from stepMachine');
  await time(500, () => void cached(rec.snapshot, granted));
  const whatIf = await time(n, () => void cached(rec.snapshot, granted));
  progress(`step: what-if (machine provided once) approval.granted ${f(whatIf)}`);
  progress(`step: stepMachine approval.granted ${f(stepGranted)}; effect.done(diagnose) ${f(stepDiagnosed)}; machine.provide() alone ${f(provide)}; snapshot ${snapBytes} B`);

  // ---- bare XState: a trivial 2-state machine
  const trivial = createMachine({ id: 'bare', initial: 'a', states: { a: { on: { go: 'b' } }, b: { on: { go: 'a' } } } });
  let bareSnap: unknown = createActor(trivial).start().getPersistedSnapshot();
  const bareStep = (): void => {
    const a = createActor(trivial, { snapshot: bareSnap as never });
    a.start();
    a.send({ type: 'go' });
    bareSnap = a.getPersistedSnapshot();
    a.stop();
  };
  await time(1000, bareStep);
  const bareX = await time(n, bareStep);

  // ---- cas() round trip on a scratch copy of the real incident
  const scratch = `bench-${benchPrefix()}`;
  const { version: _v, id: _id, ...fields } = rec;
  await store.cas(scratch, 0, { ...fields, id: scratch }, []);
  let version = 1;
  const notes = check.notes.map((x) => ({ at: new Date().toISOString(), kind: x.kind, actor: { kind: 'engine' as const }, summary: x.summary, ...(x.data ? { data: x.data } : {}) }));
  const casFields = { snapshot: check.snapshot, state: check.state, updatedAt: new Date().toISOString() };
  await timeAsync(300, async () => void (await store.cas(scratch, version++, casFields, notes)));
  const cas = await timeAsync(n, async () => void (await store.cas(scratch, version++, casFields, notes)));

  // ---- bare HSET round trip, same payload size
  const payload = JSON.stringify(check.snapshot);
  const hkey = `${app.prefix}:bench:hset`;
  await timeAsync(300, async () => void (await app.redis.hset(hkey, 'snapshot', payload)));
  const hset = await timeAsync(n, async () => void (await app.redis.hset(hkey, 'snapshot', payload)));
  progress(`step: cas() ${f(cas)}; bare HSET ${f(hset)}; bare XState step ${f(bareX)}`);

  // ---- together, as applyEvent does it: get → stepMachine → cas (the reset to awaiting is not timed)
  const awaitingFields = { snapshot: rec.snapshot, state: rec.state, updatedAt: rec.updatedAt };
  await store.cas(scratch, version++, awaitingFields, []);
  const together = await rounds(n, async () => {
    const t0 = performance.now();
    const cur = (await store.get(scratch)) as IncidentRecord;
    const crb = await app.catalog.byHash(cur.hash, store);
    if (!crb) throw new Error('runbook lost');
    const step = stepMachine(crb.machine, { snapshot: cur.snapshot }, granted);
    const ok = await store.cas(scratch, cur.version, { snapshot: step.snapshot, state: step.state, updatedAt: new Date().toISOString() }, step.notes.map((x) => ({ at: new Date().toISOString(), kind: x.kind, actor: { kind: 'engine' as const }, summary: x.summary })));
    const dt = performance.now() - t0;
    if (!ok) throw new Error('cas conflict on the scratch incident');
    await store.cas(scratch, cur.version + 1, awaitingFields, []); // reset, not timed
    return dt;
  });
  const bareTogether = await timeAsync(n, async () => {
    await app.redis.hgetall(hkey);
    bareStep();
    await app.redis.hset(hkey, 'snapshot', payload);
  });
  progress(`step: get+stepMachine+cas ${f(together)}; bare HGETALL+XState+HSET ${f(bareTogether)}`);

  // ---- events applied per second by one worker
  const m = Math.min(o.events, waitingIds.length - 1);
  const ids = waitingIds.slice(1, 1 + m);
  const jobs: { name: string; data: JobData }[] = [];
  for (const id of ids) {
    const r = await store.get(id);
    const k = (r?.snapshot as { context: MachineContext } | undefined)?.context.current?.key ?? '';
    jobs.push({ name: 'approval.expired', data: { type: 'event', incidentId: id, event: { type: 'approval.expired', at: 0, key: k } } });
  }
  for (let i = 0; i < jobs.length; i += 500) await app.queue.addBulk(jobs.slice(i, i + 500));
  let done = 0;
  const onDone = (job: { name: string }): void => {
    if (job.name === 'approval.expired') done++;
  };
  handle.worker.on('completed', onDone);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  handle.worker.resume();
  const deadline = Date.now() + 90_000;
  while (done < m && Date.now() < deadline) await sleep(10);
  const evSeconds = (performance.now() - t0) / 1000;
  const evCpu = process.cpuUsage(cpu0);
  const cpuPerEventMs = (evCpu.user + evCpu.system) / 1000 / Math.max(1, done);
  handle.worker.off('completed', onDone);
  const eventsPerSec = done / evSeconds;
  let escalated = 0;
  for (const id of ids.slice(0, 50)) if ((await store.get(id))?.state === 'escalated') escalated++;
  progress(`step: ${done} approval.expired events applied by one worker (concurrency ${o.concurrency}) in ${evSeconds.toFixed(1)} s = ${eventsPerSec.toFixed(0)}/s, ${cpuPerEventMs.toFixed(2)} ms worker-process CPU per event; ${escalated}/50 sampled incidents escalated`);

  const bareRate = await bareWorkerRate(app.store.mode === 'url' ? app.store.url : '', m, o.concurrency);
  progress(`step: bare BullMQ no-op worker ${bareRate.toFixed(0)} jobs/s`);

  const rows: Row[] = [
    row('3', 'stepMachine, approval.granted, p50', 'ms', stepGranted.p50, bareX.p50, 'bare XState 2-state step', { op: 'info' }, `real awaiting_approval snapshot, ${snapBytes} B`),
    row('3', 'stepMachine, approval.granted, p99', 'ms', stepGranted.p99, bareX.p99, 'bare XState 2-state step', { op: '<', limit: 1 }),
    row('3', 'stepMachine, effect.done(diagnose), p50', 'ms', stepDiagnosed.p50, bareX.p50, 'bare XState 2-state step', { op: 'info' }, 'diagnosing → deciding → planning'),
    row('3', 'stepMachine, effect.done(diagnose), p99', 'ms', stepDiagnosed.p99, bareX.p99, 'bare XState 2-state step', { op: '<', limit: 1 }),
    row('3', 'split: machine.provide() per step, p50', 'ms', provide.p50, bareX.p50, 'bare XState 2-state step', { op: 'info' }, 'rebuilds the machine on every stepMachine()'),
    row('3', 'split: snapshot JSON stringify+parse, p50', 'ms', json.p50, bareX.p50, 'bare XState 2-state step', { op: 'info' }),
    row('3', 'what-if: machine provided once, granted, p50', 'ms', whatIf.p50, stepGranted.p50, 'stepMachine today', { op: 'info' }, 'bench-local copy of the provide-once stepper (src does the same since this bench found it)'),
    row('3', 'what-if: machine provided once, granted, p99', 'ms', whatIf.p99, stepGranted.p99, 'stepMachine today', { op: 'info' }, 'bench-local copy of the provide-once stepper (src does the same since this bench found it)'),
    row('3', 'IncidentStore.cas() round trip, p50', 'ms', cas.p50, hset.p50, 'bare HSET same payload', { op: 'info' }),
    row('3', 'IncidentStore.cas() round trip, p99', 'ms', cas.p99, hset.p99, 'bare HSET same payload', { op: '<', limit: 1 }),
    row('3', 'step together (get+stepMachine+cas), p50', 'ms', together.p50, bareTogether.p50, 'bare HGETALL+XState+HSET', { op: 'info' }),
    row('3', 'step together (get+stepMachine+cas), p99', 'ms', together.p99, bareTogether.p99, 'bare HGETALL+XState+HSET', { op: '<', limit: 1 }),
    row('3', `events applied/s, one worker (concurrency ${o.concurrency})`, 'events/s', eventsPerSec, bareRate, 'bare BullMQ no-op jobs/s', { op: '>=', limit: 500 }, `${done} approval.expired → escalated + close`),
  ];
  return {
    rows,
    raw: { snapshotBytes: snapBytes, stepGranted, stepDiagnosed, provide, json, whatIfProvidedOnce: whatIf, bareXState: bareX, cas, hset, together, bareTogether, events: { applied: done, seconds: evSeconds, perSecond: eventsPerSec, cpuMsPerEvent: cpuPerEventMs, sampledEscalated: escalated }, bareWorkerJobsPerSec: bareRate },
  };
}

async function bareWorkerRate(storeUrl: string, n: number, concurrency: number): Promise<number> {
  const conn = new Redis(storeUrl, { maxRetriesPerRequest: null });
  const wconn = new Redis(storeUrl, { maxRetriesPerRequest: null });
  const prefix = `{${benchPrefix()}}`;
  const queue = new Queue('bench-bare', { connection: conn, prefix });
  const jobs = Array.from({ length: n }, (_, i) => ({ name: 'noop', data: { i }, opts: { removeOnComplete: true } }));
  for (let i = 0; i < jobs.length; i += 500) await queue.addBulk(jobs.slice(i, i + 500));
  let done = 0;
  const worker = new Worker('bench-bare', async () => undefined, { connection: wconn, prefix, concurrency, autorun: false });
  worker.on('completed', () => void done++);
  const t0 = performance.now();
  void worker.run();
  const deadline = Date.now() + 60_000;
  while (done < n && Date.now() < deadline) await sleep(5);
  const rate = done / ((performance.now() - t0) / 1000);
  await worker.close();
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  conn.disconnect();
  wconn.disconnect();
  return rate;
}
