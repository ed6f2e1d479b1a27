/**
 * Test helper: run a real Prometheus Alertmanager (Debian's `prometheus-alertmanager`
 * package, or any binary named by ALERTMANAGER_BIN) on a free loopback port, with a
 * single webhook receiver pointed at the code under test.
 *
 * Each instance gets its own temp dir (config + storage) and HA gossip is disabled
 * (`--cluster.listen-address=`), so several can run side by side and none touch 9093/9094.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, waitFor } from './ports.js';

export interface StartAlertmanagerOptions {
  /** Webhook receiver URL (the code under test). */
  webhookUrl: string;
  /** When set, sent as `Authorization: Bearer <token>` on every webhook call. */
  bearerToken?: string;
  /** Alertmanager duration strings. */
  groupWait?: string;
  groupInterval?: string;
  repeatInterval?: string;
  /** How long to wait for /-/ready (default 20 s). */
  readyTimeoutMs?: number;
}

export interface PostableAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  /** RFC 3339 string or Date. */
  startsAt?: string | Date;
  /** RFC 3339 string or Date; a time in the past resolves the alert. */
  endsAt?: string | Date;
  generatorURL?: string;
}

export interface AlertmanagerHandle {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  port: number;
  /** Path of the generated alertmanager.yml. */
  configPath: string;
  /** POST /api/v2/alerts; throws on a non-2xx answer. */
  postAlerts(alerts: PostableAlert[]): Promise<void>;
  /** Recent stdout/stderr of the alertmanager process (for failure messages). */
  logs(): string;
  /** SIGTERM, SIGKILL after 3 s, then remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const FALLBACK_BIN = '/usr/bin/prometheus-alertmanager';
const PATH_NAMES = ['prometheus-alertmanager', 'alertmanager'];
const KILL_GRACE_MS = 3_000;
const MAX_LOG_CHARS = 64 * 1024;
const START_ATTEMPTS = 3;

function isExecutable(p: string): boolean {
  try {
    accessSync(p, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** ALERTMANAGER_BIN, else `prometheus-alertmanager` / `alertmanager` on PATH, else /usr/bin/prometheus-alertmanager. */
export function findAlertmanagerBinary(): string {
  const fromEnv = process.env['ALERTMANAGER_BIN'];
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`ALERTMANAGER_BIN=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter(Boolean);
  for (const name of PATH_NAMES) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  if (isExecutable(FALLBACK_BIN)) return FALLBACK_BIN;
  throw new Error(
    'Alertmanager binary not found: set ALERTMANAGER_BIN, put prometheus-alertmanager/alertmanager on PATH, ' +
      'or `apt-get install prometheus-alertmanager` (the CI script .ci/run does this).',
  );
}

export function alertmanagerConfig(opts: StartAlertmanagerOptions): Record<string, unknown> {
  const webhook: Record<string, unknown> = {
    url: opts.webhookUrl,
    send_resolved: true,
    max_alerts: 0,
  };
  if (opts.bearerToken !== undefined) {
    webhook['http_config'] = { authorization: { type: 'Bearer', credentials: opts.bearerToken } };
  }
  return {
    route: {
      receiver: 'webhook',
      group_by: ['alertname', 'instance'],
      group_wait: opts.groupWait ?? '1s',
      group_interval: opts.groupInterval ?? '2s',
      repeat_interval: opts.repeatInterval ?? '1h',
    },
    receivers: [{ name: 'webhook', webhook_configs: [webhook] }],
  };
}

// Safety net: never leak an alertmanager if the test process exits without stop().
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) {
        try {
          c.kill('SIGKILL');
        } catch {
          /* already gone */
        }
      }
    });
  }
}

function toIso(v: string | Date | undefined): string | undefined {
  return v instanceof Date ? v.toISOString() : v;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

async function killChild(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  child.kill('SIGTERM');
  if (await waitExit(child, KILL_GRACE_MS)) return;
  child.kill('SIGKILL');
  await waitExit(child, KILL_GRACE_MS);
}

export async function startAlertmanager(opts: StartAlertmanagerOptions): Promise<AlertmanagerHandle> {
  const bin = findAlertmanagerBinary();
  const dir = await mkdtemp(join(tmpdir(), 'rr-alertmanager-'));
  const configPath = join(dir, 'alertmanager.yml');
  const storagePath = join(dir, 'data');
  await writeFile(configPath, stringify(alertmanagerConfig(opts)), 'utf8');

  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const args = [
      `--config.file=${configPath}`,
      `--storage.path=${storagePath}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
    ];
    let output = '';
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    trackChild(child);
    const onData = (b: Buffer) => {
      output += b.toString('utf8');
      if (output.length > MAX_LOG_CHARS) output = output.slice(-MAX_LOG_CHARS);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const died = new AbortController();
    child.once('error', (err) => died.abort(new Error(`failed to spawn ${bin}: ${err.message}`)));
    // 'close' (not 'exit') so the output is complete when we look for EADDRINUSE.
    child.once('close', (code, signal) =>
      died.abort(new Error(`alertmanager exited early (code ${code}, signal ${signal})`)),
    );

    try {
      await waitFor(
        async () => {
          const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
          await res.body?.cancel();
          return res.ok;
        },
        {
          what: `alertmanager ${url}/-/ready`,
          timeoutMs: opts.readyTimeoutMs ?? 20_000,
          intervalMs: 100,
          signal: died.signal,
        },
      );
    } catch (err) {
      await killChild(child);
      lastError = new Error(
        `${err instanceof Error ? err.message : String(err)}\n` +
          `command: ${bin} ${args.join(' ')}\n--- alertmanager output ---\n${output}`,
      );
      // The port was free a moment ago; someone else may have taken it. Retry on a new one.
      if (/address already in use/i.test(output)) continue;
      break;
    }

    let stopped: Promise<void> | undefined;
    const handle: AlertmanagerHandle = {
      url,
      port,
      configPath,
      logs: () => output,
      async postAlerts(alerts) {
        const body = alerts.map((a) => ({
          labels: a.labels,
          annotations: a.annotations ?? {},
          ...(a.startsAt !== undefined ? { startsAt: toIso(a.startsAt) } : {}),
          ...(a.endsAt !== undefined ? { endsAt: toIso(a.endsAt) } : {}),
          ...(a.generatorURL !== undefined ? { generatorURL: a.generatorURL } : {}),
        }));
        const res = await fetch(`${url}/api/v2/alerts`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(5_000),
        });
        if (!res.ok) {
          throw new Error(`POST ${url}/api/v2/alerts -> ${res.status} ${res.statusText}: ${await res.text()}`);
        }
        await res.body?.cancel();
      },
      stop() {
        stopped ??= (async () => {
          await killChild(child);
          await rm(dir, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
    return handle;
  }

  await rm(dir, { recursive: true, force: true });
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}
