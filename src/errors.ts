/**
 * Every failure carries a snake_case code and a retry decision made where it happens.
 * Only the worker maps non-retryable failures to BullMQ's UnrecoverableError.
 */
export class RunbooksError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  constructor(code: string, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = opts.retryable ?? false;
  }
}

/** Bad config file: `file: path: problem`. Never retryable. */
export class ConfigError extends RunbooksError {
  constructor(message: string) {
    super('config_invalid', message);
  }
}

/** Bad runbook YAML, or a runbook that does not compile: names file and YAML path. */
export class RunbookError extends RunbooksError {
  constructor(message: string) {
    super('runbook_invalid', message);
  }
}

/** Bad input at a door (webhook, API, Slack). */
export class InputError extends RunbooksError {
  constructor(message: string, readonly status = 400) {
    super('input_invalid', message);
  }
}

/** The engine's own store is unreachable: retry later (the HTTP door answers 503). */
export class StoreUnavailableError extends RunbooksError {
  constructor(message: string, cause?: unknown) {
    super('store_unavailable', message, { retryable: true, cause });
  }
}

/** A command sent to a target failed. Retryable for connection errors, not for server errors. */
export class TargetError extends RunbooksError {
  constructor(code: string, message: string, retryable: boolean, cause?: unknown) {
    super(code, message, { retryable, cause });
  }
}

/**
 * What went wrong when reaching a node, as a runbook can test it (`x.error.code == 'refused'`):
 * - `refused` nothing listens; `timeout` no answer in time; `reset` the connection was dropped;
 *   `unreachable` no route / unknown host / connection closed;
 * - `wrongpass` bad user or password; `noauth` a command before AUTH; `noperm` the user lacks a
 *   permission (command, key or channel);
 * - `cert_expired`, `cert_not_yet_valid`, `hostname_mismatch` (the certificate does not cover the
 *   name used), `unknown_ca` (not signed by the CA we trust), `client_cert_required` (ours is
 *   missing or refused), `handshake`
 *   (any other TLS failure), `tls_required` (plain TCP to a TLS-only port), `not_tls` (TLS to a
 *   plain port).
 */
export const CONNECTION_CLASSES = [
  'refused',
  'timeout',
  'reset',
  'unreachable',
  'wrongpass',
  'noauth',
  'noperm',
  'cert_expired',
  'cert_not_yet_valid',
  'hostname_mismatch',
  'unknown_ca',
  'client_cert_required',
  'handshake',
  'tls_required',
  'not_tls',
] as const;
export type ConnectionClass = (typeof CONNECTION_CLASSES)[number];

/** Classes that mean "the node was not reached" (retryable), as opposed to "it answered no". */
const REACHABILITY: ReadonlySet<string> = new Set(['refused', 'timeout', 'reset', 'unreachable']);

/** True for a code that means the node was not reached (refused, timeout, reset, unreachable). */
export function isUnreachableCode(code: string): boolean {
  return REACHABILITY.has(code);
}

/** Node's certificate verification codes (`err.code`) that mean "not signed by a CA we trust". */
const UNKNOWN_CA = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);

/** What the connection was doing when it failed, when known: it sharpens resets and timeouts. */
export interface ClassifyContext {
  /** The connection uses TLS. */
  tls?: boolean;
  /** The failure came before the connection was ever ready (handshake, AUTH/HELLO). */
  beforeReady?: boolean;
}

/**
 * The class of a connection or command failure (see {@link CONNECTION_CLASSES}), or undefined for
 * other errors (OOM, READONLY…). Reads Node's `err.code` and the message's error prefix.
 */
export function classifyConnectionError(err: unknown, ctx: ClassifyContext = {}): ConnectionClass | undefined {
  const msg = err instanceof Error ? err.message : String(err);
  const code = typeof (err as { code?: unknown } | null)?.code === 'string' ? (err as { code: string }).code : '';
  const prefix = /^([A-Z]+)\b/.exec(msg)?.[1];
  if (prefix === 'NOAUTH') return 'noauth';
  if (prefix === 'WRONGPASS') return 'wrongpass';
  if (prefix === 'NOPERM') return 'noperm';
  const has = (re: RegExp): boolean => re.test(code) || re.test(msg);
  if (has(/CERT_HAS_EXPIRED|certificate has expired/i)) return 'cert_expired';
  if (has(/CERT_NOT_YET_VALID|certificate is not yet valid/i)) return 'cert_not_yet_valid';
  if (has(/ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames/i)) return 'hostname_mismatch';
  if (UNKNOWN_CA.has(code) || /self[- ]signed certificate|unable to (get|verify) (local )?(issuer|the first)/i.test(msg)) return 'unknown_ca';
  // The server refused our client certificate: missing, or not from a CA it trusts.
  if (has(/CERTIFICATE_REQUIRED|certificate required|peer did not return a certificate|ALERT_UNKNOWN_CA|ALERT_BAD_CERTIFICATE|ALERT_CERTIFICATE_UNKNOWN|alert unknown ca|alert bad certificate/i)) return 'client_cert_required';
  if (has(/WRONG_VERSION_NUMBER|wrong version number|packet length too long|record layer failure/i)) return 'not_tls';
  if (/^(ERR_SSL_|ERR_TLS_|EPROTO$)/.test(code) || /SSL routines|alert handshake failure/i.test(msg)) return 'handshake';
  if (has(/ECONNREFUSED/)) return 'refused';
  if (has(/ETIMEDOUT|Command timed out|timed out/i)) return 'timeout';
  if (has(/ECONNRESET|EPIPE|socket hang up|Server closed the connection/i)) {
    // Before any reply: a TLS-only port drops a plain client; a TLS server drops a client it refuses in the handshake.
    if (ctx.beforeReady) return ctx.tls ? 'handshake' : 'tls_required';
    return 'reset';
  }
  if (has(/EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EADDRNOTAVAIL|Connection is closed/i)) return 'unreachable';
  return undefined;
}

/**
 * The error code of a failure on a target: its connection class (`refused`, `wrongpass`,
 * `cert_expired`, … see {@link classifyConnectionError}), else `redis_<prefix>` for other Redis
 * error replies (`redis_oom`, `redis_readonly`, …), else `redis_error`.
 */
export function redisErrorCode(err: unknown, ctx: ClassifyContext = {}): string {
  const cls = classifyConnectionError(err, ctx);
  if (cls) return cls;
  const msg = err instanceof Error ? err.message : String(err);
  const prefix = /^([A-Z]+)\b/.exec(msg)?.[1];
  switch (prefix) {
    case 'OOM':
    case 'READONLY':
    case 'LOADING':
    case 'MASTERDOWN':
    case 'CLUSTERDOWN':
    case 'MISCONF':
    case 'BUSY':
      return `redis_${prefix.toLowerCase()}`;
    default:
      return 'redis_error';
  }
}
