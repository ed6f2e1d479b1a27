/**
 * Issue 12, "Then prove it — Fuzzing": generated mutations of examples/redis-runbooks.yaml (with
 * its Slack section and target secrets switched on) through `parseConfig`. Mutations: a key
 * deleted, a value of the wrong type, `${VAR}` references (to secrets, to unset variables, with
 * defaults, malformed) put anywhere, `__proto__`/`constructor` keys, a duplicated line, alias bombs,
 * truncated text and stray characters. The environment holds distinctive secret values. Each case
 * returns a config or throws a ConfigError whose every line names the file (and the YAML path or
 * line) — never another exception type, and never a secret value in the message.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

const FILE = 'fuzz/redis-runbooks.yaml';
const dir = mkdtempSync(join(tmpdir(), 'rr-fuzz-config-'));
const caFile = join(dir, 'ca.crt');
writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\nMIIBfuzz\n-----END CERTIFICATE-----\n');

const ENV: Record<string, string> = {
  RR_HTTP_TOKEN: 'S3cr3t-fuzz-XYZ-http-token',
  CACHE_PROD_PASSWORD: 'S3cr3t-fuzz-XYZ-cache-pw',
  SESSIONS_PASSWORD: 'S3cr3t-fuzz-XYZ-sessions-pw',
  APP_PW_NEW: 'S3cr3t-fuzz-XYZ-app-new',
  APP_PW_OLD: 'S3cr3t-fuzz-XYZ-app-old',
  SLACK_BOT_TOKEN: 'xoxb-S3cr3t-fuzz-XYZ-bot',
  SLACK_SIGNING_SECRET: 'S3cr3t-fuzz-XYZ-signing',
  NUMERIC_PORT: '8081',
};
const SECRETS = Object.entries(ENV)
  .filter(([k]) => k !== 'NUMERIC_PORT')
  .map(([, v]) => v);

/** The shipped example, with its commented-out secrets on and a Slack section, the CA in a temp file. */
const example = readFileSync(resolve(import.meta.dirname, '..', '..', 'examples', 'redis-runbooks.yaml'), 'utf8')
  .replace('/etc/redis/ca.crt', caFile)
  // (the example's comment writes `${VAR}` bare inside a flow map, which is not valid YAML: quoted here)
  .replace('    # secrets: { rotation-new: ${APP_PW_NEW}, rotation-old: ${APP_PW_OLD} }', '    secrets: { rotation-new: "${APP_PW_NEW}", rotation-old: "${APP_PW_OLD}" }')
  .concat('\nslack:\n  botToken: ${SLACK_BOT_TOKEN}\n  signingSecret: ${SLACK_SIGNING_SECRET}\n  defaultChannel: C0123456789\n');

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

const doc = parse(example) as Json;
const all = paths(doc).filter((p) => p.length > 0);
const at = (p: Path): Json => p.reduce<Json>((n, s) => (n as Record<string | number, Json>)[s] as Json, doc);
const objPaths: Path[] = [[], ...all.filter((p) => { const v = at(p); return v !== null && typeof v === 'object' && !Array.isArray(v); })];
const lines = example.split('\n');
const y = (d: Json): string => stringify(d, { aliasDuplicateObjects: false });

const NASTY_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'];
const envRef = fc.oneof(
  fc.constantFrom(...Object.keys(ENV)).map((k) => `\${${k}}`),
  fc.tuple(fc.constantFrom(...Object.keys(ENV)), fc.string({ maxLength: 6 })).map(([k, d]) => `\${${k}:-${d}}`),
  fc.tuple(fc.string({ maxLength: 5 }), fc.constantFrom(...Object.keys(ENV)), fc.string({ maxLength: 5 })).map(([a, k, b]) => `${a}\${${k}}${b}`),
  fc.constantFrom('${UNSET_FUZZ_VAR}', '${', '${}', '$${RR_HTTP_TOKEN}', '${RR_HTTP_TOKEN', '${lower}', '${A B}', '${RR_HTTP_TOKEN:-}'),
);
const wrong: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  fc.constantFrom<Json>(null, true, 0, -1, 65536, 1.5, '', [], {}, 'cluster', 'redis.cluster-admin', '30m', 'redis://h:1', 'h:99999', '0 3 * * *', 'not a cron'),
  fc.integer({ min: 1000, max: 5000 }).map((n): Json => 'x'.repeat(n)),
);

type Case = { kind: string; text: string };

const cases: fc.Arbitrary<Case> = fc.oneof(
  fc.constantFrom(...all).map((p): Case => ({ kind: 'deleted', text: y(setAt(doc, p, undefined)) })),
  fc.tuple(fc.constantFrom(...all), wrong).map(([p, v]): Case => ({ kind: 'wrong-type', text: y(setAt(doc, p, v)) })),
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...all), envRef).map(([p, v]): Case => ({ kind: 'env-ref', text: y(setAt(doc, p, v)) })) },
  fc.tuple(fc.constantFrom(...objPaths), fc.constantFrom(...NASTY_KEYS), fc.oneof(wrong, envRef)).map(([p, k, v]): Case => ({ kind: 'prototype-key', text: y(setAt(doc, [...p, k], v)) })),
  fc.nat(lines.length - 1).map((i): Case => ({ kind: 'duplicate-line', text: [...lines.slice(0, i + 1), lines[i] ?? '', ...lines.slice(i + 1)].join('\n') })),
  fc.integer({ min: 2, max: 9 }).map((n): Case => {
    const levels = ['a0: &a0 [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++) levels.push(`a${i}: &a${i} [${Array.from({ length: n }, () => `*a${i - 1}`).join(', ')}]`);
    return { kind: 'alias-bomb', text: `${levels.join('\n')}\n${example}` };
  }),
  fc.nat(example.length).map((i): Case => ({ kind: 'truncated', text: example.slice(0, i) })),
  fc.tuple(fc.nat(example.length), fc.constantFrom(':', '-', '[', '{', '"', "'", '&', '*', '!', '|', '>', '%', '@', '`', '\t', '\n  ', '? ', '<<: ', '!!binary ', '\u0000', '${')).map(([i, ch]): Case => ({ kind: 'stray-char', text: example.slice(0, i) + ch + example.slice(i) })),
);

const LINE = new RegExp(`^(${FILE.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(:\\d+(:\\d+)?)?: \\S|env [A-Z_]+: )`);

describe('fuzz: config files', () => {
  it('the unmutated example (secrets on, Slack on) loads, and carries the secrets', () => {
    const cfg = parseConfig(example, FILE, ENV, { baseDir: dir });
    expect(cfg.http.token).toBe(ENV['RR_HTTP_TOKEN']);
    expect(cfg.targets['cache-prod']?.secrets?.['rotation-new']).toBe(ENV['APP_PW_NEW']);
    expect(cfg.slack?.signingSecret).toBe(ENV['SLACK_SIGNING_SECRET']);
  });

  it('≥ 1,000 mutations of examples/redis-runbooks.yaml: a config or a ConfigError naming the file and path, never a secret value', () => {
    const kinds = new Map<string, { n: number; loaded: number }>();
    let runs = 0;
    fc.assert(
      fc.property(cases, (c) => {
        runs++;
        const k = kinds.get(c.kind) ?? { n: 0, loaded: 0 };
        kinds.set(c.kind, k);
        k.n++;
        try {
          parseConfig(c.text, FILE, ENV, { baseDir: dir });
          k.loaded++;
        } catch (e) {
          expect(e, `${c.kind}: ${(e as Error).stack ?? String(e)}`).toBeInstanceOf(ConfigError);
          const msg = (e as Error).message;
          for (const line of msg.split('\n')) expect(line, `${c.kind}: ${msg.slice(0, 500)}`).toMatch(LINE);
          for (const s of SECRETS) expect(msg.includes(s), `${c.kind}: a secret value in: ${msg.slice(0, 500)}`).toBe(false);
          // nor a recognisable part of one
          expect(msg.includes('S3cr3t-fuzz'), `${c.kind}: part of a secret in: ${msg.slice(0, 500)}`).toBe(false);
        }
      }),
      { numRuns: 1200, seed: Number(process.env['FUZZ_SEED'] ?? Date.now() % 2 ** 31), verbose: 1 },
    );
    expect(runs).toBeGreaterThanOrEqual(1200);
    for (const k of ['deleted', 'wrong-type', 'env-ref', 'prototype-key', 'duplicate-line', 'alias-bomb', 'truncated', 'stray-char']) expect(kinds.get(k)?.n ?? 0, k).toBeGreaterThan(0);
    expect([...kinds.values()].reduce((a, b) => a + b.loaded, 0)).toBeGreaterThan(0);
    expect(kinds.get('alias-bomb')?.loaded).toBe(0);
    process.stdout.write(`fuzz-config: ${runs} cases ${JSON.stringify(Object.fromEntries(kinds))}\n`);
  }, 60_000);
});
