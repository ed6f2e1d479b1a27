/**
 * Prometheus metrics of the engine and its doors.
 *
 * Every call to {@link createMetrics} builds its own `Registry`, so tests (and several engines in
 * one process) never share counters. Label values are bounded sets — runbook names, HTTP codes,
 * outcome words — never incident ids, fingerprints or free text.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What happened to one alert received at a door. */
export type AlertOutcome = 'routed' | 'unmatched' | 'duplicate' | 'invalid';

/** Alert status label: the alert's own status, or `unknown` when the body was invalid. */
export type AlertStatusLabel = 'firing' | 'resolved' | 'unknown';

/** Options for {@link createMetrics}. */
export interface MetricsOptions {
  /** Metric name prefix. Default `redis_runbooks_`. */
  prefix?: string;
  /** Also collect prom-client's default process metrics (CPU, memory, event loop, GC). Default true. */
  defaultMetrics?: boolean;
}

/** Buckets for step durations, in seconds: diagnostics take milliseconds, verifications minutes. */
export const STEP_DURATION_BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/**
 * Create a fresh registry with the engine's metrics registered on it.
 *
 * - `alertsReceived{status, outcome}` — alerts seen at the webhook, by {@link AlertOutcome}.
 * - `incidentsOpened{runbook}` / `incidentsClosed{runbook, outcome}` — incident lifecycle.
 * - `stepDuration{runbook, kind}` — seconds per runbook step; `kind` is the step kind
 *   (e.g. `action`, `approval`, `verify`), never a step id from user input.
 * - `pendingApprovals` — proposals currently awaiting approval.
 * - `webhookRequests{code}` — webhook HTTP responses by status code.
 */
export function createMetrics(opts: MetricsOptions = {}) {
  const prefix = opts.prefix ?? 'redis_runbooks_';
  const registry = new Registry();
  const registers = [registry];
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix });

  const alertsReceived = new Counter<'status' | 'outcome'>({
    name: `${prefix}alerts_received_total`,
    help: 'Alerts received from Alertmanager, by alert status and outcome (routed, unmatched, duplicate, invalid).',
    labelNames: ['status', 'outcome'] as const,
    registers,
  });
  const incidentsOpened = new Counter<'runbook'>({
    name: `${prefix}incidents_opened_total`,
    help: 'Incidents opened, by runbook.',
    labelNames: ['runbook'] as const,
    registers,
  });
  const incidentsClosed = new Counter<'runbook' | 'outcome'>({
    name: `${prefix}incidents_closed_total`,
    help: 'Incidents that reached a final state, by runbook and outcome.',
    labelNames: ['runbook', 'outcome'] as const,
    registers,
  });
  const stepDuration = new Histogram<'runbook' | 'kind'>({
    name: `${prefix}step_duration_seconds`,
    help: 'Duration of runbook steps in seconds, by runbook and step kind.',
    labelNames: ['runbook', 'kind'] as const,
    buckets: STEP_DURATION_BUCKETS,
    registers,
  });
  const pendingApprovals = new Gauge({
    name: `${prefix}pending_approvals`,
    help: 'Remediation proposals currently awaiting approval.',
    registers,
  });
  const webhookRequests = new Counter<'code'>({
    name: `${prefix}webhook_requests_total`,
    help: 'Alertmanager webhook requests, by HTTP response code.',
    labelNames: ['code'] as const,
    registers,
  });

  return {
    registry,
    alertsReceived,
    incidentsOpened,
    incidentsClosed,
    stepDuration,
    pendingApprovals,
    webhookRequests,
    /** The exposition text, for `GET /metrics`. */
    text: (): Promise<string> => registry.metrics(),
    /** The `Content-Type` of {@link text}'s output. */
    contentType: registry.contentType as string,
  };
}

/** The handles returned by {@link createMetrics}. */
export type Metrics = ReturnType<typeof createMetrics>;
