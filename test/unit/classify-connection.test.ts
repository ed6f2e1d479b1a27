import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyConnectionError, isUnreachableCode, redisErrorCode } from '../../src/errors.js';

interface Captured {
  scenario: string;
  tls: boolean;
  name?: string;
  code?: string;
  message: string;
}

/** Errors as ioredis 6 / Node 20 raised them against redis-server 7.0 (see test/fixtures/README.md). */
const captured = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'connection-errors.json'), 'utf8')) as Captured[];

function asError(c: Captured): Error {
  return Object.assign(new Error(c.message), { name: c.name ?? 'Error', ...(c.code ? { code: c.code } : {}) });
}

/** What the error alone says; the ambiguous ones are settled by a listener probe (integration test). */
const EXPECTED: Record<string, string> = {
  wrongpass: 'wrongpass',
  noauth: 'noauth',
  noperm: 'noperm',
  noperm_key: 'noperm',
  unknown_ca: 'unknown_ca',
  unknown_ca_no_ca: 'unknown_ca',
  hostname_mismatch: 'hostname_mismatch',
  hostname_mismatch_ip: 'hostname_mismatch',
  // "write ECONNRESET" right after a TLS handshake: the server dropped us (the probe tells client_cert_required)
  client_cert_required: 'handshake',
  // "write ECONNRESET" on a plain connection before any answer: a TLS-only port
  tls_required: 'tls_required',
  // TLS to a plain port hangs: a timeout (the probe tells not_tls)
  not_tls: 'timeout',
  refused: 'refused',
  timeout_connect_plain: 'timeout',
  timeout_command: 'timeout',
  cert_expired: 'cert_expired',
  cert_not_yet_valid: 'cert_not_yet_valid',
};

describe('classifyConnectionError on captured failures', () => {
  it('the fixture covers every scenario', () => {
    expect(captured.map((c) => c.scenario).sort()).toEqual(Object.keys(EXPECTED).sort());
  });
  for (const c of captured) {
    it(`${c.scenario}: ${c.message.slice(0, 60)}`, () => {
      expect(classifyConnectionError(asError(c), { tls: c.tls, beforeReady: true })).toBe(EXPECTED[c.scenario]);
      expect(redisErrorCode(asError(c), { tls: c.tls, beforeReady: true })).toBe(EXPECTED[c.scenario]);
    });
  }

  it('a reset after answers is just a reset', () => {
    const reset = asError(captured.find((c) => c.scenario === 'tls_required')!);
    expect(classifyConnectionError(reset, { tls: false, beforeReady: false })).toBe('reset');
    expect(classifyConnectionError(reset)).toBe('reset');
  });

  it('Node TLS alerts seen on a read (TLS 1.3 client certificate required, wrong version)', () => {
    // node:tls against redis-server 7.0 with tls-auth-clients yes (captured): no client certificate, one from another CA
    const required = Object.assign(new Error('800CC263F37F0000:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 116\n'), { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
    expect(classifyConnectionError(required)).toBe('client_cert_required');
    expect(classifyConnectionError(Object.assign(new Error('800CC263F37F0000:error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 48\n'), { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' }))).toBe('client_cert_required');
    const wrongVersion = Object.assign(new Error('error:0A00010B:SSL routines::wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' });
    expect(classifyConnectionError(wrongVersion)).toBe('not_tls');
    expect(classifyConnectionError(Object.assign(new Error('alert handshake failure'), { code: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' }))).toBe('handshake');
  });

  it('other replies are not connection failures', () => {
    expect(classifyConnectionError(new Error("OOM command not allowed when used memory > 'maxmemory'."))).toBeUndefined();
    expect(redisErrorCode(new Error("OOM command not allowed when used memory > 'maxmemory'."))).toBe('redis_oom');
    expect(redisErrorCode(new Error('READONLY You can\'t write against a read only replica.'))).toBe('redis_readonly');
    // a CONFIG SET of a TLS file that fails is a command error, not a handshake
    const tlsConfig = "ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration. Check server logs.";
    expect(classifyConnectionError(new Error(tlsConfig))).toBeUndefined();
    expect(redisErrorCode(new Error(tlsConfig))).toBe('redis_error');
  });

  it('reachability codes are the retryable ones', () => {
    for (const c of ['refused', 'timeout', 'reset', 'unreachable']) expect(isUnreachableCode(c)).toBe(true);
    for (const c of ['wrongpass', 'cert_expired', 'tls_required', 'redis_oom']) expect(isUnreachableCode(c)).toBe(false);
  });
});
