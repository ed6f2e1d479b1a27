/**
 * Issue 10, `redis-persistence-failing` end to end on real redis-server 7.0 processes (started
 * from a config file, `save 3600 1`, `stop-writes-on-bgsave-error yes`, `enable-protected-configs
 * local`): the RedisPersistenceFailing alert through the webhook, diagnosis, alternatives, an
 * approval over HTTP, verification of a fresh save with writes accepted.
 *
 * Planting a failing save as root: these tests run as root, and root ignores directory modes
 * (chmod 500 on `dir` does not stop a save). What does fail, checked here and in the fixtures:
 * - removing `dir` under the running server: the child cannot create `temp-<pid>.rdb` (ENOENT,
 *   "Failed opening the temp RDB file … (in server root dir unknown)"), and CONFIG GET dir then
 *   answers an empty string (getcwd fails);
 * - a directory named like `dbfilename` inside `dir`: the final rename fails with EISDIR
 *   ("Error moving temp DB file … on the final destination dump.rdb … Is a directory").
 * - an AOF rewrite (AOF on, 7.0 multi-part): a directory at appendonlydir/appendonly.aof.2.base.rdb
 *   makes the rename of the rewritten base fail (EISDIR): aof_last_bgrewrite_status:err.
 * `save 3600 1` keeps Redis from retrying by itself (it retries every 5 s once a save point is due).
 * An AOF *write* error (aof_last_write_status:err, writes refused) needs a full disk or an I/O
 * error, which could not be planted here as root: the runbook escalates it (Redis retries the
 * write every second by itself once the disk accepts it); it is covered by the parser tests only.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { App } from '../../src/app.js';
import type { ActionContext, PlannedCommand } from '../../src/actions/types.js';
import { ConnectionPool } from '../../src/actions/redis/connection.js';
import { bgsave } from '../../src/actions/redis/bgsave.js';
import { persistenceDir } from '../../src/actions/redis/persistence-dir.js';
import { persistenceView } from '../../src/actions/redis/persistence-view.js';
import { undocumentedFields } from '../../src/engine/runbook/action-docs.js';
import type { TimelineEntry } from '../../src/engine/types.js';
import { FINAL_STATES } from '../../src/engine/types.js';
import { post, RUNBOOKS_DIR, startTestApp, webhookBody } from '../helpers/app.js';
import { closedTimeline, waitIncidentFor, waitState } from '../helpers/incidents.js';
import { startRedis, waitFor, type RedisProcess } from '../helpers/redis-server.js';

const TOKEN = 'tok';
let store: RedisProcess;
let gone: RedisProcess; // its dir is removed
let blocked: RedisProcess; // dump.rdb is a directory
let locked: RedisProcess; // dir removed, enable-protected-configs no
let aofNode: RedisProcess; // AOF on; the rewrite's rename target blocked
let app: App;
let runbooksDir = '';
let work = '';
let goneDir = '';
let lockedDir = '';
let fallbackDir = '';

const addr = (r: RedisProcess): string => `${r.host}:${r.port}`;
const notes = (tl: TimelineEntry[]): string[] => tl.filter((e) => e.kind === 'note').map((e) => e.summary);

async function persistence(r: RedisProcess): Promise<Record<string, string>> {
  const text = String(await r.client().call('INFO', 'persistence'));
  return Object.fromEntries(text.split('\r\n').filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]));
}

async function cmdCalls(r: RedisProcess, cmd: string): Promise<number> {
  const text = String(await r.client().call('INFO', 'commandstats'));
  return Number(new RegExp(`cmdstat_${cmd.replace('|', '\\|')}:calls=(\\d+)`).exec(text)?.[1] ?? 0);
}

async function fill(r: RedisProcess, n: number, from = 0): Promise<void> {
  const p = r.client().pipeline();
  for (let i = from; i < n; i++) p.set(`order:${i}`, `v${i}`);
  await p.exec();
}

/** Start the failing save: BGSAVE, wait for the error, then a write that MISCONF refuses. */
async function failSave(r: RedisProcess): Promise<void> {
  await r.client().call('BGSAVE');
  await waitFor(async () => (await persistence(r))['rdb_last_bgsave_status'] === 'err' && (await persistence(r))['rdb_bgsave_in_progress'] === '0', 10_000, 'bgsave error');
  await expect(r.client().set('order:new', 'x')).rejects.toThrow(/^MISCONF Redis is configured to save RDB snapshots/);
}

async function alert(r: RedisProcess, fp: string, extra: Record<string, string> = {}): Promise<string> {
  const body = webhookBody([{ labels: { alertname: 'RedisPersistenceFailing', instance: addr(r), severity: 'critical', failed: 'rdb_bgsave', ...extra }, fingerprint: fp }]);
  expect((await post(`${app.http?.url ?? ''}/webhooks/alertmanager`, body, TOKEN)).status).toBe(202);
  return waitIncidentFor(app, fp);
}

const base = ['--save', '3600 1', '--stop-writes-on-bgsave-error', 'yes', '--enable-protected-configs', 'local'];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rr-persist-'));
  goneDir = join(work, 'data');
  fallbackDir = join(work, 'fallback');
  lockedDir = join(work, 'locked');
  mkdirSync(goneDir);
  mkdirSync(lockedDir);
  mkdirSync(fallbackDir);
  store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  gone = await startRedis({ configFile: true, args: [...base, '--dir', goneDir] });
  blocked = await startRedis({ configFile: true, args: base });
  locked = await startRedis({ configFile: true, args: [...base, '--dir', lockedDir, '--enable-protected-configs', 'no'] });
  aofNode = await startRedis({ configFile: true, args: ['--appendonly', 'yes'] });
  runbooksDir = await mkdtemp(join(tmpdir(), 'rr-persist-rb-'));
  await copyFile(join(RUNBOOKS_DIR, 'redis-persistence-failing.yaml'), join(runbooksDir, 'redis-persistence-failing.yaml'));
  const t = (p: RedisProcess) => ({ endpoints: [addr(p)], role: 'store' as const });
  app = await startTestApp({ storeUrl: store.url, runbooksDir, token: TOKEN, targets: { orders: t(gone), ledger: t(blocked), billing: t(locked), events: t(aofNode) } });
}, 60_000);

afterAll(async () => {
  await app?.close().catch(() => undefined);
  for (const s of [gone, blocked, locked, aofNode, store]) await s?.stop();
  for (const d of [runbooksDir, work]) if (d) await rm(d, { recursive: true, force: true });
});

describe('redis-persistence-failing', () => {
  it('dir removed under the server: names it, the status, the age and MISCONF; offers the fallback dir (never the two settings that hide data loss); nothing changes before approval; after it a fresh save, writes accepted, no key lost', async () => {
    await fill(gone, 2000);
    await gone.client().call('BGSAVE');
    await waitFor(async () => (await persistence(gone))['rdb_bgsave_in_progress'] === '0' && (await persistence(gone))['rdb_last_bgsave_status'] === 'ok', 10_000, 'first save');
    await fill(gone, 3000, 2000); // 1000 more keys, not on disk
    const lastGood = Number((await persistence(gone))['rdb_last_save_time']);
    rmSync(goneDir, { recursive: true, force: true });
    await failSave(gone);
    const keysBefore = await gone.client().dbsize();
    expect(keysBefore).toBe(3000);

    const id = await alert(gone, 'feed000000000001', { redis_fallback_dir: fallbackDir });
    const waiting = await waitState(app, id, ['awaiting_approval'], 30_000);
    const p = waiting.pendingApproval;
    // a retry alone cannot succeed while the server sits in the removed directory: only the move
    expect(p?.options).toBeUndefined();
    expect(p?.remediation).toBe('move-dir');
    const move = p;
    expect(move?.commands.map((c) => `${c.node} ${c.argv.join(' ')}`)).toEqual([`${addr(gone)} CONFIG SET dir ${fallbackDir}`, `${addr(gone)} CONFIG REWRITE`, `${addr(gone)} BGSAVE`]);
    expect(move?.commands[0]?.note).toBe(`snapshots go to ${fallbackDir}/dump.rdb instead of a removed directory (CONFIG GET dir is empty)`);
    // never the settings that accept writes by hiding that nothing reaches the disk
    for (const c of p?.commands ?? []) {
      expect(c.argv.map((a) => a.toLowerCase())).not.toContain('stop-writes-on-bgsave-error');
      expect(c.argv.slice(0, 3).map((a) => a.toLowerCase())).not.toEqual(['config', 'set', 'save']);
    }

    const tl = (await app.engine.getTimeline(id)) ?? [];
    expect(tl.find((e) => e.kind === 'proposal')?.summary).toContain(`cost: snapshots go to ${fallbackDir} from now on`);
    const summary = notes(tl).find((n) => n.startsWith('RDB snapshot failing'));
    expect(summary).toMatch(new RegExp(`^RDB snapshot failing on ${addr(gone)} \\(rdb_last_bgsave_status:err\\): dir <removed> \\(CONFIG GET dir is empty\\), dump\\.rdb; last good save \\d+ s ago, 1000 changes not on disk; writes refused with MISCONF \\(1 so far, \\+0 in 1 s\\)$`));
    expect(notes(tl)).toContain(`CONFIG GET dir answers an empty string on ${addr(gone)}: the server's working directory was removed (getcwd fails), so a save cannot create its temp file there — even once the path exists again`);
    expect(notes(tl).find((n) => n.startsWith('writes are refused with MISCONF'))).toMatch(/Not proposed: CONFIG SET stop-writes-on-bgsave-error no, or save "" — they would accept writes again by hiding that nothing reaches the disk \(1000 changes already not on disk\)/);
    expect(notes(tl).some((n) => n.includes(`${gone.dir}/redis.log`))).toBe(true);
    const findings = waiting.findings as { pers: { lastSaveTime: number; misconf: number; dirGone: boolean; dirSettable: boolean } };
    expect(findings.pers).toMatchObject({ lastSaveTime: lastGood, misconf: 1, dirGone: true, dirSettable: true });
    expect(undocumentedFields(findings.pers, persistenceView.output)).toEqual([]);

    // nothing mutated before approval: no CONFIG SET, and the only BGSAVEs are the test's two
    expect(await cmdCalls(gone, 'config|set')).toBe(0);
    expect(await cmdCalls(gone, 'config|rewrite')).toBe(0);
    expect(await cmdCalls(gone, 'bgsave')).toBe(2);

    const res = await post(`${app.http?.url ?? ''}/api/incidents/${id}/approve`, { by: 'alice' }, TOKEN);
    expect(res.status).toBe(200);
    const done = await waitState(app, id, [...FINAL_STATES], 60_000);
    expect(done.state, done.outcome).toBe('resolved');

    const after = await persistence(gone);
    expect(after['rdb_last_bgsave_status']).toBe('ok');
    expect(Number(after['rdb_last_save_time'])).toBeGreaterThan(lastGood);
    expect(existsSync(join(fallbackDir, 'dump.rdb'))).toBe(true);
    expect((await gone.client().config('GET', 'dir'))[1]).toBe(fallbackDir);
    expect(readFileSync(join(gone.dir, 'redis.conf'), 'utf8')).toContain(`dir "${fallbackDir}"`);
    expect((await gone.client().config('GET', 'stop-writes-on-bgsave-error'))[1]).toBe('yes');
    expect((await gone.client().config('GET', 'save'))[1]).toBe('3600 1');
    expect(await gone.client().dbsize()).toBe(keysBefore);
    expect(await gone.client().set('order:new', 'x')).toBe('OK'); // writes accepted
    const closed = await closedTimeline(app, id);
    const kinds = closed.map((e) => e.kind);
    expect(kinds).toContain('verification.passed');
    expect(closed.filter((e) => e.kind === 'command.executed').map((e) => e.summary).join('\n')).toMatch(/CONFIG SET dir[\s\S]*CONFIG REWRITE[\s\S]*BGSAVE/);
  }, 120_000);

  it('no fallback configured, rename target blocked (EISDIR): only the retry is offered and says so; once the cause is fixed on the host, the approved BGSAVE resolves it', async () => {
    await fill(blocked, 500);
    mkdirSync(join(blocked.dir, 'dump.rdb'));
    await failSave(blocked);
    const id = await alert(blocked, 'feed000000000002');
    const waiting = await waitState(app, id, ['awaiting_approval'], 30_000);
    expect(waiting.pendingApproval?.options).toBeUndefined();
    expect(waiting.pendingApproval?.remediation).toBe('retry-bgsave');
    expect(waiting.pendingApproval?.commands.map((c) => c.argv.join(' '))).toEqual(['BGSAVE']);
    const tl = (await app.engine.getTimeline(id)) ?? [];
    expect(notes(tl)).toContain('no fallback directory configured for ledger (runbook param fallbackDir, or an alert label redis_fallback_dir): only a retry of the save is offered, once the cause is fixed on the host');
    expect(notes(tl).find((n) => n.startsWith('RDB snapshot failing'))).toContain(`dir ${blocked.dir}, dump.rdb`);
    // the operator fixes the host, then approves
    rmSync(join(blocked.dir, 'dump.rdb'), { recursive: true });
    expect((await post(`${app.http?.url ?? ''}/api/incidents/${id}/approve`, { by: 'alice' }, TOKEN)).status).toBe(200);
    const done = await waitState(app, id, [...FINAL_STATES], 60_000);
    expect(done.state, done.outcome).toBe('resolved');
    expect((await persistence(blocked))['rdb_last_bgsave_status']).toBe('ok');
    expect(await blocked.client().dbsize()).toBe(500);
    expect(await blocked.client().set('order:new', 'x')).toBe('OK');
  }, 120_000);

  it('fallback configured and the dir still there (rename blocked): the move and the retry side by side; the approver fixes the host and chooses the retry (option 2): dir unchanged, fresh save', async () => {
    const dir = String((await blocked.client().config('GET', 'dir'))[1]);
    const before = Number((await persistence(blocked))['rdb_last_save_time']);
    rmSync(join(blocked.dir, 'dump.rdb'), { recursive: true, force: true });
    mkdirSync(join(blocked.dir, 'dump.rdb'));
    await failSave(blocked);
    const id = await alert(blocked, 'feed000000000005', { redis_fallback_dir: fallbackDir });
    const waiting = await waitState(app, id, ['awaiting_approval'], 30_000);
    const options = waiting.pendingApproval?.options ?? [];
    expect(options.map((o) => `${o.option} ${o.remediation}: ${o.commands.map((c) => c.argv.join(' ')).join(', ')}`)).toEqual([
      `1 move-dir: CONFIG SET dir ${fallbackDir}, CONFIG REWRITE, BGSAVE`,
      '2 retry-bgsave: BGSAVE',
    ]);
    expect(options[1]?.cost).toMatch(/^a fork of [\d.]+ (KiB|MiB) used memory \(copy-on-write while it writes\); fails again if the disk cause is still there$/);
    rmSync(join(blocked.dir, 'dump.rdb'), { recursive: true });
    expect((await post(`${app.http?.url ?? ''}/api/incidents/${id}/approve`, { by: 'alice', option: 2 }, TOKEN)).status).toBe(200);
    const done = await waitState(app, id, [...FINAL_STATES], 60_000);
    expect(done.state, done.outcome).toBe('resolved');
    expect((await blocked.client().config('GET', 'dir'))[1]).toBe(dir);
    expect(Number((await persistence(blocked))['rdb_last_save_time'])).toBeGreaterThan(before);
    expect(await cmdCalls(blocked, 'config|set')).toBe(0);
  }, 90_000);

  it('dir removed and dir a protected config for this engine (enable-protected-configs no), even after the path is back: no fix can work from here — escalated, saying why; nothing changed', async () => {
    await fill(locked, 100);
    rmSync(lockedDir, { recursive: true, force: true });
    await failSave(locked);
    mkdirSync(lockedDir); // the operator recreates the path: the server still sits in the removed one
    await locked.client().call('BGSAVE');
    await waitFor(async () => (await persistence(locked))['rdb_bgsave_in_progress'] === '0', 10_000, 'second save');
    expect((await persistence(locked))['rdb_last_bgsave_status']).toBe('err');
    const id = await alert(locked, 'feed000000000003', { redis_fallback_dir: fallbackDir });
    const done = await waitState(app, id, [...FINAL_STATES], 30_000);
    expect(done.state).toBe('escalated');
    expect(done.outcome).toMatch(new RegExp(`^the working directory of ${addr(locked)} was removed: no retry can succeed, and recreating the path is not enough \\(the server still points at the removed directory\\)\\. Needs CONFIG SET dir to an existing directory .* or a restart with a valid dir\\. enable-protected-configs no: dir can only change in the config file, with a restart\\. RDB snapshot failing`));
    const tl = await closedTimeline(app, id);
    expect(notes(tl)).toContain('dir cannot be moved at runtime by this engine: enable-protected-configs no: dir can only change in the config file, with a restart');
    expect(tl.some((e) => e.kind === 'proposal' || e.kind.startsWith('command.'))).toBe(false);
    expect(await cmdCalls(locked, 'config|set')).toBe(0);
    expect(await cmdCalls(locked, 'bgsave')).toBe(2); // the test's own
    expect((await persistence(locked))['rdb_last_bgsave_status']).toBe('err');
  }, 60_000);

  it('AOF rewrite failing (its rename target blocked): BGREWRITEAOF offered; after the host is fixed and it is approved, the rewrite succeeds and no key is lost', async () => {
    await fill(aofNode, 300);
    // 7.0 multi-part AOF: the rewrite renames its temp file to appendonlydir/appendonly.aof.2.base.rdb
    const target = join(aofNode.dir, 'appendonlydir', 'appendonly.aof.2.base.rdb');
    mkdirSync(target);
    await aofNode.client().call('BGREWRITEAOF');
    await waitFor(async () => (await persistence(aofNode))['aof_last_bgrewrite_status'] === 'err' && (await persistence(aofNode))['aof_rewrite_in_progress'] === '0', 10_000, 'rewrite error');
    expect(await aofNode.client().set('order:new', 'x')).toBe('OK'); // a failed rewrite does not refuse writes
    const id = await alert(aofNode, 'feed000000000004', { failed: 'aof_rewrite' });
    const waiting = await waitState(app, id, ['awaiting_approval'], 30_000);
    expect(waiting.pendingApproval?.remediation).toBe('retry-aof-rewrite');
    expect(waiting.pendingApproval?.commands.map((c) => c.argv.join(' '))).toEqual(['BGREWRITEAOF']);
    const tl = (await app.engine.getTimeline(id)) ?? [];
    expect(notes(tl).find((n) => n.startsWith('AOF rewrite failing'))).toMatch(new RegExp(`^AOF rewrite failing on ${addr(aofNode)} \\(aof_last_bgrewrite_status:err, 1 consecutive failures\\): dir ${aofNode.dir}, dump\\.rdb, AOF in appendonlydir; .*; writes accepted \\(MISCONF 0 so far, \\+0 in 1 s\\)$`));
    expect(notes(tl).some((n) => n.startsWith('writes are refused'))).toBe(false);
    rmSync(target, { recursive: true });
    expect((await post(`${app.http?.url ?? ''}/api/incidents/${id}/approve`, { by: 'alice' }, TOKEN)).status).toBe(200);
    const done = await waitState(app, id, [...FINAL_STATES], 60_000);
    expect(done.state, done.outcome).toBe('resolved');
    const after = await persistence(aofNode);
    expect(after['aof_last_bgrewrite_status']).toBe('ok');
    expect(after['aof_rewrites_consecutive_failures']).toBe('0');
    expect(await aofNode.client().dbsize()).toBe(301);
  }, 90_000);

  it('crash resume and refusals of the two mutating actions, on live servers: applied() reads the effect, plan() refuses a protected dir and AOF', async () => {
    const pool = new ConnectionPool();
    const ctxOf = (r: RedisProcess): ActionContext => {
      const n = { host: r.host, port: r.port };
      return {
        target: { name: 't', mode: 'standalone', role: 'store', endpoints: [n], sentinels: [], allowAutomatic: false, connect: async (x) => pool.get(x) },
        node: n,
        findings: {},
        params: {},
        dryRun: false,
        log: pino({ level: 'silent' }),
        signal: new AbortController().signal,
        now: () => Date.now(),
      };
    };
    const aof = await startRedis({ configFile: true, args: ['--appendonly', 'yes', '--enable-protected-configs', 'yes'] });
    try {
      // BGSAVE: not in place until rdb_last_save_time moves past `since`; a failed save never moves it
      const ctx = ctxOf(blocked);
      const since = Number((await persistence(blocked))['rdb_last_save_time']);
      const input = bgsave.input.parse({ kind: 'rdb', since });
      const cmd: PlannedCommand = { node: addr(blocked), argv: ['BGSAVE'] };
      expect(await bgsave.applied?.(cmd, input, ctx)).toBe(false);
      rmSync(join(blocked.dir, 'dump.rdb'), { force: true }); // the good snapshot of the test before
      mkdirSync(join(blocked.dir, 'dump.rdb'));
      await failSave(blocked);
      expect(await bgsave.applied?.(cmd, input, ctx)).toBe(false);
      rmSync(join(blocked.dir, 'dump.rdb'), { recursive: true });
      await new Promise((r) => setTimeout(r, 1100)); // rdb_last_save_time has a 1 s resolution
      const out = await bgsave.run(input, ctx, await bgsave.plan?.(input, ctx));
      expect(out.outcomes.map((o) => o.reply)).toEqual(['Background saving started']);
      expect(undocumentedFields(out, bgsave.output)).toEqual([]);
      await waitFor(async () => (await persistence(blocked))['rdb_bgsave_in_progress'] === '0', 10_000, 'save');
      expect(await bgsave.applied?.(cmd, input, ctx)).toBe(true);
      expect(await bgsave.applied?.(cmd, bgsave.input.parse({}), ctx)).toBeUndefined(); // no reference: cannot tell

      // CONFIG SET dir: in place when CONFIG GET dir shows exactly that path
      const dirCmd: PlannedCommand = { node: addr(gone), argv: ['CONFIG', 'SET', 'dir', fallbackDir] };
      expect(await persistenceDir.applied?.(dirCmd, { dir: fallbackDir }, ctxOf(gone))).toBe(true);
      expect(await persistenceDir.applied?.({ ...dirCmd, argv: ['CONFIG', 'SET', 'dir', `${fallbackDir}/other`] }, { dir: fallbackDir }, ctxOf(gone))).toBe(false);
      // already there: nothing planned
      expect(await persistenceDir.plan?.({ dir: `${fallbackDir}/` }, ctxOf(gone))).toEqual([]);
      expect(undocumentedFields(await persistenceDir.run({ dir: fallbackDir }, ctxOf(gone), []), persistenceDir.output)).toEqual([]);
      // refused at plan time
      await expect(persistenceDir.plan?.({ dir: fallbackDir }, ctxOf(locked))).rejects.toMatchObject({ code: 'refused_protected_config' });
      await expect(persistenceDir.plan?.({ dir: fallbackDir }, ctxOf(aof))).rejects.toMatchObject({ code: 'refused_aof_on' });
      // a node whose CONFIG is renamed away: the view still reads INFO, says what it cannot know
      const renamed = await startRedis({ args: ['--rename-command', 'CONFIG', '', '--rename-command', 'CLIENT', ''] });
      try {
        const v = await persistenceView.run(persistenceView.input.parse({ gapMs: 0 }), ctxOf(renamed));
        expect(v).toMatchObject({ configKnown: false, dirSettable: false, dirGone: false, rdbStatus: 'ok', cause: 'healthy', unavailable: ['CONFIG GET: unknown command (renamed or disabled)'] });
        expect(v.summary).toContain('dir unknown (CONFIG GET refused)');
        expect(v.hints[0]).toMatch(/^CONFIG GET is refused on 127\.0\.0\.1:\d+ \(renamed or denied\)/);
        expect(v.dirSettableWhy).toBe('CONFIG GET is refused for this engine: dir cannot be read or set');
        expect(undocumentedFields(v, persistenceView.output)).toEqual([]);
      } finally {
        await renamed.stop();
      }
      expect(() => persistenceDir.input.parse({ dir: 'relative/path' })).toThrow();
      expect(() => persistenceDir.input.parse({ dir: '/data/../etc' })).toThrow();
    } finally {
      await pool.closeAll();
      await aof.stop();
    }
  }, 60_000);
});
