/**
 * Cluster hygiene (cluster-mode targets), from `redis.cluster-view` (every node's CLUSTER NODES and
 * INFO compared): open slots left after a reshard (with the keys still on each end, CLUSTER
 * COUNTKEYSINSLOT), slots no node serves, nodes flagged failed, primaries without a healthy
 * replica, nodes whose cluster_state is not ok, and nodes that disagree on slot owners.
 */
import { z } from 'zod';
import { clusterView } from '../../actions/redis/cluster-view.js';
import type { ClusterViewResult } from '../../actions/redis/cluster-view.js';
import type { NodeRef } from '../../actions/types.js';
import type { CheckDefinition, FindingDraft } from './types.js';

const sev = z.enum(['info', 'warning', 'critical']);

const clusterParams = z
  .object({
    openSlot: sev.default('warning'),
    uncovered: sev.default('critical'),
    failedPrimary: sev.default('critical'),
    failedReplica: sev.default('warning'),
    noReplica: sev.default('warning'),
    stateFail: sev.default('critical'),
    disagree: sev.default('warning'),
  })
  .strict();

const ref = (addr: string): NodeRef => {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
};

export const clusterHealth: CheckDefinition<z.infer<typeof clusterParams>> = {
  type: 'cluster',
  description: 'Cluster open slots (with keys left on each end), uncovered slots, failed nodes, primaries without a healthy replica, cluster_state per node, owner disagreement.',
  params: clusterParams,
  async run(ctx) {
    const p = ctx.params;
    const findings: FindingDraft[] = [];
    const first = ctx.nodes[0];
    if (ctx.target.mode !== 'cluster' || !first) return { findings };
    const v: ClusterViewResult = await ctx.action(clusterView, first, {});
    const count = async (addr: string | null, slot: number): Promise<number | null> => {
      if (!addr) return null;
      try {
        return Number(await ctx.command(ref(addr), ['CLUSTER', 'COUNTKEYSINSLOT', String(slot)]));
      } catch {
        return null;
      }
    };
    for (const s of v.openSlots) {
      const [left, arrived] = await Promise.all([count(s.source, s.slot), count(s.destination, s.slot)]);
      const ends = `${s.migrating ? `MIGRATING on ${s.source ?? s.sourceId}` : `no MIGRATING marker on ${s.source ?? s.sourceId}`} → ${s.importing ? `IMPORTING on ${s.destination ?? s.destinationId}` : `no IMPORTING marker on ${s.destination ?? s.destinationId}`}`;
      findings.push({
        severity: p.openSlot,
        key: `open-slot:${s.slot}`,
        ...(s.source ? { node: s.source } : {}),
        summary: `slot ${s.slot} is open: ${ends}; ${left ?? '?'} keys left on the source, ${arrived ?? '?'} on the destination (owner ${s.owner ?? 'disputed'})`,
        data: { slot: s.slot, source: s.source, destination: s.destination, migrating: s.migrating, importing: s.importing, owner: s.owner, keysOnSource: left, keysOnDestination: arrived, markers: s.markers },
      });
    }
    if (v.uncoveredSlotCount > 0) {
      findings.push({ severity: p.uncovered, key: 'uncovered', summary: `${v.uncoveredSlotCount} slot${v.uncoveredSlotCount === 1 ? ' is' : 's are'} served by no node (${v.uncoveredSlots}): commands on their keys fail with CLUSTERDOWN`, data: { slots: v.uncoveredSlots, count: v.uncoveredSlotCount } });
    }
    for (const f of v.failedNodes) {
      const primary = f.role === 'master';
      findings.push({ severity: primary ? p.failedPrimary : p.failedReplica, key: `failed:${f.node}`, node: f.node, summary: `${primary ? 'primary' : 'replica'} ${f.node} is flagged ${f.flags} by ${f.seenBy.join(', ') || 'its peers'}${primary && f.slots ? ` (slots ${f.slots})` : ''}`, data: f });
    }
    for (const ps of v.primaries.filter((x) => !x.failed && x.healthyReplicas === 0)) {
      const n = ps.node;
      const why = ps.replicas.length === 0 ? 'no replica at all' : `no healthy replica (${ps.replicas.join(', ')} down or failed)`;
      findings.push({ severity: p.noReplica, key: `no-replica:${n}`, node: n, summary: `primary ${n} (${ps.slotCount} slots: ${ps.slots}) has ${why}: its failure leaves those slots uncovered`, data: { node: n, slots: ps.slots, replicas: ps.replicas } });
    }
    for (const [n, state] of Object.entries(v.states)) {
      if (state !== 'ok') findings.push({ severity: p.stateFail, key: `state:${n}`, node: n, summary: `${n} says cluster_state:${state}`, data: { node: n, state } });
    }
    if (!v.ownersAgree) {
      findings.push({ severity: p.disagree, key: 'owners-disagree', summary: `nodes disagree on slot owners: ${v.disagreements.slice(0, 5).map((d) => `${d.slots}: ${Object.entries(d.views).map(([k, o]) => `${k} says ${o ?? 'none'}`).join(', ')}`).join('; ')}`, data: { disagreements: v.disagreements.slice(0, 20) } });
    }
    for (const u of v.unreachable) findings.push({ severity: 'warning', key: `unreachable:${u}`, node: u, summary: `cluster node ${u} does not answer`, data: { node: u } });
    return { findings };
  },
};
