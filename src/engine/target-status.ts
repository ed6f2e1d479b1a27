/**
 * A one-glance, read-only status of a target (for `/redis status` and the API): for every node
 * its role, memory against maxmemory, clients, replication link and cluster state.
 */
import { readInfo, replyText, sendCommand } from '../actions/redis/connection.js';
import { infoRole, optNum } from '../actions/redis/info.js';
import { resolveNodes } from '../actions/redis/topology.js';
import type { NodeRef, TargetHandle } from '../actions/types.js';
import { nodeKey } from '../actions/types.js';
import type { IncidentSummary, TargetStatus } from './types.js';

async function nodeStatus(target: TargetHandle, node: NodeRef): Promise<TargetStatus['nodes'][number]> {
  try {
    const ctx = { target };
    const info = await readInfo(ctx, node, 'memory', 'clients', 'replication', 'cluster');
    const mem = info['memory'] ?? {};
    const repl = info['replication'] ?? {};
    const used = optNum(mem, 'used_memory') ?? undefined;
    const max = optNum(mem, 'maxmemory') ?? undefined;
    const role = infoRole(repl);
    const clients = optNum(info['clients'], 'connected_clients');
    const replication =
      repl['role'] === 'slave'
        ? `replica of ${repl['master_host']}:${repl['master_port']}, link ${repl['master_link_status']}, last io ${repl['master_last_io_seconds_ago']} s`
        : `${repl['connected_slaves'] ?? '0'} replica(s)`;
    let clusterState: string | undefined;
    if (info['cluster']?.['cluster_enabled'] === '1') {
      const ci = replyText(await sendCommand(ctx, node, ['CLUSTER', 'INFO']));
      clusterState = /cluster_state:(\w+)/.exec(ci)?.[1];
    }
    return {
      node: nodeKey(node),
      ok: true,
      ...(role !== 'unknown' ? { role } : {}),
      ...(used !== undefined ? { usedMemory: used } : {}),
      ...(max !== undefined ? { maxmemory: max } : {}),
      usage: used !== undefined && max ? used / max : null,
      ...(mem['maxmemory_policy'] !== undefined ? { policy: mem['maxmemory_policy'] } : {}),
      ...(clients !== null ? { connectedClients: clients } : {}),
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
