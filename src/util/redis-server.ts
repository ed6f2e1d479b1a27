/**
 * Starting a private `redis-server` child (the embedded store, the demo's throwaway target):
 * a free loopback port, spawn, wait until it answers PING, stop with SIGTERM then SIGKILL.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { RunbooksError } from '../errors.js';

/** A loopback port that was free a moment ago. */
export async function freePort(): Promise<number> {
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

/** Does a Redis on this loopback port answer PING right now? */
export async function answersPing(port: number): Promise<boolean> {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

export interface RedisChild {
  port: number;
  url: string;
  stop(): Promise<void>;
}

/** Spawn `bin argv…` (which must make it listen on `port`) and wait up to 10 s for PING. */
export async function spawnRedisServer(bin: string, argv: string[], port: number): Promise<RedisChild> {
  const child = spawn(bin, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let spawnError: Error | undefined;
  child.stderr.on('data', (b: Buffer) => void (stderr += b.toString()));
  child.once('error', (e) => void (spawnError = e));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (!(await answersPing(port))) {
    if (spawnError) throw new RunbooksError('redis_server_failed', `cannot start ${bin}: ${spawnError.message}`);
    if (child.exitCode !== null) throw new RunbooksError('redis_server_failed', `${bin} exited (${child.exitCode}): ${stderr.slice(0, 500)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new RunbooksError('redis_server_failed', `${bin} did not answer on ${url}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
