/**
 * A target reachable only over TLS (private CA) with an ACL user, the password coming from the
 * environment (`${RR_TEST_PW}`): the memory runbook diagnoses it; with a wrong password the
 * diagnosis fails with a clear code and the incident escalates; and the password never shows in
 * the timeline JSON, the Markdown postmortem, the incident API, nor the log output.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeConnection, sendCommand } from '../../src/actions/redis/connection.js';
import type { App } from '../../src/app.js';
import { FINAL_STATES } from '../../src/engine/types.js';
import { post, startTestApp, webhookBody } from '../helpers/app.js';
import { startTlsRedis } from '../helpers/fleet.js';
import type { TlsRedis } from '../helpers/fleet.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';
import { closedTimeline, pressure, waitIncidentFor, waitState } from '../helpers/incidents.js';

const MAXMEM = 32 * 1024 * 1024;
const USER = 'rr-ops';
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const WRONG = `pw-${randomBytes(12).toString('hex')}`;

let store: RedisProcess;
let target: TlsRedis;
const apps: App[] = [];
/** Everything any app logged (pino at trace level, no redaction: the app must not log secrets at all). */
const logLines: string[] = [];
const log = pino(
  { level: 'trace' },
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(chunk.toString('utf8'));
      cb();
    },
  }),
);

/** Everything a reader of the incident can get over HTTP: detail, timeline JSON, postmortem. */
async function incidentTexts(a: App, id: string): Promise<{ detail: string; timeline: string; markdown: string }> {
  const url = a.http?.url ?? '';
  const get = async (path: string): Promise<string> => {
    const r = await fetch(`${url}${path}`);
    expect(r.status).toBe(200);
    return r.text();
  };
  return { detail: await get(`/api/incidents/${id}`), timeline: await get(`/api/incidents/${id}/timeline`), markdown: await get(`/api/incidents/${id}/timeline.md`) };
}

function tlsTarget() {
  return {
    'cache-tls': {
      endpoints: [`${target.host}:${target.port}`],
      role: 'cache' as const,
      username: USER,
      password: '${RR_TEST_PW}',
      tls: { ca: target.caFile },
    },
  };
}

beforeAll(async () => {
  store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  target = await startTlsRedis({ aclUser: USER, aclPassword: PASSWORD });
  await pressure(target.client(), MAXMEM);
});

afterAll(async () => {
  for (const a of apps) await a.close().catch(() => undefined);
  await target?.stop();
  await store?.stop();
});

describe('a TLS-only target with an ACL user', () => {
  it('refuses the default user and plaintext (the fixture is what it claims)', async () => {
    const anon = new Redis({ host: target.host, port: target.port, tls: { ca: readFileSync(target.caFile, 'utf8'), servername: 'localhost' }, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    anon.on('error', () => undefined);
    await expect(anon.call('PING')).rejects.toThrow(/^NOAUTH/);
    anon.disconnect();
    // a plaintext client on the TLS port: the engine's connection path names the reset
    const plain = createNodeConnection({ host: target.host, port: target.port }, { username: USER, password: PASSWORD, maxReconnects: 0 });
    try {
      await expect(sendCommand({ target: { connect: async () => plain } }, { host: target.host, port: target.port }, ['PING'])).rejects.toMatchObject({ code: 'tls_required', message: expect.stringMatching(/ECONNRESET/) });
    } finally {
      plain.disconnect();
    }
    expect(await target.client().call('ACL', 'WHOAMI')).toBe(USER);
  });

  it('dry run of the memory runbook over TLS with the password from the environment: diagnostics recorded, nothing changed', async () => {
    const app = await startTestApp({ storeUrl: store.url, targets: tlsTarget(), env: { RR_TEST_PW: PASSWORD }, log });
    apps.push(app);
    const { incidentId: id } = await app.engine.run('redis-memory-pressure', 'cache-tls', { dryRun: true, by: 'alice' });
    const done = await waitState(app, id, FINAL_STATES);
    expect(done.state).toBe('completed');
    const findings = done.findings as { mem: { usage: number; policy: string }; keyspace: { keys: number }; census: { families: { family: string }[] } };
    expect(findings.mem.usage).toBeGreaterThan(0.85);
    expect(findings.mem.policy).toBe('noeviction');
    expect(findings.keyspace.keys).toBeGreaterThan(1000);
    expect(findings.census.families[0]?.family).toMatch(/^session/);
    const tl = await closedTimeline(app, id);
    const steps = tl.filter((e) => e.kind === 'finding').map((e) => (e.data as { step?: string } | undefined)?.step);
    expect(steps).toEqual(expect.arrayContaining(['mem', 'stats', 'keyspace', 'doctor', 'census']));
    expect(tl.some((e) => e.kind === 'error')).toBe(false);
    // the dry run shows the exact commands it would send to the TLS node, and sent none
    expect(tl.find((e) => e.kind === 'command.dry-run')?.summary).toContain(`${target.host}:${target.port}: `);
    expect(tl.some((e) => e.kind === 'command.executed')).toBe(false);
    expect(tl.some((e) => e.kind === 'command.intent' || e.kind === 'command.executed')).toBe(false);
    expect(await target.client().config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);

    const texts = await incidentTexts(app, id);
    for (const t of Object.values(texts)) expect(t).not.toContain(PASSWORD);
    expect(texts.markdown).toContain('allkeys-lru');
  });

  it('a wrong password: the diagnosis fails with wrongpass and the incident escalates, the password shown nowhere', async () => {
    const app = await startTestApp({ storeUrl: store.url, targets: tlsTarget(), env: { RR_TEST_PW: WRONG }, log });
    apps.push(app);
    const url = app.http?.url ?? '';
    const fp = randomBytes(8).toString('hex');
    const alert = webhookBody([{ labels: { alertname: 'RedisMemoryHigh', instance: `${target.host}:${target.port}`, severity: 'warning' }, fingerprint: fp }]);
    expect((await post(`${url}/webhooks/alertmanager`, alert)).status).toBe(202);
    const id = await waitIncidentFor(app, fp);
    const done = await waitState(app, id, FINAL_STATES);
    expect(done.state).toBe('escalated');
    expect(done.outcome).toMatch(/diagnosis failed.*wrongpass/);
    const tl = await closedTimeline(app, id);
    const errors = tl.filter((e) => e.kind === 'error');
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) expect(e.summary).toMatch(/wrongpass: .*WRONGPASS/);
    expect(tl.at(-1)?.kind).toBe('incident.escalated');
    // the server saw the failed AUTH of our user
    const aclLog = (await target.client().call('ACL', 'LOG', '10')) as unknown[][];
    expect(aclLog.some((entry) => entry.includes('auth') && entry.includes(USER))).toBe(true);

    const texts = await incidentTexts(app, id);
    expect(texts.timeline).toContain('wrongpass');
    expect(texts.markdown).toContain('WRONGPASS');
    for (const t of Object.values(texts)) {
      expect(t).not.toContain(WRONG);
      expect(t).not.toContain(PASSWORD);
    }
  });

  it('no password ever reached the log output', async () => {
    await Promise.all(apps.map((a) => a.close()));
    const all = logLines.join('');
    expect(logLines.length).toBeGreaterThan(5); // the logger really captured the apps' logs
    expect(all).toContain('incident opened');
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain(WRONG);
  });
});
