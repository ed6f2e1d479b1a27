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

/**
 * Numbers read from the store when `/metrics` is scraped, so every process (HTTP door or worker)
 * reports the same fleet-wide truth rather than what it happened to see. Built by
 * `storeMetricsSource` (metrics-source.ts) and attached with {@link Metrics.observe}.
 */
export interface MetricsSource {
  /** Jobs in the engine's queue by BullMQ state (waiting, active, delayed, failed, …). */
  queueJobs(): Promise<Record<string, number>>;
  /** Every open incident: its runbook, state and when its record last changed (ms since epoch). */
  openIncidents(): Promise<{ runbook: string; state: string; updatedAtMs: number }[]>;
  now(): number;
}

/** A scrape never waits longer than this for the store; on timeout or error the gauges are empty. */
export const SOURCE_TIMEOUT_MS = 2000;

function bounded<T>(p: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('metrics source timed out')), SOURCE_TIMEOUT_MS);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
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
 * - Read from the store at scrape time, once {@link Metrics.observe} gave a source:
 *   `queue_jobs{state}` (BullMQ job counts), `incidents_open{runbook, state}` and
 *   `oldest_pending_approval_seconds`.
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
  const timeToApproval = new Histogram({
    name: `${prefix}time_to_approval_seconds`,
    help: 'Seconds from an approval request to the approval that let the remediation run (or its next phase).',
    buckets: [10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
    registers,
  });
  const webhookRequests = new Counter<'code'>({
    name: `${prefix}webhook_requests_total`,
    help: 'Alertmanager webhook requests, by HTTP response code.',
    labelNames: ['code'] as const,
    registers,
  });

  // Scrape-time gauges: one read of the open incidents serves both incident gauges of a scrape
  // (prom-client starts every collect() of a scrape before awaiting any): share the read in flight.
  let source: MetricsSource | undefined;
  let openRead: Promise<{ runbook: string; state: string; updatedAtMs: number }[]> | undefined;
  const readOpen = (src: MetricsSource) => {
    if (openRead === undefined) {
      const p = bounded(src.openIncidents());
      openRead = p;
      const clear = () => {
        if (openRead === p) openRead = undefined;
      };
      p.then(clear, clear);
    }
    return openRead;
  };
  new Gauge<'state'>({
    name: `${prefix}queue_jobs`,
    help: 'Jobs in the engine queue by BullMQ state (read from the store at scrape time).',
    labelNames: ['state'] as const,
    registers,
    async collect() {
      this.reset();
      if (!source) return;
      const counts = await bounded(source.queueJobs()).catch(() => undefined);
      for (const [state, n] of Object.entries(counts ?? {})) this.set({ state }, n);
    },
  });
  new Gauge<'runbook' | 'state'>({
    name: `${prefix}incidents_open`,
    help: 'Open incidents by runbook and state (read from the store at scrape time).',
    labelNames: ['runbook', 'state'] as const,
    registers,
    async collect() {
      this.reset();
      if (!source) return;
      const open = await readOpen(source).catch(() => undefined);
      const counts = new Map<string, { runbook: string; state: string; n: number }>();
      for (const o of open ?? []) {
        const k = `${o.runbook}\n${o.state}`;
        const c = counts.get(k) ?? { runbook: o.runbook, state: o.state, n: 0 };
        c.n += 1;
        counts.set(k, c);
      }
      for (const c of counts.values()) this.set({ runbook: c.runbook, state: c.state }, c.n);
    },
  });
  new Gauge({
    name: `${prefix}oldest_pending_approval_seconds`,
    help: 'Seconds since the longest-waiting incident in awaiting_approval last changed (entered the gate, or got a first approval of two); 0 when none waits.',
    registers,
    async collect() {
      this.reset();
      if (!source) return;
      const src = source;
      const open = await readOpen(src).catch(() => undefined);
      if (open === undefined) return;
      const waiting = open.filter((o) => o.state === 'awaiting_approval' && Number.isFinite(o.updatedAtMs));
      const oldest = waiting.reduce<number | undefined>((m, o) => (m === undefined || o.updatedAtMs < m ? o.updatedAtMs : m), undefined);
      this.set(oldest === undefined ? 0 : Math.max(0, (src.now() - oldest) / 1000));
    },
  });

  return {
    registry,
    alertsReceived,
    incidentsOpened,
    incidentsClosed,
    stepDuration,
    pendingApprovals,
    timeToApproval,
    webhookRequests,
    /** Attach the store-backed source of the scrape-time gauges (queue jobs, open incidents). */
    observe(src: MetricsSource): void {
      source = src;
    },
    /** The exposition text, for `GET /metrics`. */
    text: (): Promise<string> => registry.metrics(),
    /** The `Content-Type` of {@link text}'s output. */
    contentType: registry.contentType as string,
  };
}

/** The handles returned by {@link createMetrics}. */
export type Metrics = ReturnType<typeof createMetrics>;
