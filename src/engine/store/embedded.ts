/**
 * The embedded default: with no `store` configured, the engine starts a private redis-server
 * (AOF on, under the data dir, loopback only) for itself and stops it on exit. A second command
 * on the same data dir reuses the running one (its port is in `<dataDir>/store/port`).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { answersPing, freePort, spawnRedisServer } from '../../util/redis-server.js';

export interface EmbeddedStore {
  url: string;
  port: number;
  /** False when an already running embedded store of the same data dir was reused. */
  owned: boolean;
  stop(): Promise<void>;
}

function runningPort(portFile: string): number | undefined {
  try {
    const n = Number(readFileSync(portFile, 'utf8').trim());
    return n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export async function startEmbeddedStore(opts: { dataDir: string; redisServerBin: string; port: number }): Promise<EmbeddedStore> {
  const dir = resolve(opts.dataDir, 'store');
  mkdirSync(dir, { recursive: true });
  const portFile = resolve(dir, 'port');
  const existing = runningPort(portFile);
  if (existing !== undefined && (await answersPing(existing))) {
    return { url: `redis://127.0.0.1:${existing}`, port: existing, owned: false, stop: async () => undefined };
  }
  const port = opts.port || (await freePort());
  const child = await spawnRedisServer(
    opts.redisServerBin,
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--protected-mode', 'yes', '--logfile', ''],
    port,
  );
  writeFileSync(portFile, String(port));
  return {
    url: child.url,
    port,
    owned: true,
    async stop() {
      rmSync(portFile, { force: true });
      await child.stop();
    },
  };
}
