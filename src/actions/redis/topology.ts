/**
 * Which nodes a step runs on. Roles are discovered live (INFO replication, SENTINEL, CLUSTER NODES)
 * through the target's plain single-node connections; nothing is cached between calls.
 */
import type { NodeRef, TargetHandle } from '../types.js';
import { nodeKey } from '../types.js';
import { isUnreachableCode, TargetError } from '../../errors.js';
import { parseNodeKey, readInfo, replyText, sendCommand } from './connection.js';
import { infoRole, listedReplicas, str } from './info.js';

/** Every node selector a runbook step may name (the compiler validates against this list). */
export const NODE_SELECTORS = [
  'alerting-node',
  'primary',
  'replicas',
  'preferred-replica',
  'all-nodes',
  'sentinels',
  'cluster-masters',
  'cluster-nodes',
] as const;

/** A node selector: see {@link resolveNodes}. */
export type NodeSelector = (typeof NODE_SELECTORS)[number];

/** Type guard for selector names coming from YAML. */
export function isNodeSelector(v: unknown): v is NodeSelector {
  return typeof v === 'string' && (NODE_SELECTORS as readonly string[]).includes(v);
}

/** One line of CLUSTER NODES. */
export interface ClusterNodeLine {
  id: string;
  host: string;
  port: number;
  flags: string[];
  /** Master id for replicas, `null` for masters. */
  masterId: string | null;
  linkState: string;
  slots: string[];
}

/** Parses CLUSTER NODES (`<id> <ip:port@cport[,hostname]> <flags> <master> … <link-state> <slots…>`). */
export function parseClusterNodes(text: string): ClusterNodeLine[] {
  const out: ClusterNodeLine[] = [];
  for (const line of text.split(/\r?\n/)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [id, addr = '', flags = '', master = '-'] = f;
    const hostPort = addr.split('@')[0] ?? '';
    const i = hostPort.lastIndexOf(':');
    if (!id || i < 0) continue;
    out.push({
      id,
      host: hostPort.slice(0, i),
      port: Number(hostPort.slice(i + 1)),
      flags: flags.split(','),
      masterId: master === '-' ? null : master,
      linkState: f[7] ?? '',
      slots: f.slice(8),
    });
  }
  return out;
}

/** A cluster node that can be acted on: has an address and is not failed or in handshake. */
export function isHealthyClusterNode(n: ClusterNodeLine): boolean {
  return n.host !== '' && n.port > 0 && !n.flags.some((f) => ['fail', 'fail?', 'noaddr', 'handshake'].includes(f));
}

/** Parses a `SENTINEL replicas <name>` reply (flat `[k, v, …]` arrays, or objects) into records. */
export function parseSentinelReplicas(reply: unknown): Array<Record<string, string>> {
  if (!Array.isArray(reply)) return [];
  return reply.map((entry: unknown) => {
    const rec: Record<string, string> = {};
    if (Array.isArray(entry)) {
      for (let i = 0; i + 1 < entry.length; i += 2) rec[replyText(entry[i])] = replyText(entry[i + 1]);
    } else if (entry && typeof entry === 'object') {
      for (const [k, v] of Object.entries(entry)) rec[k] = replyText(v);
    }
    return rec;
  });
}

/** What discovery found. `linkUp` is filled where the replica's own view is already known. */
export interface Topology {
  primary: NodeRef | null;
  replicas: NodeRef[];
  linkUp: Map<string, boolean>;
  /** Cluster only: every healthy master. */
  clusterMasters: NodeRef[];
  /** Cluster only: every healthy node. */
  clusterNodes: NodeRef[];
}

type Handle = Pick<TargetHandle, 'connect' | 'endpoints' | 'sentinels' | 'sentinelMasterName' | 'mode' | 'name'>;

function unreachable(target: Handle, what: string, cause?: unknown): TargetError {
  // A node that answered with an error (WRONGPASS, NOPERM…) was reached: keep what it said.
  if (cause instanceof TargetError && cause.code !== 'target_unreachable' && !isUnreachableCode(cause.code)) {
    return new TargetError(cause.code, `${target.name}: ${what}: ${cause.message}`, cause.retryable, cause);
  }
  return new TargetError(cause instanceof TargetError && isUnreachableCode(cause.code) ? cause.code : 'target_unreachable', `${target.name}: ${what}`, true, cause);
}

async function discoverStandalone(target: Handle): Promise<Topology> {
  const linkUp = new Map<string, boolean>();
  let primary: NodeRef | null = null;
  let listedBy: ReturnType<typeof listedReplicas> = [];
  let masterSeenByReplica: NodeRef | null = null;
  const replicas: NodeRef[] = [];
  let reached = 0;
  let lastErr: unknown;
  for (const ep of target.endpoints) {
    let info;
    try {
      info = await readInfo({ target }, ep, 'replication');
    } catch (err) {
      lastErr = err;
      continue;
    }
    reached++;
    const repl = info['replication'];
    const role = infoRole(repl);
    if (role === 'primary' && primary === null) {
      primary = { host: ep.host, port: ep.port, role: 'primary' };
      listedBy = listedReplicas(repl);
    } else if (role === 'replica') {
      replicas.push({ host: ep.host, port: ep.port, role: 'replica' });
      linkUp.set(nodeKey(ep), str(repl, 'master_link_status') === 'up');
      const mh = str(repl, 'master_host');
      const mp = Number(str(repl, 'master_port'));
      if (mh && mp > 0) masterSeenByReplica ??= { host: mh, port: mp };
    }
  }
  if (reached === 0) throw unreachable(target, 'no configured endpoint answered INFO replication', lastErr);
  if (primary === null && masterSeenByReplica) {
    // Only replicas were configured (or the primary is down): use the master they point to.
    primary = { ...masterSeenByReplica, role: 'primary' };
    try {
      listedBy = listedReplicas((await readInfo({ target }, primary, 'replication'))['replication']);
    } catch {
      listedBy = [];
    }
  }
  const seen = new Set(replicas.map(nodeKey));
  for (const r of listedBy) {
    const ref: NodeRef = { host: r.host, port: r.port, role: 'replica' };
    if (!seen.has(nodeKey(ref))) {
      seen.add(nodeKey(ref));
      replicas.push(ref);
    }
  }
  return { primary, replicas, linkUp, clusterMasters: [], clusterNodes: [] };
}

async function discoverSentinel(target: Handle): Promise<Topology> {
  const name = target.sentinelMasterName;
  if (!name) throw new TargetError('config_invalid', `${target.name}: sentinel mode without a master name`, false);
  let lastErr: unknown;
  for (const s of target.sentinels) {
    try {
      const addr = await sendCommand({ target }, s, ['SENTINEL', 'get-master-addr-by-name', name]);
      if (!Array.isArray(addr) || addr.length < 2) continue;
      const primary: NodeRef = { host: replyText(addr[0]), port: Number(replyText(addr[1])), role: 'primary' };
      const records = parseSentinelReplicas(await sendCommand({ target }, s, ['SENTINEL', 'replicas', name]));
      const linkUp = new Map<string, boolean>();
      const replicas: NodeRef[] = [];
      for (const r of records) {
        const flags = (r['flags'] ?? '').split(',');
        const port = Number(r['port']);
        if (!r['ip'] || !(port > 0) || flags.some((f) => ['s_down', 'o_down', 'disconnected'].includes(f))) continue;
        const ref: NodeRef = { host: r['ip'], port, role: 'replica' };
        replicas.push(ref);
        linkUp.set(nodeKey(ref), r['master-link-status'] === 'ok');
      }
      return { primary, replicas, linkUp, clusterMasters: [], clusterNodes: [] };
    } catch (err) {
      lastErr = err;
    }
  }
  throw unreachable(target, `no sentinel knows master ${JSON.stringify(name)}`, lastErr);
}

async function discoverCluster(target: Handle, alertNode?: string): Promise<Topology> {
  let lastErr: unknown;
  for (const ep of target.endpoints) {
    let lines: ClusterNodeLine[];
    try {
      lines = parseClusterNodes(replyText(await sendCommand({ target }, ep, ['CLUSTER', 'NODES'])));
    } catch (err) {
      lastErr = err;
      continue;
    }
    for (const l of lines) if (l.flags.includes('myself') && l.host === '') l.host = ep.host;
    const healthy = lines.filter(isHealthyClusterNode);
    const masters = healthy.filter((l) => l.flags.includes('master'));
    const ref = (l: ClusterNodeLine, role: NodeRef['role']): NodeRef => ({ host: l.host, port: l.port, role });
    // The shard: the alerting node's (its master when it is a replica), else the node we asked.
    const anchorKey = alertNode ?? nodeKey(ep);
    const anchor = lines.find((l) => `${l.host}:${l.port}` === anchorKey);
    const shardMaster =
      (anchor?.masterId ? masters.find((m) => m.id === anchor.masterId) : masters.find((m) => m.id === anchor?.id)) ?? masters[0];
    const replicas = healthy.filter((l) => shardMaster !== undefined && l.masterId === shardMaster.id);
    return {
      primary: shardMaster ? ref(shardMaster, 'cluster-master') : null,
      replicas: replicas.map((l) => ref(l, 'cluster-replica')),
      linkUp: new Map(),
      clusterMasters: masters.map((l) => ref(l, 'cluster-master')),
      clusterNodes: healthy.map((l) => ref(l, l.flags.includes('master') ? 'cluster-master' : 'cluster-replica')),
    };
  }
  throw unreachable(target, 'no endpoint answered CLUSTER NODES', lastErr);
}

/** Discovers the target's roles. In Cluster mode, primary/replicas are the alerting node's shard. */
export async function discoverTopology(target: Handle, alertNode?: string): Promise<Topology> {
  if (target.mode === 'sentinel') return discoverSentinel(target);
  if (target.mode === 'cluster') return discoverCluster(target, alertNode);
  return discoverStandalone(target);
}

async function isLinkUp(target: Handle, topo: Topology, node: NodeRef): Promise<boolean> {
  const known = topo.linkUp.get(nodeKey(node));
  if (known !== undefined) return known;
  try {
    return str((await readInfo({ target }, node, 'replication'))['replication'], 'master_link_status') === 'up';
  } catch {
    return false;
  }
}

function requirePrimary(target: Handle, topo: Topology): NodeRef {
  if (!topo.primary) throw unreachable(target, 'no primary found');
  return topo.primary;
}

/**
 * The nodes a selector names, discovered live:
 * - `alerting-node`: `alertNode` (`host:port`) when given, else the primary.
 * - `primary` / `replicas`: in Cluster mode, of the alerting node's shard.
 * - `preferred-replica`: the first replica whose `master_link_status` is up, else the primary.
 * - `all-nodes`: primary + replicas (Cluster: every healthy node). Never sentinels.
 * - `sentinels`: the configured sentinels (empty unless mode is sentinel).
 * - `cluster-masters`: every healthy master; outside Cluster mode, the primary.
 */
export async function resolveNodes(target: TargetHandle, selector: NodeSelector, alertNode?: string): Promise<NodeRef[]> {
  switch (selector) {
    case 'sentinels':
      return target.sentinels.map((s) => ({ host: s.host, port: s.port, role: 'sentinel' }));
    case 'alerting-node':
      if (alertNode) return [parseNodeKey(alertNode)];
      return [requirePrimary(target, await discoverTopology(target))];
    default:
      break;
  }
  const topo = await discoverTopology(target, alertNode);
  switch (selector) {
    case 'primary':
      return [requirePrimary(target, topo)];
    case 'replicas':
      return topo.replicas;
    case 'preferred-replica': {
      for (const r of topo.replicas) if (await isLinkUp(target, topo, r)) return [r];
      return [requirePrimary(target, topo)];
    }
    case 'all-nodes':
      return target.mode === 'cluster' ? topo.clusterNodes : [requirePrimary(target, topo), ...topo.replicas];
    case 'cluster-masters':
      return target.mode === 'cluster' ? topo.clusterMasters : [requirePrimary(target, topo)];
    case 'cluster-nodes':
      return target.mode === 'cluster' ? topo.clusterNodes : [requirePrimary(target, topo), ...topo.replicas];
  }
}

/**
 * Every node that is part of the target, as far as can be known right now: the configured
 * endpoints and Sentinels, the discovered primary and replicas, and in Cluster mode every node of
 * CLUSTER NODES (failed ones included: a diagnostic may need to look at them). Used to refuse a
 * node an expression names when it does not belong to the target.
 */
export async function knownNodes(target: TargetHandle, alertNode?: string): Promise<Set<string>> {
  const out = new Set<string>([...target.endpoints, ...target.sentinels].map(nodeKey));
  if (alertNode) out.add(alertNode);
  if (target.mode !== 'cluster') {
    try {
      const topo = await discoverTopology(target, alertNode);
      for (const n of [topo.primary, ...topo.replicas]) if (n) out.add(nodeKey(n));
    } catch {
      // Discovery failed: the configured nodes are all we can vouch for.
    }
  } else {
    // One CLUSTER NODES read names every node, failed ones included (discovery would read it too).
    for (const ep of target.endpoints) {
      try {
        for (const l of parseClusterNodes(replyText(await sendCommand({ target }, ep, ['CLUSTER', 'NODES'])))) {
          if (l.host !== '' && l.port > 0) out.add(`${l.host}:${l.port}`);
        }
        break;
      } catch {
        continue;
      }
    }
  }
  return out;
}
