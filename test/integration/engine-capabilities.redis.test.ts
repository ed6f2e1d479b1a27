/**
 * Issue 6, the engine capabilities every runbook needs, on real redis-server processes (a primary
 * and two replicas): findings flow into actions (`on: { nodes: keys(replicaInfo) }`, `with:
 * "{params.wanted}"`), alternatives offered side by side and chosen through HTTP, the runbook's
 * symptom checked before "resolved", an alert still firing after the fix reopening a linked
 * incident, a node that refuses us as a classified finding the runbook escalates on, and a
 * multi-node plan whose worker is killed with SIGKILL after commands: it resumes at the first
 * command not known to be done and never sends a CONFIG SET twice (INFO commandstats).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import type { TimelineEntry } from '../../src/engine/types.js';
import { post, startTestApp, testConfigText, testPrefix, webhookBody } from '../helpers/app.js';
import type { TestTarget } from '../helpers/app.js';
import { closedTimeline, waitIncidentFor, waitState } from '../helpers/incidents.js';
import { stopChild, track, waitExit } from '../helpers/processes.js';
import { freePort, startRedis, startReplicaSet } from '../helpers/redis-server.js';
import type { RedisProcess, ReplicaSet } from '../helpers/redis-server.js';

const BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'redis-runbooks.js');
const RUNBOOKS = resolve(import.meta.dirname, '..', 'fixtures', 'runbooks-capabilities');
const PARAM = 'slowlog-log-slower-than';

let store: RedisProcess;
let set: ReplicaSet;
let deadPort: number;
let app: App;
let targets: Record<string, TestTarget>;
const dir = mkdtempSync(join(tmpdir(), 'rr-cap-'));

const nodes = (): RedisProcess[] => [set.primary, ...set.replicas];
const addr = (r: RedisProcess): string => `${r.host}:${r.port}`;

async function threshold(r: RedisProcess): Promise<string> {
  const reply = (await r.client().config('GET', PARAM)) as string[];
  return reply[1] ?? '';
}

async function setAll(value: string): Promise<void> {
  for (const r of nodes()) await r.client().config('SET', PARAM, value);
}

/** `cmdstat_config|set` calls on a node since the last CONFIG RESETSTAT. */
async function configCalls(r: RedisProcess, sub: 'set' | 'rewrite'): Promise<number> {
  const text = String(await r.client().call('INFO', 'commandstats'));
  return Number(new RegExp(`cmdstat_config\\|${sub}:calls=(\\d+)`).exec(text)?.[1] ?? 0);
}

function alert(fp: string, instance: string) {
  return webhookBody([{ labels: { alertname: 'CapSlowlogLow', instance, severity: 'warning' }, fingerprint: fp, startsAt: '2026-12-01T10:00:00Z' }]);
}

async function approveHttp(a: App, id: string, body: Record<string, unknown>): Promise<{ status: number; json: unknown }> {
  return post(`${a.http?.url ?? ''}/api/incidents/${id}/approve`, body, 'tok');
}

beforeAll(async () => {
  store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  set = await startReplicaSet(2, { configFile: true });
  deadPort = await freePort();
  targets = { cap: { endpoints: [...nodes().map(addr), `127.0.0.1:${deadPort}`], role: 'store' } };
  app = await startTestApp({ storeUrl: store.url, targets, runbooksDir: RUNBOOKS, token: 'tok' });
}, 60_000);

afterAll(async () => {
  await app?.close().catch(() => undefined);
  await set?.stop();
  await store?.stop();
});

describe('issue 6: runbooks that act on what they found', () => {
  let firstId = '';

  it('offers alternatives side by side; option 2 runs on the replicas the diagnosis found, then the primary; resolved only when the symptom is gone', async () => {
    await setAll('10000');
    const r = await post(`${app.http?.url ?? ''}/webhooks/alertmanager`, alert('cafe000000000001', addr(set.primary)), 'tok');
    expect(r.status).toBe(202);
    const id = await waitIncidentFor(app, 'cafe000000000001');
    firstId = id;
    const waiting = await waitState(app, id, ['awaiting_approval']);
    const p = waiting.pendingApproval;
    expect(p?.options?.map((o) => o.remediation)).toEqual(['primary-only', 'every-node']);
    const [one, two] = p?.options ?? [];
    // Option 1: the primary only, with the value the params gave (a string input from {expr}).
    expect(one?.commands.map((c) => `${c.node} ${c.argv.join(' ')}`)).toEqual([`${addr(set.primary)} CONFIG SET ${PARAM} 20000`, `${addr(set.primary)} CONFIG REWRITE`]);
    expect(one?.cost).toBe('replicas keep logging every command slower than 10000 µs');
    expect(one?.role).toBe('redis.dba-operator');
    // Option 2: the nodes a finding named (keys(replicaInfo)), then the primary.
    expect(two?.role).toBe('redis.cluster-admin');
    expect(two?.cost).toBe('none: a config change on 3 nodes');
    const setNodes = two?.commands.filter((c) => c.argv[1] === 'SET').map((c) => c.node) ?? [];
    expect(setNodes.slice(0, 2).sort()).toEqual(set.replicas.map(addr).sort());
    expect(setNodes[2]).toBe(addr(set.primary));
    // Nothing changed before an approval.
    for (const n of nodes()) expect(await threshold(n)).toBe('10000');
    const tl0 = (await app.engine.getTimeline(id)) ?? [];
    expect(tl0.find((e) => e.kind === 'decision' && Array.isArray(e.data?.['options']))?.summary).toMatch(/2 options fit: \(1\) Raise the threshold on the primary only; \(2\) .* below 20000; 2 replicas/);

    // Choosing is required; each option keeps its own role.
    expect((await approveHttp(app, id, { by: 'alice' })).status).toBe(400);
    expect((await approveHttp(app, id, { by: 'alice', option: 3 })).status).toBe(400);
    expect((await approveHttp(app, id, { by: 'alice', option: 2 })).status).toBe(403);
    expect((await approveHttp(app, id, { by: 'bob', option: 2 })).status).toBe(200);

    const done = await waitState(app, id, ['resolved', 'escalated'], 60_000);
    expect(done.state).toBe('resolved');
    for (const n of nodes()) expect(await threshold(n)).toBe('20000');
    const tl = await closedTimeline(app, id);
    expect(tl.find((e) => e.kind === 'verification.passed')?.summary).toMatch(/symptom cleared: number\(cfgNow/);
    const executed = tl.filter((e) => e.kind === 'command.executed').map((e) => e.summary);
    expect(executed.filter((s) => s.includes('CONFIG SET'))).toHaveLength(3);
    expect(tl.find((e) => e.kind === 'approval.granted')?.summary).toMatch(/option 2.*approved by bob/);
    // The time to approval is measured (the dashboard's panel).
    const metrics = await (await fetch(`${app.http?.url ?? ''}/metrics`)).text();
    expect(metrics).toMatch(/^redis_runbooks_time_to_approval_seconds_count 1$/m);
  }, 90_000);

  it('an alert still firing after its incident resolved opens a new incident linked to the first (never swallowed by dedup)', async () => {
    expect(firstId).not.toBe('');
    // Alertmanager repeats a still-firing alert with the same fingerprint and startsAt (every
    // repeat_interval; here every 500 ms): once the first incident's closing bookkeeping is done,
    // a repeat opens a new incident.
    const deadline = Date.now() + 15_000;
    let second: string | undefined;
    while (!second && Date.now() < deadline) {
      const r = await post(`${app.http?.url ?? ''}/webhooks/alertmanager`, alert('cafe000000000001', addr(set.primary)), 'tok');
      expect(r.status).toBe(202);
      for (let i = 0; i < 10 && !second; i++) {
        second = (await app.engine.listIncidents({ limit: 50 })).find((x) => x.fingerprints.includes('cafe000000000001') && x.id !== firstId)?.id;
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    expect(second).toBeDefined();
    const tl2 = (await app.engine.getTimeline(second ?? '')) ?? [];
    expect(tl2.find((e) => e.kind === 'incident.reopened')?.data?.['reopens']).toBe(firstId);
    const tl1 = (await app.engine.getTimeline(firstId)) ?? [];
    expect(tl1.find((e) => e.kind === 'incident.reopened')?.data?.['reopenedAs']).toBe(second);
    // Nothing is left to change: the runbook says so instead of acting.
    const closed = await waitState(app, second ?? '', ['escalated', 'resolved'], 30_000);
    expect(closed.state).toBe('escalated');
  }, 60_000);

  it('a node that refuses us is a classified finding: the runbook reasons on it and escalates with what it saw', async () => {
    const r = await post(`${app.http?.url ?? ''}/webhooks/alertmanager`, alert('cafe000000000002', `127.0.0.1:${deadPort}`), 'tok');
    expect(r.status).toBe(202);
    const id = await waitIncidentFor(app, 'cafe000000000002');
    const done = await waitState(app, id, ['escalated', 'resolved', 'awaiting_approval'], 30_000);
    expect(done.state).toBe('escalated');
    expect(done.outcome).toMatch(new RegExp(`the alerting node 127\\.0\\.0\\.1:${deadPort} does not answer us \\((refused|target_unreachable)`));
    const probe = (done.findings as { probe?: { error?: { code?: string } } }).probe;
    expect(probe?.error?.code).toMatch(/refused|target_unreachable/);
  }, 40_000);
});

describe('issue 12: the circuit breaker', () => {
  it('at most N remediations of a runbook on a target per window: the next one escalates instead of acting, also after a restart', async () => {
    const prefix = testPrefix();
    const base = { storeUrl: store.url, prefix, targets: { cap: { endpoints: nodes().map(addr), role: 'store' as const } }, runbooksDir: RUNBOOKS, engineYaml: '  circuitBreaker: { max: 1, window: 1h }' };
    let a = await startTestApp({ ...base, http: false });
    try {
      const fix = async (app: App): Promise<string> => {
        await setAll('10000');
        const { incidentId: id } = await app.engine.run('cap-slowlog', 'cap', { dryRun: false, by: 'alice' });
        await waitState(app, id, ['awaiting_approval'], 30_000);
        expect((await app.engine.approve(id, 'alice', 'cli', { option: 1 })).ok).toBe(true);
        return id;
      };
      const first = await fix(a);
      expect((await waitState(a, first, ['resolved', 'escalated'], 30_000)).state).toBe('resolved');
      await a.close();
      a = await startTestApp({ ...base, http: false });
      const second = await fix(a);
      const done = await waitState(a, second, ['resolved', 'escalated'], 30_000);
      expect(done.state).toBe('escalated');
      expect(done.outcome).toMatch(new RegExp(`circuit breaker open: 1 remediations of cap-slowlog on target cap in the last 60 min \\(limit 1; incidents ${first}\\)`));
      // Nothing was sent: the threshold is still the planted one.
      expect(await threshold(set.primary)).toBe('10000');
      expect(((await a.engine.getTimeline(second)) ?? []).some((e) => e.kind === 'command.intent')).toBe(false);
    } finally {
      await a.close();
    }
  }, 90_000);
});

describe('issue 12 #5: refused approvals through Slack or the CLI are bounded too', () => {
  it('a viewer clicking 15 times records at most 10 refusals; the approver still decides', async () => {
    const prefix = testPrefix();
    const a = await startTestApp({ storeUrl: store.url, prefix, targets: { cap: { endpoints: nodes().map(addr), role: 'store' } }, runbooksDir: RUNBOOKS, http: false });
    try {
      await setAll('10000');
      const { incidentId: id } = await a.engine.run('cap-slowlog', 'cap', { dryRun: false, by: 'alice' });
      await waitState(a, id, ['awaiting_approval'], 30_000);
      for (let k = 0; k < 15; k++) {
        const r = await a.engine.approve(id, 'victor', k % 2 ? 'slack' : 'cli', { option: 1 });
        expect(r.ok ? 'ok' : r.code).toBe('forbidden');
      }
      const refused = ((await a.engine.getTimeline(id)) ?? []).filter((e) => e.kind === 'approval.refused');
      expect(refused).toHaveLength(10);
      expect((await a.engine.approve(id, 'alice', 'cli', { option: 1 })).ok).toBe(true);
    } finally {
      await a.close();
    }
  }, 60_000);
});

describe('issue 6: choosing an option from the CLI', () => {
  it('incidents show gives the options; approve without --option is refused; --option 1 runs option 1', async () => {
    const prefix = testPrefix();
    const base = { storeUrl: store.url, prefix, targets: { cap: { endpoints: nodes().map(addr), role: 'store' as const } }, runbooksDir: RUNBOOKS };
    const cfgFile = join(dir, 'cli.yaml');
    writeFileSync(cfgFile, testConfigText(base));
    await setAll('10000');
    const a = await startTestApp({ ...base, http: false });
    try {
      const { incidentId: id } = await a.engine.run('cap-slowlog', 'cap', { dryRun: false, by: 'alice' });
      await waitState(a, id, ['awaiting_approval'], 30_000);
      const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, 'incidents', ...args, '--config', cfgFile], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, LOG_LEVEL: 'silent' } });
      const show = cli('show', id);
      const shown = JSON.parse(show.stdout) as { pendingApproval?: { options?: { option: number; title: string }[] } };
      expect(shown.pendingApproval?.options?.map((o) => o.option)).toEqual([1, 2]);
      expect(shown.pendingApproval?.options?.[1]?.title).toMatch(/Raise the threshold on every replica/);
      const none = cli('approve', id, '--by', 'alice');
      expect(none.status).toBe(1);
      expect(none.stdout).toMatch(/refused \(option_required\): .*offers 2 options/);
      const ok = cli('approve', id, '--by', 'alice', '--option', '1');
      expect(ok.stdout).toMatch(/approval recorded/);
      expect(ok.status).toBe(0);
      expect((await waitState(a, id, ['resolved', 'escalated'], 30_000)).state).toBe('resolved');
      expect(await threshold(set.primary)).toBe('20000');
      for (const r of set.replicas) expect(await threshold(r)).toBe('10000');
    } finally {
      await a.close();
    }
  }, 90_000);
});

describe('issue 6: a multi-node plan survives kill -9 after commands', () => {
  function worker(cfgFile: string): ChildProcess {
    return track(spawn(process.execPath, [BIN, 'worker', '--config', cfgFile], { stdio: 'ignore', env: { ...process.env, LOG_LEVEL: 'silent' } }));
  }

  it('resumes at the first command not known to be done; every CONFIG SET reaches each node exactly once', async () => {
    const prefix = testPrefix();
    const base = { storeUrl: store.url, prefix, targets: { cap: { endpoints: nodes().map(addr), role: 'store' as const } }, runbooksDir: RUNBOOKS, token: 'tok' };
    const cfg = (n: number): string => {
      const f = join(dir, `worker-${n}.yaml`);
      writeFileSync(f, testConfigText({ ...base, engineYaml: `  faultInjection: { killAfterCommands: ${n} }` }));
      return f;
    };
    await setAll('10000');
    const door = await startTestApp({ ...base, worker: false });
    const children: ChildProcess[] = [];
    try {
      let child = worker(cfg(1));
      children.push(child);
      await post(`${door.http?.url ?? ''}/webhooks/alertmanager`, alert('cafe000000000003', addr(set.primary)), 'tok');
      const id = await waitIncidentFor(door, 'cafe000000000003');
      await waitState(door, id, ['awaiting_approval'], 30_000);
      for (const n of nodes()) await n.client().call('CONFIG', 'RESETSTAT');
      expect((await approveHttp(door, id, { by: 'bob', option: 2 })).status).toBe(200);
      // Worker 1 sends one command and is killed; workers 2 and 3 each send two more and are killed.
      expect(await waitExit(child, 30_000)).toBe(true);
      expect(child.signalCode).toBe('SIGKILL');
      for (const kill of [2, 2]) {
        child = worker(cfg(kill));
        children.push(child);
        expect(await waitExit(child, 45_000)).toBe(true);
        expect(child.signalCode).toBe('SIGKILL');
      }
      // A healthy worker finishes the plan and verifies.
      const finisher = await startTestApp({ ...base, http: false });
      try {
        const done = await waitState(finisher, id, ['resolved', 'escalated'], 60_000);
        expect(done.state).toBe('resolved');
        const tl: TimelineEntry[] = await closedTimeline(finisher, id);
        const resumed = tl.filter((e) => e.kind === 'note' && /interrupted \(the worker stopped while sending it\); checked on the live target: already in place, not sent again/.test(e.summary));
        expect(resumed.length).toBe(3);
        expect(tl.filter((e) => /resuming after an interruption/.test(e.summary)).length).toBe(3);
        // Issue 12 #3: another worker resumes in seconds (BullMQ's default stalled check took 60–95 s).
        const gaps = tl.flatMap((e, k) => {
          if (!/resuming after an interruption/.test(e.summary)) return [];
          const before = tl.slice(0, k).reverse().find((x) => x.kind === 'command.executed' || x.kind === 'command.intent');
          return before ? [Date.parse(e.at) - Date.parse(before.at)] : [];
        });
        expect(gaps).toHaveLength(3);
        for (const g of gaps) expect(g).toBeLessThan(30_000);
        console.info(`kill -9 → resumed by the next worker after ${gaps.map((g) => (g / 1000).toFixed(1)).join(' s, ')} s (includes starting the next worker process)`);
      } finally {
        await finisher.close();
      }
      for (const n of nodes()) {
        expect(await threshold(n)).toBe('20000');
        expect(await configCalls(n, 'set')).toBe(1);
        // CONFIG REWRITE is idempotent: one killed right after it was sent may be sent again.
        expect(await configCalls(n, 'rewrite')).toBeGreaterThanOrEqual(1);
        expect(await configCalls(n, 'rewrite')).toBeLessThanOrEqual(2);
      }
    } finally {
      for (const c of children) await stopChild(c);
      await door.close();
    }
  }, 180_000);
});

describe('issue 6: a remediation in phases', () => {
  it('runs phase 1, waits a delay that survives a restart of every worker, runs phase 2, asks a second approval, runs phase 3, verifies', async () => {
    const prefix = testPrefix();
    const base = { storeUrl: store.url, prefix, targets: { cap: { endpoints: nodes().map(addr), role: 'store' as const } }, runbooksDir: RUNBOOKS, token: 'tok' };
    const p = set.primary.client();
    await p.config('SET', PARAM, '10000');
    await p.config('SET', 'repl-timeout', '60');
    await p.config('SET', 'maxclients', '1000');
    let first: App | undefined = await startTestApp(base);
    let second: App | undefined;
    try {
      await post(`${first.http?.url ?? ''}/webhooks/alertmanager`, webhookBody([{ labels: { alertname: 'CapPhases', instance: addr(set.primary) }, fingerprint: 'cafe000000000004' }]), 'tok');
      const id = await waitIncidentFor(first, 'cafe000000000004');
      const waiting = await waitState(first, id, ['awaiting_approval']);
      // The approver sees every phase's commands, in order.
      expect(waiting.pendingApproval?.commands.map((c) => c.argv.join(' '))).toEqual([`CONFIG SET ${PARAM} 30000`, 'CONFIG REWRITE', 'CONFIG SET repl-timeout 61', 'CONFIG REWRITE', 'CONFIG SET maxclients 4321', 'CONFIG REWRITE']);
      expect((await approveHttp(first, id, { by: 'alice' })).status).toBe(200);
      // Phase 1 done, the delay is running: stop every process.
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && (await threshold(set.primary)) !== '30000') await new Promise((r) => setTimeout(r, 50));
      expect(await threshold(set.primary)).toBe('30000');
      expect(((await p.config('GET', 'repl-timeout')) as string[])[1]).toBe('60');
      await first.close();
      first = undefined;
      second = await startTestApp(base);
      // The delayed job fires in the new process: phase 2, then the gate.
      const gate = await waitState(second, id, ['awaiting_approval'], 30_000);
      expect(((await p.config('GET', 'repl-timeout')) as string[])[1]).toBe('61');
      expect(((await p.config('GET', 'maxclients')) as string[])[1]).toBe('1000');
      expect(gate.pendingApproval?.role).toBe('redis.cluster-admin');
      expect(gate.pendingApproval?.title).toMatch(/next phase: confirm before the last change/);
      expect(gate.pendingApproval?.commands.map((c) => c.argv.join(' '))).toEqual(['CONFIG SET maxclients 4321', 'CONFIG REWRITE']);
      expect((await approveHttp(second, id, { by: 'alice' })).status).toBe(403);
      expect((await approveHttp(second, id, { by: 'bob' })).status).toBe(200);
      const done = await waitState(second, id, ['resolved', 'escalated'], 30_000);
      expect(done.state).toBe('resolved');
      expect(((await p.config('GET', 'maxclients')) as string[])[1]).toBe('4321');
      const tl = await closedTimeline(second, id);
      const notes = tl.map((e) => e.summary);
      expect(notes.some((n) => /phase done; waiting 4s — let clients settle/.test(n))).toBe(true);
      expect(notes.some((n) => /4s passed; next phase/.test(n))).toBe(true);
      expect(tl.filter((e) => e.kind === 'approval.granted').map((e) => e.data?.['by'])).toEqual(['alice', 'bob']);
    } finally {
      await first?.close();
      await second?.close();
    }
  }, 90_000);
});
