/**
 * Issue 12 regressions of the program as an operator runs it (`npx tsx src/main.ts …`, real
 * processes): #2 fatal start-up errors exit non-zero naming the file, line and path; #6 what a
 * command started (throwaway redis-servers, temp dirs) is stopped on SIGTERM; #7 a YAML syntax
 * error is printed once and a worker says once that it started.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { track } from '../helpers/processes.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const RUNBOOKS = join(ROOT, 'runbooks');
const dir = mkdtempSync(join(tmpdir(), 'rr-issue12-'));
const started: ChildProcess[] = [];

afterAll(() => {
  // Only the process groups this file started (each child leads its own group).
  for (const c of started) if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) killGroup(c.pid);
  rmSync(dir, { recursive: true, force: true });
});

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
}

/** `npx tsx src/main.ts …args` in its own process group. */
function cli(args: string[]): Run {
  const child = track(spawn('npx', ['tsx', 'src/main.ts', ...args], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'info' } }));
  started.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => void (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => void (err += b.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out: () => out, err: () => err, exit };
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    t = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(t);
  }
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const stop = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > stop) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Processes below `root`: pid → { ppid, args }. */
function descendants(root: number): { pid: number; ppid: number; args: string }[] {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] ?? '' }));
  const out: typeof rows = [];
  const seen = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const r of rows) {
      if (seen.has(r.ppid) && !seen.has(r.pid)) {
        seen.add(r.pid);
        out.push(r);
        grew = true;
      }
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('issue 12 #2: fatal start-up errors exit non-zero, naming the file, line and path', () => {
  it('a store that is not reachable: exit 1 within seconds, not a process serving nothing', async () => {
    const cfg = write('unreachable.yaml', `http: { port: 0 }\nrunbooksDir: ${RUNBOOKS}\nstore:\n  url: "redis://127.0.0.1:1"\n`);
    const r = cli(['start', '--config', cfg]);
    expect(await within(r.exit, 30_000, 'exit')).toBe(1);
    expect(r.err()).toBe(`redis-runbooks: config_invalid: ${cfg}: store: url store not reachable within 10 s (line 3)\n`);
  });

  it('a schedule naming an unknown target and a bad cron (naming the schedule); a route to a runbook that does not exist', async () => {
    const schedules = write(
      'schedules.yaml',
      `runbooksDir: ${RUNBOOKS}
targets:
  cache-prod: { endpoints: ["127.0.0.1:1"], role: cache }
schedules:
  - { name: nightly, runbook: redis-memory-pressure, target: cache-typo, cron: "0 3 * * *" }
  - { name: hourly, runbook: redis-memory-pressure, target: cache-prod, cron: "61 * * * *" }
`,
    );
    const a = cli(['start', '--config', schedules]);
    expect(await within(a.exit, 30_000, 'exit')).toBe(1);
    expect(a.err().replace(/^redis-runbooks: config_invalid: /, '').trim().split('\n').sort()).toEqual([
      `${schedules}: schedules[0].target: schedule 'nightly': unknown target 'cache-typo' (line 5)`,
      `${schedules}: schedules[1].cron: schedule 'hourly': invalid cron pattern (Constraint error, got value 61 expected range 0-59) (line 6)`,
    ]);

    const routes = write(
      'routes.yaml',
      `runbooksDir: ${RUNBOOKS}
store: { url: "redis://127.0.0.1:1" }
routes:
  - match: { alertname: RedisMemoryHigh }
    runbook: redis-memory-pressure
  - match: { alertname: RedisOutOfConfiguredMaxmemory }
    runbook: redis-memory-presure
`,
    );
    const b = cli(['start', '--config', routes]);
    expect(await within(b.exit, 30_000, 'exit')).toBe(1);
    expect(b.err()).toMatch(new RegExp(`^redis-runbooks: config_invalid: ${routes.replace(/[.]/g, '\\.')}: routes\\[1\\]\\.runbook: unknown runbook 'redis-memory-presure' \\(known: .*redis-memory-pressure.*\\) \\(line 7\\)\\n$`));
  });
});

describe('issue 12 #7: one message per problem', () => {
  it('a YAML syntax error is printed once, with its line', async () => {
    const cfg = write('syntax.yaml', 'http:\n  port: [1, 2\ntargets:\n  a: {\n');
    const r = cli(['start', '--config', cfg]);
    expect(await within(r.exit, 30_000, 'exit')).toBe(1);
    expect(r.err().trim().split('\n')).toHaveLength(1);
    expect(r.err()).toMatch(/^redis-runbooks: config_invalid: .*syntax\.yaml: .*\(line 3, column 1\)\n$/);
  });
});

describe('issue 12 #6 and #7: every process a command starts is stopped on SIGTERM; a worker says it started', () => {
  it('`start` with the embedded store: one "worker started" line; SIGTERM stops the embedded redis-server and exits 0', async () => {
    const data = join(dir, 'embedded');
    const cfg = write('embedded.yaml', `http: { port: 0 }\nrunbooksDir: ${RUNBOOKS}\nembedded: { dataDir: ${data} }\n`);
    const r = cli(['start', '--config', cfg]);
    await until(() => r.out().includes('"msg":"http listening"'), 30_000, 'http listening');
    const lines = r.out().split('\n').filter((l) => l.includes('"msg":"worker started"'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ level: 30, msg: 'worker started', queue: expect.stringMatching(/^\{rr\}:/), concurrency: 4, store: 'embedded' });
    const servers = descendants(r.child.pid ?? 0).filter((p) => p.args.startsWith('redis-server'));
    expect(servers).toHaveLength(1);
    const main = servers[0]?.ppid ?? 0;
    process.kill(main, 'SIGTERM');
    expect(await within(r.exit, 20_000, 'exit')).toBe(0);
    expect(servers.filter((s) => alive(s.pid))).toEqual([]);
  });

  it('`demo --yes`: SIGTERM after it started its redis-servers leaves none behind and removes its temp dir', async () => {
    const r = cli(['demo', '--yes']);
    await until(() => r.out().includes('▶ alert RedisMemoryHigh POSTed'), 45_000, 'the demo to start its target and engine');
    const servers = descendants(r.child.pid ?? 0).filter((p) => p.args.startsWith('redis-server'));
    expect(servers).toHaveLength(2); // the throwaway target and the embedded store
    const dirs = servers.map((s) => readlinkSync(`/proc/${s.pid}/cwd`));
    const tmp = dirs.find((d) => /redis-runbooks-demo-[^/]+$/.test(d)) ?? '';
    expect(tmp).not.toBe('');
    expect(existsSync(tmp)).toBe(true);
    // The program itself is the redis-servers' parent (npm's `sh -c` layer does not forward signals).
    const main = servers[0]?.ppid ?? 0;
    expect(servers.every((s) => s.ppid === main)).toBe(true);
    process.kill(main, 'SIGTERM');
    await within(r.exit, 20_000, 'exit');
    expect(servers.filter((s) => alive(s.pid))).toEqual([]);
    expect(existsSync(tmp)).toBe(false);
    expect(r.out()).toContain('▶ cleaned up: throwaway Redis, embedded store and temp files removed');
  });
});
