/**
 * `redis.tls-certificate`: the certificate a node serves, from a real handshake (node:tls):
 * subject, SANs, issuer, dates, days left; whether it verifies against the CA the engine was given
 * and covers the names clients use (the target's host names and `servername`); the `tls-*-file`
 * directives the server runs with (CONFIG GET) and, when the engine can read them, the files —
 * including a renewed certificate already on disk (`renewedOnDisk`). Read-only.
 */
import { z } from 'zod';
import { RunbooksError } from '../../errors.js';
import type { ActionContext, ActionDefinition } from '../types.js';
import { nodeKey } from '../types.js';
import { probeTls } from './tls-probe.js';
import type { CertificateView } from './tls-probe.js';
import { readDiskCertificate, readTlsDirectives } from './tls-files.js';
import type { DiskCertificate } from './tls-files.js';

const input = z
  .object({
    /** A certificate with fewer days left than this is "expiring soon". */
    warnDays: z.number().min(0).max(3650).default(14),
    /** Handshake timeout (ms). */
    timeoutMs: z.number().int().min(100).max(10_000).default(2000),
  })
  .strict();

export type TlsCertificateInput = z.infer<typeof input>;

export interface TlsCertificateResult {
  node: string;
  /** The target is configured for TLS (false: nothing else is filled). */
  tls: boolean;
  /** The certificate served on a fresh handshake (null: no handshake). */
  served: CertificateView | null;
  /** It verifies against the configured CA and covers the name used. */
  authorized: boolean;
  /** Classified failure of the handshake or the certificate (cert_expired, unknown_ca, hostname_mismatch, …). */
  errorClass: string | null;
  /** The names clients use (the target's hosts and servername) and whether the served certificate covers each. */
  names: Array<{ name: string; matches: boolean }>;
  expired: boolean;
  notYetValid: boolean;
  expiringSoon: boolean;
  daysLeft: number | null;
  /** The TLS directives the server runs with (null when the engine could not ask). */
  config: Record<string, string> | null;
  /** Why CONFIG GET failed (classified code), when it did. */
  configError: string | null;
  /** `tls-cert-file` and `tls-key-file` as the server runs with them (null when unknown). */
  certFile: string | null;
  keyFile: string | null;
  /** The certificate and CA files named by the config, when the engine can read them. */
  disk: { cert: DiskCertificate | null; ca: DiskCertificate | null };
  /** A different, currently valid certificate that the CA signed and that matches its key is on disk: a reload would serve it. */
  renewedOnDisk: boolean;
}

/** The names clients use for a target: its configured servername, its hosts. */
export function clientNames(ctx: Pick<ActionContext, 'target' | 'node'>): string[] {
  return [...new Set([...(ctx.target.tls?.servername !== undefined ? [ctx.target.tls.servername] : []), ...ctx.target.endpoints.map((e) => e.host), ctx.node.host])];
}

export const tlsCertificate: ActionDefinition<TlsCertificateInput, TlsCertificateResult> = {
  name: 'redis.tls-certificate',
  description: 'The served TLS certificate from a real handshake (dates, SANs, issuer, CA and host name checks), the tls-*-file directives and the files on disk (a renewed certificate waiting for a reload).',
  risk: 'read',
  input,
  timeoutMs: 20_000,
  output: {
    node: 'the node (host:port)',
    tls: 'the target is configured for TLS',
    'served.subject': 'subject of the served certificate',
    'served.cn': 'its common name',
    'served.issuer': 'its issuer',
    'served.sans[]': 'subjectAltName entries (DNS:…, IP:…)',
    'served.notBefore': 'not valid before (ISO)',
    'served.notAfter': 'not valid after (ISO)',
    'served.daysLeft': 'days until notAfter (negative: expired)',
    'served.serialNumber': 'serial number',
    'served.fingerprint256': 'SHA-256 fingerprint',
    authorized: 'verifies against the configured CA and covers the configured name',
    errorClass: 'classified failure: cert_expired, cert_not_yet_valid, unknown_ca, hostname_mismatch, client_cert_required, not_tls, handshake, timeout, refused; null when fine',
    'names[]': '{ name, matches }: each name clients use and whether the served certificate covers it',
    expired: 'the served certificate is past notAfter',
    notYetValid: 'the served certificate is before notBefore',
    expiringSoon: 'fewer than warnDays days left',
    daysLeft: 'days left of the served certificate (null without a handshake)',
    config: 'tls-port, tls-cert-file, tls-key-file, tls-ca-cert-file, tls-auth-clients, … as the server runs (CONFIG GET; never the *-pass directives)',
    configError: 'classified code when CONFIG GET failed (e.g. the engine cannot connect)',
    certFile: 'tls-cert-file the server runs with (null when unknown)',
    keyFile: 'tls-key-file the server runs with (null when unknown)',
    'disk.cert': 'the tls-cert-file on disk: { path, readable, subject, sans[], notBefore, notAfter, daysLeft, fingerprint256, validNow, verifiesWithCa, coversNames, keyMatches }',
    'disk.ca': 'the tls-ca-cert-file on disk (same fields)',
    renewedOnDisk: 'a different, valid, CA-signed certificate matching its key is on disk and later than the served one: CONFIG SET tls-cert-file reloads it',
  },
  async run(inp, ctx) {
    const node = ctx.node;
    const conf = ctx.target.tls;
    const now = ctx.now();
    const base: TlsCertificateResult = {
      node: nodeKey(node),
      tls: conf !== undefined,
      served: null,
      authorized: false,
      errorClass: null,
      names: [],
      expired: false,
      notYetValid: false,
      expiringSoon: false,
      daysLeft: null,
      config: null,
      configError: null,
      certFile: null,
      keyFile: null,
      disk: { cert: null, ca: null },
      renewedOnDisk: false,
    };
    if (!conf) return base;
    const names = clientNames(ctx);
    const probe = await probeTls(
      node,
      {
        ...(conf.ca !== undefined ? { ca: conf.ca } : {}),
        ...(conf.cert !== undefined ? { cert: conf.cert } : {}),
        ...(conf.key !== undefined ? { key: conf.key } : {}),
        ...(conf.servername !== undefined ? { servername: conf.servername } : {}),
      },
      { timeoutMs: inp.timeoutMs, now, names },
    );
    const served = probe.certificate;
    const result: TlsCertificateResult = {
      ...base,
      served,
      authorized: probe.authorized,
      errorClass: probe.errorClass,
      names: probe.names,
      expired: served !== null && new Date(served.notAfter).getTime() < now,
      notYetValid: served !== null && new Date(served.notBefore).getTime() > now,
      daysLeft: served?.daysLeft ?? null,
      expiringSoon: served !== null && served.daysLeft < inp.warnDays,
    };
    try {
      result.config = await readTlsDirectives(ctx, node);
    } catch (e) {
      result.configError = e instanceof RunbooksError ? e.code : 'redis_error';
      return result;
    }
    const certPath = result.config['tls-cert-file'];
    const keyPath = result.config['tls-key-file'];
    result.certFile = certPath || null;
    result.keyFile = keyPath || null;
    const caPath = result.config['tls-ca-cert-file'];
    if (certPath) {
      result.disk.cert = await readDiskCertificate(certPath, { now, ...(conf.ca !== undefined ? { ca: conf.ca } : {}), names, ...(keyPath ? { keyPath } : {}) });
    }
    if (caPath) result.disk.ca = await readDiskCertificate(caPath, { now });
    const d = result.disk.cert;
    result.renewedOnDisk =
      d !== null &&
      d.readable &&
      d.fingerprint256 !== undefined &&
      d.fingerprint256 !== served?.fingerprint256 &&
      d.validNow === true &&
      d.verifiesWithCa !== false &&
      d.keyMatches !== false &&
      (served === null || new Date(d.notAfter ?? 0).getTime() > new Date(served.notAfter).getTime());
    return result;
  },
};
