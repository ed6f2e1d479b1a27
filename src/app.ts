/**
 * The composition root: builds the engine and its doors from a validated config. The CLI, the
 * demo and the integration tests all start the program through here.
 */
import { pino } from 'pino';
import type { Logger } from 'pino';
import { actions } from './actions/registry.js';
import { NODE_SELECTORS } from './actions/redis/topology.js';
import type { ActionDefinition } from './actions/types.js';
import type { AppConfig, StoreConfig } from './config-types.js';
import { configProblem } from './config.js';
import { ConfigError, RunbookError, RunbooksError } from './errors.js';
import { RunbookCatalog } from './engine/catalog.js';
import { Engine } from './engine/engine.js';
import type { EngineDeps } from './engine/engine.js';
import { makeKeys } from './engine/keys.js';
import { TargetLocks } from './engine/locks.js';
import { RefusalLimiter } from './engine/refusal-limit.js';
import { createMetrics } from './engine/metrics.js';
import { storeMetricsSource } from './engine/metrics-source.js';
import type { Metrics } from './engine/metrics.js';
import { QUEUE_NAME, createQueue } from './engine/queue.js';
import type { JobData } from './engine/queue.js';
import { SHIPPED_RUNBOOKS_DIR, loadRunbookDirs } from './engine/runbook/load.js';
import type { LoadDeps, RunbookDirSpec } from './engine/runbook/load.js';
import { connectStore } from './engine/store/connect.js';
import { startEmbeddedStore } from './engine/store/embedded.js';
import type { EmbeddedStore } from './engine/store/embedded.js';
import { IncidentStore } from './engine/store/incidents.js';
import type { StoreClient } from './engine/store/incidents.js';
import { TargetRegistry } from './engine/targets.js';
import { startWorker } from './engine/worker.js';
import { syncSchedules } from './engine/schedules.js';
import { loadHygiene, startHygiene } from './engine/hygiene/index.js';
import type { HygieneRuntime } from './engine/hygiene/index.js';
import type { WorkerHandle } from './engine/worker.js';
import { routeAlert } from './triggers/alertmanager/route.js';
import { createHttpServer, createProbeServer } from './triggers/http/server.js';
import { createSlack } from './triggers/slack/index.js';
import { SlackHygieneDigest } from './triggers/slack/hygiene-digest.js';
import type { SlackDoor } from './triggers/slack/index.js';
import type { IncidentNotifier } from './engine/types.js';
import type { HttpDoor } from './triggers/http/server.js';
import type { Queue } from 'bullmq';

export interface AppOptions {
  http?: boolean;
  worker?: boolean;
  /** Upsert the configured hygiene schedules (BullMQ job schedulers). `start` does. */
  schedules?: boolean;
  log?: Logger;
  now?: () => number;
  /** Recorded findings and plans instead of the targets' (the crash matrix only; see `EffectEnv.replay`). */
  replay?: EngineDeps['replay'];
}

export interface App {
  config: AppConfig;
  engine: Engine;
  catalog: RunbookCatalog;
  metrics: Metrics;
  log: Logger;
  store: StoreConfig;
  redis: StoreClient;
  queue: Queue<JobData>;
  http?: { door: HttpDoor; port: number; url: string };
  /** A worker without the door, with `http.workerPort`: /metrics, /healthz, /readyz. */
  probes?: { port: number; url: string };
  worker?: WorkerHandle;
  /** Hygiene checks (runbooks/hygiene/*.yaml): the service, its queue, schedulers and worker. */
  hygiene: HygieneRuntime;
  close(): Promise<void>;
}

export function loadDeps(config: AppConfig): LoadDeps {
  return { actions: actions as ReadonlyMap<string, ActionDefinition<unknown, unknown>>, selectors: NODE_SELECTORS, defaultApprovalTimeoutMs: config.engine.approvalTimeoutMs };
}

/**
 * The runbook directories of a config, in load order: the package's shipped runbooks (unless
 * `shippedRunbooks: false`), then the operator's `runbooksDir` (or `dirs`, e.g. those `lint` names).
 */
export function runbookDirs(config: AppConfig, dirs: readonly string[] = config.runbooksDirs): RunbookDirSpec[] {
  return [...(config.shippedRunbooks ? [{ dir: SHIPPED_RUNBOOKS_DIR, shipped: true }] : []), ...dirs.map((dir) => ({ dir }))];
}

/** Load and compile the runbooks of the config; refuse to start on any error. Overrides of shipped runbooks are logged. */
export function loadCatalog(config: AppConfig, log?: Logger): RunbookCatalog {
  const deps = loadDeps(config);
  const { runbooks, errors, overrides } = loadRunbookDirs(runbookDirs(config), deps);
  if (errors.length > 0) throw new RunbookError(`invalid runbooks:\n${errors.join('\n')}`);
  for (const o of overrides) log?.info({ runbook: o.name, file: o.file, replaced: o.replaced }, o.shipped ? 'runbook overrides the shipped one' : 'runbook overrides an earlier one');
  return new RunbookCatalog(runbooks, deps);
}

export function createLogger(config: AppConfig): Logger {
  return pino({
    level: config.logLevel,
    base: { svc: 'redis-runbooks' },
    redact: { paths: ['password', '*.password', '*.*.password', 'token', '*.token', 'authorization', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
  });
}

async function waitReady(c: StoreClient): Promise<void> {
  if (c.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`not reachable within ${STORE_READY_MS / 1000} s`)), STORE_READY_MS);
    c.once('ready', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** How long start-up waits for the store before giving up (and the process exits non-zero). */
const STORE_READY_MS = 10_000;

/** The configured store, for messages: its kind and where it is (never credentials). */
function storeKind(s: StoreConfig, embedded: boolean): string {
  return embedded ? 'embedded' : s.mode;
}

/**
 * Issue 12 #2: references the config makes to runbooks (routes, schedules) must exist; else the
 * process refuses to start, naming the file, line and path.
 */
export function checkReferences(config: AppConfig, catalog: RunbookCatalog): void {
  const known = catalog.names();
  const problems: string[] = [];
  const unknown = (path: (string | number)[], name: string): void => {
    problems.push(configProblem(config, path, `unknown runbook '${name}' (known: ${known.join(', ') || 'none'})`).message);
  };
  config.routes.forEach((r, i) => {
    if (!catalog.get(r.runbook)) unknown(['routes', i, 'runbook'], r.runbook);
  });
  config.schedules.forEach((s, i) => {
    if (!catalog.get(s.runbook)) unknown(['schedules', i, 'runbook'], s.runbook);
  });
  if (problems.length > 0) throw new ConfigError(problems.join('\n'));
}

export async function createApp(config: AppConfig, opts: AppOptions = {}): Promise<App> {
  const log = opts.log ?? createLogger(config);
  const catalog = loadCatalog(config, log);
  checkReferences(config, catalog);
  // Issue 12 #2/#6: whatever start-up got to is stopped again when a later step fails.
  const undo: (() => Promise<unknown> | void)[] = [];
  try {
    return await build(config, opts, log, catalog, undo);
  } catch (err) {
    for (const fn of undo.reverse()) await Promise.resolve(fn()).catch(() => undefined);
    throw err;
  }
}

async function build(config: AppConfig, opts: AppOptions, log: Logger, catalog: RunbookCatalog, undo: (() => Promise<unknown> | void)[]): Promise<App> {
  const hygieneAssignments = loadHygiene(runbookDirs(config).map((d) => d.dir), new Map(Object.entries(config.targets).map(([n, t]) => [n, { role: t.role }])), catalog.names());
  let embedded: EmbeddedStore | undefined;
  let store = config.store;
  if (!store) {
    embedded = await startEmbeddedStore(config.embedded);
    const owned = embedded;
    undo.push(() => owned.stop());
    store = { mode: 'url', url: embedded.url };
    log.info({ port: embedded.port, dataDir: config.embedded.dataDir, reused: !embedded.owned }, 'embedded store');
  }
  const redis = connectStore(store, 'door');
  undo.push(() => redis.disconnect());
  redis.on('error', (e: Error) => log.warn({ err: e.message }, 'store connection error'));
  const unreachable = (e: unknown): never => {
    const why = e instanceof Error ? e.message : String(e);
    throw config.store ? configProblem(config, ['store'], `${storeKind(store, false)} store ${why}`) : new RunbooksError('store_unavailable', `embedded store ${why}`);
  };
  await waitReady(redis).catch(unreachable);
  // The queue gets its own connection: BullMQ loads its scripts into the client it is given, and
  // every pipeline on that client then carries them (10x slower pipelines for the engine).
  const queueConn = connectStore(store, 'door');
  undo.push(() => queueConn.disconnect());
  queueConn.on('error', (e: Error) => log.warn({ err: e.message }, 'queue connection error'));
  await waitReady(queueConn).catch(unreachable);
  const queue = createQueue(queueConn, config.engine.queuePrefix);
  undo.push(() => queue.close());
  queue.on('error', (e) => log.warn({ err: e.message }, 'queue error'));
  const keys = makeKeys(config.engine.keyPrefix);
  const metrics = createMetrics();
  metrics.observe(storeMetricsSource({ queue, redis, keys, now: opts.now ?? Date.now }));
  const targets = new TargetRegistry(config.targets);
  undo.push(() => targets.close());
  const incidentStore = new IncidentStore(redis, keys);
  // The Slack door needs the engine and the engine needs its notifier: forward until both exist.
  let slack: SlackDoor | undefined;
  const notifier: IncidentNotifier | undefined = config.slack ? { sync: (id) => (slack ? slack.notifier.sync(id) : Promise.reject(new Error('slack is starting'))) } : undefined;
  const engine = new Engine({
    actions,
    redis,
    queue,
    keys,
    store: incidentStore,
    catalog,
    targets,
    locks: new TargetLocks(redis, keys.lock, config.engine.lockTtlMs),
    config,
    metrics,
    log,
    now: opts.now ?? Date.now,
    ...(notifier ? { notifier } : {}),
    ...(opts.replay ? { replay: opts.replay } : {}),
  });
  if (config.slack) {
    slack = createSlack({ config: config.slack, engine, approvers: config.approvers, redis, keys, log, maxBodyBytes: config.http.maxBodyBytes, now: opts.now ?? Date.now });
  }
  let worker: WorkerHandle | undefined;
  let workerConn: StoreClient | undefined;
  if (opts.worker) {
    const conn = connectStore(store, 'worker');
    workerConn = conn;
    undo.push(() => conn.disconnect());
    workerConn.on('error', (e: Error) => log.warn({ err: e.message }, 'worker store connection error'));
    const handle = startWorker(engine, {
      connection: workerConn,
      prefix: config.engine.queuePrefix,
      concurrency: config.engine.workerConcurrency,
      log,
      // Graceful shutdown: a step handed back to another worker says so on its incident's timeline.
      onHandBack: async (jobs) => {
        const at = new Date((opts.now ?? Date.now)()).toISOString();
        const secs = Math.round(config.engine.shutdownTimeoutMs / 1000);
        for (const d of jobs) {
          if (d.type !== 'effect' && d.type !== 'event') continue;
          const what = d.type === 'effect' ? `the ${d.effect.kind} step` : `the ${d.event.type} event`;
          await incidentStore.append(d.incidentId, { at, kind: 'note', actor: { kind: 'engine' }, summary: `worker stopping: ${what} did not finish within engine.shutdownTimeout (${secs} s); handed back to another worker, which resumes it (commands already done are not sent again)`, data: { handedBack: d.type === 'effect' ? d.effect.kind : d.event.type } });
        }
      },
    });
    worker = handle;
    undo.push(() => handle.close(3000));
    // Issue 12 #7: one line when a worker starts.
    log.info({ queue: `${config.engine.queuePrefix}:${QUEUE_NAME}`, concurrency: config.engine.workerConcurrency, store: storeKind(store, embedded !== undefined) }, 'worker started');
    const n = await engine.recover();
    if (n > 0) log.info({ redispatched: n }, 'recovered open incidents');
  }
  if (opts.schedules) {
    const ids = await syncSchedules(queue, config.schedules, engine.names());
    if (ids.length > 0) log.info({ schedules: ids }, 'schedules upserted');
  }
  const hygieneConn = opts.worker ? connectStore(store, 'worker') : undefined;
  if (hygieneConn) {
    undo.push(() => hygieneConn.disconnect());
    hygieneConn.on('error', (e: Error) => log.warn({ err: e.message }, 'hygiene worker store connection error'));
  }
  const hygiene = await startHygiene(
    { redis, keys, targets, ingest: (alerts) => engine.ingest(alerts), assignments: hygieneAssignments, log: log.child({ part: 'hygiene' }), now: opts.now ?? Date.now, ...(config.slack ? { digest: new SlackHygieneDigest({ config: config.slack, log: log.child({ door: 'slack', part: 'hygiene-digest' }) }) } : {}) },
    { queueConnection: queueConn, ...(hygieneConn ? { workerConnection: hygieneConn } : {}), prefix: config.engine.queuePrefix, schedules: opts.schedules === true },
  );
  undo.push(() => hygiene.close());
  let http: App['http'];
  if (opts.http) {
    const door = createHttpServer({
      engine,
      route: (a) => routeAlert(a, { routes: config.routes, runbooks: catalog.matchers(), targets: config.targets }),
      metrics,
      log,
      ...(config.http.token !== undefined ? { token: config.http.token } : {}),
      maxBodyBytes: config.http.maxBodyBytes,
      refusals: new RefusalLimiter(redis, keys),
      hygiene: hygiene.service,
      ...(slack?.extraRoutes ? { extraRoutes: slack.extraRoutes } : {}),
    });
    undo.push(() => door.close());
    const { port } = await door.listen(config.http.port, config.http.host).catch((e: unknown) => {
      // Issue 12 #2: a port in use (or a host we cannot bind) stops the start, naming the config path.
      throw configProblem(config, ['http', 'port'], `cannot listen on ${config.http.host}:${config.http.port} (${(e as { code?: string }).code ?? (e as Error).message})`);
    });
    http = { door, port, url: `http://${config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host}:${port}` };
    log.info({ url: http.url }, 'http listening');
  }
  let probes: App['probes'];
  let probeServer: HttpDoor | undefined;
  if (!opts.http && opts.worker && config.http.workerPort !== undefined) {
    const server = createProbeServer({ engine, metrics, log });
    probeServer = server;
    undo.push(() => server.close());
    const { port } = await server.listen(config.http.workerPort, config.http.host).catch((e: unknown) => {
      throw configProblem(config, ['http', 'workerPort'], `cannot listen on ${config.http.host}:${config.http.workerPort} (${(e as { code?: string }).code ?? (e as Error).message})`);
    });
    probes = { port, url: `http://${config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host}:${port}` };
  }
  if (slack && (opts.http || opts.worker)) {
    const started = slack;
    undo.push(() => started.stop());
    await slack.start();
  }
  let closed = false;
  return {
    config,
    engine,
    catalog,
    metrics,
    log,
    store,
    redis,
    queue,
    ...(http ? { http } : {}),
    ...(probes ? { probes } : {}),
    ...(worker ? { worker } : {}),
    hygiene,
    async close() {
      if (closed) return;
      closed = true;
      // Each step is bounded: a dead store must not hang shutdown.
      const bounded = (p: Promise<unknown>, ms = 5000): Promise<unknown> => Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, ms).unref())]);
      if (http) await bounded(http.door.close(), 6000);
      if (slack) await bounded(slack.stop(), 3000);
      // Jobs in flight get engine.shutdownTimeout to finish; the rest are handed back to other workers.
      const deadline = config.engine.shutdownTimeoutMs;
      const stopped = worker ? ((await bounded(worker.close(deadline), deadline + 8000)) as { handedBack: unknown[] } | undefined) : undefined;
      if (worker && ((stopped?.handedBack.length ?? 0) > 0 || stopped === undefined)) {
        // What was handed back is abandoned here: cut the store first so it can record nothing more.
        redis.disconnect();
        workerConn?.disconnect();
      }
      if (probeServer) await bounded(probeServer.close(), 6000);
      await bounded(hygiene.close(), 6000);
      hygieneConn?.disconnect();
      await bounded(queue.close(), 3000);
      queueConn.disconnect();
      if (workerConn) workerConn.disconnect();
      if (redis.status === 'ready') await bounded(redis.quit(), 2000);
      redis.disconnect();
      await bounded(targets.close(), 3000);
      if (embedded) await embedded.stop();
    },
  };
}
