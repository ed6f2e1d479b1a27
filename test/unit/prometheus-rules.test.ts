/**
 * The shipped Prometheus rules (deploy/prometheus/redis-rules.yml) are valid, behave as their unit
 * tests say on synthetic series (`promtool test rules`), keep the labels the engine routes on, and
 * match the table in deploy/prometheus/README.md. Nothing is skipped: without promtool this fails,
 * naming the script that installs it.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { findAmtool, findPromtool } from '../helpers/promtool.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..');
const DIR = join(ROOT, 'deploy', 'prometheus');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

async function promtool(args: string[]): Promise<string> {
  const bin = findPromtool();
  try {
    const { stdout, stderr } = await run(bin, args, { cwd: DIR, timeout: 60_000 });
    return stdout + stderr;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}${err.message}`);
  }
}

function rules(): Rule[] {
  const doc = parse(readFileSync(join(DIR, 'redis-rules.yml'), 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

/** The alert table of deploy/prometheus/README.md: `| AlertName | runbook | ...`. */
function readmeTable(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync(join(DIR, 'README.md'), 'utf8').split('\n')) {
    const m = /^\|\s*`(Redis[A-Za-z]+)`\s*\|\s*([^|]+?)\s*\|/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out.set(m[1], m[2].replace(/`/g, ''));
  }
  return out;
}

describe('Prometheus rules (promtool)', () => {
  it('promtool check rules accepts redis-rules.yml', async () => {
    const out = await promtool(['check', 'rules', 'redis-rules.yml']);
    expect(out).toContain('SUCCESS');
    expect(out).toContain(`${rules().length} rules found`);
  });

  it('promtool test rules passes redis-rules.test.yml (a firing and a quiet case per alert)', async () => {
    const out = await promtool(['test', 'rules', 'redis-rules.test.yml']);
    expect(out).toContain('SUCCESS');
    // every alert is exercised by the unit tests
    const tests = parse(readFileSync(join(DIR, 'redis-rules.test.yml'), 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] };
    const cases = tests.tests.flatMap((t) => t.alert_rule_test);
    for (const r of rules()) {
      const mine = cases.filter((c) => c.alertname === r.alert);
      expect(mine.some((c) => c.exp_alerts.length > 0), `${r.alert} has no firing case`).toBe(true);
    }
  });

  it('a broken rule makes promtool test rules fail (the tests can fail)', async () => {
    const bin = findPromtool();
    const dir = mkdtempSync(join(tmpdir(), 'rules-'));
    copyFileSync(join(DIR, 'redis-rules.test.yml'), join(dir, 'redis-rules.test.yml'));
    // RedisDown would then also fire for the TLS and WRONGPASS instances
    const broken = readFileSync(join(DIR, 'redis-rules.yml'), 'utf8').replace('unless on(instance)', 'and on(instance)');
    writeFileSync(join(dir, 'redis-rules.yml'), broken);
    const res = await run(bin, ['test', 'rules', 'redis-rules.test.yml'], { cwd: dir }).then(
      () => ({ failed: false, out: '' }),
      (e: { stdout?: string; stderr?: string }) => ({ failed: true, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }),
    );
    rmSync(dir, { recursive: true, force: true });
    expect(res.failed).toBe(true);
    expect(res.out).toContain('alertname: RedisDown');
  });
});

describe('Prometheus rules (labels the engine routes on)', () => {
  it('every rule has a severity, an alertname the engine can match, and keeps `instance`', () => {
    const all = rules();
    expect(all.length).toBeGreaterThanOrEqual(20);
    const names = new Set<string>();
    for (const r of all) {
      expect(names.has(r.alert), `${r.alert} is defined twice`).toBe(false);
      names.add(r.alert);
      expect(r.alert).toMatch(/^Redis[A-Za-z]+$/);
      expect(['critical', 'warning', 'info'], `${r.alert} severity`).toContain(r.labels?.['severity']);
      // `by (...)` would drop instance and the target labels: the engine could not pick a target.
      expect(r.expr, `${r.alert} aggregates with by(): use without()`).not.toMatch(/\bby\s*\(/);
      expect(r.annotations?.['summary'], `${r.alert} summary`).toMatch(/\{\{ \$labels\.instance \}\}/);
    }
  });

  it('the seed alert table is covered', () => {
    const names = new Set(rules().map((r) => r.alert));
    for (const n of [
      'RedisMemoryHigh', 'RedisMemoryCritical', 'RedisMaxmemoryUnset', 'RedisOOMRejections', 'RedisEvicting', 'RedisCacheHitRatioLow',
      'RedisReplicationBroken', 'RedisReplicationLag', 'RedisConnectedReplicasDropped', 'RedisReplicaFullSyncLoop',
      'RedisSentinelMasterDown', 'RedisSentinelNoQuorum', 'RedisSentinelFailover', 'RedisClusterStateNotOk', 'RedisClusterOpenSlots',
      'RedisAuthFailures', 'RedisTLSHandshakeFailing', 'RedisCertificateExpiringSoon', 'RedisLatencySpike', 'RedisSlowlogGrowing',
      'RedisPersistenceFailing', 'RedisRejectedConnections', 'RedisDown',
    ]) {
      expect(names.has(n), `${n} missing`).toBe(true);
    }
  });

  it('README.md lists every alert with the runbook its `runbook` label names', () => {
    const table = readmeTable();
    const all = rules();
    expect([...table.keys()].sort()).toEqual(all.map((r) => r.alert).sort());
    for (const r of all) {
      const label = r.labels?.['runbook'];
      const expected = label === undefined ? '—' : label === 'memory' ? 'redis-memory-pressure' : label;
      expect(table.get(r.alert), r.alert).toBe(expected);
    }
  });
});

describe('Alertmanager config (amtool)', () => {
  it('amtool check-config accepts deploy/alertmanager/alertmanager.yml', async () => {
    const { stdout } = await run(findAmtool(), ['check-config', join(ROOT, 'deploy', 'alertmanager', 'alertmanager.yml')]);
    expect(stdout).toContain('SUCCESS');
    expect(stdout).toContain('2 receivers');
  });
});
