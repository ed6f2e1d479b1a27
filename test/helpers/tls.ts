/**
 * A private PKI made with `openssl` at test time (a CA, server certificates that are valid,
 * expired, not yet valid, for another host name, or from another CA, and client certificates),
 * and TLS-only redis-server processes configured from a redis.conf (so passwords never reach a
 * command line). Every server is stopped (SIGTERM, then SIGKILL) and its dir removed by `stop()`.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './redis-server.js';
import { exited, ownedServer, stopChild, track } from './processes.js';

const run = promisify(execFile);
const HOST = '127.0.0.1';

/** A certificate and its key on disk. */
export interface CertFiles {
  certFile: string;
  keyFile: string;
}

export interface IssueOptions {
  cn?: string;
  /** subjectAltName entries, e.g. `['IP:127.0.0.1', 'DNS:localhost']` (default those two). */
  sans?: string[];
  /** `YYYYMMDDHHMMSSZ`; default now. */
  notBefore?: string;
  /** `YYYYMMDDHHMMSSZ`; default `days` after now. */
  notAfter?: string;
  days?: number;
  client?: boolean;
}

export interface Pki {
  dir: string;
  caFile: string;
  /** Issues a certificate signed by this CA into `<dir>/<name>.crt|.key`. */
  issue(name: string, o?: IssueOptions): Promise<CertFiles>;
}

/** `YYYYMMDDHHMMSSZ` for a Date (openssl ca -startdate/-enddate). */
export function asnTime(d: Date): string {
  return `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

/** A CA in `dir/<name>/` (valid for 30 days) that can issue certificates with any dates. */
export async function makePki(dir: string, name = 'ca', cn = 'redis-runbooks test CA'): Promise<Pki> {
  const home = join(dir, name);
  await mkdir(join(home, 'new'), { recursive: true });
  const caKey = join(home, 'ca.key');
  const caFile = join(home, 'ca.crt');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '30', '-subj', `/CN=${cn}`]);
  await writeFile(join(home, 'index.txt'), '');
  await writeFile(join(home, 'serial'), '1000\n');
  const cnf = join(home, 'ca.cnf');
  await writeFile(
    cnf,
    [
      '[ ca ]',
      'default_ca = CA_default',
      '[ CA_default ]',
      `database = ${join(home, 'index.txt')}`,
      `new_certs_dir = ${join(home, 'new')}`,
      `serial = ${join(home, 'serial')}`,
      'default_md = sha256',
      'policy = policy_any',
      'unique_subject = no',
      'email_in_dn = no',
      '[ policy_any ]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
  // `openssl ca` rewrites serial and index.txt in place: two at once lose the serial file. One at a time.
  let signing: Promise<unknown> = Promise.resolve();
  return {
    dir: home,
    caFile,
    async issue(certName, o = {}): Promise<CertFiles> {
      const keyFile = join(dir, `${certName}.key`);
      const certFile = join(dir, `${certName}.crt`);
      const csr = join(home, `${certName}.csr`);
      const ext = join(home, `${certName}.ext`);
      await run('openssl', ['req', '-new', ...ec, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${o.cn ?? 'localhost'}`]);
      const usage = o.client ? 'clientAuth' : 'serverAuth';
      const sans = o.sans ?? ['IP:127.0.0.1', 'DNS:localhost'];
      await writeFile(ext, `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=${usage}\n${sans.length ? `subjectAltName=${sans.join(',')}\n` : ''}`);
      const now = Date.now();
      const start = o.notBefore ?? asnTime(new Date(now - 60_000));
      const end = o.notAfter ?? asnTime(new Date(now + (o.days ?? 30) * 86_400_000));
      const signed = signing.then(() => run('openssl', ['ca', '-batch', '-notext', '-config', cnf, '-cert', caFile, '-keyfile', caKey, '-in', csr, '-out', certFile, '-startdate', start, '-enddate', end, '-extfile', ext]));
      signing = signed.catch(() => undefined);
      await signed;
      return { certFile, keyFile };
    },
  };
}

export interface TlsServer {
  host: string;
  port: number;
  dir: string;
  /** The redis.conf the server runs with. */
  conf: string;
  /** An admin client (TLS, as `admin`; the server certificate is not verified, so it works whatever certificate a test installs) made on first use. */
  client(): Redis;
  stop(): Promise<void>;
}

export interface TlsServerOptions {
  /** A directory for the conf and logs (removed by stop()). */
  dir?: string;
  cert: CertFiles;
  caFile: string;
  /** `no` (default), `yes` or `optional`. */
  authClients?: 'yes' | 'no' | 'optional';
  /** ACL lines after `user default off`, e.g. `user app on >pw ~* +@all`. An `admin` user with `adminPassword` is always added. */
  users?: string[];
  adminPassword: string;
  /** Also listen in plain text on this port (default: TLS only). */
  plainPort?: number;
  /** The admin client's certificate (needed with `authClients: yes`). */
  adminCert?: CertFiles;
}

/** True once a TLS handshake with the port completes (certificate not verified): the server is up. */
function tlsAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tlsConnect({ host: HOST, port, rejectUnauthorized: false });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('error', () => done(false));
    sock.once('secureConnect', () => done(true));
  });
}

/** A TLS-only redis-server (`port 0`), default user off, an `admin` user with every permission. */
export async function startTlsServer(o: TlsServerOptions): Promise<TlsServer> {
  const dir = o.dir ?? (await mkdtemp(join(tmpdir(), 'rr-tlssrv-')));
  await mkdir(dir, { recursive: true });
  const ca = await readFile(o.caFile, 'utf8');
  const adminCert = o.adminCert ? { cert: await readFile(o.adminCert.certFile, 'utf8'), key: await readFile(o.adminCert.keyFile, 'utf8') } : undefined;
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const conf = join(dir, 'redis.conf');
    await writeFile(
      conf,
      [
        `port ${o.plainPort ?? 0}`,
        `tls-port ${port}`,
        `bind ${HOST}`,
        `tls-cert-file ${o.cert.certFile}`,
        `tls-key-file ${o.cert.keyFile}`,
        `tls-ca-cert-file ${o.caFile}`,
        `tls-auth-clients ${o.authClients ?? 'no'}`,
        'save ""',
        'appendonly no',
        `dir ${dir}`,
        `logfile ${join(dir, 'redis.log')}`,
        'daemonize no',
        'user default off',
        `user admin on >${o.adminPassword} ~* &* +@all`,
        ...(o.users ?? []),
        '',
      ].join('\n'),
    );
    const child = track(spawn('redis-server', [conf], { stdio: 'ignore' }));
    child.once('error', () => undefined);
    const deadline = Date.now() + 10_000;
    let up = false;
    while (Date.now() < deadline && !exited(child)) {
      if (await tlsAnswers(port)) {
        up = true;
        break;
      }
      await sleep(50);
    }
    if (!up) {
      await stopChild(child);
      lastError = (await readFile(join(dir, 'redis.log'), 'utf8').catch(() => '')).trim().split('\n').slice(-5).join('\n') || 'redis-server did not start';
      continue;
    }
    return {
      host: HOST,
      port,
      dir,
      conf,
      ...ownedServer(child, dir, () => new Redis({ host: HOST, port, username: 'admin', password: o.adminPassword, tls: { ca, rejectUnauthorized: false, ...(adminCert ?? {}) }, maxRetriesPerRequest: 1, retryStrategy: () => null })),
    };
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`TLS redis-server failed to start: ${lastError}`);
}
