/**
 * Issue 11: docs/configuration.md is generated from the config schema (scripts/gen-config-docs.ts,
 * z.toJSONSchema). It fails when the checked-in file drifts from the schema, naming the command
 * that regenerates it; and the reference really follows the schema (a key, a default, a limit).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_DOCS_PATH, REGENERATE, configRows, renderConfigDocs } from '../../scripts/gen-config-docs.js';
import { parseConfig } from '../../src/config.js';

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
    expect(byPath.get('targets.<name>.role')?.type).toBe('`cache` \\| `store`');
    expect(byPath.get('runbooksDir')?.type).toBe('string or list of string, at least 1');
    expect(byPath.get('shippedRunbooks')?.def).toBe(true);
    for (const r of rows) expect(r.doc.d.length, r.path).toBeGreaterThan(5);
    const text = readFileSync(FILE, 'utf8');
    expect(text).toContain('| `engine.approvalTimeout` | duration (`30s`, `5m`, `1h`, or ms) |  | `30m` |');
    expect(text).toContain('| `http.port` | integer 0–65535 |  | `8080` |');
  });
});
