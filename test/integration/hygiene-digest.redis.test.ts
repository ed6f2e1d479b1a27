/**
 * Issue 10, the Slack hygiene digest (fake Slack Web API, real redis-server target): a run with a
 * new finding below the incident threshold posts one message to the target's channel naming it;
 * a run with nothing new posts nothing; a critical finding that opens an incident is not in the
 * digest; a cleared finding is posted as cleared. Without `slack`, nothing is posted.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScannedApp, testConfigText, testPrefix } from '../helpers/app.js';
import type { App } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import { startFakeSlack } from '../helpers/fake-slack.js';
import type { FakeSlack } from '../helpers/fake-slack.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

let dir: string;
let store: RedisProcess;
let target: RedisProcess;
let fake: FakeSlack;
let app: App;
let node: string;

const check = (name: string, type: string, extra = ''): string => `apiVersion: redis-runbooks/v1\nkind: HygieneCheck\nname: ${name}\nschedule: "0 3 * * *"\ntargets: [cache]\ncheck: ${type}\n${extra}`;

beforeAll(async () => {
  [store, target, fake] = await Promise.all([startRedis(), startRedis(), startFakeSlack()]);
  node = `${target.host}:${target.port}`;
  dir = await mkdtemp(join(tmpdir(), 'rr-hyg-dig-'));
  await mkdir(join(dir, 'hygiene'));
  await writeFile(join(dir, 'hygiene', 't-pol.yaml'), check('t-pol', 'eviction-policy'));
  await writeFile(join(dir, 'hygiene', 't-mm.yaml'), check('t-mm', 'maxmemory-unset', 'openIncident: { severity: critical, runbook: redis-memory-pressure }\n'));
  const prefix = testPrefix();
  const text = testConfigText({ prefix, storeUrl: store.url, runbooksDir: dir, targets: { cache: { endpoints: [node], role: 'cache' } } });
  const slack = `slack:\n  botToken: \${SLACK_BOT_TOKEN}\n  signingSecret: \${SLACK_SIGNING_SECRET}\n  defaultChannel: C0DEFAULT\n  channels: { cache: C0HYGIENE }\n  apiUrl: ${fake.apiUrl}\n`;
  const config = parseConfig(text + slack, '<test>', { SLACK_BOT_TOKEN: fake.token, SLACK_SIGNING_SECRET: 'digest-signing-secret' }, { baseDir: process.cwd() });
  app = await createScannedApp(config, { http: true, worker: false });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await Promise.all([store?.stop(), target?.stop(), fake?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const digests = (): FakeSlack['messages'] => fake.messages.filter((m) => m.metadata?.event_type === 'redis_runbooks_hygiene_digest');

describe('hygiene: the Slack digest', () => {
  it('a new warning posts one digest to the target channel; the same finding again posts nothing', async () => {
    const r = await app.hygiene.service.runCheck('t-pol', 'cache');
    expect(r.opened.map((f) => f.key)).toEqual([`policy:${node}`]);
    expect(digests()).toHaveLength(1);
    const m = digests()[0];
    expect(m?.channel).toBe('C0HYGIENE');
    expect(m?.text).toBe(`*Hygiene digest* · \`t-pol\` on *cache* · 1 new, 0 cleared (0 critical, 1 warning, 0 info open)\n*New*\n• [warning] ${node} (cache target) runs maxmemory-policy noeviction: at maxmemory writes fail with OOM instead of evicting`);
    expect(m?.metadata?.event_payload).toMatchObject({ check: 't-pol', target: 'cache', opened: 1, cleared: 0 });
    await app.hygiene.service.runCheck('t-pol', 'cache');
    expect(digests()).toHaveLength(1);
  });

  it('a critical finding that opens an incident is not in the digest', async () => {
    const r = await app.hygiene.service.runCheck('t-mm', 'cache');
    expect(r.opened.map((f) => f.severity)).toEqual(['critical']);
    expect(r.alerts).toBe(1);
    expect(digests()).toHaveLength(1);
  });

  it('a cleared finding is posted as cleared', async () => {
    await target.client().call('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru');
    const r = await app.hygiene.service.runCheck('t-pol', 'cache');
    expect(r.cleared.map((f) => f.key)).toEqual([`policy:${node}`]);
    expect(digests()).toHaveLength(2);
    expect(digests()[1]?.text).toBe(`*Hygiene digest* · \`t-pol\` on *cache* · 0 new, 1 cleared (0 critical, 0 warning, 0 info open)\n*Cleared*\n• ~[warning] ${node} (cache target) runs maxmemory-policy noeviction: at maxmemory writes fail with OOM instead of evicting~`);
  });
});
