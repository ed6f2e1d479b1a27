/**
 * Web API clients, pointed at `slack.apiUrl`, and the classification of their failures.
 *
 * No client here waits long: the sync client never retries by itself (BullMQ retries the notify
 * job; a silent in-client retry of chat.postMessage could also post a root message twice), and
 * the door's client retries once. 429 answers are rejected at once with their Retry-After, so a
 * rate limit never parks a worker slot.
 */
import { webApi } from '@slack/bolt';
import type { Logger } from 'pino';
import type { SlackConfig } from '../../config-types.js';
import { boltLogger } from './bolt-logger.js';

export type WebClient = InstanceType<typeof webApi.WebClient>;

/** Per-call timeout (ms): a hung Slack must not hold a sync lock or a worker slot for long. */
export const CALL_TIMEOUT_MS = 8000;

/** Options for Web API clients (also given to Bolt as `clientOptions`). */
export function clientOptions(config: SlackConfig, log: Logger, retries: number): NonNullable<ConstructorParameters<typeof webApi.WebClient>[1]> {
  return {
    slackApiUrl: config.apiUrl,
    logger: boltLogger(log),
    retryConfig: { retries, factor: 2, minTimeout: 300, maxTimeout: 2000 },
    rejectRateLimitedCalls: true,
    timeout: CALL_TIMEOUT_MS,
    allowAbsoluteUrls: false,
  };
}

export function createWebClient(config: SlackConfig, log: Logger, retries: number): WebClient {
  return new webApi.WebClient(config.botToken, clientOptions(config, log, retries));
}

/** What went wrong with a Web API call, as far as retrying is concerned. */
export type SlackFailure =
  | { kind: 'rate_limited'; retryAfterMs: number }
  | { kind: 'unavailable'; detail: string } // 5xx, network, timeout: Slack may or may not have acted
  | { kind: 'refused'; error: string } // ok:false: Slack answered and did nothing
  | { kind: 'other' };

export function classify(e: unknown): SlackFailure {
  const err = e as { code?: unknown; retryAfter?: unknown; statusCode?: unknown; data?: { error?: unknown }; message?: unknown };
  switch (err?.code) {
    case webApi.ErrorCode.RateLimitedError:
      return { kind: 'rate_limited', retryAfterMs: Math.max(1, Number(err.retryAfter) || 1) * 1000 };
    case webApi.ErrorCode.HTTPError:
      return { kind: 'unavailable', detail: `HTTP ${String(err.statusCode)}` };
    case webApi.ErrorCode.RequestError:
      return { kind: 'unavailable', detail: 'request failed (network or timeout)' };
    case webApi.ErrorCode.PlatformError:
      return { kind: 'refused', error: typeof err.data?.error === 'string' ? err.data.error : 'unknown_error' };
    default:
      return { kind: 'other' };
  }
}
