/**
 * Issue 10, hygiene check `tls-certificate` on real TLS redis-server processes: a certificate
 * expiring in 5 days is a warning or a critical by the thresholds (the shipped check, critical,
 * goes through the alert door once), found again it is not re-reported, a renewed certificate on
 * disk is named, and after the reload (CONFIG SET tls-cert-file) the finding clears; an expired
 * certificate is critical; one for another host name is untrusted; a target without TLS yields
 * nothing. Passwords never reach findings.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import type { HygieneFinding } from '../../src/engine/hygiene/types.js';
import { startTestApp } from '../helpers/app.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';
import { asnTime, makePki, startTlsServer } from '../helpers/tls.js';
import type { CertFiles, Pki, TlsServer } from '../helpers/tls.js';

const ADMIN_PW = 'tls-hygiene-admin-pw-1';
let dir: string;
let pki: Pki;
let store: RedisProcess;
let plain: RedisProcess;
let soon: TlsServer;
let expired: TlsServer;
let otherName: TlsServer;
let app: App;
let renewed: CertFiles;
let soonNode: string;
let expiredNode: string;

const check = (name: string, targets: string, params: string): string =>
  `apiVersion: redis-runbooks/v1\nkind: HygieneCheck\nname: ${name}\nschedule: "0 3 * * *"\ntargets: [${targets}]\ncheck: tls-certificate\nparams: ${params}\n`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rr-hyg-tls-'));
  pki = await makePki(dir);
  const now = Date.now();
  const [soonCert, expiredCert, renewedCert, otherCert] = await Promise.all([
    pki.issue('soon', { days: 5 }),
    pki.issue('expired', { notBefore: asnTime(new Date(now - 20 * 86_400_000)), notAfter: asnTime(new Date(now - 2 * 86_400_000)) }),
    pki.issue('renewed', { days: 25 }),
    pki.issue('other-name', { days: 60, cn: 'redis.other.example', sans: ['DNS:redis.other.example'] }),
  ]);
  renewed = renewedCert;
  [store, plain, soon, expired, otherName] = await Promise.all([
    startRedis(),
    startRedis(),
    startTlsServer({ dir: join(dir, 'soon'), cert: soonCert, caFile: pki.caFile, adminPassword: ADMIN_PW }),
    startTlsServer({ dir: join(dir, 'expired'), cert: expiredCert, caFile: pki.caFile, adminPassword: ADMIN_PW }),
    startTlsServer({ dir: join(dir, 'other'), cert: otherCert, caFile: pki.caFile, adminPassword: ADMIN_PW }),
  ]);
  soonNode = `${soon.host}:${soon.port}`;
  expiredNode = `${expired.host}:${expired.port}`;
  await mkdir(join(dir, 'rb', 'hygiene'), { recursive: true });
  await writeFile(join(dir, 'rb', 'hygiene', 't-tls.yaml'), check('t-tls', 'soon, expired, other, plain', '{ warningDays: 10, criticalDays: 3 }'));
  await writeFile(join(dir, 'rb', 'hygiene', 't-tls-tight.yaml'), check('t-tls-tight', 'soon', '{ warningDays: 30, criticalDays: 7 }'));
  const tlsTarget = (s: TlsServer) => ({ endpoints: [`${s.host}:${s.port}`], role: 'store' as const, username: 'admin', password: '${RR_TLS_ADMIN_PW}', tls: { ca: pki.caFile, servername: 'localhost' } });
  app = await startTestApp({
    storeUrl: store.url,
    runbooksDir: join(dir, 'rb'),
    worker: false,
    http: false,
    env: { RR_TLS_ADMIN_PW: ADMIN_PW },
    targets: { soon: tlsTarget(soon), expired: tlsTarget(expired), other: tlsTarget(otherName), plain: { endpoints: [`${plain.host}:${plain.port}`], role: 'cache' } },
  });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await Promise.all([store?.stop(), plain?.stop(), soon?.stop(), expired?.stop(), otherName?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const byKey = (fs: HygieneFinding[], key: string): HygieneFinding | undefined => fs.find((f) => f.key === key);

describe('hygiene: TLS certificate days to expiry', () => {
  it('5 days left: a warning with thresholds 10/3, critical with 7; the shipped check (21/7) sends it through the alert door once', async () => {
    const r = await app.hygiene.service.runCheck('t-tls', 'soon');
    expect(r.run.error).toBeUndefined();
    const f = byKey(r.open, `expiry:${soonNode}`);
    expect(f?.severity).toBe('warning');
    expect(Number(f?.data['daysLeft'])).toBeGreaterThan(4.9);
    expect(Number(f?.data['daysLeft'])).toBeLessThan(5.1);
    expect(f?.summary).toMatch(new RegExp(`^the TLS certificate ${soonNode} serves \\(CN localhost, serial [0-9A-F]+\\) expires on \\d{4}-\\d\\d-\\d\\d: [45]\\.\\d days left \\(warning below 10\\)$`));
    expect(r.open).toHaveLength(1);
    const t = await app.hygiene.service.runCheck('t-tls-tight', 'soon');
    expect(byKey(t.open, `expiry:${soonNode}`)?.severity).toBe('critical');
    expect(byKey(t.open, `expiry:${soonNode}`)?.summary).toContain('(critical below 7)');
    const shipped = await app.hygiene.service.runCheck('tls-certificate', 'soon');
    expect(byKey(shipped.open, `expiry:${soonNode}`)?.severity).toBe('critical');
    expect(shipped.alerts).toBe(1);
    expect(byKey(shipped.open, `expiry:${soonNode}`)?.alertFingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.stringify([r.open, t.open, shipped.open])).not.toContain(ADMIN_PW);
  });

  it('found again it is not re-reported; a renewed certificate on disk is named; after the reload the finding clears', async () => {
    const r2 = await app.hygiene.service.runCheck('t-tls', 'soon');
    expect(r2.opened).toHaveLength(0);
    expect(byKey(r2.persisting, `expiry:${soonNode}`)?.runs).toBe(2);
    // the renewed certificate replaces the served one's files on disk; the server still serves the old one
    const certFile = join(dir, 'soon.crt');
    const keyFile = join(dir, 'soon.key');
    await writeFile(certFile, await readFile(renewed.certFile));
    await writeFile(keyFile, await readFile(renewed.keyFile));
    const r3 = await app.hygiene.service.runCheck('t-tls', 'soon');
    const f = byKey(r3.open, `expiry:${soonNode}`);
    expect(f?.data['renewedOnDisk']).toBe(true);
    expect(f?.summary).toContain(`a renewed certificate (until `);
    expect(f?.summary).toContain(`is already in ${certFile}: a reload (CONFIG SET tls-cert-file) serves it`);
    await soon.client().call('CONFIG', 'SET', 'tls-cert-file', certFile, 'tls-key-file', keyFile);
    const r4 = await app.hygiene.service.runCheck('t-tls', 'soon');
    expect(r4.open).toHaveLength(0);
    expect(r4.cleared.map((x) => x.key)).toEqual([`expiry:${soonNode}`]);
    expect(r4.cleared[0]?.runs).toBe(3);
  });

  it('an expired certificate is critical, naming the date; a target without TLS yields nothing', async () => {
    const r = await app.hygiene.service.runCheck('t-tls', 'expired');
    const f = byKey(r.open, `expiry:${expiredNode}`);
    expect(f?.severity).toBe('critical');
    expect(f?.summary).toMatch(new RegExp(`^the TLS certificate ${expiredNode} serves \\(CN localhost, serial [0-9A-F]+\\) expired on \\d{4}-\\d\\d-\\d\\d \\(2\\.0 days ago\\): clients that verify it cannot connect$`));
    expect(byKey(r.open, `untrusted:${expiredNode}`)).toBeUndefined();
    const p = await app.hygiene.service.runCheck('t-tls', 'plain');
    expect(p.run.error).toBeUndefined();
    expect(p.open).toHaveLength(0);
  });

  it('a certificate that does not cover the name clients use (60 days left) is untrusted (warning), not an expiry', async () => {
    const k = `${otherName.host}:${otherName.port}`;
    const r = await app.hygiene.service.runCheck('t-tls', 'other');
    expect(r.run.error).toBeUndefined();
    const f = byKey(r.open, `untrusted:${k}`);
    expect(f?.severity).toBe('warning');
    expect(f?.summary).toMatch(new RegExp(`^the TLS certificate ${k} serves does not verify: hostname_mismatch \\(names not covered: localhost, 127\\.0\\.0\\.1\\); issuer `));
    expect(byKey(r.open, `expiry:${k}`)).toBeUndefined();
  });
});
