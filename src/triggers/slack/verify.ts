/**
 * Slack request signing: `X-Slack-Signature: v0=hex(hmac_sha256(signingSecret, "v0:<ts>:<raw body>"))`
 * and `X-Slack-Request-Timestamp` within 5 minutes of our clock (both directions: a replay window).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Largest accepted distance between the request timestamp and our clock. */
export const MAX_SKEW_SECONDS = 5 * 60;

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/** Check one request. Pure; never throws; the reason never contains the secret. */
export function verifySlackSignature(o: { signingSecret: string; body: string; signature: string | undefined; timestamp: string | undefined; nowMs: number }): VerifyResult {
  if (o.timestamp === undefined || !/^\d{1,12}$/.test(o.timestamp)) return { ok: false, reason: 'missing or malformed X-Slack-Request-Timestamp' };
  const skew = Math.abs(Math.floor(o.nowMs / 1000) - Number(o.timestamp));
  if (skew > MAX_SKEW_SECONDS) return { ok: false, reason: 'X-Slack-Request-Timestamp is outside the 5-minute window' };
  const m = /^v0=([0-9a-f]{64})$/.exec(o.signature ?? '');
  if (!m?.[1]) return { ok: false, reason: 'missing or malformed X-Slack-Signature' };
  const expected = createHmac('sha256', o.signingSecret).update(`v0:${o.timestamp}:${o.body}`).digest();
  if (!timingSafeEqual(Buffer.from(m[1], 'hex'), expected)) return { ok: false, reason: 'signature mismatch' };
  return { ok: true };
}

/** Sign a body as Slack does (for tests and tools). */
export function signSlackRequest(signingSecret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}
