/**
 * The action reference (issue 6): runbooks/ACTIONS.md is what the registry generates, every
 * registered action documents its output with well-formed field names, and the generator renders
 * input schemas, outputs and the crash-resume check faithfully.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { actions } from '../../src/actions/registry.js';
import type { ActionDefinition } from '../../src/actions/types.js';
import { actionDocsMarkdown, OUTPUT_FIELD_PATTERN, prose, undocumentedFields } from '../../src/engine/runbook/action-docs.js';
import { RUNBOOKS_DIR } from '../helpers/app.js';

describe('runbooks/ACTIONS.md', () => {
  it('is the text generated from the registry', () => {
    const onDisk = readFileSync(join(RUNBOOKS_DIR, 'ACTIONS.md'), 'utf8');
    expect(onDisk, 'runbooks/ACTIONS.md is stale: run `npm run docs` and commit it').toBe(actionDocsMarkdown(actions));
  });

  it('is what runbooks/README.md links, and the README\'s summary table agrees with it (names and risks)', () => {
    const readme = readFileSync(join(RUNBOOKS_DIR, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Actions\n')).split(/\n## /)[1] ?? '';
    expect(section).toContain('[`ACTIONS.md`](ACTIONS.md)');
    const rows = [...section.matchAll(/^\| `([^`]+)` \| (\w+) \|/gm)].map((m) => [m[1], m[2]] as const);
    for (const [name, risk] of rows) {
      expect(actions.has(name ?? ''), `runbooks/README.md names ${name}, which is not registered`).toBe(true);
      expect(risk, `runbooks/README.md: risk of ${name}`).toBe(actions.get(name ?? '')?.risk);
    }
  });

  it('has one section per registered action', () => {
    const text = actionDocsMarkdown(actions);
    for (const name of actions.keys()) expect(text).toContain(`\n## ${name}\n`);
    expect(text.match(/\n## /g)?.length).toBe(actions.size);
  });
});

describe('every registered action documents its output', () => {
  const all = [...actions.values()];

  it.each(all.map((a) => [a.name, a] as const))('%s', (_name, a) => {
    const fields = Object.entries(a.output ?? {});
    expect(fields.length, `${a.name} has no output`).toBeGreaterThan(0);
    for (const [field, meaning] of fields) {
      expect(field, `${a.name}: '${field}' is not a field pattern (a.b, a[], a[].b, a.*)`).toMatch(OUTPUT_FIELD_PATTERN);
      expect(meaning.trim(), `${a.name}: '${field}' has no meaning`).not.toBe('');
    }
  });
});

describe('field patterns', () => {
  it('accept names, nested fields, arrays, their items and map keys', () => {
    for (const ok of ['node', 'topKeys[]', 'topKeys[].bytes', 'perDb.*.keys', 'a.b.c', '*', 'failed.node', 'x_1[].y[]']) expect(ok).toMatch(OUTPUT_FIELD_PATTERN);
  });
  it('refuse spaces, empty segments, bare brackets and prose', () => {
    for (const bad of ['', 'a b', 'a..b', '.a', 'a.', '[]', 'a[0]', 'a[]b', 'nodes (list)', 'a.{node}', '1a']) expect(bad).not.toMatch(OUTPUT_FIELD_PATTERN);
  });
});

describe('actionDocsMarkdown (pure)', () => {
  const read: ActionDefinition<unknown, unknown> = {
    name: 'test.zz-read',
    description: 'Reads <slot> of a | b and volatile-* keys',
    risk: 'read',
    input: z
      .object({
        slot: z.number().int().min(0).max(16383),
        side: z.enum(['source', 'both']).default('both'),
        names: z.array(z.string().min(1).max(8)).max(3).optional(),
      })
      .strict() as z.ZodType<unknown>,
    timeoutMs: 2500,
    output: { 'slots[]': 'open slots', 'slots[].keys': 'keys left, count' },
    async run() {
      return {};
    },
  };
  const write = (name: string, applied: boolean): ActionDefinition<unknown, unknown> => ({
    name,
    description: 'Changes something',
    risk: 'write',
    input: z.object({}).strict().prefault({}) as z.ZodType<unknown>,
    timeoutMs: 15_000,
    output: { outcomes: 'each command sent' },
    async plan() {
      return [];
    },
    async run() {
      return {};
    },
    ...(applied ? { applied: async () => true } : {}),
  });
  const text = actionDocsMarkdown(
    new Map<string, ActionDefinition<unknown, unknown>>([
      ['test.zz-read', read],
      ['test.b-write', write('test.b-write', true)],
      ['test.a-write', write('test.a-write', false)],
    ]),
  );

  it('sorts actions by name, in the index and the sections', () => {
    const order = [...text.matchAll(/^## (\S+)$/gm)].map((m) => m[1]);
    expect(order).toEqual(['test.a-write', 'test.b-write', 'test.zz-read']);
    expect(text.indexOf('[`test.a-write`](#testa-write)')).toBeLessThan(text.indexOf('[`test.b-write`](#testb-write)'));
  });

  it('renders input fields: type, required or optional, default, limits', () => {
    expect(text).toContain('| `slot` | `integer` | required | — | 0 ≤ n ≤ 16383 |');
    expect(text).toContain('| `side` | `"source" \\| "both"` | optional | `"both"` | — |');
    expect(text).toContain('| `names` | `string[]` | optional | — | 0–3 items; each: length 1–8 |');
    expect(text).toContain('**Input**: none (`with:` is absent or empty).');
  });

  it('renders outputs, risk, timeout and the crash-resume check of mutating actions only', () => {
    expect(text).toContain('| `slots[].keys` | keys left, count |');
    expect(text).toContain('- Timeout: 2500 ms');
    expect(text).toContain('- Timeout: 15 s');
    const section = (name: string): string => text.slice(text.indexOf(`## ${name}\n`)).split(/\n## /)[0] ?? '';
    expect(section('test.b-write')).toContain('Crash-resume check: `applied()` implemented');
    expect(section('test.a-write')).toContain('Crash-resume check: none: a command interrupted by a crash escalates to a human.');
    expect(section('test.zz-read')).not.toContain('Crash-resume');
    expect(text).toContain('| [`test.a-write`](#testa-write) | write | no |');
    expect(text).toContain('| [`test.b-write`](#testb-write) | write | yes |');
    expect(text).toContain('| [`test.zz-read`](#testzz-read) | read | — |');
  });

  it('escapes table pipes, HTML-looking text and emphasis, but not code spans', () => {
    expect(text).toContain('| Reads &lt;slot> of a \\| b and volatile-\\* keys |');
    expect(prose('`<name>` and <name> and a.*')).toBe('`<name>` and &lt;name> and a.\\*');
  });
});

describe('undocumentedFields catches what a test of the docs must catch', () => {
  it('an undocumented field, nested or in array items, is named; map keys match `*`', () => {
    const output = { node: 'n', 'top[]': 't', 'top[].key': 'k', 'perDb.*.keys': 'k', perDb: 'p' };
    const value = { node: 'a', extra: 1, top: [{ key: 'x', bytes: 3 }], perDb: { db0: { keys: 1, expires: 0 } } };
    expect(undocumentedFields(value, output).sort()).toEqual(['extra', 'perDb.db0.expires', 'top[].bytes']);
    // a key holding dots (host:port) is one field; an array inside a path must be documented as one
    expect(undocumentedFields({ persisted: { '127.0.0.1:7000': true } }, { persisted: 'p', 'persisted.*': 'q' })).toEqual([]);
    expect(undocumentedFields({ a: [{ b: 1 }] }, { 'a.b': 'not an array' })).toEqual(['a[].b']);
  });
});
