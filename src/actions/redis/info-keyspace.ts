/**
 * `redis.info-keyspace`: key and TTL counts of one node, summed over databases.
 */
import { z } from 'zod';
import type { ActionDefinition } from '../types.js';
import { nodeKey } from '../types.js';
import { readInfo } from './connection.js';
import { parseKeyspace, type KeyspaceDb } from './info.js';

const input = z.object({}).strict().prefault({});

/** Findings of `redis.info-keyspace`. */
export interface InfoKeyspaceResult {
  node: string;
  keys: number;
  expires: number;
  /** Share of keys without a TTL: 1 - expires/keys (0 when there are no keys). */
  noTtlShare: number;
  perDb: Record<string, KeyspaceDb>;
}

/** Reads INFO keyspace on `ctx.node`. */
export const infoKeyspace: ActionDefinition<z.infer<typeof input>, InfoKeyspaceResult> = {
  name: 'redis.info-keyspace',
  description: 'Keys and keys with a TTL per database; the share of keys that volatile-* policies cannot evict.',
  risk: 'read',
  input,
  timeoutMs: 10_000,
  output: {
    node: 'host:port read',
    keys: 'keys in all databases, count',
    expires: 'keys with a TTL in all databases, count',
    noTtlShare: 'share of keys without a TTL (volatile-* policies cannot evict them), ratio 0–1; 0 when there are no keys',
    perDb: 'database name (db0, db1, …) → its counts; only databases holding keys',
    'perDb.*.keys': 'keys in that database, count',
    'perDb.*.expires': 'keys with a TTL in that database, count',
    'perDb.*.avgTtl': 'average TTL of its keys that have one, milliseconds (0 when none)',
  },
  async run(_input, ctx) {
    const info = await readInfo(ctx, ctx.node, 'keyspace');
    const perDb = parseKeyspace(info['keyspace']);
    let keys = 0;
    let expires = 0;
    for (const db of Object.values(perDb)) {
      keys += db.keys;
      expires += db.expires;
    }
    return {
      node: nodeKey(ctx.node),
      keys,
      expires,
      noTtlShare: keys > 0 ? 1 - expires / keys : 0,
      perDb,
    };
  },
};
