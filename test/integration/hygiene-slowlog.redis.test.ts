/**
 * Issue 10, hygiene check `slowlog` on a real redis-server: named clients plant KEYS calls,
 * unpaginated reads of a big hash and list (HGETALL, LRANGE 0 -1; a paged LRANGE is not reported)
 * and a slow DEBUG SLEEP; the check reports each with the client addresses and names, ranks the
 * command families by slow time with thresholds, never copies an argument (key names included),
 * counts only what came after the previous run's watermark (a finding with nothing new clears),
 * and never resets the slowlog. The engine's own connections are ignored.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import type { HygieneFinding } from '../../src/engine/hygiene/types.js';
import { startTestApp } from '../helpers/app.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

let dir: string;
let store: RedisProcess;
let target: RedisProcess;
let app: App;
let node: string;
const clients: Redis[] = [];

async function named(name: string): Promise<Redis> {
  const c = new Redis({ host: target.host, port: target.port, connectionName: name, maxRetriesPerRequest: 1 });
  clients.push(c);
  await c.ping();
  return c;
}

beforeAll(async () => {
  [store, target] = await Promise.all([startRedis(), startRedis({ args: ['--enable-debug-command', 'yes', '--slowlog-max-len', '1024'] })]);
  node = `${target.host}:${target.port}`;
  const c = target.client();
  const fields: string[] = [];
  for (let i = 0; i < 2000; i++) fields.push(`f${i}`, 'v');
  await c.hset('big:hash', ...fields);
  await c.rpush('big:list', ...Array.from({ length: 2000 }, (_, i) => `item-${i}`));
  await c.call('CONFIG', 'SET', 'slowlog-log-slower-than', '0');
  await c.call('SLOWLOG', 'RESET');
  dir = await mkdtemp(join(tmpdir(), 'rr-hyg-slow-'));
  await mkdir(join(dir, 'hygiene'));
  await writeFile(join(dir, 'hygiene', 't-slow.yaml'), 'apiVersion: redis-runbooks/v1\nkind: HygieneCheck\nname: t-slow\nschedule: "0 3 * * *"\ntargets: [t]\ncheck: slowlog\nparams: { warningTotalMs: 20, criticalTotalMs: 100000, top: 2 }\n');
  app = await startTestApp({ storeUrl: store.url, runbooksDir: dir, worker: false, http: false, targets: { t: { endpoints: [node], role: 'cache' } } });
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await app?.close();
  await Promise.all([store?.stop(), target?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const byKey = (fs: HygieneFinding[], key: string): HygieneFinding | undefined => fs.find((f) => f.key === key);

describe('hygiene: slowlog since the last run', () => {
  it('KEYS, unpaginated HGETALL / LRANGE 0 -1 and a slow family, with client names and addresses; no argument values', async () => {
    const report = await named('report-job');
    const cart = await named('cart-svc');
    const ops = await named('ops-shell');
    for (let i = 0; i < 3; i++) await report.keys('big:*');
    await cart.hgetall('big:hash');
    await cart.hgetall('big:hash');
    await cart.lrange('big:list', 0, -1);
    await cart.lrange('big:list', 0, 9);
    await ops.call('DEBUG', 'SLEEP', '0.05');
    const cartAddr = String(await cart.call('CLIENT', 'INFO')).match(/addr=(\S+)/)?.[1] ?? '';
    const r = await app.hygiene.service.runCheck('t-slow', 't');
    expect(r.run.error).toBeUndefined();
    const keys = byKey(r.open, `keys:${node}`);
    expect(keys?.severity).toBe('warning');
    expect(keys?.data['count']).toBe(3);
    expect(keys?.summary).toMatch(new RegExp(`^KEYS ran 3 times on ${node} in the last 3600 s \\(up to \\d+ µs; .*\\) from 127\\.0\\.0\\.1:\\d+ name=report-job ×3$`));
    const hg = byKey(r.open, `unpaginated:HGETALL:${node}`);
    expect(hg?.severity).toBe('warning');
    expect(hg?.data['count']).toBe(2);
    expect(hg?.summary).toContain(`from ${cartAddr} name=cart-svc ×2`);
    expect(hg?.summary).toContain('use HSCAN');
    const lr = byKey(r.open, `unpaginated:LRANGE:${node}`);
    expect(lr?.data['command']).toBe('LRANGE 0 -1');
    expect(lr?.data['count']).toBe(1); // the paged LRANGE 0 9 is not counted
    const dbg = byKey(r.open, `family:DEBUG SLEEP:${node}`);
    expect(dbg?.severity).toBe('warning');
    expect(Number(dbg?.data['totalUs'])).toBeGreaterThanOrEqual(50_000);
    expect(dbg?.summary).toMatch(new RegExp(`^DEBUG SLEEP logged 1 slow times on ${node} in the last 3600 s: \\d+ ms in total \\(\\d+% of the slow time\\), up to \\d+ ms; from 127\\.0\\.0\\.1:\\d+ name=ops-shell ×1$`));
    // top 2 families: DEBUG SLEEP (warning) and one info; the rest are not listed
    expect(r.open.filter((f) => f.key.startsWith('family:'))).toHaveLength(2);
    expect(r.open.filter((f) => f.key.startsWith('family:') && f.severity === 'info')).toHaveLength(1);
    const json = JSON.stringify(r.open);
    expect(json).not.toMatch(/big:|item-|f1999|0\.05/);
    expect(json).not.toContain('redis-runbooks');
    // read-only: the slowlog was not reset
    expect(Number(await target.client().call('SLOWLOG', 'LEN'))).toBeGreaterThan(8);
  });

  it('the next run counts only entries after the watermark: KEYS again persists (count 1), the unpaginated reads with nothing new clear', async () => {
    const report = await named('report-job-2');
    await report.keys('big:*');
    const r = await app.hygiene.service.runCheck('t-slow', 't');
    const keys = byKey(r.persisting, `keys:${node}`);
    expect(keys?.runs).toBe(2);
    expect(keys?.data['count']).toBe(1);
    expect(keys?.summary).toMatch(/^KEYS ran 1 times on .* since the last run \(\d{4}-\d\d-\d\dT.*name=report-job-2 ×1$/);
    expect(r.cleared.map((f) => f.key)).toEqual(expect.arrayContaining([`family:DEBUG SLEEP:${node}`, `unpaginated:HGETALL:${node}`, `unpaginated:LRANGE:${node}`]));
    expect(r.cleared.map((f) => f.key)).not.toContain(`keys:${node}`);
    const r3 = await app.hygiene.service.runCheck('t-slow', 't');
    expect(r3.cleared.map((f) => f.key)).toContain(`keys:${node}`);
    expect(r3.open.filter((f) => f.key.startsWith('keys:') || f.key.startsWith('unpaginated:'))).toHaveLength(0);
  });
});
