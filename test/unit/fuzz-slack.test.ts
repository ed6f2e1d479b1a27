/**
 * Issue 12, "Then prove it — Fuzzing": generated Slack requests, signed with the test signing
 * secret so they get past the signature check and reach our handlers (Bolt on the HTTP door, the
 * approval buttons, `/redis`). The engine behind them is a recording EnginePort; Slack's Web API is
 * the fake Slack on loopback; the Slack state lives in a throwaway redis-server.
 *
 * Cases: button clicks (block_actions) with valid and damaged button values, unknown action ids,
 * fields missing or of the wrong type, prototype keys; any JSON or non-JSON as `payload=`; slash
 * commands with generated text (known and unknown subcommands, targets, runbooks, huge and odd
 * strings) from users with and without roles; Events API JSON. Every request gets an answer below
 * 500 within Slack's 3 s; the process never throws; the engine is asked to approve/reject only for
 * a button value that decodes, and to open an incident only for a well-formed `/redis run|dry-run|
 * diagnose` with a known runbook and target from a user whose role allows it.
 */
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/config-types.js';
import { makeKeys } from '../../src/engine/keys.js';
import { mayApprove } from '../../src/engine/roles.js';
import { createMetrics } from '../../src/engine/metrics.js';
import type { DecisionResult, EnginePort, IncidentSummary, RoutedAlert } from '../../src/engine/types.js';
import { decodeButtonValue } from '../../src/triggers/slack/action-ids.js';
import { createSlack } from '../../src/triggers/slack/index.js';
import { createHttpServer } from '../../src/triggers/http/server.js';
import type { HttpDoor } from '../../src/triggers/http/server.js';
import { startFakeSlack } from '../helpers/fake-slack.js';
import type { FakeSlack } from '../helpers/fake-slack.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';
import { sign } from '../helpers/slack-requests.js';

const SECRET = 'fuzz-signing-secret-5150';
const TARGETS = ['cache-prod', 'sessions'];
const RUNBOOKS = ['redis-memory-pressure', 'redis-replication-stuck'];
const ROLES = new Map<string, Role[]>([
  ['slack:UADMIN', ['redis.cluster-admin']],
  ['slack:UOPS', ['redis.dba-operator']],
  ['slack:UVIEW', ['redis.viewer']],
  ['slack-group:S0OPS', ['redis.dba-operator']],
]);

class RecordingEngine implements EnginePort {
  decisions: { op: string; id: string; by: string; key?: string }[] = [];
  runs: { runbook: string; target: string; by: string; dryRun: boolean }[] = [];
  ingested: RoutedAlert[] = [];
  async ingest(alerts: RoutedAlert[]) {
    this.ingested.push(...alerts);
    return { enqueued: alerts.length, duplicates: 0 };
  }
  async run(runbook: string, target: string, opts: { dryRun: boolean; by: string }) {
    this.runs.push({ runbook, target, by: opts.by, dryRun: opts.dryRun });
    return { incidentId: 'inc-fuzz-1' };
  }
  async listIncidents(): Promise<IncidentSummary[]> {
    return [];
  }
  async getIncident() {
    return undefined;
  }
  async getTimeline() {
    return undefined;
  }
  async approve(id: string, by: string, _via: string, opts?: { key?: string }): Promise<DecisionResult> {
    this.decisions.push({ op: 'approve', id, by, ...(opts?.key !== undefined ? { key: opts.key } : {}) });
    return { ok: false, code: 'not_found', message: `no incident ${id}` } as DecisionResult;
  }
  async reject(id: string, by: string, _via: string, _reason?: string, opts?: { key?: string }): Promise<DecisionResult> {
    this.decisions.push({ op: 'reject', id, by, ...(opts?.key !== undefined ? { key: opts.key } : {}) });
    return { ok: false, code: 'not_found', message: `no incident ${id}` } as DecisionResult;
  }
  rolesOf(by: string, also: string[] = []): Role[] {
    return [...new Set([by, ...also].flatMap((id) => ROLES.get(id) ?? []))];
  }
  names() {
    return { targets: TARGETS, runbooks: RUNBOOKS };
  }
  async targetStatus() {
    return undefined;
  }
  async ready() {
    return true;
  }
}

let redis: RedisProcess;
let fake: FakeSlack;
let engine: RecordingEngine;
let door: HttpDoor;
let base: string;
const logs: string[] = [];
const crashes: unknown[] = [];
const onCrash = (e: unknown): void => void crashes.push(e);

beforeAll(async () => {
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  [redis, fake] = await Promise.all([startRedis(), startFakeSlack({ groups: [{ id: 'S0OPS', handle: 'ops', users: ['UGROUPIE'] }] })]);
  engine = new RecordingEngine();
  const log = pino({ level: 'info' }, { write: (l: string) => void logs.push(l) });
  const slack = createSlack({
    config: { botToken: fake.token, signingSecret: SECRET, defaultChannel: 'C0FUZZ', channels: {}, apiUrl: fake.apiUrl },
    engine,
    approvers: [{ id: 'slack-group:S0OPS', roles: ['redis.dba-operator'] }],
    redis: redis.client(),
    keys: makeKeys(`fz${Date.now() % 100000}`),
    log,
    maxBodyBytes: 64 * 1024,
  });
  door = createHttpServer({ engine, route: () => ({ ok: false, reason: 'no_route', detail: 'none' }), metrics: createMetrics(), log, maxBodyBytes: 64 * 1024, extraRoutes: slack.extraRoutes! });
  const { port } = await door.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${port}`;
}, 60_000);

afterAll(async () => {
  await door?.close();
  await Promise.allSettled([fake?.close(), redis?.stop()]);
  process.off('uncaughtException', onCrash);
  process.off('unhandledRejection', onCrash);
});

// ---------------------------------------------------------------------------------------------
// Generators

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const NASTY_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'];
const userId = fc.oneof(fc.constantFrom('UADMIN', 'UOPS', 'UVIEW', 'UGROUPIE', 'UNOBODY'), fc.string({ maxLength: 12 }));
const incidentId = fc.oneof(fc.stringMatching(/^inc-[a-z0-9]{1,10}$/), fc.string({ maxLength: 20 }), fc.constantFrom('__proto__', 'constructor', '../x', 'a'.repeat(129)));
const buttonValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ i: fc.stringMatching(/^inc-[a-z0-9]{4,8}$/), k: fc.stringMatching(/^[a-z-]{1,12}#\d$/) }).map((v) => JSON.stringify(v)) },
  fc.record({ i: incidentId, k: fc.string({ maxLength: 30 }), o: fc.option(fc.integer({ min: -2, max: 25 }), { nil: undefined }) }, { requiredKeys: ['i', 'k'] }).map((v) => JSON.stringify(v)),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 60 }),
  fc.integer({ min: 490, max: 2000 }).map((n) => JSON.stringify({ i: 'inc-1', k: 'x'.repeat(n) })),
);

const click = fc.record({
  user: userId,
  actionId: fc.oneof(fc.constantFrom('rr_approve', 'rr_reject'), fc.constantFrom('rr_other', '', 'rr_approve ')),
  value: buttonValue,
  channel: fc.option(fc.constantFrom('C0FUZZ', 'C1'), { nil: undefined }),
});

function clickPayload(c: { user: string; actionId: string; value: string; channel?: string | undefined }): Record<string, Json> {
  return {
    type: 'block_actions',
    team: { id: 'T0FUZZ', domain: 'fuzz' },
    user: { id: c.user, username: 'u', name: 'u', team_id: 'T0FUZZ' },
    api_app_id: 'A0FUZZ',
    token: 'legacy',
    container: { type: 'message', message_ts: '1700000000.000100', channel_id: c.channel ?? 'C0FUZZ', is_ephemeral: false },
    trigger_id: '1.2.3',
    ...(c.channel !== undefined ? { channel: { id: c.channel, name: 'ops' } } : {}),
    message: { type: 'message', ts: '1700000000.000100', text: 'incident' },
    response_url: `${fake.url}/response/fuzz`,
    actions: [{ type: 'button', action_id: c.actionId, block_id: 'b', value: c.value, text: { type: 'plain_text', text: 'x' }, action_ts: '1700000001.0' }],
  };
}

function paths(v: Json, at: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) out.push(...paths(v[k] as Json, [...at, k]));
  return out;
}

function setAt(root: Json, path: (string | number)[], value: Json | undefined): Json {
  if (path.length === 0) return value ?? null;
  const copy = JSON.parse(JSON.stringify(root)) as Json;
  let node = copy as Record<string | number, Json>;
  for (const seg of path.slice(0, -1)) node = node[seg] as Record<string | number, Json>;
  const last = path[path.length - 1] as string | number;
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(Number(last), 1);
    else delete node[last];
  } else Object.defineProperty(node, last, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

const wrong: fc.Arbitrary<Json> = fc.oneof(fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>, fc.constantFrom<Json>(null, 0, '', [], {}, true), fc.integer({ min: 1, max: 2000 }).map((d) => JSON.parse(`${'['.repeat(d)}${']'.repeat(d)}`) as Json));

const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();

type Case =
  | { kind: 'click'; body: string; contentType: string; value?: string; actionId?: string; user?: string }
  | { kind: 'click-mutated' | 'payload-json' | 'payload-text' | 'event' | 'command-malformed' | 'raw'; body: string; contentType: string }
  | { kind: 'command'; body: string; contentType: string; text: string; user: string };

const FORM = 'application/x-www-form-urlencoded';

const cases: fc.Arbitrary<Case> = fc.oneof(
  { weight: 4, arbitrary: click.map((c): Case => ({ kind: 'click', body: form({ payload: JSON.stringify(clickPayload(c)) }), contentType: FORM, value: c.value, actionId: c.actionId, user: c.user })) },
  {
    weight: 3,
    arbitrary: click.chain((c) => {
      const doc = clickPayload(c) as Json;
      const all = paths(doc).filter((p) => p.length > 0);
      return fc.oneof(
        fc.constantFrom(...all).map((p) => setAt(doc, p, undefined)),
        fc.tuple(fc.constantFrom(...all), wrong).map(([p, v]) => setAt(doc, p, v)),
        fc.tuple(fc.constantFrom(...NASTY_KEYS), wrong).map(([k, v]) => setAt(doc, [k], v)),
        fc.tuple(fc.constantFrom(...NASTY_KEYS), wrong).map(([k, v]) => setAt(doc, ['actions', 0, k], v)),
      ).map((d): Case => ({ kind: 'click-mutated', body: form({ payload: JSON.stringify(d) }), contentType: FORM }));
    }),
  },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v): Case => ({ kind: 'payload-json', body: form({ payload: JSON.stringify(v) }), contentType: FORM })) },
  { weight: 1, arbitrary: fc.string({ maxLength: 80 }).map((s): Case => ({ kind: 'payload-text', body: form({ payload: s }), contentType: FORM })) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.oneof({ weight: 3, arbitrary: fc.constantFrom('help', 'status', 'incidents', 'timeline', 'diagnose', 'dry-run', 'run', 'RUN', '') }, fc.string({ maxLength: 12 })),
        fc.oneof(
          { weight: 1, arbitrary: fc.array(fc.oneof(fc.constantFrom(...TARGETS, ...RUNBOOKS, '__proto__', 'constructor', 'toString'), fc.string({ maxLength: 20 }), fc.integer({ min: 100, max: 3000 }).map((n) => 'q'.repeat(n))), { maxLength: 3 }) },
          { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...RUNBOOKS), fc.constantFrom(...TARGETS)).chain(([r, t]) => fc.constantFrom([r, t], [t, r], [t])) },
        ),
        fc.oneof({ weight: 3, arbitrary: fc.constantFrom('UADMIN', 'UOPS', 'UGROUPIE') }, userId),
        fc.constantFrom(' ', '  ', '\t', '\n'),
      )
      .map(([sub, args, user, sep]): Case => {
        const text = [sub, ...args].join(sep);
        return { kind: 'command', text, user, contentType: FORM, body: form({ token: 'legacy', team_id: 'T0FUZZ', team_domain: 'fuzz', channel_id: 'C0FUZZ', channel_name: 'ops', user_id: user, user_name: 'u', command: '/redis', text, api_app_id: 'A0FUZZ', response_url: `${fake.url}/response/fuzz`, trigger_id: '1.2.3' }) };
      }),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.dictionary(fc.oneof(fc.constantFrom('command', 'user_id', 'text', 'channel_id', 'response_url', 'team_id', 'ssl_check', 'type', ...NASTY_KEYS), fc.string({ maxLength: 8 })), fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('/redis', '/other', 'run redis-memory-pressure cache-prod'))), fc.boolean())
      .map(([fields, withCommand]): Case => ({ kind: 'command-malformed', body: form(withCommand ? { command: '/other', ...fields } : fields), contentType: FORM })),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(fc.record({ type: fc.constantFrom('url_verification', 'event_callback', 'app_rate_limited'), challenge: fc.jsonValue({ maxDepth: 1 }), event: fc.jsonValue({ maxDepth: 2 }) }).map((v) => JSON.stringify(v)), fc.json({ maxDepth: 2 })).map((body): Case => ({ kind: 'event', body, contentType: 'application/json' })),
  },
  { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 100 }), fc.constantFrom('text/plain', 'application/json', FORM, '')).map(([body, contentType]): Case => ({ kind: 'raw', body, contentType })) },
);

/** What `/redis <text>` from `user` may legitimately turn into: one `engine.run` call, or none. */
function expectedRun(text: string, user: string): { runbook: string; target: string; dryRun: boolean } | undefined {
  const [sub = 'help', ...args] = text.trim().split(/\s+/).filter(Boolean);
  const roles = ROLES.get(`slack:${user}`) ?? (user === 'UGROUPIE' ? (['redis.dba-operator'] as Role[]) : []);
  if (!mayApprove(roles, 'redis.dba-operator')) return undefined;
  const s = sub.toLowerCase();
  if (s === 'run' || s === 'dry-run') {
    const [runbook, target] = args;
    if (args.length !== 2 || !runbook || !target || !RUNBOOKS.includes(runbook) || !TARGETS.includes(target)) return undefined;
    return { runbook, target, dryRun: s === 'dry-run' };
  }
  if (s === 'diagnose') {
    const [target, runbook] = args;
    if (!target || args.length > 2 || !TARGETS.includes(target) || (runbook !== undefined && !RUNBOOKS.includes(runbook))) return undefined;
    if (runbook === undefined) return undefined; // two runbooks are loaded: it asks which one
    return { runbook, target, dryRun: true };
  }
  return undefined;
}

describe('fuzz: Slack requests, signed, through the door into our handlers', () => {
  it('≥ 1,000 generated requests: an answer below 500 within 3 s, engine calls only for valid clicks and commands, no crash', async () => {
    const kinds = new Map<string, number>();
    const statuses = new Map<number, number>();
    const decodable = new Set<string>();
    const clicksSent: { id: string; key: string; op: string }[] = [];
    let runs = 0;
    let slowest = 0;
    await fc.assert(
      fc.asyncProperty(cases, async (c) => {
        runs++;
        kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
        const runsBefore = engine.runs.length;
        const ts = Math.floor(Date.now() / 1000);
        const t0 = Date.now();
        const res = await fetch(`${base}/slack/events`, {
          method: 'POST',
          headers: { 'content-type': c.contentType, 'x-slack-request-timestamp': String(ts), 'x-slack-signature': sign(SECRET, ts, c.body) },
          body: c.body,
        });
        const text = await res.text();
        slowest = Math.max(slowest, Date.now() - t0);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect(res.status, `${c.kind}: ${c.body.slice(0, 200)} → ${text.slice(0, 200)}`).toBeLessThan(500);
        expect(Date.now() - t0).toBeLessThan(3000);
        if (res.status >= 400) {
          const err = (JSON.parse(text) as { error: { code: string; message: string } }).error;
          expect(err.code).toMatch(/^[a-z_]+$/);
          expect(err.message.length).toBeGreaterThan(5);
        }
        // any button value in a (possibly mutated) click that decodes may reach the engine
        const payload = c.contentType === FORM ? new URLSearchParams(c.body).get('payload') : null;
        if (payload !== null) {
          try {
            const acts = (JSON.parse(payload) as { actions?: unknown }).actions;
            if (Array.isArray(acts)) {
              for (const a of acts as { value?: unknown }[]) {
                const v = typeof a?.value === 'string' ? decodeButtonValue(a.value) : undefined;
                if (v) decodable.add(`${v.incidentId}\u0000${v.key}`);
              }
            }
          } catch {
            // not JSON: nothing can decode
          }
        }
        if (c.kind === 'click') {
          expect(res.status).toBe(200);
          const v = decodeButtonValue(c.value);
          if (v && (c.actionId === 'rr_approve' || c.actionId === 'rr_reject')) {
            decodable.add(`${v.incidentId}\u0000${v.key}`);
            clicksSent.push({ id: v.incidentId, key: v.key, op: c.actionId === 'rr_approve' ? 'approve' : 'reject' });
          }
        }
        if (c.kind === 'command') {
          expect(res.status).toBe(200);
          const answer = JSON.parse(text) as { response_type: string; text: string };
          expect(answer.response_type).toBe('ephemeral');
          expect(answer.text.length).toBeGreaterThan(5);
          // the reply echoes at most a bounded piece of what was typed
          expect(answer.text.length).toBeLessThan(4000);
          const want = expectedRun(c.text, c.user);
          expect(engine.runs.slice(runsBefore), `/redis ${c.text.slice(0, 80)} by ${c.user}`).toEqual(want ? [{ ...want, by: `slack:${c.user}` }] : []);
        } else {
          expect(engine.runs.length, `${c.kind}: ${c.body.slice(0, 200)}`).toBe(runsBefore);
        }
      }),
      { numRuns: 1200, seed: Number(process.env['FUZZ_SEED'] ?? Date.now() % 2 ** 31), verbose: 1 },
    );
    // clicks are handled after the ack: let the listeners finish
    await new Promise((r) => setTimeout(r, 500));
    expect(runs).toBeGreaterThanOrEqual(1200);
    expect(crashes).toEqual([]);
    // the engine was asked to decide only on button values that decode, and on every valid click
    for (const d of engine.decisions) expect(decodable.has(`${d.id}\u0000${d.key ?? ''}`), JSON.stringify(d)).toBe(true);
    for (const s of clicksSent) expect(engine.decisions.some((d) => d.id === s.id && d.key === s.key && d.op === s.op), JSON.stringify(s)).toBe(true);
    expect(engine.ingested).toEqual([]);
    expect(logs.filter((l) => /"level":(50|60)/.test(l) && !/slack listener failed|slack request handling failed/.test(l))).toEqual([]);
    for (const k of ['click', 'click-mutated', 'payload-json', 'payload-text', 'command', 'command-malformed', 'event', 'raw']) expect(kinds.get(k) ?? 0, k).toBeGreaterThan(0);
    expect(clicksSent.length).toBeGreaterThan(20); // ~5% of the cases on average; the seed changes every run
    expect(engine.runs.length).toBeGreaterThan(3);
    process.stdout.write(`fuzz-slack: ${runs} cases ${JSON.stringify(Object.fromEntries(kinds))} statuses ${JSON.stringify(Object.fromEntries(statuses))} decisions ${engine.decisions.length} runs ${engine.runs.length} slowest ${slowest} ms\n`);
  }, 90_000);
});
