/**
 * Issue 12, "Then prove it — Fuzzing": generated Alertmanager webhook bodies against the real HTTP
 * door (loopback server, the real router and payload validation) with a recording EnginePort.
 *
 * Bodies: arbitrary JSON and text, valid v4 payloads, and near-valid ones (a field deleted, a
 * value of the wrong type, huge strings, `__proto__`/`constructor` keys, deep nesting). Every
 * answer is 202 for a valid body, else a 4xx whose `{ error: { code, message } }` says what is
 * wrong (a JSON path for schema errors); the process never throws; an invalid body enqueues
 * nothing; no incident is ever touched (no approve/reject/run through the webhook).
 */
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteConfig, TargetConfig } from '../../src/config-types.js';
import { createMetrics } from '../../src/engine/metrics.js';
import type { DecisionResult, EnginePort, IncidentSummary, RoutedAlert } from '../../src/engine/types.js';
import { parseWebhook } from '../../src/triggers/alertmanager/payload.js';
import { routeAlert } from '../../src/triggers/alertmanager/route.js';
import { createHttpServer } from '../../src/triggers/http/server.js';
import type { HttpDoor } from '../../src/triggers/http/server.js';

const TOKEN = 'fuzz-token-0123';
const MAX_BODY = 256 * 1024;

/** Records every call the door makes into the engine (not a Redis/BullMQ double: the door's port). */
class RecordingEngine implements EnginePort {
  ingested: RoutedAlert[] = [];
  ingestCalls = 0;
  mutations: string[] = [];
  async ingest(alerts: RoutedAlert[]) {
    this.ingestCalls++;
    this.ingested.push(...alerts);
    return { enqueued: alerts.length, duplicates: 0 };
  }
  async run(runbook: string, target: string) {
    this.mutations.push(`run ${runbook} ${target}`);
    return { incidentId: 'never' };
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
  async approve(id: string): Promise<DecisionResult> {
    this.mutations.push(`approve ${id}`);
    return { ok: false, code: 'not_found', message: 'no' } as DecisionResult;
  }
  async reject(id: string): Promise<DecisionResult> {
    this.mutations.push(`reject ${id}`);
    return { ok: false, code: 'not_found', message: 'no' } as DecisionResult;
  }
  rolesOf() {
    return [];
  }
  names() {
    return { targets: ['cache-prod', 'sessions'], runbooks: ['redis-memory-pressure', 'redis-replication-stuck'] };
  }
  async targetStatus() {
    return undefined;
  }
  async ready() {
    return true;
  }
}

const target = (name: string, t: Partial<TargetConfig>): TargetConfig => ({ name, mode: 'standalone', endpoints: [], role: 'cache', labels: {}, allowAutomatic: false, ...t });
const targets: Record<string, TargetConfig> = {
  'cache-prod': target('cache-prod', { endpoints: [{ host: '10.0.0.7', port: 6379 }], labels: { redis_cluster: 'cache-prod' } }),
  sessions: target('sessions', { role: 'store', endpoints: [{ host: '10.0.1.1', port: 6380 }] }),
};
const runbooks = [
  { name: 'redis-memory-pressure', match: [{ alertname: 'RedisMemoryHigh' }] },
  { name: 'redis-replication-stuck', match: [{ alertname: 'RedisReplicaLinkDown' }] },
];
const routes: RouteConfig[] = [{ alertname: 'RedisMemoryAbove90', labels: {}, runbook: 'redis-memory-pressure' }];

let engine: RecordingEngine;
let door: HttpDoor;
let base: string;
const logs: string[] = [];
const crashes: unknown[] = [];
const onCrash = (e: unknown): void => void crashes.push(e);

beforeAll(async () => {
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  engine = new RecordingEngine();
  door = createHttpServer({
    engine,
    route: (a) => routeAlert(a, { routes, runbooks, targets }),
    metrics: createMetrics(),
    log: pino({ level: 'info' }, { write: (l: string) => void logs.push(l) }),
    token: TOKEN,
    maxBodyBytes: MAX_BODY,
  });
  const { port } = await door.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await door?.close();
  process.off('uncaughtException', onCrash);
  process.off('unhandledRejection', onCrash);
});

// ---------------------------------------------------------------------------------------------
// Generators

const NASTY_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];
const isoDate = fc.integer({ min: Date.parse('2000-01-01'), max: Date.parse('2099-12-31') }).map((t) => new Date(t).toISOString());
const labelName = fc.oneof(fc.stringMatching(/^[a-z_][a-z0-9_]{0,12}$/), fc.constantFrom(...NASTY_KEYS));
const instance = fc.constantFrom('10.0.0.7:6379', 'redis://10.0.1.1:6380', 'rediss://u:pw@10.0.0.7:6379/0', '[::1]:6379', 'http://exporter:9121', 'nohost', '');

/** A valid v4 alert (its label names may still be prototype names: those are valid label names). */
const validAlert = fc.record(
  {
    status: fc.constantFrom('firing', 'resolved'),
    labels: fc.tuple(fc.dictionary(labelName, fc.string({ maxLength: 24 }), { maxKeys: 5 }), fc.constantFrom('RedisMemoryHigh', 'RedisReplicaLinkDown', 'RedisMemoryAbove90', 'Other'), fc.option(instance), fc.option(fc.constantFrom('cache-prod', 'x'))).map(([l, name, inst, cluster]) => {
      const labels: Record<string, string> = JSON.parse(JSON.stringify(l)) as Record<string, string>;
      labels['alertname'] = name;
      if (inst !== null) labels['instance'] = inst;
      if (cluster !== null) labels['redis_cluster'] = cluster;
      return labels;
    }),
    annotations: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 40 }), { maxKeys: 3 }),
    startsAt: isoDate,
    endsAt: fc.oneof(isoDate, fc.constant('0001-01-01T00:00:00Z')),
    generatorURL: fc.webUrl(),
    fingerprint: fc.stringMatching(/^[a-f0-9]{16}$/),
  },
  { requiredKeys: ['status', 'labels', 'startsAt'] },
);

const validBody = fc.record({
  version: fc.constant('4'),
  groupKey: fc.string({ maxLength: 30 }),
  truncatedAlerts: fc.nat(3),
  status: fc.constantFrom('firing', 'resolved'),
  receiver: fc.string({ maxLength: 12 }),
  groupLabels: fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 10 }), { maxKeys: 2 }),
  commonLabels: fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 10 }), { maxKeys: 2 }),
  commonAnnotations: fc.constant({}),
  externalURL: fc.webUrl(),
  alerts: fc.array(validAlert, { maxLength: 4 }),
});

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path to a value of a JSON document. */
function paths(v: Json, at: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) out.push(...paths(v[k] as Json, [...at, k]));
  return out;
}

/** Replace (or delete, with `undefined`) the value at `path`; defineProperty keeps `__proto__` an own key. */
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

const deep = fc.integer({ min: 1, max: 3000 }).chain((d) => fc.constantFrom(`${'['.repeat(d)}${']'.repeat(d)}`, `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`));
const wrongValue: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  fc.constantFrom<Json>(null, true, 0, -1, 1.5, '', '4', [], {}, 'firing', '2026-13-45T99:99:99Z'),
  fc.integer({ min: 4097, max: 40_000 }).map((n): Json => 'x'.repeat(n)),
  deep.map((t) => JSON.parse(t) as Json),
);

type Case = { kind: string; text: string; contentType?: string };

const nearValid: fc.Arbitrary<Case> = validBody.chain((b) => {
  const doc = b as unknown as Json;
  const all = paths(doc).filter((p) => p.length > 0);
  return fc.oneof(
    // a field (required or not) deleted
    fc.constantFrom(...all).map((p) => ({ kind: 'deleted', text: JSON.stringify(setAt(doc, p, undefined)) })),
    // a value of the wrong type, a huge string, or deep nesting in its place
    fc.tuple(fc.constantFrom(...all), wrongValue).map(([p, v]) => ({ kind: 'wrong-type', text: JSON.stringify(setAt(doc, p, v)) })),
    // a prototype key added to any object of the body
    fc.tuple(fc.constantFrom([] as (string | number)[], ...all), fc.constantFrom(...NASTY_KEYS), wrongValue).map(([p, k, v]) => {
      const parent = p.reduce<Json>((n, s) => (n as Record<string | number, Json>)[s] as Json, doc);
      const target = parent !== null && typeof parent === 'object' && !Array.isArray(parent) ? p : [];
      return { kind: 'prototype-key', text: JSON.stringify(setAt(doc, [...target, k], v)) };
    }),
    // a label value or name over its bound
    fc.integer({ min: 4097, max: 20_000 }).map((n) => {
      const first = (doc as { alerts: Json[] }).alerts.length > 0;
      const v = first ? setAt(doc, ['alerts', 0, 'labels', 'big'], 'y'.repeat(n)) : setAt(doc, ['alerts'], [{ status: 'firing', labels: { alertname: 'X', big: 'y'.repeat(n) }, startsAt: '2026-01-01T00:00:00Z' }]);
      return { kind: 'huge-label', text: JSON.stringify(v) };
    }),
  );
});

const anyCase: fc.Arbitrary<Case> = fc.oneof(
  { weight: 3, arbitrary: validBody.map((b) => ({ kind: 'valid', text: JSON.stringify(b) })) },
  { weight: 6, arbitrary: nearValid },
  { weight: 2, arbitrary: fc.json({ maxDepth: 4 }).map((text) => ({ kind: 'any-json', text })) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((text) => ({ kind: 'text', text })) },
  { weight: 1, arbitrary: deep.map((text) => ({ kind: 'deep', text })) },
  { weight: 1, arbitrary: fc.tuple(fc.json({ maxDepth: 2 }), fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', '')).map(([text, contentType]) => ({ kind: 'content-type', text, contentType })) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_BODY + 1, max: MAX_BODY * 2 }).map((n) => ({ kind: 'too-large', text: `{"version":"4","x":"${'z'.repeat(n)}"}` })) },
);

// ---------------------------------------------------------------------------------------------

/** A JSON path as the door names it: `body`, `alerts[0].labels.alertname`, `["__proto__"]`, … */
const PATH = /^(body|[A-Za-z_$][\w$]*|\[(\d+|"(?:[^"\\]|\\.)*")\])(\.[A-Za-z_$][\w$]*|\[(\d+|"(?:[^"\\]|\\.)*")\])*: \S/;

describe('fuzz: Alertmanager webhook bodies through the HTTP door', () => {
  it('≥ 1,000 generated bodies: 202 exactly for valid ones, else a 4xx naming what is wrong; nothing enqueued for invalid ones; no crash', async () => {
    const kinds = new Map<string, number>();
    const statuses = new Map<number, number>();
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(anyCase, async (c) => {
        runs++;
        kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
        const before = { calls: engine.ingestCalls, n: engine.ingested.length };
        const res = await fetch(`${base}/webhooks/alertmanager`, {
          method: 'POST',
          headers: { 'content-type': c.contentType ?? 'application/json', authorization: `Bearer ${TOKEN}` },
          body: c.text,
        });
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const answer = JSON.parse(text) as { error?: { code: string; message: string }; accepted?: number; unmatched?: number; duplicates?: number };

        // The oracle: what the payload schema says of the same text.
        let raw: unknown;
        let isJson = true;
        try {
          raw = JSON.parse(c.text.trim());
        } catch {
          isJson = false;
        }
        const isForm = c.contentType !== undefined;
        const tooLarge = Buffer.byteLength(c.text) > MAX_BODY;
        const valid = !isForm && !tooLarge && isJson && c.text.trim() !== '' && parseWebhook(raw).ok;
        if (valid) {
          expect(res.status, text).toBe(202);
          const parsed = parseWebhook(raw);
          const alerts = parsed.ok ? parsed.value.alerts.length : -1;
          expect((answer.accepted ?? 0) + (answer.unmatched ?? 0) + (answer.duplicates ?? 0)).toBe(alerts);
          expect(engine.ingested.length - before.n).toBe(answer.accepted);
          if (c.kind === 'valid') expect(alerts).toBeGreaterThanOrEqual(0);
        } else {
          expect(res.status, `${c.kind}: ${text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
          expect(answer.error?.code).toMatch(/^[a-z_]+$/);
          expect(answer.error?.message.length).toBeGreaterThan(5);
          const code = answer.error?.code;
          if (tooLarge) expect(code).toBe('payload_too_large');
          else if (isForm) expect(code).toBe('unsupported_media_type');
          else if (!isJson || c.text.trim() === '') expect(answer.error?.message).toMatch(/^invalid JSON: /);
          else {
            expect(code).toBe('payload_invalid');
            for (const part of (answer.error?.message ?? '').split('; ').filter((p) => !/^\(\d+ more\)$/.test(p))) expect(part, c.text.slice(0, 300)).toMatch(PATH);
          }
          expect(engine.ingestCalls).toBe(before.calls);
          expect(engine.ingested.length).toBe(before.n);
        }
        expect(engine.mutations).toEqual([]);
        // the validated alerts carry nothing from the prototype chain
        for (const r of engine.ingested.slice(before.n)) {
          expect(Object.getPrototypeOf(r.alert.labels) === Object.prototype || Object.getPrototypeOf(r.alert.labels) === null).toBe(true);
          expect(typeof r.alert.labels['alertname']).toBe('string');
        }
      }),
      { numRuns: 1200, seed: Number(process.env['FUZZ_SEED'] ?? Date.now() % 2 ** 31), verbose: 1 },
    );
    expect(runs).toBeGreaterThanOrEqual(1200);
    expect(crashes).toEqual([]);
    // nothing failed inside the door (no 5xx, no "request failed" at error level)
    expect(logs.filter((l) => (JSON.parse(l) as { level: number }).level >= 50)).toEqual([]);
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
    // every kind of case was exercised, valid ones included
    for (const k of ['valid', 'deleted', 'wrong-type', 'prototype-key', 'huge-label', 'any-json', 'text', 'deep', 'content-type', 'too-large']) expect(kinds.get(k) ?? 0, k).toBeGreaterThan(0);
    expect(statuses.get(202) ?? 0).toBeGreaterThan(100);
    process.stdout.write(`fuzz-webhook: ${runs} cases ${JSON.stringify(Object.fromEntries(kinds))} statuses ${JSON.stringify(Object.fromEntries(statuses))}\n`);
  }, 60_000);
});
