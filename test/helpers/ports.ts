/** A loopback port that was free a moment ago (the engine's own helper). */
export { freePort } from '../../src/util/redis-server.js';

export interface WaitForOptions {
  /** Give up after this many milliseconds (default 10 000). */
  timeoutMs?: number;
  /** Delay between attempts in milliseconds (default 100). */
  intervalMs?: number;
  /** Human-readable description used in the timeout error, e.g. "alertmanager /-/ready". */
  what: string;
  /** Abort early (e.g. the awaited process died); the abort reason is thrown. */
  signal?: AbortSignal;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Poll `fn` until it resolves true. Exceptions thrown by `fn` count as "not yet"
 * (the last one is reported in the timeout error). Throws when `timeoutMs` elapses.
 */
export async function waitFor(fn: () => Promise<boolean>, opts: WaitForOptions): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 100;
  const started = Date.now();
  const deadline = started + timeoutMs;
  let attempts = 0;
  let lastError: unknown;
  const checkAborted = () => {
    if (opts.signal?.aborted) {
      const r: unknown = opts.signal.reason;
      throw r instanceof Error ? r : new Error(`gave up waiting for ${opts.what}: ${String(r)}`);
    }
  };
  for (;;) {
    checkAborted();
    attempts++;
    try {
      if (await fn()) return;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    checkAborted();
    const now = Date.now();
    if (now >= deadline) {
      const detail =
        lastError === undefined
          ? ''
          : `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
      throw new Error(
        `Timed out after ${now - started} ms (limit ${timeoutMs} ms, ${attempts} attempts) waiting for ${opts.what}${detail}`,
      );
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - now)));
  }
}
