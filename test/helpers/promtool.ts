/** Find Prometheus' `promtool` (Debian package `prometheus`) for the rules and dashboard tests. */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** PROMTOOL_BIN, else `promtool` on PATH, else /usr/bin/promtool. Throws (naming the installer) when absent. */
export function findPromtool(): string {
  const fromEnv = process.env['PROMTOOL_BIN'];
  if (fromEnv !== undefined && fromEnv !== '' && executable(fromEnv)) return fromEnv;
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir !== '' && executable(join(dir, 'promtool'))) return join(dir, 'promtool');
  }
  if (executable('/usr/bin/promtool')) return '/usr/bin/promtool';
  throw new Error('promtool not found (Debian package `prometheus`): run `bash scripts/test-deps.sh` (as root or with sudo) to install it, or set PROMTOOL_BIN');
}
