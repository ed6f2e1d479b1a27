/**
 * Start the real program (engine, BullMQ worker, HTTP door) for a test, against a store Redis the
 * test started, with a random key and queue prefix so files never see each other's data.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { createApp } from '../../src/app.js';
import type { App } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';

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
}

export function testPrefix(): string {
  return `t${randomBytes(4).toString('hex')}`;
}

export function testConfigText(o: TestAppOptions & { prefix: string }): string {
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
http: { host: 127.0.0.1, port: 0${o.token ? `, token: ${o.token}` : ''} }
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
  const log = o.log ?? pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
  return createApp(config, { http: o.http ?? true, worker: o.worker ?? true, schedules: o.schedules ?? false, log });
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
