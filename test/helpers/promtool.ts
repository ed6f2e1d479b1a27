/** Find `promtool` (Debian package `prometheus`) and `amtool` (`prometheus-alertmanager`) for the deploy/ tests. */
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

/** AMTOOL_BIN, else `amtool` on PATH, else /usr/bin/amtool (Debian package `prometheus-alertmanager`). */
export function findAmtool(): string {
  const fromEnv = process.env['AMTOOL_BIN'];
  if (fromEnv !== undefined && fromEnv !== '' && executable(fromEnv)) return fromEnv;
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir !== '' && executable(join(dir, 'amtool'))) return join(dir, 'amtool');
  }
  if (executable('/usr/bin/amtool')) return '/usr/bin/amtool';
  throw new Error('amtool not found (Debian package `prometheus-alertmanager`): run `bash scripts/test-deps.sh` (as root or with sudo) to install it, or set AMTOOL_BIN');
}
