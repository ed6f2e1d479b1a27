/**
 * Connections to the engine's own store: standalone (URL), Sentinel or Cluster. Two kinds: the
 * worker/queue connection (no command timeout, retries forever, as BullMQ requires) and a
 * fail-fast one for the HTTP door (no offline queue: a down store answers 503 at once).
 */
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import type { StoreConfig, TlsConfig } from '../../config-types.js';
import type { StoreClient } from './incidents.js';

function tlsOpts(t?: TlsConfig): RedisOptions['tls'] | undefined {
  if (!t) return undefined;
  return { ...(t.ca ? { ca: t.ca } : {}), ...(t.cert ? { cert: t.cert } : {}), ...(t.key ? { key: t.key } : {}), ...(t.servername ? { servername: t.servername } : {}), rejectUnauthorized: t.rejectUnauthorized };
}

export type StoreRole = 'worker' | 'door';

function roleOpts(role: StoreRole): RedisOptions {
  return role === 'worker'
    ? { maxRetriesPerRequest: null, enableReadyCheck: true }
    : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000, retryStrategy: (n: number) => Math.min(n * 200, 2000) };
}

export function connectStore(cfg: StoreConfig, role: StoreRole): StoreClient {
  const base = roleOpts(role);
  switch (cfg.mode) {
    case 'url': {
      const tls = tlsOpts(cfg.tls);
      return new Redis(cfg.url, { ...base, ...(tls ? { tls } : {}) });
    }
    case 'sentinel': {
      const tls = tlsOpts(cfg.tls);
      return new Redis({
        ...base,
        sentinels: cfg.sentinels.map((n) => ({ host: n.host, port: n.port })),
        name: cfg.masterName,
        // Follow a failover at once (+switch-master): otherwise a connection stays on the demoted
        // primary, which keeps accepting writes until Sentinel converts it (~8 s) and they are lost.
        failoverDetector: true,
        ...(cfg.username ? { username: cfg.username } : {}),
        ...(cfg.password ? { password: cfg.password } : {}),
        ...(cfg.sentinelPassword ? { sentinelPassword: cfg.sentinelPassword } : {}),
        ...(tls ? { tls, enableTLSForSentinelMode: true } : {}),
      });
    }
    case 'cluster': {
      const tls = tlsOpts(cfg.tls);
      const opts: ClusterOptions = {
        redisOptions: { ...base, ...(cfg.username ? { username: cfg.username } : {}), ...(cfg.password ? { password: cfg.password } : {}), ...(tls ? { tls } : {}) },
        ...(role === 'door' ? { enableOfflineQueue: false } : {}),
      };
      return new Cluster(cfg.nodes.map((n) => ({ host: n.host, port: n.port })), opts);
    }
  }
}
