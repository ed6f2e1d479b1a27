/** The registry of hygiene check types (`check:` in a HygieneCheck file). */
import { aclCheck, dangerousCommands } from './checks-security.js';
import { evictionPolicy, fragmentation, keysWithoutTtl, maxmemoryUnset, memoryHeadroom } from './checks-memory.js';
import { persistence } from './checks-persistence.js';
import { bigKeys } from './checks-bigkeys.js';
import { clusterHealth } from './checks-cluster.js';
import { sentinelHealth } from './checks-sentinel.js';
import { slowlog } from './checks-slowlog.js';
import { tlsExpiry } from './checks-tls.js';
import type { CheckDefinition, CheckType } from './types.js';

export const CHECKS: ReadonlyMap<CheckType, CheckDefinition<unknown>> = new Map(
  ([memoryHeadroom, maxmemoryUnset, evictionPolicy, keysWithoutTtl, persistence, aclCheck, dangerousCommands, fragmentation, tlsExpiry, slowlog, sentinelHealth, clusterHealth, bigKeys] as CheckDefinition<never>[]).map((c) => [c.type, c as unknown as CheckDefinition<unknown>]),
);

/** Validate a check's params against its type: issues with paths relative to `params`. */
export function validateCheckParams(type: string, params: unknown): { path: PropertyKey[]; message: string }[] {
  const def = CHECKS.get(type as CheckType);
  if (!def) return [{ path: [], message: `unknown check type '${type}'` }];
  const r = def.params.safeParse(params);
  return r.success ? [] : r.error.issues.map((i) => ({ path: i.path, message: i.message }));
}
