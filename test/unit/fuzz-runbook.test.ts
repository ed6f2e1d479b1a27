/**
 * Issue 12, "Then prove it — Fuzzing": generated mutations of the shipped runbooks through
 * `compileRunbookText`. Mutations: a key deleted, a value of the wrong type, random expressions in
 * `when`/`until`/`cleared`/`precondition`/derive, random templates in notes and `with:` values,
 * `__proto__`/`constructor` keys, a duplicated line (duplicate keys), alias bombs, truncated text
 * and stray characters. Each case either compiles or throws a RunbookError whose every line names
 * the file and where in it (a YAML path, or line:column for syntax errors) — never another
 * exception type, never a hang.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { actions } from '../../src/actions/registry.js';
import { NODE_SELECTORS } from '../../src/actions/redis/topology.js';
import type { ActionDefinition } from '../../src/actions/types.js';
import { RunbookError } from '../../src/errors.js';
import { compileRunbookText } from '../../src/engine/runbook/load.js';
import { RUNBOOKS_DIR } from '../helpers/app.js';

const deps = { actions: actions as ReadonlyMap<string, ActionDefinition<unknown, unknown>>, selectors: NODE_SELECTORS, defaultApprovalTimeoutMs: 60_000 };
const FILE = 'fuzz/runbook.yaml';
const shipped = readdirSync(RUNBOOKS_DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => ({ name: f, text: readFileSync(join(RUNBOOKS_DIR, f), 'utf8') }));

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = (string | number)[];

function paths(v: Json, at: Path = []): Path[] {
  const out: Path[] = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) out.push(...paths(v[k] as Json, [...at, k]));
  return out;
}

function setAt(root: Json, path: Path, value: Json | undefined): Json {
  if (path.length === 0) return value ?? null;
  const copy = structuredClone(root);
  let node = copy as Record<string | number, Json>;
  for (const seg of path.slice(0, -1)) node = node[seg] as Record<string | number, Json>;
  const last = path[path.length - 1] as string | number;
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(Number(last), 1);
    else delete node[last];
  } else Object.defineProperty(node, last, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

const NASTY_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'];
/** Pieces of the expression language, good and bad, glued together at random. */
const TOKENS = ['mem.usage', 'mem', 'params.threshold', 'target.role', 'alert.labels.instance', 'verify.polls', '85%', '100mb', '30s', "'x'", '"y"', '1', '0', '-1', '1e309', 'null', 'true', 'and', 'or', 'not', '>', '<=', '==', '!=', '+', '*', '/', '%', 'in', '(', ')', '[', ']', '[0]', '.', ',', 'count(', 'len(', 'keys(', 'exists(', 'max(', 'number(', 'coalesce(', 'constructor', '__proto__', 'toString', 'x.y.z', '*', '{', '}', '{{', '}}', '"', "'", '\\', 'eval', 'process'];
const expr = fc.oneof(
  fc.array(fc.constantFrom(...TOKENS), { minLength: 1, maxLength: 8 }).map((t) => t.join(' ')),
  fc.array(fc.constantFrom(...TOKENS), { minLength: 1, maxLength: 8 }).map((t) => t.join('')),
  fc.string({ maxLength: 30 }),
  fc.integer({ min: 1, max: 200 }).map((n) => `${'('.repeat(n)}1${')'.repeat(n)}`),
  fc.integer({ min: 1, max: 200 }).map((n) => `${'not '.repeat(n)}true`),
);
const template = fc.oneof(expr.map((e) => `{${e}}`), fc.tuple(fc.string({ maxLength: 10 }), expr).map(([a, e]) => `${a} {${e}} and {${e}`), fc.constantFrom('{', '}', '{{}}', '{}', '{{{x}}}'));
const wrong: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  fc.constantFrom<Json>(null, true, 0, -1, 1.5, '', [], {}, 'disruptive', 'redis.info-memory', 'primary', '10m', 'escalate'),
  fc.integer({ min: 1000, max: 5000 }).map((n): Json => 'x'.repeat(n)),
);

/** Is this path one where the runbook holds an expression or a template? */
const EXPR_KEYS = new Set(['when', 'until', 'cleared', 'precondition']);
const TEMPLATE_KEYS = new Set(['note', 'reason', 'escalate', 'cost', 'title']);

type Case = { kind: string; text: string };

/** Each shipped runbook parsed once, with the paths the mutations aim at. */
const prepared = shipped.map((rb) => {
  const doc = parse(rb.text) as Json;
  const all = paths(doc).filter((p) => p.length > 0);
  const at = (p: Path): Json => p.reduce<Json>((n, s) => (n as Record<string | number, Json>)[s] as Json, doc);
  return {
    rb,
    doc,
    all,
    exprPaths: all.filter((p) => EXPR_KEYS.has(String(p[p.length - 1])) || p[0] === 'derive'),
    tplPaths: all.filter((p) => TEMPLATE_KEYS.has(String(p[p.length - 1])) || p.includes('with')),
    objPaths: [[] as Path, ...all.filter((p) => { const v = at(p); return v !== null && typeof v === 'object' && !Array.isArray(v); })],
    lines: rb.text.split('\n'),
  };
});

const mutation: fc.Arbitrary<Case> = fc.constantFrom(...prepared).chain(({ rb, doc, all, exprPaths, tplPaths, objPaths, lines }) => {
  const y = (d: Json): string => stringify(d, { aliasDuplicateObjects: false });
  return fc.oneof(
    fc.constantFrom(...all).map((p): Case => ({ kind: 'deleted', text: y(setAt(doc, p, undefined)) })),
    fc.tuple(fc.constantFrom(...all), wrong).map(([p, v]): Case => ({ kind: 'wrong-type', text: y(setAt(doc, p, v)) })),
    fc.tuple(fc.constantFrom(...exprPaths), expr).map(([p, e]): Case => ({ kind: 'expression', text: y(setAt(doc, p, e)) })),
    fc.tuple(fc.constantFrom(...tplPaths), template).map(([p, t]): Case => ({ kind: 'template', text: y(setAt(doc, p, t)) })),
    fc.tuple(fc.constantFrom(...objPaths), fc.constantFrom(...NASTY_KEYS), wrong).map(([p, k, v]): Case => ({ kind: 'prototype-key', text: y(setAt(doc, [...p, k], v)) })),
    fc.nat(lines.length - 1).map((i): Case => ({ kind: 'duplicate-line', text: [...lines.slice(0, i + 1), lines[i] ?? '', ...lines.slice(i + 1)].join('\n') })),
    fc.integer({ min: 2, max: 9 }).map((n): Case => {
      // a "billion laughs" document: each level refers to the previous one n times
      const levels = ['a0: &a0 [x, x, x, x, x, x, x, x, x]'];
      for (let i = 1; i < 12; i++) levels.push(`a${i}: &a${i} [${Array.from({ length: n }, () => `*a${i - 1}`).join(', ')}]`);
      return { kind: 'alias-bomb', text: `${levels.join('\n')}\n${rb.text}` };
    }),
    fc.nat(rb.text.length).map((i): Case => ({ kind: 'truncated', text: rb.text.slice(0, i) })),
    fc.tuple(fc.nat(rb.text.length), fc.constantFrom(':', '-', '[', '{', '"', "'", '&', '*', '!', '|', '>', '%', '@', '`', '\t', '\n  ', '? ', '<<: ', '!!binary ', '\u0000')).map(([i, ch]): Case => ({ kind: 'stray-char', text: rb.text.slice(0, i) + ch + rb.text.slice(i) })),
  );
});

/** One line of a RunbookError: the file, then `:line` and/or `: yaml.path:` or `:line:col:`. */
const LINE = new RegExp(`^${FILE.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(:\\d+(:\\d+)?)?: \\S`);

describe('fuzz: runbook YAML', () => {
  it('≥ 1,000 mutations of the shipped runbooks: each compiles or throws a RunbookError naming the file and where', () => {
    const kinds = new Map<string, { n: number; compiled: number }>();
    const messages = new Map<string, string>();
    let runs = 0;
    fc.assert(
      fc.property(mutation, (c) => {
        runs++;
        const k = kinds.get(c.kind) ?? { n: 0, compiled: 0 };
        kinds.set(c.kind, k);
        k.n++;
        const t0 = Date.now();
        try {
          compileRunbookText(c.text, FILE, deps);
          k.compiled++;
        } catch (e) {
          expect(e, `${c.kind}: ${(e as Error).stack ?? String(e)}`).toBeInstanceOf(RunbookError);
          const msg = (e as Error).message;
          for (const line of msg.split('\n')) {
            expect(line, `${c.kind}: ${msg.slice(0, 500)}`).toMatch(LINE);
            // a line without a position names a YAML path (or is about the whole document)
            if (!/^[^:]+:\d+/.test(line)) messages.set(line.replace(/\d+/g, 'N').slice(0, 120), c.kind);
          }
          // bounded by what it was given: an echoed value may repeat, never grow without limit
          expect(msg.length).toBeLessThan(20 * c.text.length + 10_000);
        }
        expect(Date.now() - t0, c.kind).toBeLessThan(5000);
      }),
      { numRuns: 1200, seed: Number(process.env['FUZZ_SEED'] ?? Date.now() % 2 ** 31), verbose: 1 },
    );
    expect(runs).toBeGreaterThanOrEqual(1200);
    for (const k of ['deleted', 'wrong-type', 'expression', 'template', 'prototype-key', 'duplicate-line', 'alias-bomb', 'truncated', 'stray-char']) expect(kinds.get(k)?.n ?? 0, k).toBeGreaterThan(0);
    const compiled = [...kinds.values()].reduce((a, b) => a + b.compiled, 0);
    expect(compiled).toBeGreaterThan(0);
    expect(kinds.get('alias-bomb')?.compiled).toBe(0);
    process.stdout.write(`fuzz-runbook: ${runs} cases, ${compiled} compiled ${JSON.stringify(Object.fromEntries(kinds))}\nmessages without a line: ${JSON.stringify([...messages.keys()].slice(0, 20))}\n`);
  }, 120_000);
});
