/**
 * Issue 12, "Then prove it — Secrets scan" (self-contained: it does not rely on running last).
 * One representative end-to-end flow with distinctive secret values, all given through `${ENV}`:
 * the engine's ACL password on a TLS-only target, the HTTP bearer token, the Slack bot token and
 * signing secret, ACL user passwords, and two named target `secrets:` the plan uses as
 * `${secret:rotation-new}` (ACL SETUSER app >…) and the diagnostics use to authenticate. Also a
 * second target whose configured password is wrong (WRONGPASS everywhere), a signed `/redis
 * status`, and an approval by a signed Slack click.
 *
 * Captured: every pino line (trace level), every timeline entry, every HTTP answer (API, metrics,
 * postmortem, errors), every call to the fake Slack (and what it stored), and every key and value
 * of the engine's store (SCAN; strings, hashes, lists, sets, sorted sets, streams). Zero
 * occurrences of any secret; positive controls show the secrets were really used.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import type { App } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import { FINAL_STATES } from '../../src/engine/types.js';
import type { IncidentDetail, TimelineEntry } from '../../src/engine/types.js';
import { encodeButtonValue } from '../../src/triggers/slack/action-ids.js';
import { webhookBody } from '../helpers/app.js';
import { startFakeSlack } from '../helpers/fake-slack.js';
import type { FakeSlack } from '../helpers/fake-slack.js';
import { waitIncidentFor, waitState } from '../helpers/incidents.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';
import { blockActionBody, sendSigned, slashCommandBody } from '../helpers/slack-requests.js';
import { makePki, startTlsServer } from '../helpers/tls.js';
import type { TlsServer } from '../helpers/tls.js';

const tag = (p: string): string => `${p}-S3cr3tScan-${randomBytes(8).toString('hex')}`;
const S = {
  HTTP_TOKEN: tag('http'),
  TARGET_PW: tag('engine'),
  WRONG_PW: tag('wrong'),
  APP_OLD: tag('appold'),
  APP_NEW: tag('appnew'),
  ADMIN_PW: tag('admin'),
  BOT_TOKEN: `xoxb-${tag('bot')}`,
  SIGNING: tag('signing'),
};
const SECRETS = Object.values(S);

const RUNBOOK = `apiVersion: redis-runbooks/v1
kind: Runbook
name: secrets-scan-rotate
title: Add the new password of app (secrets scan)
match:
  - alertname: SecretsScanAuthFailures
diagnose:
  - id: auth
    action: redis.auth-check
    on: primary
    with: { user: app, secrets: [rotation-new, rotation-old] }
  - id: acl
    action: redis.acl-log
    on: primary
    with: { count: 20, intervalMs: 200 }
symptom:
  steps:
    - id: sym
      action: redis.auth-check
      on: primary
      with: { user: app, secrets: [rotation-new] }
  cleared: "'rotation-new' in sym.working"
decide:
  - when: exists(auth.error)
    escalate: "cannot check the credentials: {auth.error.code}"
  - when: not ('rotation-new' in auth.working)
    propose: add
    reason: "app does not accept rotation-new yet ({len(acl.authFailures)} failing groups in ACL LOG)"
remediations:
  add:
    title: Add rotation-new to app (two-password window)
    risk: write
    approval: { role: redis.dba-operator }
    steps:
      - action: redis.acl-add-password
        on: primary
        with: { user: app, secret: rotation-new }
    verify:
      steps:
        - id: after
          action: redis.auth-check
          on: primary
          with: { user: app, secrets: [rotation-new, rotation-old] }
      until: "'rotation-new' in after.working and 'rotation-old' in after.working"
      every: 1s
      within: 30s
    onFailure: escalate
`;

const dir = mkdtempSync(join(tmpdir(), 'rr-secrets-scan-'));
let ca = '';
let store: RedisProcess;
let tls: TlsServer;
let fake: FakeSlack;
let app: App;
let url = '';
const logLines: string[] = [];
const answers: string[] = [];
const slackAnswers: string[] = [];

const log = pino(
  { level: 'trace' },
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(chunk.toString('utf8'));
      cb();
    },
  }),
);

async function api(method: 'GET' | 'POST', path: string, body?: unknown, token = S.HTTP_TOKEN): Promise<{ status: number; text: string }> {
  const r = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) });
  const text = await r.text();
  answers.push(text);
  return { status: r.status, text };
}

/** AUTH as `user` with `password` on a fresh TLS connection: 'ok' or the error text. */
async function authAs(user: string, password: string): Promise<string> {
  const c = new Redis({ host: tls.host, port: tls.port, username: user, password, tls: { ca, servername: 'localhost' }, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false });
  c.on('error', () => undefined);
  try {
    await c.call('GET', 'app:1');
    return 'ok';
  } catch (e) {
    return (e as Error).message;
  } finally {
    c.disconnect();
  }
}

beforeAll(async () => {
  const pki = await makePki(dir);
  ca = readFileSync(pki.caFile, 'utf8');
  const cert = await pki.issue('server', { days: 60 });
  [store, tls, fake] = await Promise.all([
    startRedis({ args: ['--maxmemory-policy', 'noeviction'] }),
    startTlsServer({ dir: join(dir, 'tls'), cert, caFile: pki.caFile, adminPassword: S.ADMIN_PW, users: [`user rr-ops on >${S.TARGET_PW} ~* &* +@all`, `user app on >${S.APP_OLD} ~app:* +@read +@write -@dangerous`] }),
    startFakeSlack({ token: S.BOT_TOKEN }),
  ]);
  const runbooks = join(dir, 'runbooks');
  mkdirSync(runbooks);
  writeFileSync(join(runbooks, 'secrets-scan-rotate.yaml'), RUNBOOK);
  const prefix = `sc${randomBytes(3).toString('hex')}`;
  const target = (password: string, extra: string) => `
    endpoints: ["${tls.host}:${tls.port}"]
    role: store
    username: rr-ops
    password: "${password}"
    tls: { ca: "${pki.caFile}" }${extra}`;
  const text = `store: { url: "${store.url}" }
http: { host: 127.0.0.1, port: 0, token: "\${RR_HTTP_TOKEN}" }
runbooksDir: ${runbooks}
shippedRunbooks: false
engine: { keyPrefix: ${prefix}, queuePrefix: "{${prefix}}", workerConcurrency: 4 }
logLevel: trace
targets:
  sec:${target('${RR_TARGET_PW}', `
    labels: { redis_cluster: sec }
    secrets: { rotation-new: "\${RR_APP_NEW}", rotation-old: "\${RR_APP_OLD}" }`)}
  sec-wrong:${target('${RR_WRONG_PW}', '\n    labels: { redis_cluster: sec-wrong }')}
approvers:
  - { id: alice, roles: [redis.dba-operator] }
  - { id: slack:UAPPROVE, roles: [redis.dba-operator] }
slack:
  botToken: "\${SLACK_BOT_TOKEN}"
  signingSecret: "\${SLACK_SIGNING_SECRET}"
  defaultChannel: C0SCAN
  apiUrl: ${fake.apiUrl}
`;
  const env = { RR_HTTP_TOKEN: S.HTTP_TOKEN, RR_TARGET_PW: S.TARGET_PW, RR_WRONG_PW: S.WRONG_PW, RR_APP_NEW: S.APP_NEW, RR_APP_OLD: S.APP_OLD, SLACK_BOT_TOKEN: S.BOT_TOKEN, SLACK_SIGNING_SECRET: S.SIGNING };
  const config = parseConfig(text, join(dir, 'config.yaml'), env, { baseDir: dir });
  app = await createApp(config, { http: true, worker: true, log });
  url = app.http?.url ?? '';
}, 90_000);

afterAll(async () => {
  await app?.close().catch(() => undefined);
  await Promise.allSettled([tls?.stop(), store?.stop(), fake?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('secrets scan (issue 12)', () => {
  let id = '';

  it('the flow: an alert, diagnostics that authenticate with named secrets, a plan with ${secret:…}, approval by a signed Slack click, the rotation done', async () => {
    // a client already uses the new password: WRONGPASS in ACL LOG
    expect(await authAs('app', S.APP_NEW)).toMatch(/^WRONGPASS/);
    // wrong token: 401, says nothing about the token
    expect((await api('GET', '/api/incidents', undefined, `${S.HTTP_TOKEN}x`)).status).toBe(401);
    const fp = randomBytes(8).toString('hex');
    const res = await api('POST', '/webhooks/alertmanager', webhookBody([{ labels: { alertname: 'SecretsScanAuthFailures', instance: `${tls.host}:${tls.port}`, redis_cluster: 'sec', severity: 'warning' }, fingerprint: fp }]));
    expect(res.status, res.text).toBe(202);
    id = await waitIncidentFor(app, fp);
    const waiting = await waitState(app, id, ['awaiting_approval', ...FINAL_STATES], 30_000);
    expect(waiting.state, waiting.outcome).toBe('awaiting_approval');
    const detail = JSON.parse((await api('GET', `/api/incidents/${id}`)).text) as IncidentDetail;
    expect(JSON.stringify(detail.pendingApproval?.commands)).toContain('${secret:rotation-new}');

    // /redis status, signed with the signing secret
    const status = await sendSigned(url, S.SIGNING, slashCommandBody({ userId: 'UAPPROVE', text: 'status sec', channel: 'C0SCAN', responseUrl: fake.responseUrl() }));
    slackAnswers.push(status.text);
    expect(status.status).toBe(200);
    // approve with a signed click on the incident's button
    const key = detail.pendingApproval?.key ?? '';
    const click = await sendSigned(url, S.SIGNING, blockActionBody({ userId: 'UAPPROVE', actionId: 'rr_approve', value: encodeButtonValue({ incidentId: id, key }), channel: 'C0SCAN', messageTs: '1700000000.000100', responseUrl: fake.responseUrl() }));
    slackAnswers.push(click.text);
    expect(click.status).toBe(200);
    const done = await waitState(app, id, FINAL_STATES, 60_000);
    expect(done.state, done.outcome).toBe('resolved');
    // the secret was really used: both passwords of app work now
    expect(await authAs('app', S.APP_NEW)).toBe('ok');
    expect(await authAs('app', S.APP_OLD)).toBe('ok');
    const tl = JSON.parse((await api('GET', `/api/incidents/${id}/timeline`)).text) as { timeline: TimelineEntry[] };
    expect(tl.timeline.some((e) => e.kind === 'command.executed' && e.summary.includes('ACL SETUSER app >${secret:rotation-new}'))).toBe(true);
    expect(tl.timeline.some((e) => e.kind === 'approval.granted' && JSON.stringify(e.actor).includes('slack:UAPPROVE'))).toBe(true);
  });

  it('a target whose configured password is wrong: every step fails WRONGPASS, and says so without the password', async () => {
    const run = await api('POST', '/api/runs', { runbook: 'secrets-scan-rotate', target: 'sec-wrong', dryRun: true, by: 'alice' });
    expect(run.status, run.text).toBe(202);
    const wid = (JSON.parse(run.text) as { incidentId: string }).incidentId;
    const done = await waitState(app, wid, FINAL_STATES, 30_000);
    expect(done.state).toBe('escalated');
    expect(JSON.stringify(done.findings)).toMatch(/wrongpass/i);
  });

  it('no secret value anywhere: logs, timelines, API answers, Slack calls, the store', async () => {
    const list = (JSON.parse((await api('GET', '/api/incidents')).text) as { incidents: Array<{ id: string }> }).incidents;
    expect(list.length).toBeGreaterThanOrEqual(2);
    const timelines: string[] = [];
    for (const { id: i } of list) {
      await api('GET', `/api/incidents/${i}`);
      timelines.push((await api('GET', `/api/incidents/${i}/timeline`)).text);
      await api('GET', `/api/incidents/${i}/timeline.md`);
      timelines.push(JSON.stringify(await app.engine.getTimeline(i)));
    }
    await api('GET', '/metrics');
    await api('GET', '/healthz');
    await api('POST', '/api/incidents/nope/approve', { by: 'alice' });
    await api('POST', '/webhooks/alertmanager', '{"version":"4"');
    // let the notify jobs bring Slack up to date
    await new Promise((r) => setTimeout(r, 1500));
    expect(fake.calls.length).toBeGreaterThan(3);
    const slack = JSON.stringify({ calls: fake.calls, messages: fake.messages, responses: fake.responses, answers: slackAnswers });
    expect(slack).toContain('${secret:rotation-new}');
    await app.close();

    const db = new Redis(store.url);
    const stored: string[] = [];
    try {
      let cursor = '0';
      do {
        const [next, keys] = await db.scan(cursor, 'COUNT', 500);
        cursor = next;
        for (const k of keys) {
          const type = await db.type(k);
          const v = type === 'string' ? await db.get(k) : type === 'hash' ? await db.hgetall(k) : type === 'list' ? await db.lrange(k, 0, -1) : type === 'zset' ? await db.zrange(k, '0', '-1', 'WITHSCORES') : type === 'set' ? await db.smembers(k) : type === 'stream' ? await db.xrange(k, '-', '+') : `<${type}>`;
          stored.push(k, JSON.stringify(v));
        }
      } while (cursor !== '0');
    } finally {
      db.disconnect();
    }
    expect(stored.length).toBeGreaterThan(20);
    const texts = { logs: logLines.join(''), timelines: timelines.join('\n'), api: answers.join('\n'), slack, store: stored.join('\n') };
    // positive controls: each place was captured and holds what the flow produced
    expect(texts.logs).toContain('incident opened');
    expect(texts.logs).toContain('http request');
    expect(texts.timelines).toContain('${secret:rotation-new}');
    expect(texts.store).toContain('${secret:rotation-new}');
    expect(texts.api).toContain('ACL SETUSER app');
    const scan = (where: Record<string, string>): string[] => {
      const hits: string[] = [];
      for (const [w, t] of Object.entries(where)) {
        for (const [name, s] of Object.entries(S)) if (t.includes(s)) hits.push(`${w}: ${name} at …${t.slice(Math.max(0, t.indexOf(s) - 120), t.indexOf(s) + 40)}…`);
      }
      return hits;
    };
    // the scan finds a secret where there is one (negative control)
    expect(scan({ control: `AUTH rr-ops ${S.TARGET_PW}` })).toHaveLength(1);
    expect(scan(texts)).toEqual([]);
    process.stdout.write(`secrets-scan: ${SECRETS.length} secrets; scanned ${logLines.length} log lines, ${timelines.length} timelines, ${answers.length} API answers, ${fake.calls.length} Slack calls, ${stored.length / 2} store keys: 0 hits\n`);
  });
});
