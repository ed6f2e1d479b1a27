/**
 * Issue 12, "Then prove it — Graceful shutdown": a `redis-runbooks worker` child process is busy
 * with an act whose command is in flight (the target is paused with `CLIENT PAUSE … WRITE`, so the
 * `EXPIRE` it sends gets no answer). SIGTERM: it takes no new job, waits `engine.shutdownTimeout`
 * (2 s here) for the job, then hands it back — its lock released, back in the wait list — notes
 * that on the incident's timeline and exits 0. A second worker takes the job at once, checks the
 * live target for the command that was in flight, and completes the incident; the command reached
 * the target exactly once (INFO commandstats). A second SIGTERM while stopping exits at once (143).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScannedApp, testConfigText, testPrefix } from '../helpers/app.js';
import type { App } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import { FINAL_STATES } from '../../src/engine/types.js';
import type { TimelineEntry } from '../../src/engine/types.js';
import { waitState } from '../helpers/incidents.js';
import { stopChild, track, waitExit } from '../helpers/processes.js';
import { startRedis, waitFor } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

const BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'redis-runbooks.js');
const SHUTDOWN_MS = 2000;
const KEYS = 5;

/** One write behind an approval whose command a paused target leaves unanswered. */
const RUNBOOK = `apiVersion: redis-runbooks/v1
kind: Runbook
name: shutdown-expire
title: Give the sess:* keys a TTL (graceful shutdown test)
diagnose:
  - id: ks
    action: redis.info-keyspace
    on: primary
decide:
  - when: ks.keys > ks.expires
    propose: expire
    reason: "{ks.keys - ks.expires} keys without TTL"
remediations:
  expire:
    title: EXPIRE the sess:* keys
    risk: write
    approval: { role: redis.dba-operator }
    steps:
      - action: redis.family-expire
        on: primary
        with: { pattern: "sess:*", ttlSeconds: 3600, batch: 100 }
    verify:
      steps:
        - id: after
          action: redis.info-keyspace
          on: primary
      until: after.expires >= ${KEYS}
      every: 1s
      within: 60s
    onFailure: escalate
`;

const dir = mkdtempSync(join(tmpdir(), 'rr-shutdown-'));
let store: RedisProcess;
let target: RedisProcess;
let door: App;
let cfgFile = '';
const children: ChildProcess[] = [];

interface Worker {
  child: ChildProcess;
  out: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startWorkerProcess(): Worker {
  const child = track(spawn(process.execPath, [BIN, 'worker', '--config', cfgFile], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'info' } }));
  children.push(child);
  let out = '';
  child.stdout?.on('data', (b: Buffer) => void (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => void (out += b.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return { child, out: () => out, exit };
}

async function commandCalls(cmd: string): Promise<number> {
  const info = String(await target.client().call('INFO', 'commandstats'));
  return Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
}

async function timeline(id: string): Promise<TimelineEntry[]> {
  return (await door.engine.getTimeline(id)) ?? [];
}

/** Open an incident, wait for its proposal, pause the target's writes, approve: the act's EXPIRE hangs. */
async function actInFlight(): Promise<string> {
  const { incidentId } = await door.engine.run('shutdown-expire', 'tgt', { dryRun: false, by: 'alice' });
  await waitState(door, incidentId, ['awaiting_approval', ...FINAL_STATES], 30_000);
  expect((await door.engine.getIncident(incidentId))?.state).toBe('awaiting_approval');
  await target.client().call('CLIENT', 'PAUSE', '60000', 'WRITE');
  const r = await door.engine.approve(incidentId, 'alice', 'cli');
  expect(r.ok, JSON.stringify(r)).toBe(true);
  // the worker wrote its intent and marked the first EXPIRE "sending": the command is in flight
  await waitFor(async () => (await timeline(incidentId)).some((e) => e.kind === 'command.intent'), 20_000, 'command.intent');
  await waitFor(async () => {
    const keys = await store.client().keys(`${door.config.engine.keyPrefix}:inc:{${incidentId}}:intent:*`);
    for (const k of keys) if (Object.values(await store.client().hgetall(k)).includes('sending')) return true;
    return false;
  }, 20_000, 'a command checkpointed as sending');
  await new Promise((r) => setTimeout(r, 300));
  return incidentId;
}

beforeAll(async () => {
  [store, target] = await Promise.all([startRedis({ args: ['--maxmemory-policy', 'noeviction'] }), startRedis()]);
  const runbooks = join(dir, 'runbooks');
  mkdirSync(runbooks);
  writeFileSync(join(runbooks, 'shutdown-expire.yaml'), RUNBOOK);
  const text = testConfigText({ storeUrl: store.url, prefix: testPrefix(), runbooksDir: runbooks, targets: { tgt: { endpoints: [`${target.host}:${target.port}`], role: 'store' } }, engineYaml: `  shutdownTimeout: ${SHUTDOWN_MS / 1000}s`, extraYaml: 'shippedRunbooks: false' }).replace(/^logLevel: .*$/m, 'logLevel: info');
  cfgFile = join(dir, 'config.yaml');
  writeFileSync(cfgFile, text);
  const config = parseConfig(text, cfgFile, {}, { baseDir: dir });
  expect(config.engine.shutdownTimeoutMs).toBe(SHUTDOWN_MS);
  door = await createScannedApp(config, { worker: false });
}, 60_000);

afterAll(async () => {
  await target?.client().call('CLIENT', 'UNPAUSE').catch(() => undefined);
  for (const c of children) await stopChild(c);
  await door?.close().catch(() => undefined);
  await Promise.allSettled([store?.stop(), target?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('graceful shutdown (issue 12)', () => {
  it('SIGTERM with a command in flight: exit 0 after the deadline, the job handed back and noted; a second worker completes the incident, the command reaching the target once', async () => {
    await target.client().flushall();
    for (let i = 0; i < KEYS; i++) await target.client().set(`sess:${i}`, 'x');
    const expiresBefore = await commandCalls('expire');
    const w1 = startWorkerProcess();
    await waitFor(async () => w1.out().includes('worker started'), 30_000, 'worker started');
    const id = await actInFlight();

    const t0 = Date.now();
    w1.child.kill('SIGTERM');
    const { code, signal } = await w1.exit;
    const took = Date.now() - t0;
    expect({ code, signal }, w1.out().slice(-3000)).toEqual({ code: 0, signal: null });
    // it waited for the job, then stopped soon after the deadline
    expect(took).toBeGreaterThanOrEqual(SHUTDOWN_MS);
    expect(took).toBeLessThan(SHUTDOWN_MS + 6000);
    expect(w1.out()).toMatch(/stopping: waiting for the jobs in flight/);
    expect(w1.out()).toMatch(/shutdown deadline passed: jobs in flight handed back to other workers/);
    expect(w1.out()).toMatch(/"msg":"stopped"/);

    // handed back: in the wait list, not active, no lock; the hand-back is on the timeline
    const counts = await door.queue.getJobCounts('active', 'wait', 'prioritized');
    expect(counts['active']).toBe(0);
    expect((counts['wait'] ?? 0) + (counts['prioritized'] ?? 0)).toBeGreaterThanOrEqual(1);
    const stopped = await timeline(id);
    const intentAt = stopped.findIndex((e) => e.kind === 'command.intent');
    const noteAt = stopped.findIndex((e) => /^worker stopping: the act step did not finish within engine\.shutdownTimeout \(2 s\); handed back/.test(e.summary));
    expect(intentAt).toBeGreaterThanOrEqual(0);
    expect(noteAt).toBeGreaterThan(intentAt);
    // nothing after the intent claims the command ran or failed: it is recorded as in flight (the checkpoint) and handed back
    expect(stopped.slice(intentAt).filter((e) => e.kind === 'command.executed' || e.kind === 'error')).toEqual([]);
    expect((await door.engine.getIncident(id))?.state).toBe('remediating');

    // the target answers again; a second worker takes the job at once and finishes
    await target.client().call('CLIENT', 'UNPAUSE');
    const w2 = startWorkerProcess();
    const done = await waitState(door, id, FINAL_STATES, 45_000);
    expect(done.state, `${done.outcome ?? ''}\n${w2.out().slice(-2000)}`).toBe('resolved');
    const tl = await timeline(id);
    const after = tl.slice(noteAt + 1);
    expect(after.some((e) => /resuming after an interruption/.test(e.summary))).toBe(true);
    expect(after.some((e) => /EXPIRE sess:\d 3600 NX: interrupted .*checked on the live target: (already in place, not sent again|not in place, sending it now)/.test(e.summary))).toBe(true);
    expect(tl.filter((e) => e.kind === 'command.intent')).toHaveLength(1);
    expect(tl.some((e) => e.kind === 'verification.passed')).toBe(true);
    // every key got its TTL, and each EXPIRE reached the target exactly once
    for (let i = 0; i < KEYS; i++) expect(await target.client().ttl(`sess:${i}`)).toBeGreaterThan(0);
    expect((await commandCalls('expire')) - expiresBefore).toBe(KEYS);
    await stopChild(w2.child);
    expect(w2.child.exitCode).toBe(0);
  }, 120_000);

  it('a second SIGTERM while stopping exits at once, non-zero; the job comes back after its lock expires and another worker completes it', async () => {
    await target.client().flushall();
    for (let i = 0; i < KEYS; i++) await target.client().set(`sess:${i}`, 'x');
    const expiresBefore = await commandCalls('expire');
    const w = startWorkerProcess();
    await waitFor(async () => w.out().includes('worker started'), 30_000, 'worker started');
    const id = await actInFlight();
    w.child.kill('SIGTERM');
    await waitFor(async () => w.out().includes('shutting down'), 5000, 'shutting down');
    const t0 = Date.now();
    w.child.kill('SIGTERM');
    const { code } = await w.exit;
    expect(code).toBe(143);
    expect(Date.now() - t0).toBeLessThan(SHUTDOWN_MS);
    expect(w.out()).toMatch(/SIGTERM again: exiting now/);
    await target.client().call('CLIENT', 'UNPAUSE');
    const w2 = startWorkerProcess();
    const done = await waitState(door, id, FINAL_STATES, 60_000);
    expect(done.state, done.outcome).toBe('resolved');
    expect((await commandCalls('expire')) - expiresBefore).toBe(KEYS);
    await stopChild(w2.child);
    expect(await waitExit(w2.child, 1000)).toBe(true);
  }, 120_000);
});
