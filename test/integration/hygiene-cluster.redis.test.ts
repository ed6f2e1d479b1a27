/**
 * Issue 10, hygiene check `cluster` on a real 6-node Cluster (3 primaries, 3 replicas): healthy →
 * nothing; a migration left half done → the open slot with both ends and the keys left on each
 * (15 on the source, 5 moved), not re-reported, cleared once the slot is fixed; a slot no node
 * serves → uncovered and cluster_state fail, cleared once assigned again; a replica killed →
 * it is reported unreachable and its primary as having no healthy replica.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScannedApp, testPrefix } from '../helpers/app.js';
import type { App } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import type { HygieneFinding } from '../../src/engine/hygiene/types.js';
import { fillSlot, openMigration, replicasOf, resetSlot, startTestCluster } from '../helpers/cluster.js';
import type { TestCluster } from '../helpers/cluster.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

let dir: string;
let store: RedisProcess;
let tc: TestCluster;
let app: App;

beforeAll(async () => {
  [store, tc] = await Promise.all([startRedis(), startTestCluster({ nodeTimeout: 2000 })]);
  dir = await mkdtemp(join(tmpdir(), 'rr-hyg-cl-'));
  await mkdir(join(dir, 'hygiene'));
  await writeFile(join(dir, 'hygiene', 't-cl.yaml'), 'apiVersion: redis-runbooks/v1\nkind: HygieneCheck\nname: t-cl\nschedule: "0 3 * * *"\ntargets: [cl]\ncheck: cluster\n');
  const prefix = testPrefix();
  const text = `store: { url: "${store.url}" }
runbooksDir: ${dir}
engine: { keyPrefix: ${prefix}, queuePrefix: "{${prefix}}", shutdownTimeout: 5s }
logLevel: silent
targets:
  cl:
    mode: cluster
    endpoints: [${tc.seeds.map((s) => `"${s}"`).join(', ')}]
    role: cache
`;
  app = await createScannedApp(parseConfig(text, '<test>', {}, { baseDir: process.cwd() }), { http: false, worker: false, schedules: false });
}, 90_000);

afterAll(async () => {
  await app?.close();
  await Promise.all([store?.stop(), tc?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const byKey = (fs: HygieneFinding[], key: string): HygieneFinding | undefined => fs.find((f) => f.key === key);

describe('hygiene: cluster open slots and coverage', () => {
  it('a healthy cluster yields nothing', async () => {
    const r = await app.hygiene.service.runCheck('t-cl', 'cl');
    expect(r.run.error).toBeUndefined();
    expect(r.open).toEqual([]);
  });

  it('a migration left half done: the open slot with both ends and the keys left on each; not re-reported; cleared once fixed', async () => {
    const { slot } = await fillSlot(tc, 'hyg', 20);
    const m = await openMigration(tc, slot, 5);
    const r = await app.hygiene.service.runCheck('t-cl', 'cl');
    const f = byKey(r.open, `open-slot:${slot}`);
    expect(f?.severity).toBe('warning');
    expect(f?.node).toBe(m.source.addr);
    expect(f?.summary).toBe(`slot ${slot} is open: MIGRATING on ${m.source.addr} → IMPORTING on ${m.destination.addr}; 15 keys left on the source, 5 on the destination (owner ${m.source.addr})`);
    expect(r.open).toHaveLength(1);
    const r2 = await app.hygiene.service.runCheck('t-cl', 'cl');
    expect(r2.opened).toHaveLength(0);
    expect(byKey(r2.persisting, `open-slot:${slot}`)?.runs).toBe(2);
    await resetSlot(tc, slot, m.source);
    const r3 = await app.hygiene.service.runCheck('t-cl', 'cl');
    expect(r3.cleared.map((x) => x.key)).toEqual([`open-slot:${slot}`]);
    expect(r3.open).toHaveLength(0);
  }, 60_000);

  it('a slot no node serves: uncovered (critical) and cluster_state fail on each node; cleared once it is assigned again', async () => {
    const slot = 16000;
    const owner = await tc.ownerOf(slot);
    // The owner first: a node that dropped the slot re-learns it from the owner's heartbeat while the
    // owner still claims it. Then until no node claims it (a heartbeat may still have been in flight).
    await owner.client().call('CLUSTER', 'DELSLOTS', String(slot));
    for (const n of tc.nodes) if (n !== owner) await n.client().call('CLUSTER', 'DELSLOTS', String(slot));
    const claims = async (): Promise<boolean[]> =>
      Promise.all(tc.nodes.map(async (n) => ((await n.client().call('CLUSTER', 'SLOTS')) as [number, number][]).some(([a, b]) => a <= slot && slot <= b)));
    for (let i = 0; i < 50 && (await claims()).some(Boolean); i++) {
      for (const n of tc.nodes) await n.client().call('CLUSTER', 'DELSLOTS', String(slot)).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
    const r = await app.hygiene.service.runCheck('t-cl', 'cl');
    const u = byKey(r.open, 'uncovered');
    expect(u?.severity).toBe('critical');
    expect(u?.summary).toBe(`1 slot is served by no node (${slot}): commands on their keys fail with CLUSTERDOWN`);
    expect(byKey(r.open, `state:${owner.addr}`)?.severity).toBe('critical');
    await owner.client().call('CLUSTER', 'ADDSLOTS', String(slot));
    await tc.waitOk();
    const r2 = await app.hygiene.service.runCheck('t-cl', 'cl');
    expect(r2.cleared.map((x) => x.key)).toContain('uncovered');
    expect(r2.open).toEqual([]);
  }, 60_000);

  it('a replica killed: reported unreachable, and its primary has no healthy replica', async () => {
    const primary = await tc.ownerOf(0);
    const [replica] = await replicasOf(tc, primary);
    if (!replica) throw new Error('a replica of the slot-0 primary expected');
    await replica.kill();
    const r = await app.hygiene.service.runCheck('t-cl', 'cl');
    expect(byKey(r.open, `unreachable:${replica.addr}`)?.severity).toBe('warning');
    const nr = byKey(r.open, `no-replica:${primary.addr}`);
    expect(nr?.severity).toBe('warning');
    expect(nr?.summary).toMatch(new RegExp(`^primary ${primary.addr} \\(\\d+ slots: 0-\\d+\\) has no healthy replica \\(${replica.addr} down or failed\\)`));
  }, 60_000);
});
