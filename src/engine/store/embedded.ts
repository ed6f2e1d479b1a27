/**
 * The embedded default: with no `store` configured, the engine starts a private redis-server
 * (AOF on, under the data dir, loopback only) for itself and stops it on exit.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { RunbooksError } from '../../errors.js';

export interface EmbeddedStore {
  url: string;
  port: number;
  /** False when an already running embedded store of the same data dir was reused. */
  owned: boolean;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

export async function startEmbeddedStore(opts: { dataDir: string; redisServerBin: string; port: number }): Promise<EmbeddedStore> {
  const dir = resolve(opts.dataDir, 'store');
  mkdirSync(dir, { recursive: true });
  const portFile = resolve(dir, 'port');
  // Another process of ours (e.g. `start`) may already run the embedded store on this data dir.
  try {
    const existing = Number(readFileSync(portFile, 'utf8').trim());
    if (existing > 0) {
      const c = new Redis(`redis://127.0.0.1:${existing}`, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
      try {
        await c.connect();
        if ((await c.ping()) === 'PONG') {
          c.disconnect();
          return { url: `redis://127.0.0.1:${existing}`, port: existing, owned: false, stop: async () => undefined };
        }
      } catch {
        // stale port file: start our own
      }
      c.disconnect();
    }
  } catch {
    // no port file
  }
  const port = opts.port || (await freePort());
  const child: ChildProcess = spawn(
    opts.redisServerBin,
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--protected-mode', 'yes', '--logfile', ''],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => void (stderr += b.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const spawnError = new Promise<never>((_, rej) => child.once('error', (e) => rej(new RunbooksError('embedded_store_failed', `cannot start ${opts.redisServerBin}: ${e.message}`))));
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new RunbooksError('embedded_store_failed', `${opts.redisServerBin} exited (${child.exitCode}): ${stderr.slice(0, 500)}`);
    const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    try {
      await Promise.race([c.connect().then(() => c.ping()), spawnError]);
      c.disconnect();
      break;
    } catch (e) {
      c.disconnect();
      if (e instanceof RunbooksError) throw e;
      if (Date.now() > deadline) throw new RunbooksError('embedded_store_failed', `embedded redis-server did not answer on ${url}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  writeFileSync(portFile, String(port));
  return {
    url,
    port,
    owned: true,
    async stop() {
      rmSync(portFile, { force: true });
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
