/**
 * vitest globalSetup of the main run: start the suite's secrets capture (see secrets-capture.ts)
 * with an empty directory, so the final scan (vitest.secrets.config.ts) sees this run only.
 * Only the capture's own files are removed (`secrets.txt`, `*.log`), whatever RR_CAPTURE_DIR is.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SECRETS_FILE, captureDir } from './secrets-capture.js';

export default function setup(): void {
  const dir = captureDir();
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) {
    if (f === SECRETS_FILE || f.endsWith('.log')) rmSync(join(dir, f), { force: true });
  }
}
