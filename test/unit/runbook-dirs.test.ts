/**
 * Issue 11: where runbooks come from. The package's own runbooks/ is found from the code, not the
 * working directory or the config file; `runbooksDir` may be one directory or a list layered on top;
 * a runbook with a shipped name overrides it (reported); a directory missing by default is not an
 * error, a configured one is.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog, loadDeps, runbookDirs } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import { SHIPPED_RUNBOOKS_DIR, loadRunbookDirs } from '../../src/engine/runbook/load.js';

const REPO_RUNBOOKS = resolve(import.meta.dirname, '..', '..', 'runbooks');
let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rr-rbdirs-'));
  mkdirSync(join(dir, 'etc', 'mine'), { recursive: true });
  mkdirSync(join(dir, 'etc', 'team'));
  const shipped = readFileSync(join(REPO_RUNBOOKS, 'redis-failover-happened.yaml'), 'utf8');
  writeFileSync(join(dir, 'etc', 'mine', 'failover.yaml'), shipped.replace(/^title: .*$/m, 'title: "mine"'));
  writeFileSync(join(dir, 'etc', 'team', 'failover.yaml'), shipped.replace(/^title: .*$/m, 'title: "team"'));
});

describe('runbook directories', () => {
  it('the shipped directory is the package root runbooks/, wherever the process runs', () => {
    expect(SHIPPED_RUNBOOKS_DIR).toBe(REPO_RUNBOOKS);
  });

  it('runbooksDir as a list, relative to the config file; later directories override earlier ones, in place', () => {
    const cfg = parseConfig('runbooksDir: [mine, team]\n', join(dir, 'etc', 'c.yaml'), {}, { baseDir: join(dir, 'etc') });
    expect(cfg.runbooksDirs).toEqual([join(dir, 'etc', 'mine'), join(dir, 'etc', 'team')]);
    expect(cfg.shippedRunbooks).toBe(true);
    const { runbooks, errors, overrides } = loadRunbookDirs(runbookDirs(cfg), loadDeps(cfg));
    expect(errors).toEqual([]);
    const names = runbooks.map((r) => r.def.name);
    const shippedNames = loadRunbookDirs([{ dir: SHIPPED_RUNBOOKS_DIR }], loadDeps(cfg)).runbooks.map((r) => r.def.name);
    expect(names).toEqual(shippedNames);
    const fo = runbooks.find((r) => r.def.name === 'redis-failover-happened');
    expect(fo?.def.title).toBe('team');
    expect(fo?.file).toBe(join(dir, 'etc', 'team', 'failover.yaml'));
    expect(overrides).toEqual([
      { name: 'redis-failover-happened', file: join(dir, 'etc', 'mine', 'failover.yaml'), replaced: join(SHIPPED_RUNBOOKS_DIR, 'redis-failover-happened.yaml'), shipped: true },
      { name: 'redis-failover-happened', file: join(dir, 'etc', 'team', 'failover.yaml'), replaced: join(dir, 'etc', 'mine', 'failover.yaml'), shipped: false },
    ]);
  });

  it('without runbooksDir: the shipped runbooks only when no runbooks/ sits next to the config; a configured missing directory is an error', () => {
    const cfg = parseConfig('targets: {}\n', join(dir, 'etc', 'c.yaml'), {}, { baseDir: join(dir, 'etc') });
    expect(cfg.runbooksDirs).toEqual([]);
    expect(loadCatalog(cfg).names()).toContain('redis-memory-pressure');
    const missing = parseConfig('runbooksDir: nowhere\n', join(dir, 'etc', 'c.yaml'), {}, { baseDir: join(dir, 'etc') });
    expect(() => loadCatalog(missing)).toThrow(/nowhere: cannot read runbook directory/);
  });

  it('shippedRunbooks: false loads only the configured directories; the shipped directory listed again is read once', () => {
    const only = parseConfig('runbooksDir: mine\nshippedRunbooks: false\n', join(dir, 'etc', 'c.yaml'), {}, { baseDir: join(dir, 'etc') });
    expect(loadCatalog(only).names()).toEqual(['redis-failover-happened']);
    const twice = parseConfig(`runbooksDir: [${REPO_RUNBOOKS}]\n`, join(dir, 'etc', 'c.yaml'), {}, { baseDir: join(dir, 'etc') });
    const r = loadRunbookDirs(runbookDirs(twice), loadDeps(twice));
    expect(r.errors).toEqual([]);
    expect(r.overrides).toEqual([]);
  });

  it('a wrong runbooksDir type is a config error naming the key', () => {
    expect(() => parseConfig('runbooksDir: { a: 1 }\n', 'c.yaml', {}, { baseDir: dir })).toThrow(/c\.yaml: runbooksDir: expected a directory or a list of directories \(line 1\)/);
    expect(() => parseConfig('runbooksDir: []\n', 'c.yaml', {}, { baseDir: dir })).toThrow(/runbooksDir/);
  });
});
