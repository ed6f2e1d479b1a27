/**
 * Issue 10, hygiene checks: real redis-server targets with planted problems (keys without TTL in a
 * family, an ACL user without password, `default` nopass, maxmemory unset and noeviction on a
 * cache, allkeys-lru and AOF off on a store, a snapshot failing because its directory is gone,
 * dangerous commands callable), each finding and its severity, dedupe across runs, clearing after
 * the fix, an incident opened once through the alert path, GET /api/hygiene and the CLI report.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import type { HygieneFinding } from '../../src/engine/hygiene/types.js';
import { startTestApp, testConfigText, testPrefix } from '../helpers/app.js';
import { startRedis, waitFor } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

const BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'redis-runbooks.js');
const TOKEN = 'hygiene-token';

let store: RedisProcess;
let cache: RedisProcess;
let db: RedisProcess;
let app: App;
let dir: string;
let prefix: string;
let cacheNode: string;
let dbNode: string;

const check = (name: string, type: string, targets: string, extra = ''): string =>
  `apiVersion: redis-runbooks/v1\nkind: HygieneCheck\nname: ${name}\nschedule: "0 3 * * *"\ntargets: [${targets}]\ncheck: ${type}\n${extra}`;

beforeAll(async () => {
  [store, cache, db] = await Promise.all([startRedis(), startRedis(), startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru', '--appendonly', 'no', '--enable-protected-configs', 'yes'] })]);
  cacheNode = `${cache.host}:${cache.port}`;
  dbNode = `${db.host}:${db.port}`;
  // Plant: 1,500 session:* keys without TTL, 50 tmp:* keys with one; an ACL user without password.
  const c = cache.client();
  const p = c.pipeline();
  for (let i = 0; i < 1500; i++) p.set(`session:${i}`, 'x'.repeat(64));
  for (let i = 0; i < 50; i++) p.set(`tmp:${i}`, 'y', 'EX', 3600);
  await p.exec();
  await c.call('ACL', 'SETUSER', 'app', 'on', 'nopass', '~*', '+@all');
  await c.call('ACL', 'SETUSER', 'reader', 'on', '>reader-secret-1', '~*', '+@read');
  dir = await mkdtemp(join(tmpdir(), 'rr-hyg-'));
  await mkdir(join(dir, 'hygiene'));
  const files: Record<string, string> = {
    't-maxmemory.yaml': check('t-maxmemory', 'maxmemory-unset', 'cache', 'openIncident: { severity: critical, runbook: redis-memory-pressure }\n'),
    't-ttl.yaml': check('t-ttl', 'keys-without-ttl', 'cache', 'params: { warningKeys: 1000, criticalKeys: 100000, count: 200, maxBusy: 0.5 }\n'),
    't-policy.yaml': check('t-policy', 'eviction-policy', 'cache, db'),
    't-acl.yaml': check('t-acl', 'acl', 'cache'),
    't-danger.yaml': check('t-danger', 'dangerous-commands', 'cache'),
    't-persist.yaml': check('t-persist', 'persistence', 'db'),
    't-memory.yaml': check('t-memory', 'memory-headroom', 'db', 'params: { warning: 0.001, critical: 0.9, fullWithinHours: 8760 }\n'),
    't-frag.yaml': check('t-frag', 'fragmentation', 'cache', 'params: { warning: 1.2, critical: 1000, minUsedBytes: 0 }\n'),
  };
  for (const [f, text] of Object.entries(files)) await writeFile(join(dir, 'hygiene', f), text);
  prefix = testPrefix();
  app = await startTestApp({
    prefix,
    storeUrl: store.url,
    token: TOKEN,
    runbooksDir: dir,
    targets: { cache: { endpoints: [cacheNode], role: 'cache' }, db: { endpoints: [dbNode], role: 'store' } },
  });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await Promise.all([cache?.stop(), db?.stop(), store?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const byKey = (fs: HygieneFinding[], key: string): HygieneFinding | undefined => fs.find((f) => f.key === key);

describe('hygiene checks on planted problems', () => {
  it('keys without TTL per family: warning naming the family and its count; not re-reported on the next run; cleared after the fix', async () => {
    const r1 = await app.hygiene.service.runCheck('t-ttl', 'cache');
    const f = byKey(r1.open, 'family:session:*');
    expect(f?.severity).toBe('warning');
    expect(f?.data['noTtlKeys']).toBe(1500);
    expect(f?.summary).toContain(`family session:* on ${cacheNode}: 1500 of 1500 keys without TTL`);
    expect(byKey(r1.open, 'family:tmp:*')).toBeUndefined();
    expect(r1.opened.map((x) => x.key)).toContain('family:session:*');
    const r2 = await app.hygiene.service.runCheck('t-ttl', 'cache');
    expect(r2.opened).toHaveLength(0);
    expect(byKey(r2.persisting, 'family:session:*')?.runs).toBe(2);
    expect(byKey(r2.persisting, 'family:session:*')?.firstSeen).toBe(f?.firstSeen);
    const p = cache.client().pipeline();
    for (let i = 0; i < 1500; i++) p.expire(`session:${i}`, 3600);
    await p.exec();
    const r3 = await app.hygiene.service.runCheck('t-ttl', 'cache');
    expect(r3.open).toHaveLength(0);
    expect(r3.cleared.map((x) => x.key)).toEqual(['family:session:*']);
    expect(r3.cleared[0]?.clearedAt).toBeDefined();
    expect(r3.cleared[0]?.runs).toBe(2);
  });

  it('ACL: default nopass is critical, a user without password and +@all users are warnings; hashes never copied', async () => {
    const r = await app.hygiene.service.runCheck('t-acl', 'cache');
    expect(byKey(r.open, 'nopass:default')?.severity).toBe('critical');
    expect(byKey(r.open, 'nopass:app')?.severity).toBe('warning');
    expect(byKey(r.open, 'nopass:app')?.summary).toContain(`ACL user 'app' is enabled with nopass, allowed every command (+@all), on ${cacheNode}`);
    expect(byKey(r.open, 'all-commands:app')?.severity).toBe('warning');
    expect(byKey(r.open, 'nopass:reader')).toBeUndefined();
    expect(JSON.stringify(r.open)).not.toMatch(/reader-secret|#[0-9a-f]{64}/);
  });

  it('dangerous commands: FLUSHALL, CONFIG, KEYS callable (naming the users), DEBUG refused by enable-debug-command; a denied command is not reported', async () => {
    await cache.client().call('ACL', 'SETUSER', 'app', '-keys');
    const r = await app.hygiene.service.runCheck('t-danger', 'cache');
    const flush = byKey(r.open, 'command:FLUSHALL');
    expect(flush?.severity).toBe('warning');
    expect(flush?.data['users']).toEqual(['app', 'default']);
    expect(flush?.data['usersWithoutPassword']).toEqual(['app', 'default']);
    // KEYS is in @read: the `reader` account (password, +@read) may run it too.
    expect(byKey(r.open, 'command:KEYS')?.data['users']).toEqual(['default', 'reader']);
    expect(byKey(r.open, 'command:CONFIG')).toBeDefined();
    expect(byKey(r.open, 'command:DEBUG')).toBeUndefined();
    expect(byKey(r.open, 'command:FLUSHDB')?.summary).toContain(`FLUSHDB is neither renamed nor denied on ${cacheNode}`);
  });

  it('eviction policy vs role: noeviction on the cache is a warning, allkeys-lru on the store is critical', async () => {
    const rc = await app.hygiene.service.runCheck('t-policy', 'cache');
    expect(byKey(rc.open, `policy:${cacheNode}`)?.severity).toBe('warning');
    expect(byKey(rc.open, `policy:${cacheNode}`)?.summary).toContain('noeviction');
    const rs = await app.hygiene.service.runCheck('t-policy', 'db');
    expect(byKey(rs.open, `policy:${dbNode}`)?.severity).toBe('critical');
    expect(byKey(rs.open, `policy:${dbNode}`)?.data['policy']).toBe('allkeys-lru');
  });

  it('persistence: AOF off on a store is a warning; a snapshot failing because its directory is gone is critical, and clears after a good save', async () => {
    const c = db.client();
    const gone = join(dir, 'gone');
    await mkdir(gone);
    await c.call('CONFIG', 'SET', 'dir', gone);
    await rm(gone, { recursive: true });
    await c.set('k', 'v');
    await c.call('BGSAVE').catch(() => undefined);
    await waitFor(async () => /rdb_last_bgsave_status:err/.test(String(await c.info('persistence'))), 10_000, 'a failed BGSAVE');
    const r = await app.hygiene.service.runCheck('t-persist', 'db');
    expect(byKey(r.open, `aof-off:${dbNode}`)?.severity).toBe('warning');
    const rdb = byKey(r.open, `rdb:${dbNode}`);
    expect(rdb?.severity).toBe('critical');
    expect(rdb?.summary).toContain(`last RDB save failed on ${dbNode} (rdb_last_bgsave_status:err)`);
    await mkdir(gone);
    await c.call('CONFIG', 'SET', 'dir', gone);
    await c.call('BGSAVE');
    await waitFor(async () => /rdb_last_bgsave_status:ok/.test(String(await c.info('persistence'))), 10_000, 'a good BGSAVE');
    const r2 = await app.hygiene.service.runCheck('t-persist', 'db');
    expect(r2.cleared.map((f) => f.key)).toEqual([`rdb:${dbNode}`]);
    expect(byKey(r2.open, `aof-off:${dbNode}`)?.runs).toBe(2);
  });

  it('memory headroom: usage above the threshold, and growth between two runs projected to maxmemory', async () => {
    const r1 = await app.hygiene.service.runCheck('t-memory', 'db');
    const u = byKey(r1.open, `usage:${dbNode}`);
    expect(u?.severity).toBe('warning');
    expect(u?.summary).toMatch(new RegExp(`^${dbNode} uses .* of 64\\.0 MiB maxmemory`));
    expect(byKey(r1.open, `growth:${dbNode}`)).toBeUndefined();
    const p = db.client().pipeline();
    for (let i = 0; i < 200; i++) p.set(`blob:${i}`, 'z'.repeat(20_000));
    await p.exec();
    const r2 = await app.hygiene.service.runCheck('t-memory', 'db');
    const g = byKey(r2.open, `growth:${dbNode}`);
    expect(g?.severity).toBe('warning');
    expect(Number(g?.data['growthBytesPerHour'])).toBeGreaterThan(0);
    expect(g?.summary).toMatch(/grew .* since the last run .* maxmemory 64\.0 MiB reached in ~/);
  });

  it('fragmentation: reported exactly when the live ratio is above the threshold', async () => {
    const ratio = Number(/mem_fragmentation_ratio:([\d.]+)/.exec(String(await cache.client().info('memory')))?.[1]);
    const r = await app.hygiene.service.runCheck('t-frag', 'cache');
    const f = byKey(r.open, `frag:${cacheNode}`);
    if (ratio >= 1.2) expect(f?.severity).toBe('warning');
    else expect(f).toBeUndefined();
  });

  it('maxmemory unset on a cache is critical and opens one incident through the alert path (twice run, once opened); the fix clears it', async () => {
    const r1 = await app.hygiene.service.runCheck('t-maxmemory', 'cache');
    const f = byKey(r1.open, `unset:${cacheNode}`);
    expect(f?.severity).toBe('critical');
    expect(f?.summary).toContain(`maxmemory unset (0) on ${cacheNode}, a cache target`);
    expect(f?.alertFingerprint).toMatch(/^[0-9a-f]{16}$/);
    const mine = async (): Promise<string[]> => {
      const ids: string[] = [];
      for (const i of await app.engine.listIncidents({ limit: 50 })) {
        const d = await app.engine.getIncident(i.id);
        if (d?.labels['hygiene_check'] === 't-maxmemory') ids.push(i.id);
      }
      return ids;
    };
    await waitFor(async () => (await mine()).length === 1, 15_000, 'the hygiene incident');
    const r2 = await app.hygiene.service.runCheck('t-maxmemory', 'cache');
    expect(r2.opened).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 1000));
    const ids = await mine();
    expect(ids).toHaveLength(1);
    const inc = await app.engine.getIncident(ids[0] ?? '');
    expect(inc?.runbook).toBe('redis-memory-pressure');
    expect(inc?.labels['alertname']).toBe('RedisHygieneCheck');
    expect(inc?.labels['instance']).toBe(cacheNode);
    await cache.client().call('CONFIG', 'SET', 'maxmemory', '100mb');
    const r3 = await app.hygiene.service.runCheck('t-maxmemory', 'cache');
    expect(r3.cleared.map((x) => x.key)).toEqual([`unset:${cacheNode}`]);
    expect(r3.alerts).toBe(1);
  });
});

describe('the digest', () => {
  it('GET /api/hygiene is bearer-protected and lists open and cleared findings per target (JSON and md)', async () => {
    const url = `${app.http?.url ?? ''}/api/hygiene`;
    expect((await fetch(url)).status).toBe(401);
    const res = await fetch(`${url}?target=cache`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { targets: Array<{ target: string; open: HygieneFinding[]; cleared: HygieneFinding[]; runs: Array<{ check: string }> }> };
    expect(body.targets.map((t) => t.target)).toEqual(['cache']);
    const t = body.targets[0];
    expect(t?.open.map((f) => f.key)).toContain('nopass:default');
    expect(t?.open[0]?.severity).toBe('critical');
    expect(t?.cleared.map((f) => f.key)).toEqual(expect.arrayContaining(['family:session:*', `unset:${cacheNode}`]));
    expect(t?.runs.map((r) => r.check)).toEqual(expect.arrayContaining(['t-acl', 't-ttl', 't-maxmemory']));
    const md = await fetch(`${url}?format=md`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(md.headers.get('content-type')).toContain('text/markdown');
    const text = await md.text();
    expect(text).toContain('## db');
    expect(text).toContain(`| critical | t-policy | ${dbNode} (store target) runs maxmemory-policy allkeys-lru`);
    expect((await fetch(`${url}?target=nope`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
  });

  it('redis-runbooks hygiene report --format md prints the same digest', async () => {
    const cfg = join(db.dir, 'hygiene-config.yaml');
    await writeFile(cfg, testConfigText({ prefix, storeUrl: store.url, runbooksDir: dir, targets: { cache: { endpoints: [cacheNode], role: 'cache' }, db: { endpoints: [dbNode], role: 'store' } } }));
    const r = spawnSync(process.execPath, [BIN, 'hygiene', 'report', '--format', 'md', '--config', cfg], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, LOG_LEVEL: 'silent' } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('# Hygiene report');
    expect(r.stdout).toMatch(/## cache\n\n\d+ open \(\d+ critical/);
    expect(r.stdout).toContain(`ACL user 'app' is enabled with nopass`);
    expect(r.stdout).toContain('Cleared:');
    expect(r.stdout).toContain(`- t-ttl: family session:* on ${cacheNode}`);
  }, 70_000);
});
