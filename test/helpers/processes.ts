/**
 * Child processes the tests start: tracked so that a test run dying before its afterAll still
 * kills them (and only them), and stopped with SIGTERM, then SIGKILL after 3 s.
 */
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Remember a child until it exits; on process exit, SIGKILL whatever is left. */
export function track(child: ChildProcess): ChildProcess {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves true once the child has exited, false after `ms`. */
export async function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return true;
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** SIGTERM, then SIGKILL after 3 s. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  child.kill('SIGTERM');
  if (!(await waitExit(child, 3000))) {
    child.kill('SIGKILL');
    await waitExit(child, 3000);
  }
}

/**
 * A server process a test owns, with its temp dir: one shared client made on first use, and an
 * idempotent `stop()` that quits the client, stops the process and removes the dir.
 */
export function ownedServer(child: ChildProcess, dir: string, connect: () => Redis): { client(): Redis; stop(): Promise<void> } {
  let shared: Redis | undefined;
  let stopped = false;
  return {
    client(): Redis {
      if (!shared) {
        shared = connect();
        shared.on('error', () => undefined);
      }
      return shared;
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      if (shared) await Promise.race([shared.quit().catch(() => undefined), sleep(1000)]);
      shared?.disconnect();
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
