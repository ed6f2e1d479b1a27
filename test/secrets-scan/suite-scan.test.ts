/**
 * Issue 12, "Secrets scan", suite-wide: the main run (`vitest run`) registered every secret value
 * its test apps and fake Slack servers were configured with, and captured every log line (pino at
 * debug), every incident and timeline, the API's answers and every call to the fake Slack
 * (test/helpers/secrets-capture.ts). This file runs after it (`vitest run -c
 * vitest.secrets.config.ts`) and looks for every secret, raw and JSON-escaped, in every captured
 * text: zero hits. Positive controls show the capture really happened and the scan really finds.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MIN_SECRET_LENGTH, SECRETS_FILE, captureDir } from '../helpers/secrets-capture.js';

/** Thresholds for a full `npm test` run (≈75 files). */
const MIN_SECRETS = 20;
const MIN_LOG_LINES = 1_000;
const KINDS = ['log', 'timeline', 'api', 'slack'] as const;

/**
 * Captured texts that hold a secret on purpose, not a leak: the capture kind and a pattern the
 * surrounding line must match]. Keep this list narrow and explain each entry.
 */
const ALLOWED: ReadonlyArray<{ kind: string; line: RegExp; why: string }> = [];

export interface Hit {
  file: string;
  /** The secret's first 3 characters and its length: never the whole secret. */
  secret: string;
  /** 80 characters around the hit, the secret itself masked. */
  context: string;
}

export interface ScanResult {
  files: number;
  bytes: number;
  lines: Record<string, number>;
  hits: Hit[];
}

export function readSecrets(dir: string): string[] {
  const file = join(dir, SECRETS_FILE);
  if (!existsSync(file)) return [];
  const out = new Set<string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      const v = JSON.parse(line) as unknown;
      if (typeof v === 'string' && v.length >= MIN_SECRET_LENGTH) out.add(v);
    } catch {
      // a torn line: ignore
    }
  }
  return [...out];
}

const hint = (s: string): string => `${s.slice(0, 3)}…(${s.length})`;

function lineAround(text: string, at: number): string {
  const start = text.lastIndexOf('\n', at) + 1;
  const end = text.indexOf('\n', at);
  return text.slice(start, end === -1 ? text.length : end);
}

/** Look for every secret (raw and JSON-escaped) in every `*.log` file of `dir`. */
export function scanDir(dir: string, secrets: readonly string[]): ScanResult {
  const needles = secrets.flatMap((s) => {
    const escaped = JSON.stringify(s).slice(1, -1);
    return escaped === s ? [{ s, n: s }] : [{ s, n: s }, { s, n: escaped }];
  });
  const result: ScanResult = { files: 0, bytes: 0, lines: {}, hits: [] };
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.log')) continue;
    const text = readFileSync(join(dir, f), 'utf8');
    const kind = f.replace(/-[^-]*\.log$/, '');
    result.files++;
    result.bytes += Buffer.byteLength(text);
    result.lines[kind] = (result.lines[kind] ?? 0) + (text.match(/\n/g)?.length ?? 0);
    for (const { s, n } of needles) {
      let at = text.indexOf(n);
      while (at !== -1) {
        const line = lineAround(text, at);
        if (!ALLOWED.some((a) => a.kind === kind && a.line.test(line))) {
          const ctx = text.slice(Math.max(0, at - 40), at + n.length + 40).split(n).join(`<secret ${hint(s)}>`);
          result.hits.push({ file: f, secret: hint(s), context: ctx.replace(/\s+/g, ' ') });
        }
        at = text.indexOf(n, at + n.length);
      }
    }
  }
  return result;
}

const dir = captureDir();
const tmp = mkdtempSync(join(tmpdir(), 'rr-scan-planted-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('secrets scan over the whole suite (issue 12)', () => {
  const secrets = existsSync(dir) ? readSecrets(dir) : [];

  it('the main run captured: secrets registered, log lines, timelines, API answers, Slack calls', () => {
    expect(existsSync(dir), `no capture directory ${dir}: run the main suite first (npm test)`).toBe(true);
    expect(secrets.length, 'distinct secrets registered').toBeGreaterThanOrEqual(MIN_SECRETS);
    const r = scanDir(dir, []);
    expect(r.lines['log'] ?? 0, 'captured log lines').toBeGreaterThanOrEqual(MIN_LOG_LINES);
    for (const k of KINDS) expect(r.lines[k] ?? 0, `captured ${k} lines`).toBeGreaterThan(0);
  });

  it('the scan finds a secret planted in a copy of the capture (raw and JSON-escaped)', () => {
    expect(secrets.length).toBeGreaterThan(0);
    const copy = join(tmp, 'copy');
    cpSync(dir, copy, { recursive: true });
    const planted = secrets[secrets.length - 1] ?? '';
    writeFileSync(join(copy, 'log-planted.log'), `{"level":30,"msg":"connecting","password":${JSON.stringify(planted)}}\n`);
    writeFileSync(join(copy, 'slack-planted.log'), `POST text=AUTH rr-ops ${planted} trailing\n`);
    const r = scanDir(copy, secrets);
    const plantedHits = r.hits.filter((h) => h.file.endsWith('-planted.log'));
    expect(plantedHits.map((h) => h.file).sort()).toEqual(['log-planted.log', 'slack-planted.log']);
    expect(plantedHits.every((h) => h.secret === hint(planted) && !h.context.includes(planted))).toBe(true);
  });

  it('zero occurrences of any secret in any captured log line, timeline, API answer or Slack call', () => {
    const started = Date.now();
    const r = scanDir(dir, secrets);
    const lines = Object.values(r.lines).reduce((a, b) => a + b, 0);
    const perKind = Object.entries(r.lines).map(([k, n]) => `${k} ${n}`).join(', ');
    console.log(`suite secrets scan: ${secrets.length} secrets, ${r.files} files, ${lines} lines (${perKind}), ${r.bytes} bytes scanned, ${r.hits.length} hits (${Date.now() - started} ms)`);
    const report = r.hits.slice(0, 50).map((h) => `${h.file}: ${h.secret} in …${h.context}…`);
    expect(report, `${r.hits.length} hit(s)`).toEqual([]);
  });
});

