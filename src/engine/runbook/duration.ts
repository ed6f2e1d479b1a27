/**
 * Runbook durations use the one duration grammar of the project (`src/util/duration.ts`, also used
 * by the config): `30s`, `5m`, `1h30m`, `250ms`, `2d`, or a number of milliseconds.
 */
import { parseDuration } from '../../util/duration.js';

export function durationMs(d: string | number): number {
  return parseDuration(d);
}

/** The zod-side check of a duration string (same grammar as {@link durationMs}). */
export function isDuration(d: string | number): boolean {
  try {
    parseDuration(d);
    return true;
  } catch {
    return false;
  }
}
