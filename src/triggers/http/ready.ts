/**
 * Asking the engine whether it is ready, with a deadline: a hung store check counts as not ready.
 */
import type { HttpServerDeps } from './types.js';

/** `engine.ready()`, but `false` if it throws or takes longer than `deps.readyTimeoutMs` (2 s). */
export async function engineReady(deps: Pick<HttpServerDeps, 'engine' | 'readyTimeoutMs'>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), deps.readyTimeoutMs ?? 2000);
    timer.unref();
  });
  try {
    return await Promise.race([deps.engine.ready().then((r) => r === true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
