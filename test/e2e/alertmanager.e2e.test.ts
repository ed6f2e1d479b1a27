/**
 * End to end with the real Alertmanager binary: alerts posted to its API are grouped and routed by
 * it to our webhook (with a bearer token), the incident opens, runs the memory runbook to its
 * approval gate; resolving the alert in Alertmanager cancels the pending approval.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { startAlertmanager } from '../helpers/alertmanager.js';
import type { AlertmanagerHandle } from '../helpers/alertmanager.js';
import { startTestApp } from '../helpers/app.js';
import { fillMemory, startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

let store: RedisProcess;
let target: RedisProcess;
let app: App;
let am: AlertmanagerHandle;
const TOKEN = 'am-e2e-token';

beforeAll(async () => {
  store = await startRedis();
  target = await startRedis({ args: ['--maxmemory', '16mb', '--maxmemory-policy', 'noeviction'] });
  await fillMemory(target.client(), { keys: 14_000, valueBytes: 1000, prefix: 'blob' });
  app = await startTestApp({ storeUrl: store.url, token: TOKEN, targets: { 'cache-prod': { endpoints: [`${target.host}:${target.port}`], role: 'store', labels: { redis_cluster: 'cache-prod' } } } });
  am = await startAlertmanager({ webhookUrl: `${app.http?.url ?? ''}/webhooks/alertmanager`, bearerToken: TOKEN, groupWait: '1s', groupInterval: '1s' });
});

afterAll(async () => {
  await am?.stop();
  await app?.close();
  await target?.stop();
  await store?.stop();
});

async function until<T>(f: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const stop = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > stop) throw new Error(`timed out waiting for ${what}\n${am.logs().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('Alertmanager routes a firing alert to the webhook, the incident opens, and its resolution cancels the approval', async () => {
  const labels = { alertname: 'RedisMemoryHigh', redis_cluster: 'cache-prod', instance: 'redis-exporter:9121', severity: 'warning' };
  const startsAt = new Date();
  await am.postAlerts([{ labels, annotations: { summary: 'memory above 85%' }, startsAt }]);
  const inc = await until(async () => (await app.engine.listIncidents({ open: true }))[0], 20_000, 'an incident');
  expect(inc.runbook).toBe('redis-memory-pressure');
  expect(inc.target).toBe('cache-prod');
  expect(inc.fingerprints[0]).toMatch(/^[0-9a-f]{16}$/);
  await until(async () => ((await app.engine.getIncident(inc.id))?.state === 'awaiting_approval' ? true : undefined), 20_000, 'the approval gate');

  await am.postAlerts([{ labels, annotations: { summary: 'memory above 85%' }, startsAt, endsAt: new Date(Date.now() - 1000) }]);
  const done = await until(async () => {
    const i = await app.engine.getIncident(inc.id);
    return i?.state === 'cancelled' ? i : undefined;
  }, 20_000, 'the cancellation');
  expect(done.outcome).toMatch(/resolved/);
  const kinds = ((await app.engine.getTimeline(inc.id)) ?? []).map((e) => e.kind);
  expect(kinds).toContain('alert.resolved');
  expect(kinds).toContain('approval.cancelled');
  expect(kinds).not.toContain('command.executed');
});
