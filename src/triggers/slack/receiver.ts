/**
 * Bolt's transport in HTTP mode, mounted on OUR HTTP server through the door's `extraRoutes`:
 * `POST /slack/events` (events, interactivity and slash commands alike). It reads the raw body
 * (size-limited), verifies the signature and the 5-minute window (401 otherwise, before anything
 * is parsed or dispatched), answers `ssl_check` and `url_verification`, and hands everything else
 * to `app.processEvent` with an `ack` that writes the HTTP response.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { App, Receiver, ReceiverEvent } from '@slack/bolt';
import type { Logger } from 'pino';
import { readBody } from '../http/body.js';
import { HttpError } from '../http/http-error.js';
import { sendJson, sendText } from '../http/respond.js';
import type { ExtraRoutes } from '../http/types.js';
import { verifySlackSignature } from './verify.js';

/** Path Slack is configured to call (Event Subscriptions, Interactivity, Slash Commands). */
export const SLACK_EVENTS_PATH = '/slack/events';
/** Answer Slack ourselves if no listener acknowledged by then (Slack gives up at 3 s). */
const ACK_DEADLINE_MS = 2800;

export interface DoorReceiverOptions {
  signingSecret: string;
  maxBodyBytes: number;
  log: Logger;
  /** Wall clock for the replay window. Default Date.now. */
  now?: () => number;
}

/** Parse a verified body: form fields (`payload=<json>` for interactivity) or JSON (Events API). */
export function parseSlackBody(raw: string, contentType: string | undefined): Record<string, unknown> {
  const type = contentType?.split(';', 1)[0]?.trim().toLowerCase();
  let parsed: unknown;
  try {
    if (type === 'application/x-www-form-urlencoded') {
      const form = new URLSearchParams(raw);
      const payload = form.get('payload');
      parsed = payload !== null ? JSON.parse(payload) : Object.fromEntries(form);
    } else if (type === 'application/json') parsed = JSON.parse(raw);
    else throw new HttpError(415, 'unsupported_media_type', 'expected a form-encoded or JSON Slack request');
  } catch (e) {
    if (e instanceof HttpError) throw e;
    throw new HttpError(400, 'input_invalid', 'the Slack request body could not be parsed');
  }
  // Issue 12 fuzzing: `payload=null` (or a number, a list) is JSON but not a Slack request.
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new HttpError(400, 'input_invalid', 'the Slack request body is not an object');
  return parsed as Record<string, unknown>;
}

function writeAck(res: ServerResponse, body: unknown): void {
  if (res.headersSent) return;
  if (body === undefined || body === '') sendText(res, 200, '', 'text/plain; charset=utf-8');
  else if (typeof body === 'string') sendText(res, 200, body, 'text/plain; charset=utf-8');
  else sendJson(res, 200, body);
}

export class DoorReceiver implements Receiver {
  private app: App | undefined;

  constructor(private readonly o: DoorReceiverOptions) {}

  init(app: App): void {
    this.app = app;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  /** The door's `extraRoutes` hook. */
  readonly route: ExtraRoutes = async (req, res) => {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== SLACK_EVENTS_PATH) return false;
    if (req.method !== 'POST') throw new HttpError(405, 'method_not_allowed', `${req.method ?? ''} not allowed on ${SLACK_EVENTS_PATH}`, { Allow: 'POST' });
    const raw = (await readBody(req, this.o.maxBodyBytes)).toString('utf8');
    const v = verifySlackSignature({
      signingSecret: this.o.signingSecret,
      body: raw,
      signature: header(req, 'x-slack-signature'),
      timestamp: header(req, 'x-slack-request-timestamp'),
      nowMs: (this.o.now ?? Date.now)(),
    });
    if (!v.ok) {
      this.o.log.warn({ reason: v.reason }, 'slack request refused');
      throw new HttpError(401, 'signature_invalid', `not a valid Slack request: ${v.reason}`);
    }
    const body = parseSlackBody(raw, req.headers['content-type']);
    if (body['ssl_check'] !== undefined) {
      sendText(res, 200, '', 'text/plain; charset=utf-8');
      return true;
    }
    if (body['type'] === 'url_verification') {
      sendJson(res, 200, { challenge: body['challenge'] });
      return true;
    }
    await this.dispatch(req, res, body);
    return true;
  };

  private async dispatch(req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): Promise<void> {
    const app = this.app;
    if (!app) throw new HttpError(503, 'not_ready', 'Slack is not initialised yet');
    let acked = false;
    const timer = setTimeout(() => {
      if (acked) return;
      acked = true;
      this.o.log.warn({ type: body['type'] ?? body['command'] }, 'slack request not acknowledged in time; answered empty');
      writeAck(res, undefined);
    }, ACK_DEADLINE_MS);
    const retryNum = Number(header(req, 'x-slack-retry-num'));
    const retryReason = header(req, 'x-slack-retry-reason');
    const event: ReceiverEvent = {
      body,
      ack: async (response?: unknown) => {
        if (acked) return;
        acked = true;
        clearTimeout(timer);
        writeAck(res, response);
      },
      ...(Number.isFinite(retryNum) ? { retryNum } : {}),
      ...(retryReason !== undefined ? { retryReason } : {}),
    };
    try {
      await app.processEvent(event);
    } catch (e) {
      // Our listeners' failures go to app.error; what reaches here was thrown by Bolt while reading
      // the envelope. A TypeError there is a malformed request (e.g. no `user`, `actions: null`),
      // found by fuzzing (issue 12): the sender is told so, it is not our failure.
      if (e instanceof TypeError && !acked) {
        acked = true;
        clearTimeout(timer);
        this.o.log.warn({ err: e.message, type: body['type'] ?? body['command'] }, 'malformed slack request');
        throw new HttpError(400, 'input_invalid', 'the Slack request is malformed: Bolt could not read it');
      }
      this.o.log.error({ err: (e as Error).message }, 'slack request handling failed');
      if (!acked) {
        acked = true;
        clearTimeout(timer);
        throw new HttpError(500, 'internal', 'internal error');
      }
    }
    if (!acked) {
      // No listener for this request (an event type or action we do not handle).
      acked = true;
      clearTimeout(timer);
      writeAck(res, undefined);
    }
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
