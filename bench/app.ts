/**
 * Start the real program (createApp) for a bench section against a store redis-server the bench
 * started, with a random key/queue prefix and the bench runbooks (bench/runbooks/).
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { pino } from 'pino';
import { createApp } from '../src/app.js';
import type { App } from '../src/app.js';
import { parseConfig } from '../src/config.js';
import type { RoutedAlert } from '../src/engine/types.js';

export const BENCH_RUNBOOKS_DIR = resolve(import.meta.dirname, 'runbooks');
export const TARGET_NAME = 'bench-target';

export interface BenchAppOptions {
  storeUrl: string;
  /** host:port of the target redis-server. */
  target: string;
  http: boolean;
  worker: boolean;
  concurrency?: number;
  prefix?: string;
}

export function benchPrefix(): string {
  return `b${randomBytes(4).toString('hex')}`;
}

export async function startBenchApp(o: BenchAppOptions): Promise<App & { prefix: string }> {
  const prefix = o.prefix ?? benchPrefix();
  const text = `store: { url: "${o.storeUrl}" }
http: { host: 127.0.0.1, port: 0 }
runbooksDir: ${BENCH_RUNBOOKS_DIR}
engine:
  dryRun: false
  approvalTimeout: 30m
  keyPrefix: ${prefix}
  queuePrefix: "{${prefix}}"
  workerConcurrency: ${o.concurrency ?? 4}
logLevel: silent
targets:
  ${TARGET_NAME}:
    endpoints: ["${o.target}"]
    role: store
    allowAutomatic: false
approvers:
  - { id: alice, roles: [redis.dba-operator] }
`;
  const config = parseConfig(text, '<bench>', {}, { baseDir: process.cwd() });
  const app = await createApp(config, { http: o.http, worker: o.worker, log: pino({ level: 'silent' }) });
  return Object.assign(app, { prefix });
}

/** One Alertmanager alert as the webhook carries it. */
export interface WireAlert {
  status: 'firing';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export const STARTS_AT = '2026-11-25T10:00:00.000Z';

export function wireAlert(alertname: string, instance: string, fingerprint: string): WireAlert {
  return {
    status: 'firing',
    labels: { alertname, instance, severity: 'warning', job: 'redis' },
    annotations: { summary: `${alertname} on ${instance}` },
    startsAt: STARTS_AT,
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus:9090/graph',
    fingerprint,
  };
}

/** An Alertmanager v4 webhook body. */
export function webhookBody(alerts: WireAlert[]): Record<string, unknown> {
  const name = alerts[0]?.labels['alertname'] ?? '';
  return {
    version: '4',
    groupKey: `{}:{alertname="${name}"}`,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'redis-runbooks',
    groupLabels: { alertname: name },
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts,
  };
}

/** What the router makes of a wire alert (for the bare-BullMQ baselines: same job payload). */
export function routedOf(a: WireAlert, runbook: string, node: string): RoutedAlert {
  return {
    alert: { status: a.status, labels: a.labels, annotations: a.annotations, startsAt: a.startsAt, fingerprint: a.fingerprint, generatorURL: a.generatorURL },
    runbook,
    target: TARGET_NAME,
    node,
  };
}

export async function usedMemory(c: { info(section: string): Promise<string> }): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await c.info('memory'))?.[1] ?? Number.NaN);
}
