/**
 * Start the real program (engine, BullMQ worker, HTTP door) for a test, against a store Redis the
 * test started, with a random key and queue prefix so files never see each other's data.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Level, Logger, StreamEntry } from 'pino';
import { createApp } from '../../src/app.js';
import type { App, AppOptions } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import type { AppConfig } from '../../src/config-types.js';
import { capture, registerSecrets } from './secrets-capture.js';

export const RUNBOOKS_DIR = resolve(import.meta.dirname, '..', '..', 'runbooks');

export interface TestTarget {
  endpoints: string[];
  role: 'cache' | 'store';
  allowAutomatic?: boolean;
  labels?: Record<string, string>;
  username?: string;
  /** Written as is: may be a `${VAR}` reference (pass `env`). */
  password?: string;
  /** `ca`/`cert`/`key` are file paths. */
  tls?: { ca?: string; cert?: string; key?: string; servername?: string; rejectUnauthorized?: boolean };
}

export interface TestAppOptions {
  /** The store as a URL (`store: { url }`); or give `storeYaml`. */
  storeUrl?: string;
  /** Replaces the whole `store:` line, e.g. `store: { cluster: { nodes: ["127.0.0.1:7000"] } }`. */
  storeYaml?: string;
  targets: Record<string, TestTarget>;
  prefix?: string;
  /** Default `{<prefix>}`. */
  queuePrefix?: string;
  /** Environment for `${VAR}` interpolation (default: none). */
  env?: NodeJS.ProcessEnv;
  /** Logger for the app (default: pino at TEST_LOG_LEVEL, silent). */
  log?: Logger;
  http?: boolean;
  worker?: boolean;
  schedules?: boolean;
  token?: string;
  dryRun?: boolean;
  approvalTimeout?: string;
  runbooksDir?: string;
  extraYaml?: string;
  /** Extra lines inside the `engine:` section (indented two spaces), e.g. fault injection. */
  engineYaml?: string;
  /** `http.workerPort`: a worker-only process serves its probes and /metrics there. */
  workerPort?: number;
}

export function testPrefix(): string {
  return `t${randomBytes(4).toString('hex')}`;
}

export function testConfigText(o: TestAppOptions & { prefix: string }): string {
  // issue 12, suite-wide secrets scan: literal secrets of the text (`${VAR}` references are registered by startTestApp once resolved)
  registerSecrets([o.token, ...Object.values(o.targets).map((t) => t.password)].filter((v) => v !== undefined && !v.includes('${')));
  const targets = Object.entries(o.targets)
    .map(([name, t]) =>
      [
        `  ${name}:`,
        `    endpoints: [${t.endpoints.map((e) => `"${e}"`).join(', ')}]`,
        `    role: ${t.role}`,
        `    allowAutomatic: ${t.allowAutomatic ?? false}`,
        `    labels: ${JSON.stringify(t.labels ?? {})}`,
        ...(t.username !== undefined ? [`    username: ${JSON.stringify(t.username)}`] : []),
        ...(t.password !== undefined ? [`    password: ${JSON.stringify(t.password)}`] : []),
        ...(t.tls !== undefined ? [`    tls: ${JSON.stringify(t.tls)}`] : []),
      ].join('\n'),
    )
    .join('\n');
  if (o.storeYaml === undefined && o.storeUrl === undefined) throw new Error('testConfigText: give storeUrl or storeYaml');
  return `${o.storeYaml ?? `store: { url: "${o.storeUrl}" }`}
http: { host: 127.0.0.1, port: 0${o.workerPort !== undefined ? `, workerPort: ${o.workerPort}` : ''}${o.token ? `, token: ${o.token}` : ''} }
runbooksDir: ${o.runbooksDir ?? RUNBOOKS_DIR}
engine:
  dryRun: ${o.dryRun ?? false}
  approvalTimeout: ${o.approvalTimeout ?? '30m'}
  keyPrefix: ${o.prefix}
  queuePrefix: ${JSON.stringify(o.queuePrefix ?? `{${o.prefix}}`)}
  workerConcurrency: 4
${o.engineYaml?.includes('shutdownTimeout') ? '' : '  shutdownTimeout: 5s\n'}${o.engineYaml ?? ''}
logLevel: ${process.env['TEST_LOG_LEVEL'] ?? 'silent'}
targets:
${targets}
approvers:
  - { id: alice, roles: [redis.dba-operator] }
  - { id: bob, roles: [redis.cluster-admin] }
  - { id: victor, roles: [redis.viewer] }
${o.extraYaml ?? ''}`;
}

export async function startTestApp(o: TestAppOptions): Promise<App> {
  const prefix = o.prefix ?? testPrefix();
  const config = parseConfig(testConfigText({ ...o, prefix }), '<test>', o.env ?? {}, { baseDir: process.cwd() });
  return createScannedApp(config, { http: o.http ?? true, worker: o.worker ?? true, schedules: o.schedules ?? false, ...(o.log ? { log: o.log } : {}) });
}

/**
 * `createApp` for tests that build their own config: the same as the program, plus the suite-wide
 * secrets scan's capture (its secrets registered, debug logs captured unless `opts.log` is given,
 * incidents, timelines and API answers dumped on close).
 */
export async function createScannedApp(config: AppConfig, opts: AppOptions): Promise<App> {
  addCanarySecrets(config);
  registerSecrets(configSecrets(config));
  const app = await createApp(config, { ...opts, log: opts.log ?? captureLogger() });
  captureEngineReads(app);
  return withCaptureOnClose(app, config);
}

/**
 * Capture every incident and timeline the test (or the HTTP door) reads through the engine, once
 * per change: the dump on close() misses apps whose store a test stopped before closing them.
 */
function captureEngineReads(app: App): void {
  try {
    const engine = app.engine;
    const last = new Map<string, string>();
    const once = (key: string, value: unknown): void => {
      if (value === undefined) return;
      const text = JSON.stringify(value);
      if (last.get(key) === text) return;
      last.set(key, text);
      capture('timeline', text);
    };
    const getIncident = engine.getIncident.bind(engine);
    const getTimeline = engine.getTimeline.bind(engine);
    engine.getIncident = async (id) => {
      const r = await getIncident(id);
      once(`i:${id}`, r);
      return r;
    };
    engine.getTimeline = async (id) => {
      const r = await getTimeline(id);
      once(`t:${id}`, r);
      return r;
    };
  } catch {
    // best effort
  }
}

/**
 * Issue 12, suite-wide secrets scan: every target of a test app gets a distinctive named secret
 * no runbook uses (`rr-scan-canary`), so the suite runs with secret values the final scan
 * (test/secrets-scan) can look for even where a test configures no password or token.
 */
function addCanarySecrets(config: AppConfig): void {
  for (const t of Object.values(config.targets)) {
    const canary = `rr-canary-${t.name}-${randomBytes(8).toString('hex')}`;
    t.secrets = Object.assign(Object.create(null) as Record<string, string>, t.secrets ?? {}, { 'rr-scan-canary': canary });
  }
}

/** Every secret value of a parsed config: target and store passwords, named secrets, TLS keys, the HTTP token, Slack tokens. */
export function configSecrets(config: AppConfig): string[] {
  const out: Array<string | undefined> = [config.http.token];
  for (const t of Object.values(config.targets)) {
    out.push(t.password, t.sentinel?.password, t.tls?.key, ...Object.values(t.secrets ?? {}));
  }
  const st = config.store;
  if (st) {
    out.push(st.tls?.key);
    if (st.mode === 'sentinel') out.push(st.password, st.sentinelPassword);
    if (st.mode === 'cluster') out.push(st.password);
  }
  if (config.slack) out.push(config.slack.botToken, config.slack.signingSecret, config.slack.appToken);
  return out.filter((v): v is string => typeof v === 'string' && v !== '');
}

/** pino at debug into the capture (`log-<pid>.log`), and to stdout at TEST_LOG_LEVEL when that is set. */
function captureLogger(): Logger {
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      capture('log', typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
      cb();
    },
  });
  const streams: StreamEntry[] = [{ level: 'debug', stream: sink }];
  const consoleLevel = process.env['TEST_LOG_LEVEL'];
  if (consoleLevel !== undefined && consoleLevel !== '' && consoleLevel !== 'silent') streams.push({ level: consoleLevel as Level, stream: process.stdout });
  const level = consoleLevel === 'trace' ? 'trace' : 'debug';
  return pino({ level }, pino.multistream(streams));
}

const DUMP_TIMEOUT_MS = 4_000;
const FETCH_TIMEOUT_MS = 1_500;
const MAX_API_INCIDENTS = 200;

/** Wrap `close()`: first dump incidents, timelines and API answers into the capture (best effort, bounded in time). */
function withCaptureOnClose(app: App, config: AppConfig): App {
  const close = app.close.bind(app);
  let dumped = false;
  app.close = async () => {
    if (!dumped) {
      dumped = true;
      const state = { stop: false };
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([dumpForScan(app, config, state).catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, DUMP_TIMEOUT_MS)))]);
      } catch {
        // best effort
      } finally {
        state.stop = true;
        if (timer) clearTimeout(timer);
      }
    }
    return close();
  };
  return app;
}

async function dumpForScan(app: App, config: AppConfig, state: { stop: boolean }): Promise<void> {
  // a store a test already stopped (or never reached): nothing to read, do not wait for retries
  if (app.redis.status !== 'ready') return;
  const ids: string[] = [];
  try {
    const list = await app.engine.listIncidents({ limit: 1000 });
    capture('timeline', JSON.stringify({ incidents: list }));
    ids.push(...list.map((i) => i.id));
  } catch {
    // best effort
  }
  await inBatches(ids, async (id) => {
    if (state.stop) return;
    try {
      const [detail, timeline] = await Promise.all([app.engine.getIncident(id), app.engine.getTimeline(id)]);
      capture('timeline', JSON.stringify({ id, detail, timeline }));
    } catch {
      // best effort
    }
  });
  const base = app.http?.url;
  if (!base) return;
  const headers: Record<string, string> = config.http.token ? { authorization: `Bearer ${config.http.token}` } : {};
  const get = async (path: string): Promise<void> => {
    if (state.stop) return;
    try {
      const res = await fetch(`${base}${path}`, { headers, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      capture('api', `GET ${path} ${res.status} ${await res.text()}`);
    } catch {
      // best effort
    }
  };
  await get('/api/incidents');
  await inBatches(ids.slice(0, MAX_API_INCIDENTS), async (id) => {
    await get(`/api/incidents/${encodeURIComponent(id)}`);
    await get(`/api/incidents/${encodeURIComponent(id)}/timeline`);
  });
}

/** `fn` over `items`, 16 at a time (the dump must fit its time bound with hundreds of incidents). */
async function inBatches<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += 16) await Promise.all(items.slice(i, i + 16).map(fn));
}

/** An Alertmanager v4 webhook body with the given alerts. */
export function webhookBody(alerts: { labels: Record<string, string>; status?: 'firing' | 'resolved'; fingerprint?: string; startsAt?: string; annotations?: Record<string, string> }[]): Record<string, unknown> {
  const first = alerts[0]?.labels ?? {};
  return {
    version: '4',
    groupKey: `{}:{alertname="${first['alertname'] ?? ''}"}`,
    truncatedAlerts: 0,
    status: alerts.some((a) => (a.status ?? 'firing') === 'firing') ? 'firing' : 'resolved',
    receiver: 'redis-runbooks',
    groupLabels: { alertname: first['alertname'] ?? '' },
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts: alerts.map((a) => ({
      status: a.status ?? 'firing',
      labels: a.labels,
      annotations: a.annotations ?? { summary: 'test alert' },
      startsAt: a.startsAt ?? '2026-11-25T10:00:00Z',
      endsAt: a.status === 'resolved' ? '2026-11-25T10:30:00Z' : '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus:9090/graph',
      fingerprint: a.fingerprint ?? randomBytes(8).toString('hex'),
    })),
  };
}

export async function post(url: string, body: unknown, token?: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, json };
}
