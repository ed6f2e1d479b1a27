/**
 * A one-glance, read-only status of a target (for `/redis status` and the API): for every node
 * its role, memory against maxmemory, clients, replication link and cluster state.
 */
import { parseInfo } from '../actions/redis/info.js';
import { resolveNodes } from '../actions/redis/topology.js';
import type { NodeRef, TargetHandle } from '../actions/types.js';
import { nodeKey } from '../actions/types.js';
import type { IncidentSummary, TargetStatus } from './types.js';

function num(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

async function nodeStatus(target: TargetHandle, node: NodeRef): Promise<TargetStatus['nodes'][number]> {
  try {
    const c = await target.connect(node);
    const text = String(await c.call('INFO', 'memory', 'clients', 'replication', 'cluster'));
    const info = parseInfo(text);
    const mem = info['memory'] ?? {};
    const repl = info['replication'] ?? {};
    const used = num(mem['used_memory']);
    const max = num(mem['maxmemory']);
    const role = repl['role'] === 'master' ? 'primary' : repl['role'] === 'slave' ? 'replica' : repl['role'];
    const replication =
      repl['role'] === 'slave'
        ? `replica of ${repl['master_host']}:${repl['master_port']}, link ${repl['master_link_status']}, last io ${repl['master_last_io_seconds_ago']} s`
        : `${repl['connected_slaves'] ?? '0'} replica(s)`;
    let clusterState: string | undefined;
    if (info['cluster']?.['cluster_enabled'] === '1') {
      const ci = String(await c.call('CLUSTER', 'INFO'));
      clusterState = /cluster_state:(\w+)/.exec(ci)?.[1];
    }
    return {
      node: nodeKey(node),
      ok: true,
      ...(role !== undefined ? { role } : {}),
      ...(used !== undefined ? { usedMemory: used } : {}),
      ...(max !== undefined ? { maxmemory: max } : {}),
      usage: used !== undefined && max ? used / max : null,
      ...(mem['maxmemory_policy'] !== undefined ? { policy: mem['maxmemory_policy'] } : {}),
      ...(num(info['clients']?.['connected_clients']) !== undefined ? { connectedClients: num(info['clients']?.['connected_clients']) as number } : {}),
      replication,
      ...(clusterState !== undefined ? { clusterState } : {}),
    };
  } catch (e) {
    return { node: nodeKey(node), ok: false, error: (e as Error).message.split('\n')[0] ?? 'error' };
  }
}

export async function readTargetStatus(target: TargetHandle, open: IncidentSummary[]): Promise<TargetStatus> {
  let nodes: NodeRef[];
  try {
    nodes = await resolveNodes(target, 'all-nodes');
  } catch {
    nodes = target.endpoints;
  }
  return {
    target: target.name,
    mode: target.mode,
    role: target.role,
    nodes: await Promise.all(nodes.map((n) => nodeStatus(target, n))),
    openIncidents: open.filter((i) => i.target === target.name).map((i) => ({ id: i.id, runbook: i.runbook, state: i.state })),
  };
}
