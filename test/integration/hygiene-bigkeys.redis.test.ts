/**
 * Issue 10, hygiene check `big-keys` on a real redis-server: a big hash (20,000 fields) is a
 * warning naming its key, size and bytes, values never copied; a list nobody trims (5,000 → 12,000
 * elements between two runs) is reported growing with its rate; small collections and a list that
 * stays the same are not; once the list is trimmed the growth finding clears.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

async function push(key: string, from: number, to: number): Promise<void> {
  const c = target.client();
  for (let i = from; i < to; i += 1000) await c.rpush(key, ...Array.from({ length: Math.min(1000, to - i) }, (_, j) => `job-payload-${i + j}`));
}

beforeAll(async () => {
  [store, target] = await Promise.all([startRedis(), startRedis()]);
  node = `${target.host}:${target.port}`;
  const c = target.client();
  const fields: string[] = [];
  for (let i = 0; i < 20_000; i++) fields.push(`field-${i}`, 'secret-value-xyz');
  await c.hset('profile:big', ...fields);
  await push('queue:jobs', 0, 5000);
  await push('queue:steady', 0, 3000);
  for (let i = 0; i < 200; i++) await c.sadd(`tags:${i}`, 'a', 'b', 'c');
  dir = await mkdtemp(join(tmpdir(), 'rr-hyg-big-'));
  await mkdir(join(dir, 'hygiene'));
  await writeFile(join(dir, 'hygiene', 't-big.yaml'), 'apiVersion: redis-runbooks/v1\nkind: HygieneCheck\nname: t-big\nschedule: "0 3 * * *"\ntargets: [t]\ncheck: big-keys\nparams: { warningBytes: 300000, criticalBytes: 100000000, growthElements: 2000, growthShare: 0.5, maxBusy: 0.8 }\n');
  app = await startTestApp({ storeUrl: store.url, runbooksDir: dir, worker: false, http: false, targets: { t: { endpoints: [node], role: 'cache' } } });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await Promise.all([store?.stop(), target?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const byKey = (fs: HygieneFinding[], key: string): HygieneFinding | undefined => fs.find((f) => f.key === key);

describe('hygiene: big keys and growing collections', () => {
  it('a big hash is a warning naming key, elements and bytes; no values copied; nothing grows on the first run', async () => {
    const r = await app.hygiene.service.runCheck('t-big', 't');
    expect(r.run.error).toBeUndefined();
    const f = byKey(r.open, 'big:profile:big');
    expect(f?.severity).toBe('warning');
    expect(f?.data['elements']).toBe(20_000);
    expect(Number(f?.data['bytes'])).toBeGreaterThan(300_000);
    expect(f?.summary).toMatch(new RegExp(`^hash profile:big on ${node}: 20000 elements, [\\d.]+ (KiB|MiB) \\(no TTL; warning from 293\\.0 KiB\\)$`));
    expect(r.open.map((x) => x.key)).toEqual(['big:profile:big']);
    expect(JSON.stringify(r.open)).not.toMatch(/secret-value|job-payload/);
  });

  it('a list nobody trims grows between runs (5,000 → 12,000): reported with its rate; the steady list is not; trimmed, it clears', async () => {
    await push('queue:jobs', 5000, 12_000);
    await push('queue:steady', 3000, 3500); // +500: below growthElements
    const r = await app.hygiene.service.runCheck('t-big', 't');
    const g = byKey(r.open, 'growing:queue:jobs');
    expect(g?.severity).toBe('warning');
    expect(g?.data['before']).toBe(5000);
    expect(g?.data['after']).toBe(12_000);
    expect(g?.summary).toMatch(new RegExp(`^list queue:jobs on ${node} grew from 5000 to 12000 elements \\(\\+7000, .* → .*\\) since the last run \\(.*\\), ~\\d+ elements/h; no TTL: is anything trimming it\\?$`));
    expect(byKey(r.open, 'growing:queue:steady')).toBeUndefined();
    expect(byKey(r.persisting, 'big:profile:big')?.runs).toBe(2);
    await target.client().ltrim('queue:jobs', -1000, -1);
    const r2 = await app.hygiene.service.runCheck('t-big', 't');
    expect(r2.cleared.map((x) => x.key)).toEqual(['growing:queue:jobs']);
  });
});
