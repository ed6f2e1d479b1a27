/**
 * Issue 12, "Secrets scan" across the whole suite: every test process of one `npm test` run
 * appends what it saw (log lines, timelines, Slack calls, API answers) and the secret values it
 * configured to one capture directory; `test/secrets-scan/suite-scan.test.ts` runs last (its own
 * vitest config) and looks for every registered secret in every captured text.
 *
 * Directory: `RR_CAPTURE_DIR`, else `<tmpdir>/rr-suite-capture` (emptied by the main run's
 * globalSetup, `capture-global-setup.ts`). Everything here is synchronous and never throws: a
 * capture failure must not fail a test.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Secrets shorter than this are not registered (too likely to occur by chance). */
export const MIN_SECRET_LENGTH = 8;
export const SECRETS_FILE = 'secrets.txt';

export function captureDir(): string {
  const d = process.env['RR_CAPTURE_DIR'];
  return d !== undefined && d !== '' ? d : join(tmpdir(), 'rr-suite-capture');
}

let made = '';
function ensureDir(): string {
  const dir = captureDir();
  if (made !== dir) {
    mkdirSync(dir, { recursive: true });
    made = dir;
  }
  return dir;
}

/** Append each value of at least {@link MIN_SECRET_LENGTH} characters to `secrets.txt`, one JSON string a line. */
export function registerSecrets(values: ReadonlyArray<string | undefined | null>): void {
  try {
    const lines = values.filter((v): v is string => typeof v === 'string' && v.length >= MIN_SECRET_LENGTH).map((v) => `${JSON.stringify(v)}\n`);
    if (lines.length === 0) return;
    appendFileSync(join(ensureDir(), SECRETS_FILE), lines.join(''));
  } catch {
    // best effort
  }
}

/** Append `text` (plus a newline when it has none) to `<kind>-<pid>.log`. */
export function capture(kind: string, text: string): void {
  try {
    const safeKind = kind.replace(/[^A-Za-z0-9_.-]/g, '_');
    appendFileSync(join(ensureDir(), `${safeKind}-${process.pid}.log`), text.endsWith('\n') ? text : `${text}\n`);
  } catch {
    // best effort
  }
}
