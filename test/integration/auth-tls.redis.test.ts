/**
 * Issue 9 (TLS and AUTH), action level, on real TLS-only redis-server processes with a private PKI
 * made by openssl at test time: every connection failure class (wrong password, no AUTH, NOPERM,
 * expired / not-yet-valid / other-host certificate, unknown CA, client certificate required,
 * plain TCP to a TLS port, TLS to a plain port, refused), ACL LOG grouping of a client that keeps
 * authenticating with a rotated password, the two-password window (both work, then only the new),
 * and a certificate reload without restart (new notAfter over a fresh handshake, same run_id).
 */
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aclAddPassword } from '../../src/actions/redis/acl-add-password.js';
import { aclLog } from '../../src/actions/redis/acl-log.js';
import { aclRemovePassword } from '../../src/actions/redis/acl-remove-password.js';
import { authCheck } from '../../src/actions/redis/auth-check.js';
import { authProbe } from '../../src/actions/redis/auth-probe.js';
import { sendCommand } from '../../src/actions/redis/connection.js';
import { tlsCertificate } from '../../src/actions/redis/tls-certificate.js';
import { tlsReload } from '../../src/actions/redis/tls-reload.js';
import type { ActionContext, NodeRef } from '../../src/actions/types.js';
import type { TargetConfig } from '../../src/config-types.js';
import { TargetRegistry } from '../../src/engine/targets.js';
import { freePort, startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';
import { asnTime, makePki, startTlsServer } from '../helpers/tls.js';
import type { CertFiles, Pki, TlsServer } from '../helpers/tls.js';

const ADMIN_PW = `adm-${Math.random().toString(36).slice(2, 10)}`;
const ENGINE_PW = `eng-${Math.random().toString(36).slice(2, 10)}`;
/** Distinctive values: the scan tests look for them. */
const APP_OLD = `Old-${Math.random().toString(36).slice(2, 12)}-pw`;
const APP_NEW = `New-${Math.random().toString(36).slice(2, 12)}-pw`;

let dir: string;
let pki: Pki;
let otherCa: Pki;
let main: TlsServer;
let certReq: TlsServer;
let swap: TlsServer;
let plain: RedisProcess;
let certs: Record<'soon' | 'renewed' | 'expired' | 'future' | 'otherHost' | 'client' | 'swapGood', CertFiles>;
let ca: string;
const registries: TargetRegistry[] = [];
const log = pino({ level: 'silent' });

const users = [`user rr-ops on >${ENGINE_PW} ~* &* +@all`, `user app on >${APP_OLD} ~app:* +@read +@write -@dangerous`];

function node(s: { host: string; port: number }): NodeRef {
  return { host: s.host, port: s.port };
}

/** A TargetHandle built the way the engine builds it (TargetRegistry), and a context on `at`. */
function ctxFor(at: NodeRef, t: Partial<TargetConfig> = {}): ActionContext {
  const reg = new TargetRegistry({
    t: {
      name: 't',
      mode: 'standalone',
      endpoints: [at],
      role: 'store',
      labels: {},
      allowAutomatic: false,
      username: 'rr-ops',
      password: ENGINE_PW,
      tls: { ca, rejectUnauthorized: true },
      secrets: { 'app-old': APP_OLD, 'app-new': APP_NEW, 'app-bogus': 'Bogus-not-a-password' },
      ...t,
    },
  });
  registries.push(reg);
  const target = reg.get('t');
  if (!target) throw new Error('no target');
  return { target, node: at, findings: {}, params: {}, dryRun: false, log, signal: new AbortController().signal, now: () => Date.now() };
}

async function runId(s: TlsServer): Promise<string> {
  const info = String(await s.client().call('INFO', 'server'));
  return /run_id:(\w+)/.exec(info)?.[1] ?? '';
}

/** A client of `app` that connects (and authenticates) with `password`: resolves 'ok' or the error text. */
async function appConnects(s: TlsServer, password: string): Promise<string> {
  const c = new Redis({ host: s.host, port: s.port, username: 'app', password, tls: { ca, servername: 'localhost' }, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false });
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
  dir = await mkdtemp(join(tmpdir(), 'rr-authtls-'));
  pki = await makePki(dir);
  otherCa = await makePki(dir, 'other', 'another CA');
  ca = await readFile(pki.caFile, 'utf8');
  const day = 86_400_000;
  certs = {
    soon: await pki.issue('soon', { days: 3 }),
    renewed: await pki.issue('renewed', { days: 90 }),
    expired: await pki.issue('expired', { notBefore: '20200101000000Z', notAfter: '20200201000000Z' }),
    future: await pki.issue('future', { notBefore: asnTime(new Date(Date.now() + 5 * day)), notAfter: asnTime(new Date(Date.now() + 60 * day)) }),
    otherHost: await pki.issue('otherhost', { cn: 'redis.other.example', sans: ['DNS:redis.other.example'] }),
    client: await pki.issue('client', { client: true, cn: 'rr-engine' }),
    swapGood: await pki.issue('swapgood', { days: 30 }),
  };
  // The main server serves server.crt / server.key, which the reload test overwrites with the renewed pair.
  const served = { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') };
  await copyFile(certs.soon.certFile, served.certFile);
  await copyFile(certs.soon.keyFile, served.keyFile);
  [main, certReq, swap, plain] = await Promise.all([
    startTlsServer({ dir: join(dir, 'main'), cert: served, caFile: pki.caFile, adminPassword: ADMIN_PW, users }),
    startTlsServer({ dir: join(dir, 'certreq'), cert: certs.swapGood, caFile: pki.caFile, adminPassword: ADMIN_PW, users, authClients: 'yes', adminCert: certs.client }),
    startTlsServer({ dir: join(dir, 'swap'), cert: certs.swapGood, caFile: pki.caFile, adminPassword: ADMIN_PW, users }),
    startRedis({}),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(registries.map((r) => r.close()));
  await Promise.allSettled([main?.stop(), certReq?.stop(), swap?.stop(), plain?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

describe('connection failures are classified', () => {
  it('the engine gets in over TLS; a plain client is dropped (tls_required) and a client without AUTH gets NOAUTH', async () => {
    const r = await authProbe.run({ probeTimeoutMs: 1500 }, ctxFor(node(main)));
    expect(r.engine).toMatchObject({ ok: true, user: 'rr-ops', code: null });
    expect(r.transport).toBe('tls');
    expect(r.tlsOnly).toBe(true);
    expect(r.authRequired).toBe(true);
    expect(r.tls).toMatchObject({ handshake: true, authorized: true, nameMatches: true, errorClass: null });
    expect(r.classes).toEqual(['tls_required']);
  });

  const cases: Array<[string, () => { at: NodeRef; t: Partial<TargetConfig> }, string]> = [
    ['wrongpass', () => ({ at: node(main), t: { password: 'definitely-wrong' } }), 'wrongpass'],
    ['noauth (no credentials)', () => ({ at: node(main), t: { username: undefined, password: undefined } }), 'noauth'],
    ['unknown_ca (the engine given another CA)', () => ({ at: node(main), t: { tls: { ca: readCa(otherCa), rejectUnauthorized: true } } }), 'unknown_ca'],
    ['hostname_mismatch (servername clients use not in the certificate)', () => ({ at: node(main), t: { tls: { ca, servername: 'redis.example.com', rejectUnauthorized: true } } }), 'hostname_mismatch'],
    ['client_cert_required', () => ({ at: node(certReq), t: {} }), 'client_cert_required'],
    ['tls_required (plain TCP to the TLS-only port)', () => ({ at: node(main), t: { tls: undefined } }), 'tls_required'],
    ['not_tls (TLS to a plain port)', () => ({ at: node(plain), t: {} }), 'not_tls'],
  ];
  for (const [what, make, code] of cases) {
    it(what, async () => {
      const { at, t } = make();
      const c = ctxFor(at, t);
      const r = await authProbe.run({ probeTimeoutMs: 1500 }, c);
      expect(r.engine.ok).toBe(false);
      expect(r.code).toBe(code);
      // the same class reaches any diagnostic: a failed command carries it as its error code
      // (not_tls is skipped here: a TLS client on a plain port waits out the 10 s command timeout, already seen above)
      if (code !== 'not_tls') await expect(sendCommand(c, at, ['PING'])).rejects.toMatchObject({ code });
    });
  }

  it('refused', async () => {
    const at = { host: '127.0.0.1', port: await freePort() };
    const r = await authProbe.run({ probeTimeoutMs: 1000 }, ctxFor(at));
    expect(r.code).toBe('refused');
    expect(r.classes).toContain('refused');
  });

  it('noperm: a user without the permission', async () => {
    const c = ctxFor(node(main), { username: 'app', password: APP_OLD, secrets: {} });
    await expect(aclLog.run({ count: 10, intervalMs: 0 }, c)).rejects.toMatchObject({ code: 'noperm' });
  });

  it('cert_expired, cert_not_yet_valid and a certificate for another host name, served after a hot switch', async () => {
    const admin = swap.client();
    const expect3 = async (cert: CertFiles, code: string, expectDates: (r: Awaited<ReturnType<typeof tlsCertificate.run>>) => void): Promise<void> => {
      await admin.call('CONFIG', 'SET', 'tls-cert-file', cert.certFile, 'tls-key-file', cert.keyFile);
      const c = ctxFor(node(swap));
      const p = await authProbe.run({ probeTimeoutMs: 1500 }, c);
      expect(p.code).toBe(code);
      const cert2 = await tlsCertificate.run({ warnDays: 14, timeoutMs: 2000 }, c);
      expect(cert2.errorClass).toBe(code);
      expect(cert2.authorized).toBe(false);
      expect(cert2.configError).toBe(code); // the engine itself cannot get in to read CONFIG
      expectDates(cert2);
    };
    await expect3(certs.expired, 'cert_expired', (r) => {
      expect(r.expired).toBe(true);
      expect(r.served?.notAfter).toBe('2020-02-01T00:00:00.000Z');
      expect(r.daysLeft).toBeLessThan(0);
    });
    await expect3(certs.future, 'cert_not_yet_valid', (r) => expect(r.notYetValid).toBe(true));
    await expect3(certs.otherHost, 'hostname_mismatch', (r) => {
      expect(r.served?.sans).toEqual(['DNS:redis.other.example']);
      expect(r.names).toEqual([{ name: '127.0.0.1', matches: false }]);
    });
    await admin.call('CONFIG', 'SET', 'tls-cert-file', certs.swapGood.certFile, 'tls-key-file', certs.swapGood.keyFile);
    expect((await authProbe.run({ probeTimeoutMs: 1500 }, ctxFor(node(swap)))).engine.ok).toBe(true);
  });
});

function readCa(p: Pki): string {
  return readFileSync(p.caFile, 'utf8');
}

describe('ACL LOG: who fails, from where', () => {
  it('groups a client that keeps using a rotated password by user and address, and reports an unauthenticated client', async () => {
    await main.client().call('ACL', 'LOG', 'RESET');
    for (let i = 0; i < 4; i++) expect(await appConnects(main, 'Rotated-away-pw')).toMatch(/^WRONGPASS/);
    // a client whose user lacks a permission
    const narrow = new Redis({ host: main.host, port: main.port, username: 'app', password: APP_OLD, tls: { ca, servername: 'localhost' }, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false });
    narrow.on('error', () => undefined);
    await expect(narrow.call('FLUSHALL')).rejects.toThrow(/^NOPERM/);
    narrow.disconnect();
    // a client that never authenticates and keeps sending commands
    const raw = tlsConnect({ host: main.host, port: main.port, ca, servername: 'localhost' });
    raw.on('error', () => undefined);
    await new Promise((r) => raw.once('secureConnect', r));
    const spam = setInterval(() => raw.write('GET app:1\r\n'), 20);
    try {
      // two more failures while the action waits between its two reads: they show as still growing
      const pending = aclLog.run({ count: 50, intervalMs: 1500 }, ctxFor(node(main)));
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < 2; i++) expect(await appConnects(main, 'Rotated-away-pw')).toMatch(/^WRONGPASS/);
      const r = await pending;
      const g = r.authFailures.find((x) => x.username === 'app');
      expect(g).toMatchObject({ reason: 'auth', ip: '127.0.0.1', count: 6 });
      expect(r.authGrowing).toEqual([expect.objectContaining({ username: 'app', ip: '127.0.0.1', newFailures: 2 })]);
      expect(r.authGrowingUsers).toEqual(['app']);
      expect(g?.addrs.length).toBeGreaterThanOrEqual(1);
      expect(r.failingUsers).toEqual(['app']);
      expect(r.authFailureCount).toBe(6);
      expect(r.lastAuthFailureAgeSeconds).toBeLessThan(30);
      expect(r.errorstats.wrongpass).toBeGreaterThanOrEqual(6);
      expect(r.errorstats.wrongpassPerSec).toBeGreaterThan(0);
      expect(r.errorstats.noauthPerSec).toBeGreaterThan(5);
      expect(r.unauthenticated.map((u) => u.addr)).toContain(`${raw.localAddress}:${raw.localPort}`);
      expect(r.users.find((u) => u.name === 'app')).toMatchObject({ enabled: true, passwords: 1, nopass: false });
      const denied = r.permissionDenials.find((d) => d.objects.includes('flushall'));
      expect(denied).toMatchObject({ reason: 'command', username: 'app', ip: '127.0.0.1' });
      expect(denied?.categories).toEqual(expect.arrayContaining(['@dangerous', '@write']));
      expect(denied?.userRules).toContain('-flushall'); // Redis lists -@dangerous expanded
      expect(JSON.stringify(r)).not.toMatch(/#[0-9a-f]{64}/);
    } finally {
      clearInterval(spam);
      raw.destroy();
    }
  });
});

describe('two-password rotation', () => {
  it('adds the new password beside the old (both work), then removes the old (only the new works)', async () => {
    const c = ctxFor(node(main));
    const at = node(main);
    const plan = await aclAddPassword.plan!({ user: 'app', secret: 'app-new' }, c);
    expect(plan[0]?.argv).toEqual(['ACL', 'SETUSER', 'app', '>${secret:app-new}']);
    expect(plan[1]?.argv).toEqual(['CONFIG', 'REWRITE']);
    expect(JSON.stringify(plan)).not.toContain(APP_NEW);
    expect(await aclAddPassword.applied!(plan[0]!, { user: 'app', secret: 'app-new' }, c)).toBe(false);
    // a client keeps authenticating with the old password throughout
    const add = await aclAddPassword.run({ user: 'app', secret: 'app-new' }, c, plan);
    expect(add.outcomes.map((o) => o.ok)).toEqual([true, true]);
    expect(add.persisted).toBe(true);
    expect(JSON.stringify(add)).not.toContain(APP_NEW);
    expect(await aclAddPassword.applied!(plan[0]!, { user: 'app', secret: 'app-new' }, c)).toBe(true);
    expect((await authCheck.run({ user: 'app', secrets: ['app-old', 'app-new'] }, c)).results).toEqual({ 'app-old': 'ok', 'app-new': 'ok' });
    expect(await appConnects(main, APP_OLD)).toBe('ok');
    expect(await appConnects(main, APP_NEW)).toBe('ok');
    expect((await aclLog.run({ count: 10, intervalMs: 0 }, c)).users.find((u) => u.name === 'app')?.passwords).toBe(2);
    // the server's config file now holds both hashes (CONFIG REWRITE)
    expect((await readFile(main.conf, 'utf8')).match(/user app .*/)?.[0].match(/#[0-9a-f]{64}/g)).toHaveLength(2);

    // never locks a user out: removal sends nothing when the password it keeps does not work
    const bogus = await aclRemovePassword.plan!({ user: 'app', secret: 'app-old', keep: 'app-bogus' }, c);
    await expect(aclRemovePassword.run({ user: 'app', secret: 'app-old', keep: 'app-bogus' }, c, bogus)).rejects.toMatchObject({ code: 'precondition_failed' });
    expect(await appConnects(main, APP_OLD)).toBe('ok');
    const rm2 = await aclRemovePassword.plan!({ user: 'app', secret: 'app-old', keep: 'app-new' }, c);
    expect(rm2[0]?.argv).toEqual(['ACL', 'SETUSER', 'app', '<${secret:app-old}']);
    expect(await aclRemovePassword.applied!(rm2[0]!, { user: 'app', secret: 'app-old', keep: 'app-new' }, c)).toBe(false);
    // an app connection made with the old password before the removal stays authenticated (Redis 7)
    const held = new Redis({ host: at.host, port: at.port, username: 'app', password: APP_OLD, tls: { ca, servername: 'localhost' }, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false });
    held.on('error', () => undefined);
    await held.call('GET', 'app:1');
    const removed = await aclRemovePassword.run({ user: 'app', secret: 'app-old', keep: 'app-new' }, c, rm2);
    expect(removed.outcomes.every((o) => o.ok)).toBe(true);
    expect(await aclRemovePassword.applied!(rm2[0]!, { user: 'app', secret: 'app-old', keep: 'app-new' }, c)).toBe(true);
    expect((await authCheck.run({ user: 'app', secrets: ['app-old', 'app-new'] }, c)).results).toEqual({ 'app-old': 'wrongpass', 'app-new': 'ok' });
    expect(await appConnects(main, APP_OLD)).toMatch(/^WRONGPASS/);
    expect(await appConnects(main, APP_NEW)).toBe('ok');
    expect(await held.call('GET', 'app:1')).toBeNull();
    held.disconnect();
    // nothing left to do on a second plan
    expect(await aclRemovePassword.plan!({ user: 'app', secret: 'app-old', keep: 'app-new' }, c)).toEqual([]);

    // removing it again by hand: Redis echoes the password in its error; the outcome never carries it
    const again = await aclRemovePassword.run({ user: 'app', secret: 'app-old', keep: 'app-new' }, c, rm2).catch((e: Error) => e);
    expect(again).toBeInstanceOf(Error);
    expect((again as Error).message).toMatch(/ACL SETUSER.*<\*\*\*/);
    expect((again as Error).message).not.toContain(APP_OLD);
  });
});

describe('certificate reload without restart', () => {
  it('a renewed certificate on disk is found, reloaded with CONFIG SET, and served on a fresh handshake (same run_id)', async () => {
    const c = ctxFor(node(main));
    const before = await tlsCertificate.run({ warnDays: 14, timeoutMs: 2000 }, c);
    expect(before.authorized).toBe(true);
    expect(before.expiringSoon).toBe(true);
    expect(before.daysLeft).toBeGreaterThan(2);
    expect(before.daysLeft).toBeLessThan(3.1);
    expect(before.config?.['tls-cert-file']).toBe(join(dir, 'server.crt'));
    expect(before.config).not.toHaveProperty('tls-key-file-pass');
    expect(before.disk.cert).toMatchObject({ readable: true, verifiesWithCa: true, keyMatches: true, coversNames: true });
    expect(before.renewedOnDisk).toBe(false);
    expect(await tlsReload.plan!({}, c)).toEqual([]);

    const id = await runId(main);
    await copyFile(certs.renewed.certFile, join(dir, 'server.crt'));
    await copyFile(certs.renewed.keyFile, join(dir, 'server.key'));
    const found = await tlsCertificate.run({ warnDays: 14, timeoutMs: 2000 }, c);
    expect(found.renewedOnDisk).toBe(true);
    expect(found.disk.cert?.daysLeft).toBeGreaterThan(89);
    expect(found.served?.notAfter).toBe(before.served?.notAfter); // still the old one until reloaded

    const plan = await tlsReload.plan!({}, c);
    expect(plan).toHaveLength(1);
    expect(plan[0]?.argv).toEqual(['CONFIG', 'SET', 'tls-cert-file', join(dir, 'server.crt'), 'tls-key-file', join(dir, 'server.key')]);
    expect(await tlsReload.applied!(plan[0]!, {}, c)).toBe(false);
    const res = await tlsReload.run({}, c, plan);
    expect(res.outcomes[0]).toMatchObject({ ok: true, reply: 'OK' });
    expect(await tlsReload.applied!(plan[0]!, {}, c)).toBe(true);
    const after = await tlsCertificate.run({ warnDays: 14, timeoutMs: 2000 }, c);
    expect(after.served?.notAfter).toBe(found.disk.cert?.notAfter);
    expect(after.expiringSoon).toBe(false);
    expect(after.renewedOnDisk).toBe(false);
    expect(await runId(main)).toBe(id);
  });
});
