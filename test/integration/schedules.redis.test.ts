/** Scheduled hygiene runs: BullMQ job schedulers upserted at start, firing real (dry) runs. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { syncSchedules } from '../../src/engine/schedules.js';
import { startTestApp } from '../helpers/app.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

let store: RedisProcess;
let target: RedisProcess;
let app: App;

beforeAll(async () => {
  store = await startRedis();
  target = await startRedis({ args: ['--maxmemory', '64mb'] });
  app = await startTestApp({
    storeUrl: store.url,
    http: false,
    schedules: true,
    targets: { 'cache-prod': { endpoints: [`${target.host}:${target.port}`], role: 'cache' } },
    extraYaml: 'schedules:\n  - { name: nightly-memory, runbook: redis-memory-pressure, target: cache-prod, cron: "*/2 * * * * *" }\n',
  });
});

afterAll(async () => {
  await app?.close();
  await target?.stop();
  await store?.stop();
});

it('a configured schedule opens dry-run incidents on its cron, and is removed when unconfigured', async () => {
  const stop = Date.now() + 15_000;
  let found: string | undefined;
  while (!found && Date.now() < stop) {
    for (const i of await app.engine.listIncidents({ limit: 20 })) {
      const tl = (await app.engine.getTimeline(i.id)) ?? [];
      if (i.dryRun && tl.some((e) => e.summary.includes('schedule:nightly-memory'))) found = i.id;
    }
    if (!found) await new Promise((r) => setTimeout(r, 200));
  }
  expect(found).toBeDefined();
  const schedulers = await app.queue.getJobSchedulers();
  expect(schedulers.map((s) => s.key)).toContain('sched-nightly-memory');
  await syncSchedules(app.queue, [], app.engine.names());
  expect((await app.queue.getJobSchedulers()).map((s) => s.key)).not.toContain('sched-nightly-memory');
  await expect(syncSchedules(app.queue, [{ name: 'x', runbook: 'nope', target: 'cache-prod', cron: '* * * * *', dryRun: true }], app.engine.names())).rejects.toThrow(/unknown runbook 'nope'/);
});
