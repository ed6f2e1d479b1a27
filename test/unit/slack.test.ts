/**
 * The Slack door's pure parts: request signatures, body parsing, button values, the root message
 * and thread rendering. (End to end, with a fake Slack: test/integration/slack.redis.test.ts.)
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Approver } from '../../src/config-types.js';
import type { EnginePort, IncidentDetail, TimelineEntry } from '../../src/engine/types.js';
import { makeKeys } from '../../src/engine/keys.js';
import { decodeButtonValue, encodeButtonValue } from '../../src/triggers/slack/action-ids.js';
import { compact } from '../../src/triggers/slack/format.js';
import { createSlack } from '../../src/triggers/slack/index.js';
import { parseSlackBody } from '../../src/triggers/slack/receiver.js';
import { renderRoot } from '../../src/triggers/slack/root-message.js';
import { compareStreamIds, threadBatches } from '../../src/triggers/slack/thread.js';
import { signSlackRequest, verifySlackSignature } from '../../src/triggers/slack/verify.js';

const SECRET = 'unit-signing-secret';
const NOW = Date.parse('2026-11-25T12:00:00Z');

describe('Slack request signatures', () => {
  const ts = Math.floor(NOW / 1000);
  const body = 'payload=%7B%7D';
  const check = (o: { body?: string; signature?: string; timestamp?: string }) =>
    verifySlackSignature({ signingSecret: SECRET, body: o.body ?? body, signature: o.signature ?? signSlackRequest(SECRET, ts, body), timestamp: o.timestamp ?? String(ts), nowMs: NOW });

  it('accepts a request signed with the secret within 5 minutes, either way', () => {
    expect(check({})).toEqual({ ok: true });
    expect(verifySlackSignature({ signingSecret: SECRET, body, signature: signSlackRequest(SECRET, ts - 299, body), timestamp: String(ts - 299), nowMs: NOW })).toEqual({ ok: true });
  });

  it('refuses other secrets, altered bodies, old or future timestamps and malformed headers', () => {
    expect(check({ signature: signSlackRequest('other', ts, body) })).toEqual({ ok: false, reason: 'signature mismatch' });
    expect(check({ body: 'payload=%7B%22x%22%7D' })).toEqual({ ok: false, reason: 'signature mismatch' });
    for (const t of [ts - 301, ts + 301]) {
      expect(verifySlackSignature({ signingSecret: SECRET, body, signature: signSlackRequest(SECRET, t, body), timestamp: String(t), nowMs: NOW }).ok).toBe(false);
    }
    expect(check({ timestamp: 'soon' }).ok).toBe(false);
    expect(check({ signature: 'v1=abc' }).ok).toBe(false);
    expect(JSON.stringify(check({ signature: signSlackRequest('other', ts, body) }))).not.toContain(SECRET);
  });
});

describe('Slack request bodies and button values', () => {
  it('parses interactivity payloads, slash command fields and JSON events', () => {
    expect(parseSlackBody('payload=%7B%22type%22%3A%22block_actions%22%7D', 'application/x-www-form-urlencoded')).toEqual({ type: 'block_actions' });
    expect(parseSlackBody('command=%2Fredis&text=status+cache', 'application/x-www-form-urlencoded; charset=utf-8')).toEqual({ command: '/redis', text: 'status cache' });
    expect(parseSlackBody('{"type":"url_verification","challenge":"c"}', 'application/json')).toEqual({ type: 'url_verification', challenge: 'c' });
    expect(() => parseSlackBody('payload=%7Bnot', 'application/x-www-form-urlencoded')).toThrow(/could not be parsed/);
    expect(() => parseSlackBody('x', 'text/plain')).toThrow(/form-encoded or JSON/);
  });

  it('round-trips button values and rejects anything else', () => {
    const v = { incidentId: 'inc-20261125-abcdef', key: 'raise-maxmemory#2' };
    expect(decodeButtonValue(encodeButtonValue(v))).toEqual(v);
    for (const bad of [undefined, '', 'x', '{}', '{"i":1,"k":"a"}', '{"i":"../x y","k":"a"}', JSON.stringify({ i: 'a', k: 'b'.repeat(300) })]) expect(decodeButtonValue(bad)).toBeUndefined();
  });
});

function incident(over: Partial<IncidentDetail> = {}): IncidentDetail {
  return {
    id: 'inc-20261125-abcdef',
    runbook: 'redis-memory-pressure',
    target: 'cache-prod',
    state: 'awaiting_approval',
    title: 'Redis memory <high> & rising',
    severity: 'warning',
    fingerprints: ['fp1'],
    dryRun: false,
    createdAt: '2026-11-25T12:00:00.000Z',
    updatedAt: '2026-11-25T12:01:00.000Z',
    findings: {},
    labels: { alertname: 'RedisMemoryHigh', instance: '10.0.0.1:6379' },
    version: 3,
    pendingApproval: {
      key: 'flush#1',
      remediation: 'flush',
      title: 'Flush the cache',
      risk: 'disruptive',
      role: 'redis.cluster-admin',
      approversRequired: 2,
      automatic: false,
      commands: [{ node: '10.0.0.1:6379', argv: ['FLUSHALL', 'ASYNC'] }],
      evidence: ['Drops every key.'],
      approvals: [{ by: 'slack:U1', at: '2026-11-25T12:02:00.000Z' }],
      expiresAt: '2026-11-25T12:31:00.000Z',
    },
    ...over,
  };
}

const engine = { kind: 'engine' } as const;
const TL: TimelineEntry[] = [
  { id: '1-0', at: '2026-11-25T12:00:01.000Z', kind: 'finding', actor: engine, summary: 'mem …', data: { step: 'mem', action: 'redis.info-memory', nodes: ['10.0.0.1:6379'], value: { node: '10.0.0.1:6379', usedMemory: 31 * 1024 * 1024, maxmemory: 32 * 1024 * 1024, usage: 0.97, policy: 'noeviction', text: 'a long dump' } } },
  { id: '1-1', at: '2026-11-25T12:00:02.000Z', kind: 'note', actor: engine, summary: '97% used, policy noeviction', data: { rule: 'full' } },
  { id: '1-2', at: '2026-11-25T12:00:02.000Z', kind: 'decision', actor: engine, summary: 'Flush the cache: usage 97% < 100%', data: { rule: 'flush', remediation: 'flush' } },
  { id: '1-3', at: '2026-11-25T12:00:03.000Z', kind: 'approval.requested', actor: engine, summary: 'approval needed', data: { proposal: 'flush#1' } },
  { id: '2-0', at: '2026-11-25T12:02:00.000Z', kind: 'approval.granted', actor: { kind: 'user', id: 'slack:U1', via: 'slack' }, summary: 'approved', data: { proposal: 'flush#1', by: 'slack:U1', via: 'slack' } },
];

describe('the root message', () => {
  it('shows a pending proposal: commands, risk, evidence, approvers, approvals so far, buttons with a confirm dialog', () => {
    const approvers: Approver[] = [
      { id: 'slack:U1', roles: ['redis.cluster-admin'] },
      { id: 'slack:UOP', roles: ['redis.viewer', 'redis.dba-operator'] },
      { id: 'slack-group:S9', roles: ['redis.cluster-admin'] },
      { id: 'bob', roles: ['redis.cluster-admin'] },
    ];
    const m = renderRoot(incident(), TL, approvers);
    const json = JSON.stringify(m);
    expect(m.text).toBe('Awaiting approval: Redis memory <high> & rising (cache-prod)');
    expect(json).toContain('Redis memory &lt;high&gt; &amp; rising');
    expect(json).toContain('10.0.0.1:6379  FLUSHALL ASYNC');
    expect(json).toContain('Risk *disruptive* :warning:');
    expect(json).toContain('*2 distinct approvers*');
    expect(json).toContain('Flush the cache: usage 97% &lt; 100%');
    expect(json).toContain('May approve: <@U1>, <!subteam^S9>, bob'); // not UOP: a lower role
    expect(json).toContain('Approved so far: <@U1> at 12:02 UTC (1 of 2)');
    expect(json).toContain('expires 12:31 UTC');
    const actions = m.blocks.find((b) => b.type === 'actions') as { elements: { action_id: string; value: string; confirm?: unknown }[] };
    expect(actions.elements.map((e) => e.action_id)).toEqual(['rr_approve', 'rr_reject']);
    expect(JSON.parse(actions.elements[0]?.value ?? '')).toEqual({ i: 'inc-20261125-abcdef', k: 'flush#1' });
    expect(actions.elements[0]?.confirm).toBeDefined();
    expect(actions.elements[1]?.confirm).toBeUndefined();
    expect(m.attachments[0]?.color).toBe('#ECB22E');
  });

  it('after the decision: who approved and when, no buttons, the state colour', () => {
    const { pendingApproval: _p, ...rest } = incident();
    const m = renderRoot({ ...rest, state: 'resolved', outcome: 'verified' }, TL);
    const json = JSON.stringify(m);
    expect(m.blocks.some((b) => b.type === 'actions')).toBe(false);
    expect(json).toContain('Approved by <@U1> at 12:02 UTC (flush#1)');
    expect(json).toContain('*Outcome:* verified');
    expect(m.attachments[0]?.color).toBe('#2EB67D');
  });

  it('a cancellation because the alert resolved is green', () => {
    const { pendingApproval: _p, ...rest } = incident();
    const tl: TimelineEntry[] = [...TL, { id: '3-0', at: '2026-11-25T12:05:00.000Z', kind: 'alert.resolved', actor: { kind: 'alertmanager' }, summary: 'resolved' }, { id: '3-1', at: '2026-11-25T12:05:00.000Z', kind: 'approval.cancelled', actor: engine, summary: 'cancelled' }];
    const m = renderRoot({ ...rest, state: 'cancelled' }, tl);
    expect(m.attachments[0]?.color).toBe('#2EB67D');
    expect(JSON.stringify(m)).toContain('Approval cancelled at 12:05 UTC: the alert resolved');
  });
});

describe('the thread', () => {
  it('shows findings as numbers, escapes text, and batches lines', () => {
    const [first, ...more] = threadBatches(TL, 2);
    expect(more).toHaveLength(2);
    expect(first?.lastId).toBe('1-1');
    expect(first?.text).toContain('`12:00:01` :mag: *mem* (redis.info-memory on 10.0.0.1:6379): usedMemory 31.0 MiB · maxmemory 32.0 MiB · usage 97.0% · policy noeviction');
    expect(first?.text).not.toContain('long dump');
    expect(more[0]?.text).toContain('&lt; 100%');
    expect(compact({ 'a:1': { usage: 0.5 }, 'b:2': { error: { code: 'target_unreachable' } } })).toBe('a:1: usage 50.0% | b:2: error target_unreachable');
  });

  it('orders stream ids numerically', () => {
    expect(compareStreamIds('10-0', '9-5')).toBeGreaterThan(0);
    expect(compareStreamIds('9-10', '9-9')).toBeGreaterThan(0);
    expect(compareStreamIds('', '0-1')).toBeLessThan(0);
    expect(compareStreamIds('5-1', '5-1')).toBe(0);
  });
});

describe('createSlack', () => {
  const deps = {
    engine: {} as EnginePort,
    approvers: [],
    redis: {} as Redis,
    keys: makeKeys('u'),
    log: pino({ level: 'silent' }),
    maxBodyBytes: 1024,
  };
  const config = { botToken: 'xoxb-x', signingSecret: 'secret-secret', defaultChannel: 'C1', channels: {}, apiUrl: 'http://127.0.0.1:9/api/' };

  it('HTTP mode: serves /slack/events through the door, and nothing else', async () => {
    const door = createSlack({ ...deps, config });
    expect(door.extraRoutes).toBeDefined();
    expect(await door.extraRoutes?.({ url: '/other', method: 'POST', headers: {} } as never, {} as never)).toBe(false);
  });

  it('Socket Mode when an app-level token is given: no HTTP route', () => {
    const door = createSlack({ ...deps, config: { ...config, appToken: 'xapp-1-x' } });
    expect(door.extraRoutes).toBeUndefined();
  });
});
