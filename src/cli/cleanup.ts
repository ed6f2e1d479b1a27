/**
 * Issue 12 #6: what a command started (child processes, temp dirs, the app) is stopped on every
 * exit path: normal return, error, and SIGINT/SIGTERM. Commands register an undo step as soon as
 * they start something; `run()` undoes everything, newest first, once.
 */
export class Cleanup {
  private readonly steps: (() => Promise<unknown> | void)[] = [];
  private running: Promise<void> | undefined;

  /** Register an undo step (run newest first). */
  add(step: () => Promise<unknown> | void): void {
    this.steps.push(step);
  }

  /**
   * Register something still starting: once it resolves, `stop` undoes it (also when `run()` was
   * called meanwhile, e.g. a signal during start-up).
   */
  starting<T>(p: Promise<T>, stop: (v: T) => Promise<unknown> | void): Promise<T> {
    this.add(async () => {
      const v = await p.then(
        (x) => ({ ok: true as const, x }),
        () => ({ ok: false as const }),
      );
      if (v.ok) await stop(v.x);
    });
    return p;
  }

  /** Undo every registered step, newest first; each step's failure is ignored. Idempotent. */
  run(): Promise<void> {
    this.running ??= (async () => {
      for (let step = this.steps.pop(); step; step = this.steps.pop()) {
        try {
          await step();
        } catch {
          // keep undoing the rest
        }
      }
      this.running = undefined;
    })();
    return this.running;
  }
}
