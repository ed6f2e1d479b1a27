/**
 * Issue 9, end to end through the real program (webhook, BullMQ worker, HTTP API, fake Slack):
 * `redis-auth-tls-errors` on TLS-only redis-servers with a test PKI. A client keeps authenticating
 * with the rotated password: the alert opens an incident that proposes the two-password window,
 * approved over HTTP; both passwords then work and the failures stop; a later run closes the window
 * (only the new password works). A renewed certificate on disk is reloaded without a restart (same
 * run_id, new notAfter on a fresh handshake). A client without AUTH is reported by address with no
 * server change. Finally the distinctive secret values are searched for in every log line, timeline,
 * API answer and Slack call: none is there.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScannedApp, post, testConfigText, testPrefix, webhookBody } from '../helpers/app.js';
import type { App } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import { FINAL_STATES } from '../../src/engine/types.js';
import type { TimelineEntry } from '../../src/engine/types.js';
import { startFakeSlack } from '../helpers/fake-slack.js';
import type { FakeSlack } from '../helpers/fake-slack.js';
import { closedTimeline, waitIncidentFor, waitState } from '../helpers/incidents.js';
import { waitFor } from '../helpers/redis-server.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';
import { makePki, startTlsServer } from '../helpers/tls.js';
import type { TlsServer } from '../helpers/tls.js';

const TOKEN = `tok-${randomBytes(6).toString('hex')}`;
const ENGINE_PW = `Eng-${randomBytes(9).toString('hex')}`;
const APP_OLD = `Old-${randomBytes(9).toString('hex')}`;
const APP_NEW = `New-${randomBytes(9).toString('hex')}`;
const ADMIN_PW = `Adm-${randomBytes(9).toString('hex')}`;
const BILL_OLD = `BOld-${randomBytes(9).toString('hex')}`;
const BILL_NEW = `BNew-${randomBytes(9).toString('hex')}`;
const SECRETS = [ENGINE_PW, APP_OLD, APP_NEW, ADMIN_PW, BILL_OLD, BILL_NEW];

let dir: string;
let ca: string;
let store: RedisProcess;
let rot: TlsServer;
let certSrv: TlsServer;
let fake: FakeSlack;
let app: App;
let url: string;
const renewed = { certFile: '', keyFile: '' };
const expired = { certFile: '', keyFile: '' };
const logLines: string[] = [];
/** Every answer the HTTP API gave, to scan. */
const answers: string[] = [];

const log = pino(
  { level: 'trace' },
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(chunk.toString('utf8'));
      cb();
    },
  }),
);

async function api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; text: string }> {
  const r = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await r.text();
  answers.push(text);
  return { status: r.status, text };
}

async function timeline(id: string): Promise<TimelineEntry[]> {
  return (JSON.parse((await api('GET', `/api/incidents/${id}/timeline`)).text) as { timeline: TimelineEntry[] }).timeline;
}

/** Connects as `user` (default `app`) with `password` and runs one GET: 'ok' or the error text. */
async function appConnects(s: TlsServer, password: string, user = 'app'): Promise<string> {
  const c = new Redis({ host: s.host, port: s.port, username: user, password, tls: { ca, servername: 'localhost' }, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false });
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

async function runId(s: TlsServer): Promise<string> {
  return /run_id:(\w+)/.exec(String(await s.client().call('INFO', 'server')))?.[1] ?? '';
}

async function waitAwaiting(id: string): Promise<void> {
  await waitState(app, id, ['awaiting_approval', ...FINAL_STATES], 30_000);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rr-authtls-rb-'));
  const pki = await makePki(dir);
  ca = await readFile(pki.caFile, 'utf8');
  const good = await pki.issue('good', { days: 60 });
  const soon = await pki.issue('soon', { days: 3 });
  Object.assign(renewed, await pki.issue('renewed', { days: 90 }));
  Object.assign(expired, await pki.issue('expired', { notBefore: '20200101000000Z', notAfter: '20200201000000Z' }));
  const served = { certFile: join(dir, 'served.crt'), keyFile: join(dir, 'served.key') };
  await copyFile(soon.certFile, served.certFile);
  await copyFile(soon.keyFile, served.keyFile);
  const users = [`user rr-ops on >${ENGINE_PW} ~* &* +@all`, `user app on >${APP_OLD} ~app:* +@read +@write -@dangerous`, `user billing on >${BILL_OLD} ~app:* +@read`];
  [store, rot, certSrv, fake] = await Promise.all([
    startRedis({ args: ['--maxmemory-policy', 'noeviction'] }),
    startTlsServer({ dir: join(dir, 'rot'), cert: good, caFile: pki.caFile, adminPassword: ADMIN_PW, users }),
    startTlsServer({ dir: join(dir, 'cert'), cert: served, caFile: pki.caFile, adminPassword: ADMIN_PW, users }),
    startFakeSlack(),
  ]);
  // The shipped runbook, with a short quiet period before the old password may be removed.
  const runbooks = join(dir, 'runbooks');
  await mkdir(runbooks);
  const shipped = await readFile(resolve(import.meta.dirname, '..', '..', 'runbooks', 'redis-auth-tls-errors.yaml'), 'utf8');
  await writeFile(join(runbooks, 'redis-auth-tls-errors.yaml'), shipped.replace(/quietFor: 10m/, 'quietFor: 2s').replace(/every: 30s/, 'every: 1s'));
  const target = (s: TlsServer, cluster: string) => ({ endpoints: [`${s.host}:${s.port}`], role: 'store' as const, username: 'rr-ops', password: '${RR_ENGINE_PW}', tls: { ca: pki.caFile }, labels: { redis_cluster: cluster } });
  const text = testConfigText({ storeUrl: store.url, prefix: testPrefix(), token: TOKEN, runbooksDir: runbooks, targets: { 'auth-rot': target(rot, 'rot'), 'auth-rot2': target(rot, 'rot2'), 'auth-cert': target(certSrv, 'cert') } })
    .replace(/(\n {2}auth-rot:[\s\S]*?\n {4}tls: .*)/, '$1\n    secrets: { rotation-new: "${RR_APP_NEW}", rotation-old: "${RR_APP_OLD}" }')
    .replace(/(\n {2}auth-rot2:[\s\S]*?\n {4}tls: .*)/, '$1\n    secrets: { rotation-new: "${RR_BILL_NEW}", rotation-old: "${RR_BILL_OLD}" }');
  const slack = `
slack:
  botToken: \${SLACK_BOT_TOKEN}
  signingSecret: \${SLACK_SIGNING_SECRET}
  defaultChannel: C0AUTHTLS
  apiUrl: ${fake.apiUrl}
`;
  const env = { RR_ENGINE_PW: ENGINE_PW, RR_APP_NEW: APP_NEW, RR_APP_OLD: APP_OLD, RR_BILL_NEW: BILL_NEW, RR_BILL_OLD: BILL_OLD, SLACK_BOT_TOKEN: fake.token, SLACK_SIGNING_SECRET: `sig-${randomBytes(8).toString('hex')}` };
  const config = parseConfig(text + slack, '<auth-tls-test>', env, { baseDir: process.cwd() });
  expect(config.targets['auth-rot']?.secrets).toEqual({ 'rotation-new': APP_NEW, 'rotation-old': APP_OLD });
  expect(config.targets['auth-rot2']?.secrets).toEqual({ 'rotation-new': BILL_NEW, 'rotation-old': BILL_OLD });
  app = await createScannedApp(config, { http: true, worker: true, log });
  url = app.http?.url ?? '';
}, 60_000);

afterAll(async () => {
  await app?.close().catch(() => undefined);
  await Promise.allSettled([rot?.stop(), certSrv?.stop(), store?.stop(), fake?.close()]);
  await rm(dir, { recursive: true, force: true });
});

describe('redis-auth-tls-errors', () => {
  let rotationId = '';

  it('a client keeps using the rotated password: the rotation is offered (two phases, or the window only); the window is approved over HTTP, both passwords work and the failures stop', async () => {
    // an app instance already moved to the new password; the server only knows the old one
    let stop = false;
    const results: string[] = [];
    const loop = (async () => {
      while (!stop) {
        results.push(await appConnects(rot, APP_NEW));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 500));
      expect(results.some((r) => r.startsWith('WRONGPASS'))).toBe(true);
      const fp = randomBytes(8).toString('hex');
      const res = await post(`${url}/webhooks/alertmanager`, webhookBody([{ labels: { alertname: 'RedisAuthFailures', instance: `${rot.host}:${rot.port}`, severity: 'warning', err: 'WRONGPASS', redis_cluster: 'rot' }, fingerprint: fp }]), TOKEN);
      expect(res.status).toBe(202);
      rotationId = await waitIncidentFor(app, fp);
      await waitAwaiting(rotationId);
      const inc = await app.engine.getIncident(rotationId);
      expect(inc?.state).toBe('awaiting_approval');
      const tl = await timeline(rotationId);
      const proposals = tl.filter((e) => e.kind === 'proposal').map((e) => e.summary);
      expect(proposals).toHaveLength(2);
      // option 1: both phases, the wait between them in words; option 2: the window only
      expect(proposals[0]).toMatch(/^option \(1\) Rotate the password in two phases/);
      expect(proposals[0]).toContain(`${rot.host}:${rot.port}: ACL SETUSER app >\${secret:rotation-new}`);
      expect(proposals[0]).toMatch(/then wait until .*authWindow.*, then; .*ACL SETUSER app <\$\{secret:rotation-old\}/);
      expect(proposals[1]).toMatch(/^option \(2\) Open a two-password window/);
      expect(proposals[1]).toContain(`${rot.host}:${rot.port}: ACL SETUSER app >\${secret:rotation-new}`);
      const notes = tl.map((e) => e.summary).join('\n');
      expect(notes).toMatch(/failed authentications in ACL LOG: \d+ — users \["app"\] from \["127\.0\.0\.1:\d+"/);
      // the findings name the user, the address and the count
      const acl = (inc?.findings as { acl: { authFailures: Array<{ username: string; ip: string; count: number }> } }).acl;
      expect(acl.authFailures[0]).toMatchObject({ username: 'app', ip: '127.0.0.1' });
      expect(acl.authFailures[0]!.count).toBeGreaterThanOrEqual(3);

      const before = results.length;
      expect((await api('POST', `/api/incidents/${rotationId}/approve`, { by: 'alice', option: 2 })).status).toBe(200);
      const done = await waitState(app, rotationId, FINAL_STATES, 60_000);
      expect(done.state).toBe('resolved');
      // the looping client got in after the change; both passwords work
      expect(results.slice(before).some((r) => r === 'ok')).toBe(true);
      expect(results.at(-1)).toBe('ok');
      expect(await appConnects(rot, APP_OLD)).toBe('ok');
      expect(await appConnects(rot, APP_NEW)).toBe('ok');
      const closed = await closedTimeline(app, rotationId);
      expect(closed.some((e) => e.kind === 'command.executed' && /ACL SETUSER app >\$\{secret:rotation-new\} → OK/.test(e.summary))).toBe(true);
      expect(closed.some((e) => e.kind === 'verification.passed')).toBe(true);
    } finally {
      stop = true;
      await loop;
    }
  });

  it('a later run closes the window once nobody failed for the quiet period: only the new password works', async () => {
    await new Promise((r) => setTimeout(r, 2500));
    const run = await api('POST', '/api/runs', { runbook: 'redis-auth-tls-errors', target: 'auth-rot', by: 'alice' });
    expect(run.status).toBe(202);
    const id = (JSON.parse(run.text) as { incidentId: string }).incidentId;
    await waitAwaiting(id);
    const tl = await timeline(id);
    expect(tl.find((e) => e.kind === 'proposal')?.summary).toContain('ACL SETUSER app <${secret:rotation-old}');
    expect((await api('POST', `/api/incidents/${id}/approve`, { by: 'alice' })).status).toBe(200);
    const done = await waitState(app, id, FINAL_STATES, 60_000);
    expect(done.state).toBe('resolved');
    expect(await appConnects(rot, APP_OLD)).toMatch(/^WRONGPASS/);
    expect(await appConnects(rot, APP_NEW)).toBe('ok');
  });

  it('the two-phase rotation: the new password is added, the wait holds until nobody fails, then the old one is removed', async () => {
    let stop = false;
    const results: string[] = [];
    const loop = (async () => {
      while (!stop) {
        results.push(await appConnects(rot, BILL_NEW, 'billing'));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 400));
      expect(results.some((r) => r.startsWith('WRONGPASS'))).toBe(true);
      const run = await api('POST', '/api/runs', { runbook: 'redis-auth-tls-errors', target: 'auth-rot2', by: 'alice' });
      const id = (JSON.parse(run.text) as { incidentId: string }).incidentId;
      await waitAwaiting(id);
      const proposals = (await timeline(id)).filter((e) => e.kind === 'proposal').map((e) => e.summary);
      expect(proposals[0]).toContain('ACL SETUSER billing >${secret:rotation-new}');
      expect((await api('POST', `/api/incidents/${id}/approve`, { by: 'alice', option: 1 })).status).toBe(200);
      // phase 1 done, waiting: both passwords work meanwhile
      await waitFor(async () => (await appConnects(rot, BILL_NEW, 'billing')) === 'ok', 20_000);
      expect(await appConnects(rot, BILL_OLD, 'billing')).toBe('ok');
      const done = await waitState(app, id, FINAL_STATES, 60_000);
      expect(done.state, done.outcome).toBe('resolved');
      expect(await appConnects(rot, BILL_OLD, 'billing')).toMatch(/^WRONGPASS/);
      expect(await appConnects(rot, BILL_NEW, 'billing')).toBe('ok');
      expect(results.at(-1)).toBe('ok');
      const tl = await closedTimeline(app, id);
      const sent = tl.filter((e) => e.kind === 'command.executed').map((e) => e.summary);
      const add = sent.findIndex((x) => x.includes('ACL SETUSER billing >${secret:rotation-new} → OK'));
      const remove = sent.findIndex((x) => x.includes('ACL SETUSER billing <${secret:rotation-old} → OK'));
      expect(add).toBeGreaterThanOrEqual(0);
      expect(remove).toBeGreaterThan(add);
    } finally {
      stop = true;
      await loop;
    }
  });

  it('a renewed certificate on disk is reloaded without a restart: new notAfter on a fresh handshake, same run_id', async () => {
    const id0 = await runId(certSrv);
    const conf = String(await readFile(certSrv.conf, 'utf8'));
    const certPath = /tls-cert-file (\S+)/.exec(conf)?.[1] ?? '';
    const keyPath = /tls-key-file (\S+)/.exec(conf)?.[1] ?? '';
    await copyFile(renewed.certFile, certPath);
    await copyFile(renewed.keyFile, keyPath);
    const fp = randomBytes(8).toString('hex');
    const res = await post(`${url}/webhooks/alertmanager`, webhookBody([{ labels: { alertname: 'RedisCertificateExpiringSoon', instance: `${certSrv.host}:${certSrv.port}`, severity: 'warning' }, fingerprint: fp }]), TOKEN);
    expect(res.status).toBe(202);
    const id = await waitIncidentFor(app, fp);
    await waitAwaiting(id);
    const tl = await timeline(id);
    expect(tl.find((e) => e.kind === 'proposal')?.summary).toContain(`CONFIG SET tls-cert-file ${certPath} tls-key-file ${keyPath}`);
    expect((await api('POST', `/api/incidents/${id}/approve`, { by: 'alice' })).status).toBe(200);
    const done = await waitState(app, id, FINAL_STATES, 60_000);
    expect(done.state).toBe('resolved');
    const notAfter = await new Promise<string>((ok, ko) => {
      const s = tlsConnect({ host: certSrv.host, port: certSrv.port, ca, servername: 'localhost' }, () => {
        ok(s.getPeerCertificate().valid_to);
        s.destroy();
      });
      s.on('error', ko);
    });
    expect((new Date(notAfter).getTime() - Date.now()) / 86_400_000).toBeGreaterThan(89);
    expect(await runId(certSrv)).toBe(id0);
  });

  it('an expired certificate: new clients are refused (classified cert_expired) and the incident escalates with the dates (verification stays on)', async () => {
    await certSrv.client().call('CONFIG', 'SET', 'tls-cert-file', expired.certFile, 'tls-key-file', expired.keyFile);
    try {
      const fp = randomBytes(8).toString('hex');
      await post(`${url}/webhooks/alertmanager`, webhookBody([{ labels: { alertname: 'RedisTLSHandshakeFailing', instance: `${certSrv.host}:${certSrv.port}`, severity: 'critical' }, fingerprint: fp }]), TOKEN);
      const id = await waitIncidentFor(app, fp);
      const done = await waitState(app, id, FINAL_STATES, 30_000);
      expect(done.state).toBe('escalated');
      expect(done.outcome).toContain('expired on 2020-02-01T00:00:00.000Z');
      expect(done.outcome).toMatch(/does not connect with verification off/);
      // the engine's pooled connections predate the switch and stay up (Redis keeps open TLS
      // sessions); a new connection, as any new client makes, is refused: cert_expired
      const f = done.findings as { probe: { code: string; classes: string[]; tls: { errorClass: string; notAfter: string } }; cert: { expired: boolean; errorClass: string } };
      expect(f.probe.code).toBe('cert_expired');
      expect(f.probe.classes).toContain('cert_expired');
      expect(f.probe.tls.notAfter).toBe('2020-02-01T00:00:00.000Z');
      expect(f.cert).toMatchObject({ expired: true, errorClass: 'cert_expired' });
      expect((await timeline(id)).some((e) => e.kind === 'proposal')).toBe(false);
    } finally {
      await certSrv.client().call('CONFIG', 'SET', 'tls-cert-file', renewed.certFile, 'tls-key-file', renewed.keyFile);
    }
  });

  it('a client without AUTH is reported by address; nothing is proposed and nothing on the server changes', async () => {
    const raw = tlsConnect({ host: rot.host, port: rot.port, ca, servername: 'localhost' });
    raw.on('error', () => undefined);
    await new Promise((r) => raw.once('secureConnect', r));
    const spam = setInterval(() => raw.write('GET app:1\r\n'), 20);
    const aclBefore = String(await rot.client().call('ACL', 'LIST'));
    try {
      const fp = randomBytes(8).toString('hex');
      await post(`${url}/webhooks/alertmanager`, webhookBody([{ labels: { alertname: 'RedisAuthFailures', instance: `${rot.host}:${rot.port}`, severity: 'warning', err: 'NOAUTH', redis_cluster: 'rot' }, fingerprint: fp }]), TOKEN);
      const id = await waitIncidentFor(app, fp);
      const done = await waitState(app, id, FINAL_STATES, 30_000);
      const tl = await closedTimeline(app, id);
      const note = tl.find((e) => /clients without credentials/.test(e.summary))?.summary ?? '';
      expect(note).toContain(`${raw.localAddress}:${raw.localPort}`);
      expect(note).toMatch(/nothing on the server changes/);
      expect(tl.some((e) => e.kind === 'proposal' || e.kind === 'command.executed')).toBe(false);
      // still failing: a human is told who (no server change); once it stops, a run resolves
      expect(done.state).toBe('escalated');
      expect(done.outcome).toMatch(/No server change is proposed/);
      expect(String(await rot.client().call('ACL', 'LIST'))).toBe(aclBefore);
    } finally {
      clearInterval(spam);
      raw.destroy();
    }
    const run = await api('POST', '/api/runs', { runbook: 'redis-auth-tls-errors', target: 'auth-rot', by: 'alice' });
    const after = await waitState(app, (JSON.parse(run.text) as { incidentId: string }).incidentId, FINAL_STATES, 30_000);
    expect(after.state).toBe('resolved');
  });

  it('no secret value appears in logs, timelines, API answers, Slack calls or anything in the store (snapshots, plans, jobs)', async () => {
    const list = (JSON.parse((await api('GET', '/api/incidents')).text) as { incidents: Array<{ id: string }> }).incidents;
    expect(list.length).toBeGreaterThanOrEqual(4);
    for (const { id } of list) {
      await api('GET', `/api/incidents/${id}`);
      await api('GET', `/api/incidents/${id}/timeline`);
      await api('GET', `/api/incidents/${id}/timeline.md`);
    }
    // Slack got the incidents (root messages and threads)
    await new Promise((r) => setTimeout(r, 1000));
    expect(fake.calls.length).toBeGreaterThan(4);
    const slackText = JSON.stringify(fake.calls);
    expect(slackText).toContain('${secret:rotation-new}');
    await app.close();
    // everything the engine keeps in its store: snapshots, timelines, intents, plans, jobs
    const db = new Redis(store.url);
    const stored: string[] = [];
    try {
      let cursor = '0';
      do {
        const [next, keys] = await db.scan(cursor, 'COUNT', 500);
        cursor = next;
        for (const k of keys) {
          const type = await db.type(k);
          const v = type === 'string' ? await db.get(k) : type === 'hash' ? await db.hgetall(k) : type === 'list' ? await db.lrange(k, 0, -1) : type === 'zset' ? await db.zrange(k, '0', '-1') : type === 'set' ? await db.smembers(k) : type === 'stream' ? await db.xrange(k, '-', '+') : null;
          stored.push(k, JSON.stringify(v));
        }
      } while (cursor !== '0');
    } finally {
      db.disconnect();
    }
    expect(stored.join('\n')).toContain('${secret:rotation-old}');
    const texts = { logs: logLines.join(''), api: answers.join('\n'), slack: slackText, store: stored.join('\n') };
    expect(texts.logs).toContain('incident opened');
    for (const [where, t] of Object.entries(texts)) {
      for (const s of SECRETS) expect(t.includes(s), `${where} contains a secret value`).toBe(false);
    }
  });
});
