/**
 * Issue 10, hygiene check `sentinel` on a real Sentinel set (a primary, a replica, three
 * Sentinels): healthy → nothing; one Sentinel stopped → a warning naming it (CKQUORUM still OK:
 * 2 of 3), not re-reported on the next run; a second one stopped → critical: no failover could be
 * authorised (1 of 3 answer, 2 needed).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScannedApp, testPrefix } from '../helpers/app.js';
import type { App } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import type { HygieneFinding } from '../../src/engine/hygiene/types.js';
import { startSentinelSet } from '../helpers/fleet.js';
import type { SentinelSet } from '../helpers/fleet.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

let dir: string;
let store: RedisProcess;
let set: SentinelSet;
let app: App;

beforeAll(async () => {
  [store, set] = await Promise.all([startRedis(), startSentinelSet({ replicas: 1 })]);
  dir = await mkdtemp(join(tmpdir(), 'rr-hyg-sent-'));
  await mkdir(join(dir, 'hygiene'));
  await writeFile(join(dir, 'hygiene', 't-sent.yaml'), 'apiVersion: redis-runbooks/v1\nkind: HygieneCheck\nname: t-sent\nschedule: "0 3 * * *"\ntargets: [sess]\ncheck: sentinel\n');
  const prefix = testPrefix();
  const q = (xs: Array<{ host: string; port: number }>): string => xs.map((x) => `"${x.host}:${x.port}"`).join(', ');
  const text = `store: { url: "${store.url}" }
runbooksDir: ${dir}
engine: { keyPrefix: ${prefix}, queuePrefix: "{${prefix}}", shutdownTimeout: 5s }
logLevel: silent
targets:
  sess:
    mode: sentinel
    endpoints: [${q([set.primary, ...set.replicas])}]
    sentinel: { masterName: ${set.masterName}, endpoints: [${q(set.sentinels)}] }
    role: store
`;
  app = await createScannedApp(parseConfig(text, '<test>', {}, { baseDir: process.cwd() }), { http: false, worker: false, schedules: false });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await Promise.all([store?.stop(), set?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function shutdownSentinel(s: { host: string; port: number }): Promise<void> {
  const c = new Redis({ host: s.host, port: s.port, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  c.on('error', () => undefined);
  await c.connect();
  await c.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
  c.disconnect();
  for (let i = 0; i < 50; i++) {
    const probe = new Redis({ host: s.host, port: s.port, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    probe.on('error', () => undefined);
    const up = await probe.connect().then(() => true, () => false);
    probe.disconnect();
    if (!up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sentinel ${s.port} still answers`);
}

const byKey = (fs: HygieneFinding[], key: string): HygieneFinding | undefined => fs.find((f) => f.key === key);

describe('hygiene: Sentinel CKQUORUM and counts', () => {
  it('a healthy set (3 Sentinels, 1 replica) yields nothing', async () => {
    const r = await app.hygiene.service.runCheck('t-sent', 'sess');
    expect(r.run.error).toBeUndefined();
    expect(r.open).toEqual([]);
  });

  it('one Sentinel stopped: a warning naming it (2 of 3 still authorise), not re-reported; a second stopped: no failover can be authorised (critical)', async () => {
    const [s0, s1] = set.sentinels;
    if (!s0 || !s1) throw new Error('three sentinels expected');
    const k0 = `${s0.host}:${s0.port}`;
    await shutdownSentinel(s0);
    const r = await app.hygiene.service.runCheck('t-sent', 'sess');
    const d = byKey(r.open, `sentinel-down:${k0}`);
    expect(d?.severity).toBe('warning');
    expect(d?.summary).toMatch(new RegExp(`^Sentinel ${k0} of ${set.masterName} does not answer \\(refused\\): 2 of 3 answer, 2 needed to authorise a failover$`));
    expect(byKey(r.open, `ckquorum:${set.masterName}`)).toBeUndefined();
    const r2 = await app.hygiene.service.runCheck('t-sent', 'sess');
    expect(r2.opened).toHaveLength(0);
    expect(byKey(r2.persisting, `sentinel-down:${k0}`)?.runs).toBe(2);
    await shutdownSentinel(s1);
    const r3 = await app.hygiene.service.runCheck('t-sent', 'sess');
    const q = byKey(r3.open, `ckquorum:${set.masterName}`);
    expect(q?.severity).toBe('critical');
    expect(q?.summary).toMatch(new RegExp(`^Sentinel cannot fail over ${set.masterName}: 1 of 3 Sentinels answer \\(2 needed to authorise, quorum 2\\)`));
    expect(q?.data['down']).toEqual(expect.arrayContaining([k0, `${s1.host}:${s1.port}`]));
    expect(byKey(r3.open, `sentinel-down:${s1.host}:${s1.port}`)?.severity).toBe('warning');
  });
});
