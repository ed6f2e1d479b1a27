/**
 * Requests exactly as Slack sends them to `POST /slack/events`: signed (`X-Slack-Signature:
 * v0=hmac_sha256(secret, "v0:<ts>:<body>")`, `X-Slack-Request-Timestamp`), form-encoded —
 * `payload=<json>` for block_actions, plain fields for slash commands.
 */
import { createHmac } from 'node:crypto';

export interface SignOptions {
  /** Seconds since epoch; default now. */
  timestamp?: number;
  /** Sign with this secret instead (a wrong one gives a bad signature). */
  secret?: string;
  /** Send this signature as is. */
  signature?: string;
}

export interface SlackAnswer {
  status: number;
  text: string;
  json: unknown;
}

export function sign(secret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

/** POST a form body to `<appUrl>/slack/events`, signed with `secret`. */
export async function sendSigned(appUrl: string, secret: string, body: string, o: SignOptions = {}): Promise<SlackAnswer> {
  const ts = o.timestamp ?? Math.floor(Date.now() / 1000);
  const res = await fetch(`${appUrl}/slack/events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(ts),
      'x-slack-signature': o.signature ?? sign(o.secret ?? secret, ts, body),
    },
    body,
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, text, json };
}

export interface ButtonClick {
  userId: string;
  actionId: string;
  value: string;
  channel: string;
  messageTs: string;
  responseUrl: string;
}

/** The form body of a block_actions request (a button click on a message). */
export function blockActionBody(c: ButtonClick): string {
  const payload = {
    type: 'block_actions',
    team: { id: 'T0TEST', domain: 'test' },
    user: { id: c.userId, username: c.userId.toLowerCase(), name: c.userId.toLowerCase(), team_id: 'T0TEST' },
    api_app_id: 'A0TEST',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: c.messageTs, channel_id: c.channel, is_ephemeral: false },
    trigger_id: '1111.2222.abcd',
    channel: { id: c.channel, name: 'redis-ops' },
    message: { type: 'message', ts: c.messageTs, text: 'incident' },
    response_url: c.responseUrl,
    actions: [{ type: 'button', action_id: c.actionId, block_id: 'b', value: c.value, text: { type: 'plain_text', text: 'x' }, action_ts: `${Date.now() / 1000}` }],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

export interface SlashCommand {
  userId: string;
  text: string;
  channel: string;
  responseUrl: string;
}

/** The form body of a `/redis` slash command. */
export function slashCommandBody(c: SlashCommand): string {
  return new URLSearchParams({
    token: 'legacy-verification-token',
    team_id: 'T0TEST',
    team_domain: 'test',
    channel_id: c.channel,
    channel_name: 'redis-ops',
    user_id: c.userId,
    user_name: c.userId.toLowerCase(),
    command: '/redis',
    text: c.text,
    api_app_id: 'A0TEST',
    response_url: c.responseUrl,
    trigger_id: '1111.2222.abcd',
  }).toString();
}
