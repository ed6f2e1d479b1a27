/**
 * Every action the engine can run, by name. The runbook compiler validates step names against it.
 */
import type { ActionDefinition } from './types.js';
import { bigkeysSample } from './redis/bigkeys-sample.js';
import { aclAddPassword } from './redis/acl-add-password.js';
import { aclLog } from './redis/acl-log.js';
import { aclRemovePassword } from './redis/acl-remove-password.js';
import { authCheck } from './redis/auth-check.js';
import { authProbe } from './redis/auth-probe.js';
import { tlsCertificate } from './redis/tls-certificate.js';
import { tlsReload } from './redis/tls-reload.js';
import { clusterFailover } from './redis/cluster-failover.js';
import { clusterMigrateBatch } from './redis/cluster-migrate-batch.js';
import { clusterReplicaEligibility } from './redis/cluster-replica-eligibility.js';
import { clusterSetslotNode } from './redis/cluster-setslot-node.js';
import { clusterSetslotStable } from './redis/cluster-setslot-stable.js';
import { clusterSlotCheck } from './redis/cluster-slot-check.js';
import { clusterSlotKeys } from './redis/cluster-slot-keys.js';
import { clusterView } from './redis/cluster-view.js';
import { configGet } from './redis/config-get.js';
import { configSet } from './redis/config-set.js';
import { infoKeyspace } from './redis/info-keyspace.js';
import { infoMemory } from './redis/info-memory.js';
import { infoStats } from './redis/info-stats.js';
import { maxmemoryRaise } from './redis/maxmemory-raise.js';
import { memoryDoctor } from './redis/memory-doctor.js';
import { memoryPurge } from './redis/memory-purge.js';
import { replicationBufferRaise } from './redis/replication-buffer-raise.js';
import { replicationCredentials } from './redis/replication-credentials.js';
import { replicationPriority } from './redis/replication-priority.js';
import { replicationPromote } from './redis/replication-promote.js';
import { replicationRepoint } from './redis/replication-repoint.js';
import { replicationViewAction } from './redis/replication-view.js';
import { sentinelFailover } from './redis/sentinel-failover.js';
import { sentinelViewAction } from './redis/sentinel-view.js';
import { keyCensus } from './redis/key-census.js';
import { clientBuffers } from './redis/client-buffers.js';
import { clientKill } from './redis/client-kill.js';
import { familyExpire } from './redis/family-expire.js';
import { familyDelete } from './redis/family-delete.js';
import { trim } from './redis/trim.js';
import { memorySymptom } from './redis/memory-symptom.js';
import { persistenceView } from './redis/persistence-view.js';
import { persistenceDir } from './redis/persistence-dir.js';
import { bgsave } from './redis/bgsave.js';
import { latencyView } from './redis/latency-view.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyAction = ActionDefinition<any, any>;

const all: AnyAction[] = [
  clusterView,
  clusterSlotKeys,
  clusterSlotCheck,
  clusterReplicaEligibility,
  clusterMigrateBatch,
  clusterSetslotNode,
  clusterSetslotStable,
  clusterFailover,
  infoMemory,
  infoStats,
  infoKeyspace,
  memoryDoctor,
  configGet,
  bigkeysSample,
  memoryPurge,
  configSet,
  maxmemoryRaise,
  replicationViewAction,
  sentinelViewAction,
  replicationBufferRaise,
  replicationRepoint,
  replicationCredentials,
  replicationPriority,
  sentinelFailover,
  replicationPromote,
  keyCensus,
  clientBuffers,
  memorySymptom,
  clientKill,
  familyExpire,
  familyDelete,
  trim,
  authProbe,
  authCheck,
  aclLog,
  tlsCertificate,
  aclAddPassword,
  aclRemovePassword,
  tlsReload,
  persistenceView,
  persistenceDir,
  bgsave,
  latencyView,
];

for (const a of all) {
  if (a.risk !== 'read' && !a.plan) throw new Error(`action ${a.name} mutates but has no plan()`);
}

/** Registered actions by name (`redis.info-memory`, …). */
export const actions: ReadonlyMap<string, AnyAction> = new Map(all.map((a) => [a.name, a]));

/** The action called `name`, or undefined. */
export function getAction(name: string): AnyAction | undefined {
  return actions.get(name);
}
