/**
 * Target handles: one per configured target, with a per-node connection cache. Connections are
 * plain single-node clients (never through Redis Cluster/Sentinel clients: redirects hide
 * per-node state). Credentials stay inside; nothing here is logged.
 */
import type { Redis } from 'ioredis';
import { createNodeConnection } from '../actions/redis/connection.js';
import type { NodeRef, TargetHandle } from '../actions/types.js';
import { nodeKey } from '../actions/types.js';
import type { TargetConfig } from '../config-types.js';

export class TargetRegistry {
  private readonly handles = new Map<string, TargetHandle>();
  private readonly conns = new Map<string, Redis>();

  constructor(private readonly targets: Record<string, TargetConfig>) {}

  names(): string[] {
    return Object.keys(this.targets).sort();
  }

  config(name: string): TargetConfig | undefined {
    return this.targets[name];
  }

  get(name: string): TargetHandle | undefined {
    const cached = this.handles.get(name);
    if (cached) return cached;
    const t = this.targets[name];
    if (!t) return undefined;
    const handle: TargetHandle = {
      name: t.name,
      mode: t.mode,
      role: t.role,
      endpoints: t.endpoints,
      sentinels: t.sentinel?.endpoints ?? [],
      ...(t.sentinel?.masterName !== undefined ? { sentinelMasterName: t.sentinel.masterName } : {}),
      allowAutomatic: t.allowAutomatic,
      connect: async (node: NodeRef) => this.connect(t, node),
    };
    this.handles.set(name, handle);
    return handle;
  }

  private async connect(t: TargetConfig, node: NodeRef): Promise<Redis> {
    const isSentinel = (t.sentinel?.endpoints ?? []).some((s) => nodeKey(s) === nodeKey(node));
    const key = `${t.name}|${nodeKey(node)}`;
    const hit = this.conns.get(key);
    if (hit && hit.status !== 'end') return hit;
    const conn = createNodeConnection(node, {
      ...(isSentinel ? (t.sentinel?.password !== undefined ? { password: t.sentinel.password } : {}) : {
        ...(t.username !== undefined ? { username: t.username } : {}),
        ...(t.password !== undefined ? { password: t.password } : {}),
      }),
      ...(t.tls !== undefined ? { tls: t.tls } : {}),
    });
    this.conns.set(key, conn);
    return conn;
  }

  async close(): Promise<void> {
    const all = [...this.conns.values()];
    this.conns.clear();
    await Promise.allSettled(all.map((c) => c.quit().catch(() => c.disconnect())));
  }
}
