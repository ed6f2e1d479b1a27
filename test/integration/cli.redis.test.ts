/**
 * The command line as an operator runs it: an invalid config or runbook makes the process refuse
 * to start and say why; `lint`; and `run --dry-run` on the embedded default store (a private
 * redis-server that the command starts and stops itself); a separate `worker` process.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNBOOKS_DIR, startTestApp, testConfigText, testPrefix } from '../helpers/app.js';
import { waitState } from '../helpers/incidents.js';
import { stopChild, track, waitExit } from '../helpers/processes.js';
import { fillMemory, freePort, startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

const BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'redis-runbooks.js');
let dir: string;
let target: RedisProcess;

function cli(args: string[], env: Record<string, string> = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, LOG_LEVEL: 'silent', ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rr-cli-'));
  target = await startRedis({ args: ['--maxmemory', '16mb'] });
  await fillMemory(target.client(), { keys: 14_000, valueBytes: 1000, prefix: 'k' });
});

afterAll(async () => {
  await target?.stop();
});

describe('refuses to start on bad input, and says why', () => {
  it('an invalid config names the file and the path', () => {
    const cfg = join(dir, 'bad.yaml');
    writeFileSync(cfg, 'targets:\n  cache-prod:\n    mode: sentinel\n    role: cache\n    sentinel:\n      endpoints: ["10.0.0.1:26379"]\n');
    const r = cli(['start', '--config', cfg]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('targets.cache-prod.sentinel.masterName: required');
    expect(r.err).toContain('bad.yaml');
  });

  it('an invalid runbook names the file, line and YAML path', () => {
    const rbDir = join(dir, 'runbooks-bad');
    spawnSync('mkdir', ['-p', rbDir]);
    writeFileSync(join(rbDir, 'mem.yaml'), readFileSync(join(RUNBOOKS_DIR, 'redis-memory-pressure.yaml'), 'utf8').replace('action: redis.memory-purge', 'action: redis.flushall'));
    const cfg = join(dir, 'rb.yaml');
    writeFileSync(cfg, `runbooksDir: ${rbDir}\n`);
    const r = cli(['start', '--config', cfg]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/mem\.yaml:\d+: remediations\.purge\.steps\[0\]\.action: unknown action 'redis\.flushall'/);
    const lint = cli(['lint', rbDir]);
    expect(lint.code).toBe(1);
    expect(lint.out).toContain('FAIL');
    expect(cli(['lint', RUNBOOKS_DIR]).code).toBe(0);
  });
});

describe('embedded default store', () => {
  it('run --dry-run works with no store configured, shows the commands, changes nothing, and stops its redis-server', async () => {
    const data = join(dir, 'data');
    const cfg = join(dir, 'embedded.yaml');
    writeFileSync(cfg, `embedded: { dataDir: ${data} }\nrunbooksDir: ${RUNBOOKS_DIR}\ntargets:\n  laptop:\n    endpoints: ["${target.host}:${target.port}"]\n    role: store\n`);
    const r = cli(['run', 'redis-memory-pressure', '--target', 'laptop', '--dry-run', '--config', cfg]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/command\.dry-run .*CONFIG SET maxmemory/);
    expect(r.out).toMatch(/completed — dry run: nothing was changed/);
    expect(await target.client().config('GET', 'maxmemory')).toEqual(['maxmemory', String(16 * 1024 * 1024)]);
    expect(existsSync(join(data, 'store', 'appendonlydir'))).toBe(true);
    expect(existsSync(join(data, 'store', 'port'))).toBe(false);
    // the incident survived in the store's AOF: a second command finds it
    const list = cli(['incidents', 'list', '--config', cfg]);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/inc-\d{8}-[0-9a-f]{12}\s+completed\s+redis-memory-pressure/);
  });
});

describe('worker processes', () => {
  it('a separate `worker` process does the work of incidents another process opened, and stops cleanly on SIGTERM', async () => {
    const store = await startRedis();
    const prefix = testPrefix();
    const cfg = join(dir, 'worker.yaml');
    const targets = { laptop: { endpoints: [`${target.host}:${target.port}`], role: 'store' as const } };
    const probePort = await freePort();
    writeFileSync(cfg, testConfigText({ storeUrl: store.url, prefix, targets, workerPort: probePort }));
    const child = track(spawn(process.execPath, [BIN, 'worker', '--config', cfg], { stdio: 'ignore', env: { ...process.env, LOG_LEVEL: 'silent' } }));
    const probe = async (path: string): Promise<{ status: number; text: string }> => {
      const r = await fetch(`http://127.0.0.1:${probePort}${path}`);
      return { status: r.status, text: await r.text() };
    };
    // this process only opens incidents: it runs no worker of its own
    const opener = await startTestApp({ storeUrl: store.url, prefix, targets, http: false, worker: false });
    try {
      const { incidentId } = await opener.engine.run('redis-memory-pressure', 'laptop', { dryRun: true, by: 'alice' });
      const done = await waitState(opener, incidentId, ['completed', 'escalated', 'resolved'], 60_000);
      expect(done.state).toBe('completed');
      expect(((await opener.engine.getTimeline(incidentId)) ?? []).some((e) => e.kind === 'command.dry-run')).toBe(true);
      // http.workerPort: the worker (no door) serves its probes and its own counters, nothing else
      expect((await probe('/healthz')).status).toBe(200);
      expect((await probe('/readyz')).status).toBe(200);
      const m = await probe('/metrics');
      expect(m.status).toBe(200);
      expect(m.text).toMatch(/redis_runbooks_incidents_closed_total\{[^}]*runbook="redis-memory-pressure"[^}]*\} 1/);
      expect(m.text).toMatch(/redis_runbooks_step_duration_seconds_count\{[^}]*runbook="redis-memory-pressure"/);
      expect((await probe('/api/incidents')).status).toBe(404);
      child.kill('SIGTERM');
      expect(await waitExit(child, 15_000)).toBe(true);
      expect(child.exitCode).toBe(0);
    } finally {
      await stopChild(child);
      await opener.close();
      await store.stop();
    }
  });
});
