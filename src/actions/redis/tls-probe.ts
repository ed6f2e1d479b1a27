/**
 * Probes of a node's listener the way a client sees it, with node:net and node:tls (never through
 * ioredis, so nothing is retried or hidden): a plain TCP `PING`, and a TLS handshake that reports
 * the server certificate, whether it verified against the CA we were given, and what the server
 * answers next (a refused client certificate only shows up on the first read with TLS 1.3).
 * No credentials are ever sent on a probe.
 */
import { connect as netConnect } from 'node:net';
import { isIP } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { classifyConnectionError, type ConnectionClass } from '../../errors.js';
import type { NodeRef } from '../types.js';

/** TLS material for a probe (same shape as the target's transport). */
export interface ProbeTls {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
}

/** What a plain TCP `PING` got. */
export interface PlainProbe {
  /** `reply`: the server answered in RESP; `reset`/`closed`: it dropped us; `timeout`: silence; `refused`/`error`. */
  outcome: 'reply' | 'reset' | 'closed' | 'timeout' | 'refused' | 'error';
  /** The first line the server sent (`+PONG`, `-NOAUTH Authentication required.`), when it answered. */
  firstLine?: string;
  /** Whatever came back did not look like RESP (e.g. a TLS alert record). */
  binary?: boolean;
  errorCode?: string;
}

/** The certificate a server presented, as findings (no key material). */
export interface CertificateView {
  subject: string;
  /** Common name of the subject. */
  cn: string | null;
  issuer: string;
  /** `DNS:…`, `IP:…` entries. */
  sans: string[];
  notBefore: string;
  notAfter: string;
  /** Days until notAfter (negative when expired), one decimal. */
  daysLeft: number;
  serialNumber: string;
  fingerprint256: string;
}

/** What a TLS handshake got. */
export interface TlsProbe {
  /** The handshake completed (the certificate may still be unverified: see `authorized`). */
  handshake: boolean;
  /** The certificate chain verified against the CA given (or the system CAs). */
  authorized: boolean;
  /** The certificate covers the name used (`servername`, else the host), whatever else is wrong with it; null without a handshake. */
  nameMatches: boolean | null;
  /** Node's verification error code (`CERT_HAS_EXPIRED`, `SELF_SIGNED_CERT_IN_CHAIN`, `ERR_TLS_CERT_ALTNAME_INVALID`, …). */
  authorizationError: string | null;
  protocol: string | null;
  certificate: CertificateView | null;
  /** The first line the server sent after the handshake (`-NOAUTH …` to our PING), or null. */
  firstLine: string | null;
  /** Each name asked about (`opts.names`) and whether the certificate covers it. */
  names: Array<{ name: string; matches: boolean }>;
  /** Failure of the handshake or of the first read, classified. */
  errorClass: ConnectionClass | null;
  error: { code: string; message: string } | null;
}

function dnFields(dn: unknown): string {
  if (!dn || typeof dn !== 'object') return '';
  return Object.entries(dn as Record<string, unknown>)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
    .join(', ');
}

/** A PeerCertificate as findings (dates as ISO strings). */
export function certificateView(c: PeerCertificate, now: number): CertificateView | null {
  if (!c || Object.keys(c).length === 0) return null;
  const notAfter = new Date(c.valid_to);
  const notBefore = new Date(c.valid_from);
  const cn = (c.subject as unknown as Record<string, unknown> | undefined)?.['CN'];
  return {
    subject: dnFields(c.subject),
    cn: typeof cn === 'string' ? cn : null,
    issuer: dnFields(c.issuer),
    sans: (c.subjectaltname ?? '')
      .split(',')
      .map((s) => s.trim().replace(/^IP Address:/, 'IP:'))
      .filter((s) => s !== ''),
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
    daysLeft: Math.round(((notAfter.getTime() - now) / 86_400_000) * 10) / 10,
    serialNumber: c.serialNumber,
    fingerprint256: c.fingerprint256,
  };
}

/** Plain TCP to `node`, sends `PING`, reports what came back. Never sends credentials. */
export function probePlain(node: NodeRef, timeoutMs = 1500): Promise<PlainProbe> {
  return new Promise((resolve) => {
    const sock = netConnect({ host: node.host, port: node.port });
    let settled = false;
    const done = (p: PlainProbe): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(p);
    };
    const timer = setTimeout(() => done({ outcome: 'timeout' }), timeoutMs);
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d: Buffer) => {
      const binary = d.length > 0 && !'+-:$*_,#!=(%~>|'.includes(String.fromCharCode(d[0] ?? 0));
      done({ outcome: 'reply', ...(binary ? { binary: true } : { firstLine: d.toString('utf8').split('\r\n')[0] ?? '' }) });
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? '';
      done({ outcome: code === 'ECONNREFUSED' ? 'refused' : code === 'ECONNRESET' || code === 'EPIPE' ? 'reset' : 'error', errorCode: code });
    });
    sock.once('close', () => done({ outcome: 'closed' }));
  });
}

/**
 * A TLS handshake with `node`: certificate, verification against `tls.ca`, then a PING to see
 * whether the server keeps us (a missing client certificate is refused here under TLS 1.3).
 * `verify: false` completes the handshake whatever the certificate (to read an expired one); the
 * result still says whether it verified. Never sends credentials.
 */
export function probeTls(node: NodeRef, tls: ProbeTls = {}, opts: { timeoutMs?: number; now?: number; names?: readonly string[] } = {}): Promise<TlsProbe> {
  const now = opts.now ?? Date.now();
  const servername = tls.servername ?? (isIP(node.host) ? undefined : node.host);
  return new Promise((resolve) => {
    const result: TlsProbe = { handshake: false, authorized: false, nameMatches: null, authorizationError: null, protocol: null, certificate: null, firstLine: null, names: [], errorClass: null, error: null };
    const sock = tlsConnect({
      host: node.host,
      port: node.port,
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls.key !== undefined ? { key: tls.key } : {}),
      ...(servername !== undefined ? { servername } : {}),
      // Handshake whatever the certificate: verification is judged below from `authorized`,
      // the host name check by Node's own checkServerIdentity. No credentials go on this socket.
      rejectUnauthorized: false,
    });
    let settled = false;
    const done = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(result);
    };
    const fail = (e: NodeJS.ErrnoException): void => {
      result.error = { code: e.code ?? 'error', message: e.message };
      result.errorClass = classifyConnectionError(e, { tls: true, beforeReady: true }) ?? 'handshake';
      done();
    };
    const timer = setTimeout(() => {
      if (!result.handshake) {
        result.error = { code: 'ETIMEDOUT', message: `no TLS handshake within ${opts.timeoutMs ?? 1500} ms` };
        result.errorClass = 'timeout';
      }
      done();
    }, opts.timeoutMs ?? 1500);
    sock.once('secureConnect', () => {
      result.handshake = true;
      result.protocol = sock.getProtocol() ?? null;
      result.certificate = certificateView(sock.getPeerCertificate(), now);
      const authErr = sock.authorizationError as unknown as string | Error | null | undefined;
      const authCode = authErr === null || authErr === undefined ? null : typeof authErr === 'string' ? authErr : ((authErr as NodeJS.ErrnoException).code ?? authErr.message);
      result.authorized = sock.authorized;
      result.authorizationError = authCode;
      // The host name: Node checks it only when it rejects; check it here against the name clients use.
      const peer = sock.getPeerCertificate();
      const mismatch = checkServerIdentity(servername ?? node.host, peer);
      result.nameMatches = mismatch === undefined;
      result.names = [...new Set(opts.names ?? [])].map((name) => ({ name, matches: checkServerIdentity(name, peer) === undefined }));
      if (mismatch && sock.authorized) {
        result.authorized = false;
        result.authorizationError = (mismatch as NodeJS.ErrnoException).code ?? 'ERR_TLS_CERT_ALTNAME_INVALID';
      }
      if (!result.authorized && result.authorizationError) {
        result.errorClass = classifyConnectionError(Object.assign(new Error(result.authorizationError), { code: result.authorizationError }), { tls: true }) ?? 'handshake';
        result.error = { code: result.authorizationError, message: `certificate not accepted: ${result.authorizationError}` };
      }
      sock.write('PING\r\n');
    });
    sock.on('data', (d: Buffer) => {
      result.firstLine = d.toString('utf8').split('\r\n')[0] ?? '';
      done();
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      if (result.handshake && result.error) return done();
      fail(e);
    });
    sock.once('close', () => {
      if (result.handshake && result.firstLine === null && !result.error) {
        result.error = { code: 'ECONNRESET', message: 'the server closed the connection after the handshake' };
        result.errorClass = 'client_cert_required';
      }
      done();
    });
  });
}

/**
 * Sharpens an ambiguous class of a connection that failed before its first answer, from what
 * the listener does: a plain connection reset by a port that completes a TLS handshake is
 * `tls_required`; a TLS connection to a port that answers plain RESP is `not_tls`; a TLS
 * connection dropped after the handshake for want of a client certificate is
 * `client_cert_required`. Returns undefined when the probes do not settle it.
 */
export async function refineListenerClass(node: NodeRef, tls: ProbeTls | undefined, code: string): Promise<ConnectionClass | undefined> {
  // A plain client is reset by a TLS-only port; a silent or frozen node (timeout) is not probed.
  if (!tls && code === 'tls_required') {
    const t = await probeTls(node, {}, { timeoutMs: 1500 });
    if (t.handshake) return 'tls_required';
    return code === 'tls_required' ? 'reset' : undefined;
  }
  if (tls && (code === 'timeout' || code === 'handshake' || code === 'reset')) {
    const p = await probePlain(node, 1500);
    if (p.outcome === 'reply' && !p.binary) return 'not_tls';
    const t = await probeTls(node, tls, { timeoutMs: 1500 });
    if (t.errorClass === 'client_cert_required' || /CERTIFICATE_REQUIRED|alert number 116|HANDSHAKE_FAILURE/i.test(t.error?.code ?? '')) return 'client_cert_required';
    if (t.errorClass) return t.errorClass;
  }
  return undefined;
}
