/**
 * Issue 11: docs/configuration.md is generated from the config schema (scripts/gen-config-docs.ts,
 * z.toJSONSchema). It fails when the checked-in file drifts from the schema, naming the command
 * that regenerates it; and the reference really follows the schema (a key, a default, a limit).
 * The worked example of docs/authoring.md compiles with today's engine (the guide cannot rot); the
 * engine alert rules of docs/operations.md pass `promtool check rules` and query only metrics the
 * engine exports.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_DOCS_PATH, REGENERATE, configRows, renderConfigDocs } from '../../scripts/gen-config-docs.js';
import { loadDeps } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import { compileRunbookText } from '../../src/engine/runbook/load.js';
import { createMetrics } from '../../src/engine/metrics.js';
import { findPromtool } from '../helpers/promtool.js';

const FILE = resolve(import.meta.dirname, '..', '..', CONFIG_DOCS_PATH);

describe('configuration reference (docs/configuration.md)', () => {
  it(`is what the schema renders now (else run \`${REGENERATE}\`)`, () => {
    const checkedIn = readFileSync(FILE, 'utf8');
    const rendered = renderConfigDocs();
    if (checkedIn !== rendered) {
      const a = checkedIn.split('\n');
      const b = rendered.split('\n');
      const i = b.findIndex((line, n) => line !== a[n]);
      expect.fail(`${CONFIG_DOCS_PATH} is out of date with src/config-schema.ts: run \`${REGENERATE}\` and commit it.\nfirst difference at line ${i + 1}:\n  file:   ${a[i] ?? '(end)'}\n  schema: ${b[i] ?? '(end)'}`);
    }
  });

  it('documents every key of the schema, with the defaults and limits the schema applies', () => {
    const rows = configRows();
    const byPath = new Map(rows.map((r) => [r.path, r]));
    // every key a parsed default config has is documented
    const cfg = parseConfig('targets:\n  t: { endpoints: ["h:1"], role: cache }\n', 'c.yaml', {}, { baseDir: '/tmp' });
    expect(cfg.http.port).toBe(8080);
    expect(byPath.get('http.port')?.def).toBe(8080);
    expect(byPath.get('engine.approvalTimeout')?.def).toBe(cfg.engine.approvalTimeoutMs);
    expect(byPath.get('targets.<name>.role')?.required).toBe(true);
    expect(byPath.get('targets.<name>.role')?.type).toBe('`cache` | `store`');
    expect(byPath.get('runbooksDir')?.type).toBe('string or list of string, at least 1');
    expect(byPath.get('shippedRunbooks')?.def).toBe(true);
    for (const r of rows) expect(r.doc.d.length, r.path).toBeGreaterThan(5);
    const text = readFileSync(FILE, 'utf8');
    expect(text).toContain('| `engine.approvalTimeout` | duration (`30s`, `5m`, `1h`, or ms) |  | `30m` |');
    expect(text).toContain('| `http.port` | integer 0–65535 |  | `8080` |');
  });
});

describe('authoring guide (docs/authoring.md)', () => {
  it('its worked example runbook compiles, and the lint error it quotes is the one the engine gives', () => {
    const md = readFileSync(resolve(import.meta.dirname, '..', '..', 'docs', 'authoring.md'), 'utf8');
    const m = /<!-- example: redis-pubsub-buffers\.yaml[^>]*-->\n```yaml\n([\s\S]*?)```/.exec(md);
    if (!m?.[1]) throw new Error('docs/authoring.md: the example block is missing');
    const cfg = parseConfig('', 'c.yaml', {}, { baseDir: '/tmp' });
    const rb = compileRunbookText(m[1], 'redis-pubsub-buffers.yaml', loadDeps(cfg));
    expect(rb.def.name).toBe('redis-pubsub-buffers');
    expect(Object.keys(rb.def.remediations)).toEqual(['disconnect']);
    const broken = m[1].replace('action: redis.client-kill\n', 'action: redis.client-kil\n');
    expect(() => compileRunbookText(broken, '/etc/redis-runbooks/runbooks/redis-pubsub-buffers.yaml', loadDeps(cfg))).toThrow(
      /^\/etc\/redis-runbooks\/runbooks\/redis-pubsub-buffers\.yaml:53: remediations\.disconnect\.steps\[0\]\.action: unknown action 'redis\.client-kil' \(known: /,
    );
    const quoted = /`FAIL ([^`]*?) \(known: …\)`/.exec(md)?.[1];
    expect(quoted).toBe("/etc/redis-runbooks/runbooks/redis-pubsub-buffers.yaml:53: remediations.disconnect.steps[0].action: unknown action 'redis.client-kil'");
  });
});

describe('operations guide (docs/operations.md)', () => {
  it('its engine alert rules pass promtool and name only metrics the engine exports', async () => {
    const md = readFileSync(resolve(import.meta.dirname, '..', '..', 'docs', 'operations.md'), 'utf8');
    const m = /<!-- engine-rules[^>]*-->\n```yaml\n([\s\S]*?)```/.exec(md);
    if (!m?.[1]) throw new Error('docs/operations.md: the engine-rules block is missing');
    const dir = mkdtempSync(join(tmpdir(), 'rr-ops-rules-'));
    try {
      writeFileSync(join(dir, 'rules.yml'), m[1]);
      const r = spawnSync(findPromtool(), ['check', 'rules', join(dir, 'rules.yml')], { encoding: 'utf8' });
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/SUCCESS: \d+ rules found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const exported = new Set((await createMetrics().registry.getMetricsAsJSON()).map((x) => x.name));
    const used = [...new Set([...m[1].matchAll(/\b(redis_runbooks_[a-z0-9_]+?)(?:_bucket|_sum|_count)?\b/g)].map((x) => x[1] ?? ''))];
    expect(used.length).toBeGreaterThanOrEqual(7);
    for (const name of used) expect(exported, name).toContain(name);
  });
});
