/**
 * Issue 11: the installable package. `npm pack` (whose `prepack` compiles src/ to dist/) gives a
 * tarball; installed with `npm install <tgz> --omit=dev` into an empty directory, its
 * `redis-runbooks` binary runs the compiled JavaScript — no tsx, no TypeScript — finds the
 * runbooks it ships (not those of the working directory or next to the config file), layers the
 * operator's directories on top (a local runbook with a shipped name overrides it; `lint` says so),
 * and `run … --dry-run` works against a real redis-server on an embedded store the command starts
 * and stops itself.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fillMemory, startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

const REPO = resolve(import.meta.dirname, '..', '..');
let dir = '';
let target: RedisProcess | undefined;

/** The environment of an operator's shell: no NODE_OPTIONS (nothing preloaded), no npm_* of this run. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_OPTIONS' || k.startsWith('npm_') || k.startsWith('VITEST') || k === 'TSX_TSCONFIG_PATH') continue;
    env[k] = v;
  }
  return { ...env, LOG_LEVEL: 'silent', ...extra };
}

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = cleanEnv()): { code: number | null; out: string; err: string } {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 240_000, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      done(true);
    });
    sock.once('error', () => done(false));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rr-package-'));
  target = await startRedis({ args: ['--maxmemory', '16mb'] });
  await fillMemory(target.client(), { keys: 14_000, valueBytes: 1000, prefix: 'k' });
});

afterAll(async () => {
  await target?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('npm pack → npm install --omit=dev → the installed redis-runbooks lints and dry-runs with compiled JavaScript only', { timeout: 420_000 }, async () => {
  const t = target;
  if (!t) throw new Error('no target');
  // 1. Pack (prepack: clean + tsc -p tsconfig.build.json).
  const packDir = join(dir, 'pack');
  mkdirSync(packDir);
  const pack = sh('npm', ['pack', '--pack-destination', packDir, '--json'], REPO, cleanEnv({ LOG_LEVEL: 'info' }));
  expect(pack.code, `npm pack failed (prepack: the TypeScript build):\n${pack.out.slice(-4000)}\n${pack.err.slice(-2000)}`).toBe(0);
  const [info] = JSON.parse(pack.out.slice(pack.out.search(/^\[/m))) as { filename: string; files: { path: string }[] }[];
  if (!info) throw new Error(`npm pack printed no JSON: ${pack.out}`);
  const files = info.files.map((f) => f.path);
  expect(files).toContain('dist/main.js');
  expect(files).toContain('bin/redis-runbooks.js');
  expect(files).toContain('runbooks/redis-memory-pressure.yaml');
  expect(files).toContain('docs/configuration.md');
  expect(files).toContain('LICENSE');
  expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || (f.endsWith('.ts') && !f.endsWith('.d.ts')))).toEqual([]);
  const tgz = join(packDir, info.filename);

  // 2. Install the tarball alone, production dependencies only.
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'rr-install-check', private: true }));
  const install = sh('npm', ['install', tgz, '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], app);
  expect(install.code, install.err).toBe(0);
  const pkg = join(app, 'node_modules', 'redis-runbooks');
  const bin = join(app, 'node_modules', '.bin', 'redis-runbooks');
  expect(existsSync(bin)).toBe(true);
  expect(existsSync(join(pkg, 'dist', 'main.js'))).toBe(true);
  expect(existsSync(join(pkg, 'src'))).toBe(false);
  // No TypeScript toolchain was installed.
  for (const dev of ['tsx', 'typescript', 'esbuild', 'vitest']) expect(existsSync(join(app, 'node_modules', dev)), dev).toBe(false);

  // 3. The operator's side: a config elsewhere, their own runbook directories (a list), one of
  // them overriding a shipped runbook by name. The working directory has no runbooks at all.
  const etc = join(dir, 'etc');
  const mine = join(etc, 'my-runbooks');
  const team = join(etc, 'team-runbooks');
  mkdirSync(mine, { recursive: true });
  mkdirSync(team);
  const shipped = readFileSync(join(pkg, 'runbooks', 'redis-failover-happened.yaml'), 'utf8');
  writeFileSync(join(mine, 'redis-failover-happened.yaml'), shipped.replace(/^title: .*$/m, 'title: "Our own failover notes"'));
  const cfg = join(etc, 'redis-runbooks.yaml');
  writeFileSync(
    cfg,
    `embedded: { dataDir: ${join(dir, 'data')} }
runbooksDir: [my-runbooks, team-runbooks]
targets:
  x:
    endpoints: ["${t.host}:${t.port}"]
    role: store
`,
  );
  const work = join(dir, 'work');
  mkdirSync(work);

  // Every module the process resolves is recorded by a resolve hook: proof of what actually ran.
  const trace = join(dir, 'resolved.txt');
  writeFileSync(join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';
let out = '';
export function initialize(data) { out = data.out; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(out, r.url + '\\n');
  return r;
}
`);
  writeFileSync(join(dir, 'trace.mjs'), `import { register } from 'node:module';
register('./hooks.mjs', import.meta.url, { data: { out: ${JSON.stringify(trace)} } });
`);
  const rr = (args: string[], traced = false) =>
    traced ? sh(process.execPath, ['--import', join(dir, 'trace.mjs'), bin, ...args], work) : sh(bin, args, work);

  const lint = rr(['lint', '--config', cfg], true);
  expect(lint.code, `${lint.out}\n${lint.err}`).toBe(0);
  const okLines = lint.out.split('\n').filter((l) => l.startsWith('ok '));
  const shippedNames = readdirSync(join(pkg, 'runbooks')).filter((f) => f.endsWith('.yaml'));
  expect(shippedNames.length).toBeGreaterThanOrEqual(3);
  // every shipped runbook is found in the installed package (the override comes from the operator's directory)
  for (const f of shippedNames) {
    const from = f === 'redis-failover-happened.yaml' ? join(mine, f) : join(pkg, 'runbooks', f);
    expect(okLines.some((l) => l.includes(from)), `${f} in\n${lint.out}`).toBe(true);
  }
  expect(lint.out).toContain(`note ${join(mine, 'redis-failover-happened.yaml')} overrides the shipped redis-failover-happened`);
  expect(lint.out).not.toContain('FAIL');

  const resolved = readFileSync(trace, 'utf8').split('\n').filter(Boolean);
  expect(resolved.some((u) => u.endsWith('/node_modules/redis-runbooks/dist/main.js'))).toBe(true);
  expect(resolved.filter((u) => /\/tsx\/|\/typescript\/|\.m?ts$|\.tsx?$/.test(u))).toEqual([]);

  // the shipped rehearsals run from the installed package too (no --dir: the runbooks the engine loads)
  const rehearse = rr(['test', 'redis-memory-pressure', '--config', cfg]);
  expect(rehearse.code, `${rehearse.out}\n${rehearse.err}`).toBe(0);
  expect(rehearse.out).toContain(`redis-memory-pressure  (${join(pkg, 'runbooks', 'rehearsals', 'redis-memory-pressure.rehearsal.yaml')})`);
  expect(rehearse.out).toMatch(/1 runbook\(s\), [1-9]\d* case\(s\): [1-9]\d* passed, 0 failed/);

  // lint of a broken local runbook fails, naming the file
  writeFileSync(join(team, 'broken.yaml'), 'apiVersion: redis-runbooks/v1\nkind: Runbook\nname: broken\n');
  const bad = rr(['lint', '--config', cfg]);
  expect(bad.code).toBe(1);
  expect(bad.out).toMatch(new RegExp(`FAIL ${join(team, 'broken.yaml').replace(/[.]/g, '\\.')}`));
  rmSync(join(team, 'broken.yaml'));

  // 4. A dry run against the real target: the embedded store is started by the command and stopped.
  const keysBefore = await t.client().dbsize();
  const run = sh(bin, ['run', 'redis-memory-pressure', '--target', 'x', '--dry-run', '--config', cfg], work, cleanEnv({ LOG_LEVEL: 'info' }));
  expect(run.code, `${run.out}\n${run.err}`).toBe(0);
  expect(run.out).toMatch(/incident inc-\S+ opened/);
  expect(run.out).toMatch(/command\.dry-run .*CONFIG SET maxmemory/);
  expect(run.out).toMatch(/dry run: nothing was changed/);
  expect(await t.client().config('GET', 'maxmemory')).toEqual(['maxmemory', String(16 * 1024 * 1024)]);
  expect(await t.client().dbsize()).toBe(keysBefore);
  expect(existsSync(join(dir, 'data', 'store', 'appendonlydir'))).toBe(true);
  expect(existsSync(join(dir, 'data', 'store', 'port'))).toBe(false);
  // and the redis-server it started (its port is in the start-up log line) no longer listens
  const embeddedLine = `${run.out}\n${run.err}`.split('\n').find((l) => l.includes('"msg":"embedded store"'));
  const port = Number(/"port":(\d+)/.exec(embeddedLine ?? '')?.[1]);
  expect(port, 'the embedded store log line').toBeGreaterThan(0);
  expect(await listening(port)).toBe(false);
});
