/**
 * A fake Slack Web API on loopback for tests: the methods the Slack door uses (auth.test,
 * chat.postMessage / update / postEphemeral, views.open, users.info, usergroups.list,
 * usergroups.users.list, conversations.history) plus `response_url` endpoints. It keeps the
 * messages it was sent, records every call, checks the bot token, and can be told to misbehave:
 * answer 429 (with Retry-After) or 5xx for the next N calls or for a while, or act on a call and
 * then lose the answer (as when a response is lost on the way back).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { capture, registerSecrets } from './secrets-capture.js';

export interface FakeCall {
  method: string;
  args: Record<string, unknown>;
  status: number;
  at: number;
  /** Acted on, but answered with an error (see `loseNext`). */
  lost?: boolean;
}

export interface FakeMessage {
  channel: string;
  ts: string;
  text?: string;
  blocks?: Record<string, unknown>[];
  attachments?: Record<string, unknown>[];
  thread_ts?: string;
  metadata?: { event_type?: string; event_payload?: Record<string, unknown> };
  updates: number;
}

export interface FakeFailure {
  status: 429 | 500 | 502 | 503;
  /** Seconds, for 429. Default 1. */
  retryAfter?: number;
  /** Only these methods fail (default: all). */
  methods?: string[];
}

export interface FakeUserGroup {
  id: string;
  handle: string;
  users: string[];
  /** Disabled groups are left out of usergroups.list. */
  disabled?: boolean;
}

export interface FakeSlack {
  /** Base URL of the server, e.g. http://127.0.0.1:1234 */
  url: string;
  /** What to configure as `slack.apiUrl`. */
  apiUrl: string;
  token: string;
  calls: FakeCall[];
  messages: FakeMessage[];
  /** Bodies POSTed to response_url endpoints. */
  responses: { path: string; body: Record<string, unknown> }[];
  groups: FakeUserGroup[];
  /** A fresh response_url on this server. */
  responseUrl(): string;
  /** The next `n` API calls (optionally of some methods only) fail as described. */
  failNext(n: number, f: FakeFailure): void;
  /** Every API call (optionally of some methods only) fails for `ms`. */
  failFor(ms: number, f: FakeFailure): void;
  /** Stop failing now. */
  heal(): void;
  /** The next `n` calls of `method` (matching `when`) are carried out, then answered with a 500 (the answer is "lost"). */
  loseNext(method: string, n?: number, when?: (args: Record<string, unknown>) => boolean): void;
  callsTo(method: string): FakeCall[];
  /** Messages that are not thread replies. */
  roots(channel?: string): FakeMessage[];
  replies(channel: string, threadTs: string): FakeMessage[];
  close(): Promise<void>;
}

const JSON_ARGS = new Set(['blocks', 'attachments', 'metadata']);

async function readArgs(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  const type = req.headers['content-type']?.split(';', 1)[0]?.trim();
  const args: Record<string, unknown> = type === 'application/json' ? (JSON.parse(raw || '{}') as Record<string, unknown>) : Object.fromEntries(new URLSearchParams(raw));
  for (const k of JSON_ARGS) {
    const v = args[k];
    if (typeof v === 'string' && v !== '') args[k] = JSON.parse(v) as unknown;
  }
  return args;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json; charset=utf-8', ...headers });
  res.end(text);
}

export async function startFakeSlack(opts: { token?: string; groups?: FakeUserGroup[] } = {}): Promise<FakeSlack> {
  const token = opts.token ?? 'xoxb-fake-test-token';
  // issue 12, suite-wide secrets scan: the bot token is a secret; every call is captured (method + body)
  registerSecrets([token]);
  const calls: FakeCall[] = [];
  const messages: FakeMessage[] = [];
  const responses: FakeSlack['responses'] = [];
  const groups: FakeUserGroup[] = opts.groups ?? [];
  let seq = 0;
  let failCount = 0;
  let failUntil = 0;
  let failure: FakeFailure | undefined;
  const lose = new Map<string, { n: number; when: ((args: Record<string, unknown>) => boolean) | undefined }>();
  let responseSeq = 0;

  const nextTs = (): string => `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}`;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);

  function api(method: string, args: Record<string, unknown>): { ok: boolean; [k: string]: unknown } {
    switch (method) {
      case 'auth.test':
        return { ok: true, url: 'https://test.slack.invalid/', team: 'Test', user: 'redis-runbooks', team_id: 'T0TEST', user_id: 'UBOT', bot_id: 'BBOT' };
      case 'chat.postMessage': {
        const channel = str(args['channel']);
        if (!channel) return { ok: false, error: 'channel_not_found' };
        const thread = str(args['thread_ts']);
        if (thread && !messages.some((m) => m.channel === channel && m.ts === thread)) return { ok: false, error: 'thread_not_found' };
        const m: FakeMessage = {
          channel,
          ts: nextTs(),
          updates: 0,
          ...(str(args['text']) !== undefined ? { text: str(args['text']) } : {}),
          ...(Array.isArray(args['blocks']) ? { blocks: args['blocks'] as Record<string, unknown>[] } : {}),
          ...(Array.isArray(args['attachments']) ? { attachments: args['attachments'] as Record<string, unknown>[] } : {}),
          ...(thread ? { thread_ts: thread } : {}),
          ...(args['metadata'] && typeof args['metadata'] === 'object' ? { metadata: args['metadata'] as FakeMessage['metadata'] } : {}),
        };
        messages.push(m);
        return { ok: true, channel, ts: m.ts, message: { ...m, type: 'message', user: 'UBOT' } };
      }
      case 'chat.update': {
        const m = messages.find((x) => x.channel === str(args['channel']) && x.ts === str(args['ts']));
        if (!m) return { ok: false, error: 'message_not_found' };
        if (str(args['text']) !== undefined) m.text = str(args['text']);
        if (Array.isArray(args['blocks'])) m.blocks = args['blocks'] as Record<string, unknown>[];
        if (Array.isArray(args['attachments'])) m.attachments = args['attachments'] as Record<string, unknown>[];
        if (args['metadata'] && typeof args['metadata'] === 'object') m.metadata = args['metadata'] as FakeMessage['metadata'];
        m.updates++;
        return { ok: true, channel: m.channel, ts: m.ts, text: m.text };
      }
      case 'chat.postEphemeral':
        if (!str(args['channel']) || !str(args['user'])) return { ok: false, error: 'invalid_arguments' };
        return { ok: true, message_ts: nextTs() };
      case 'views.open':
        return { ok: true, view: { id: `V${++seq}` } };
      case 'users.info': {
        const user = str(args['user']);
        return user ? { ok: true, user: { id: user, name: user.toLowerCase(), is_bot: false, deleted: false, tz: 'UTC' } } : { ok: false, error: 'user_not_found' };
      }
      case 'usergroups.list':
        return { ok: true, usergroups: groups.filter((g) => !g.disabled || args['include_disabled'] === 'true').map((g) => ({ id: g.id, handle: g.handle, name: g.handle, date_delete: g.disabled ? 1 : 0 })) };
      case 'usergroups.users.list': {
        const g = groups.find((x) => x.id === str(args['usergroup']));
        return g ? { ok: true, users: g.users } : { ok: false, error: 'no_such_subteam' };
      }
      case 'conversations.history': {
        const channel = str(args['channel']);
        const oldest = Number(str(args['oldest']) ?? '0');
        const limit = Math.min(1000, Number(str(args['limit']) ?? '100') || 100);
        const offset = Number(str(args['cursor']) ?? '0') || 0;
        const withMeta = String(args['include_all_metadata']) === 'true';
        const all = messages.filter((m) => m.channel === channel && (!m.thread_ts || m.thread_ts === m.ts) && Number(m.ts) >= oldest).reverse();
        const page = all.slice(offset, offset + limit).map(({ metadata, ...m }) => ({ type: 'message', user: 'UBOT', ...m, ...(withMeta && metadata ? { metadata } : {}) }));
        const more = offset + limit < all.length;
        return { ok: true, messages: page, has_more: more, response_metadata: { next_cursor: more ? String(offset + limit) : '' } };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const args = await readArgs(req);
      if (path.startsWith('/respond/')) {
        capture('slack', JSON.stringify({ respond: path, body: args }));
        responses.push({ path, body: args });
        send(res, 200, 'ok');
        return;
      }
      const method = path.replace(/^\/api\//, '');
      const call: FakeCall = { method, args, status: 200, at: Date.now() };
      capture('slack', JSON.stringify({ method, body: args }));
      calls.push(call);
      const failing = failure && (failCount > 0 || Date.now() < failUntil) && (!failure.methods || failure.methods.includes(method));
      if (failing && failure) {
        if (failCount > 0) failCount--;
        call.status = failure.status;
        if (failure.status === 429) send(res, 429, { ok: false, error: 'ratelimited' }, { 'Retry-After': String(failure.retryAfter ?? 1) });
        else send(res, failure.status, 'upstream trouble');
        return;
      }
      if (req.headers.authorization !== `Bearer ${token}`) {
        send(res, 200, { ok: false, error: 'invalid_auth' });
        return;
      }
      const out = api(method, args);
      const lost = lose.get(method);
      if (out.ok && lost && lost.n > 0 && (!lost.when || lost.when(args))) {
        lost.n--;
        call.status = 500;
        call.lost = true;
        send(res, 500, 'the answer got lost');
        return;
      }
      send(res, 200, out);
    })().catch((e: unknown) => send(res, 500, String(e)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    apiUrl: `${url}/api/`,
    token,
    calls,
    messages,
    responses,
    groups,
    responseUrl: () => `${url}/respond/${++responseSeq}`,
    failNext(n, f) {
      failure = f;
      failCount = n;
    },
    failFor(ms, f) {
      failure = f;
      failUntil = Date.now() + ms;
    },
    heal() {
      failCount = 0;
      failUntil = 0;
    },
    loseNext(method, n = 1, when) {
      lose.set(method, { n, when });
    },
    callsTo: (method) => calls.filter((c) => c.method === method),
    roots: (channel) => messages.filter((m) => !m.thread_ts && (channel === undefined || m.channel === channel)),
    replies: (channel, threadTs) => messages.filter((m) => m.channel === channel && m.thread_ts === threadTs),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
