/**
 * Issue 11: a real incident becomes a rehearsal case. A throwaway redis-server at ~90% of a
 * noeviction maxmemory is diagnosed by the real engine (no dry run: it stops at the approval gate);
 * `redis-runbooks test --record <incident>` prints the case (findings and plan from the timeline,
 * expectations from the rehearsal, checked against the incident); that case, saved next to the
 * runbook, passes `redis-runbooks test`, and the same case with a finding changed does not.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { App } from '../../src/app.js';
import { createScannedApp, RUNBOOKS_DIR, testConfigText, testPrefix } from '../helpers/app.js';
import { parseConfig } from '../../src/config.js';
import { caseSchema } from '../../src/engine/rehearsal/schema.js';
import { pressure, waitState } from '../helpers/incidents.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

const BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'redis-runbooks.js');
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'rr-rehearsal-record-'));
let store: RedisProcess;
let target: RedisProcess;
let app: App;
let configFile = '';

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, LOG_LEVEL: 'silent' } }).then(
    (x) => ({ code: 0, stdout: x.stdout, stderr: x.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

beforeAll(async () => {
  store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  target = await startRedis();
  await pressure(target.client(), 32 * 1024 * 1024);
  const runbooks = join(dir, 'runbooks');
  mkdirSync(join(runbooks, 'rehearsals'), { recursive: true });
  copyFileSync(join(RUNBOOKS_DIR, 'redis-memory-pressure.yaml'), join(runbooks, 'redis-memory-pressure.yaml'));
  const text = testConfigText({ storeUrl: store.url, prefix: testPrefix(), runbooksDir: runbooks, targets: { 'cache-prod': { endpoints: [`${target.host}:${target.port}`], role: 'cache' } } });
  configFile = join(dir, 'redis-runbooks.yaml');
  writeFileSync(configFile, text);
  app = await createScannedApp(parseConfig(text, configFile, {}, { baseDir: dir }), { http: false, worker: true, schedules: false });
}, 60_000);

afterAll(async () => {
  await app?.close().catch(() => undefined);
  await target?.stop();
  await store?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('redis-runbooks test --record', () => {
  it('turns a real incident into a case that passes, and fails once a finding changes', async () => {
    const { incidentId: id } = await app.engine.run('redis-memory-pressure', 'cache-prod', { dryRun: false, by: 'alice' });
    const waiting = await waitState(app, id, ['awaiting_approval'], 60_000);
    const offered = waiting.pendingApproval?.options?.map((o) => o.remediation) ?? [waiting.pendingApproval?.remediation];

    const rec = await cli(['test', '--record', id, '--name', 'recorded from the CLI', '--config', configFile]);
    expect(rec.code, rec.stderr).toBe(0);
    expect(rec.stdout).not.toContain('WARNING'); // the rehearsal replays the incident faithfully
    const [recorded] = parse(rec.stdout) as unknown[];
    const c = caseSchema.parse(recorded);
    expect(c.name).toBe('recorded from the CLI');
    expect(c.target).toEqual({ name: 'cache-prod', role: 'cache', mode: 'standalone', allowAutomatic: false });
    expect(Object.keys(c.findings).sort()).toEqual(['buffers', 'census', 'doctor', 'keyspace', 'mem', 'now', 'stats']);
    expect((c.findings['mem'] as { usage: number }).usage).toBeGreaterThan(0.85);
    expect(c.expect.state).toBe('awaiting_approval');
    expect(typeof c.expect.proposes === 'string' ? [c.expect.proposes] : c.expect.proposes).toEqual(offered);
    for (const o of waiting.pendingApproval?.options ?? []) {
      const shown = o.commands.map((x) => `${x.node}: ${x.argv.join(' ')}`);
      const planned = c.plans[o.remediation];
      expect(planned).toEqual(shown);
    }
    expect(c.expect.notes.some((n) => n.startsWith('^key family session'))).toBe(true);

    writeFileSync(join(dir, 'runbooks', 'rehearsals', 'redis-memory-pressure.rehearsal.yaml'), stringify({ runbook: 'redis-memory-pressure', cases: [recorded] }, { lineWidth: 0 }));
    const ok = await cli(['test', '--dir', join(dir, 'runbooks')]);
    expect(ok.stdout).toContain('  ok   recorded from the CLI  (awaiting_approval →');
    expect(ok.stdout).toContain('1 runbook(s), 1 case(s): 1 passed, 0 failed');
    expect(ok.code).toBe(0);

    // the same case once memory is back under the threshold: the runbook no longer proposes anything
    const changed = structuredClone(recorded) as { findings: { mem: { usage: number; usedMemory: number; maxmemory: number }; now: { usage: number } } };
    changed.findings.mem.usage = 0.5;
    changed.findings.mem.usedMemory = changed.findings.mem.maxmemory / 2;
    changed.findings.now.usage = 0.5;
    writeFileSync(join(dir, 'runbooks', 'rehearsals', 'redis-memory-pressure.rehearsal.yaml'), stringify({ runbook: 'redis-memory-pressure', cases: [changed] }, { lineWidth: 0 }));
    const bad = await cli(['test', '--dir', join(dir, 'runbooks')]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/ {2}FAIL recorded from the CLI {2}\(resolved\)/);
    expect(bad.stdout).toContain('state: expected awaiting_approval, got resolved');
  }, 120_000);
});
