/**
 * The TLS directives a server runs with (`CONFIG GET`, never the `*-pass` ones) and the
 * certificate files behind them when the engine can read them (same host or a shared mount):
 * dates, fingerprint, whether the CA we trust signed it, whether its key file matches. Private
 * keys are read only to check that they match, never copied anywhere.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ActionContext, NodeRef } from '../types.js';
import { replyText, sendCommand } from './connection.js';

/** The directives read (the `tls-*-pass` ones are secrets and never read). */
export const TLS_DIRECTIVES = [
  'tls-port',
  'tls-cert-file',
  'tls-key-file',
  'tls-ca-cert-file',
  'tls-ca-cert-dir',
  'tls-auth-clients',
  'tls-protocols',
  'tls-replication',
  'tls-cluster',
  'tls-client-cert-file',
  'tls-client-key-file',
] as const;

/** CONFIG GET of {@link TLS_DIRECTIVES} on `node` (flat array or map replies). */
export async function readTlsDirectives(ctx: Pick<ActionContext, 'target'>, node: NodeRef): Promise<Record<string, string>> {
  const reply = await sendCommand(ctx, node, ['CONFIG', 'GET', ...TLS_DIRECTIVES]);
  const out: Record<string, string> = {};
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) out[replyText(reply[i])] = replyText(reply[i + 1]);
  } else if (reply && typeof reply === 'object') {
    for (const [k, v] of Object.entries(reply as Record<string, unknown>)) out[k] = replyText(v);
  }
  for (const k of Object.keys(out)) if (!(TLS_DIRECTIVES as readonly string[]).includes(k)) delete out[k];
  return out;
}

/** A certificate file on disk, as findings. */
export interface DiskCertificate {
  path: string;
  readable: boolean;
  /** Why it could not be read (errno code), when not readable. */
  error?: string;
  subject?: string;
  issuer?: string;
  sans?: string[];
  notBefore?: string;
  notAfter?: string;
  daysLeft?: number;
  fingerprint256?: string;
  /** Valid right now (notBefore ≤ now ≤ notAfter). */
  validNow?: boolean;
  /** Signed by the CA the engine was given (null: no CA configured). */
  verifiesWithCa?: boolean | null;
  /** Covers every name asked about. */
  coversNames?: boolean;
  /** The key file matches this certificate (null: key not readable or encrypted). */
  keyMatches?: boolean | null;
}

function errnoCode(e: unknown): string {
  return typeof (e as { code?: unknown })?.code === 'string' ? (e as { code: string }).code : 'unreadable';
}

/** Reads and describes the certificate at `path` (first certificate of the file). */
export async function readDiskCertificate(path: string, o: { now: number; ca?: string; names?: readonly string[]; keyPath?: string }): Promise<DiskCertificate> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (e) {
    return { path, readable: false, error: errnoCode(e) };
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    return { path, readable: false, error: 'not_a_certificate' };
  }
  const notAfter = new Date(cert.validTo);
  const notBefore = new Date(cert.validFrom);
  let verifiesWithCa: boolean | null = null;
  if (o.ca !== undefined) {
    try {
      verifiesWithCa = cert.verify(new X509Certificate(o.ca).publicKey);
    } catch {
      verifiesWithCa = false;
    }
  }
  let keyMatches: boolean | null = null;
  if (o.keyPath !== undefined) {
    try {
      keyMatches = cert.checkPrivateKey(createPrivateKey(await readFile(o.keyPath, 'utf8')));
    } catch {
      keyMatches = null;
    }
  }
  const names = o.names ?? [];
  const covers = (n: string): boolean => (/^[\d.]+$|:/.test(n) ? cert.checkIP(n) !== undefined : cert.checkHost(n) !== undefined);
  return {
    path,
    readable: true,
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    sans: (cert.subjectAltName ?? '').split(',').map((s) => s.trim().replace(/^IP Address:/, 'IP:')).filter((s) => s !== ''),
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
    daysLeft: Math.round(((notAfter.getTime() - o.now) / 86_400_000) * 10) / 10,
    fingerprint256: cert.fingerprint256,
    validNow: notBefore.getTime() <= o.now && o.now <= notAfter.getTime(),
    verifiesWithCa,
    coversNames: names.every(covers),
    keyMatches,
  };
}
