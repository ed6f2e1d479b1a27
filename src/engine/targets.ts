/**
 * Target handles: one per configured target, reaching its nodes through two connection pools
 * (data nodes with the target's ACL user, Sentinels with the Sentinel password). Connections are
 * plain single-node clients (never through Redis Cluster/Sentinel clients: redirects hide
 * per-node state). Credentials stay inside; nothing here is logged.
 */
import { ConnectionPool } from '../actions/redis/connection.js';
import type { TargetHandle } from '../actions/types.js';
import { nodeKey } from '../actions/types.js';
import type { TargetConfig } from '../config-types.js';

interface Entry {
  handle: TargetHandle;
  pools: ConnectionPool[];
}

export class TargetRegistry {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly targets: Record<string, TargetConfig>) {}

  names(): string[] {
    return Object.keys(this.targets).sort();
  }

  /** Own entries only (issue 12 #4: a name like `constructor` must not reach the prototype). */
  config(name: string): TargetConfig | undefined {
    return Object.hasOwn(this.targets, name) ? this.targets[name] : undefined;
  }

  get(name: string): TargetHandle | undefined {
    const cached = this.entries.get(name);
    if (cached) return cached.handle;
    const t = this.config(name);
    if (!t) return undefined;
    const tls = t.tls !== undefined ? { tls: t.tls } : {};
    const data = new ConnectionPool({
      ...(t.username !== undefined ? { username: t.username } : {}),
      ...(t.password !== undefined ? { password: t.password } : {}),
      ...tls,
    });
    const sentinels = new ConnectionPool({ ...(t.sentinel?.password !== undefined ? { password: t.sentinel.password } : {}), ...tls });
    const sentinelKeys = new Set((t.sentinel?.endpoints ?? []).map(nodeKey));
    const handle: TargetHandle = {
      name: t.name,
      mode: t.mode,
      role: t.role,
      endpoints: t.endpoints,
      sentinels: t.sentinel?.endpoints ?? [],
      ...(t.sentinel?.masterName !== undefined ? { sentinelMasterName: t.sentinel.masterName } : {}),
      allowAutomatic: t.allowAutomatic,
      connect: async (node) => (sentinelKeys.has(nodeKey(node)) ? sentinels : data).get(node),
      connectFresh: async (node) => (sentinelKeys.has(nodeKey(node)) ? sentinels : data).fresh(node),
      secret: (secretName) => (t.secrets !== undefined && Object.hasOwn(t.secrets, secretName) ? t.secrets[secretName] : undefined),
      ...(t.username !== undefined ? { username: t.username } : {}),
    };
    // Not enumerable: a handle dumped as JSON never carries the TLS key.
    if (t.tls !== undefined) Object.defineProperty(handle, 'tls', { value: t.tls, enumerable: false });
    this.entries.set(name, { handle, pools: [data, sentinels] });
    return handle;
  }

  async close(): Promise<void> {
    const pools = [...this.entries.values()].flatMap((e) => e.pools);
    this.entries.clear();
    await Promise.allSettled(pools.map((p) => p.closeAll()));
  }
}
