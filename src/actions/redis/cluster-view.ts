/**
 * `redis.cluster-view`: CLUSTER NODES + CLUSTER INFO from every reachable node of a Cluster
 * target, compared: each node's own view, whether they agree on slot owners and epochs, open
 * slots with both ends, failed nodes, uncovered slots, replicas per primary, cluster_state per node.
 * Read-only. It keeps no state: how long a slot has been open is the incident timeline's business.
 */
import { z } from 'zod';
import type { ActionDefinition } from '../types.js';
import { CLUSTER_SLOTS, rangesText, toRanges } from './cluster-parse.js';
import type { NodeView, OpenSlot, PrimarySummary } from './cluster-views.js';
import { addressBook, collectViews, consensusOwners, openSlots, primaries, uncoveredSlots } from './cluster-views.js';

const input = z.object({}).strict().prefault({});

/** One node's own view, summarised. */
export interface NodeSummary {
  node: string;
  id: string | null;
  reachable: boolean;
  error: { code: string; message: string } | null;
  role: 'master' | 'replica' | 'unknown';
  flags: string[];
  /** Master address for replicas. */
  master: string | null;
  configEpoch: number | null;
  clusterState: string | null;
  slotsOk: number | null;
  slotsFail: number | null;
  slotsPfail: number | null;
  currentEpoch: number | null;
  knownNodes: number | null;
  slots: string;
  /** Its own markers: `slot MIGRATING → host:port` / `slot IMPORTING ← host:port`. */
  markers: string[];
}

/** Findings of `redis.cluster-view`. */
export interface ClusterViewResult {
  nodes: NodeSummary[];
  reachable: number;
  unreachable: string[];
  openSlots: OpenSlot[];
  openSlotCount: number;
  ownersAgree: boolean;
  disagreements: Array<{ slots: string; views: Record<string, string | null> }>;
  epochsAgree: boolean;
  epochCollisions: Array<{ epoch: number; nodes: string[] }>;
  failedNodes: Array<{ node: string; id: string; flags: string; role: string; slots: string; seenBy: string[] }>;
  uncoveredSlots: string;
  uncoveredSlotCount: number;
  primaries: PrimarySummary[];
  primariesWithoutReplica: string[];
  statesOk: boolean;
  minSlotsOk: number;
  states: Record<string, string>;
}

function summarise(v: NodeView, book: ReturnType<typeof addressBook>): NodeSummary {
  const s = v.self;
  return {
    node: v.node,
    id: s?.id ?? null,
    reachable: v.ok,
    error: v.error ?? null,
    role: s ? (s.master ? 'master' : s.replica ? 'replica' : 'unknown') : 'unknown',
    flags: s?.flags.filter((f) => f !== 'myself') ?? [],
    master: s?.masterId ? (book.get(s.masterId)?.addr ?? s.masterId) : null,
    configEpoch: s?.configEpoch ?? null,
    clusterState: v.info?.state ?? null,
    slotsOk: v.info?.slotsOk ?? null,
    slotsFail: v.info?.slotsFail ?? null,
    slotsPfail: v.info?.slotsPfail ?? null,
    currentEpoch: v.info?.currentEpoch ?? null,
    knownNodes: v.info?.knownNodes ?? null,
    slots: s ? rangesText(s.slots) : '',
    markers: (s?.markers ?? []).map((m) => `${m.slot} ${m.state === 'migrating' ? 'MIGRATING →' : 'IMPORTING ←'} ${book.get(m.peerId)?.addr || m.peerId}`),
  };
}

/** The analysis of a set of views (pure; exported for the other cluster actions and tests). */
export function analyse(views: NodeView[]): ClusterViewResult {
  const book = addressBook(views);
  const ok = views.filter((v) => v.ok);
  const owners = consensusOwners(views);
  const disagreeSlots: number[] = [];
  for (let s = 0; s < CLUSTER_SLOTS; s++) if (owners[s] === undefined) disagreeSlots.push(s);
  const disagreements = toRanges(disagreeSlots)
    .slice(0, 20)
    .map((r) => {
      const seen: Record<string, string | null> = {};
      for (const v of ok) {
        const owner = v.entries.find((e) => e.master && e.slots.some((x) => r.start >= x.start && r.start <= x.end));
        seen[v.node] = owner ? owner.addr || owner.id : null;
      }
      return { slots: rangesText([r]), views: seen };
    });
  // Epochs: every reachable node must see the same config epoch for each node.
  let epochsAgree = true;
  for (const id of book.keys()) {
    const seen = new Set(ok.map((v) => v.entries.find((e) => e.id === id)?.configEpoch).filter((x) => x !== undefined));
    if (seen.size > 1) epochsAgree = false;
  }
  const prim = primaries(views);
  const byEpoch = new Map<number, string[]>();
  for (const p of prim) byEpoch.set(p.configEpoch, [...(byEpoch.get(p.configEpoch) ?? []), p.node]);
  const failedNodes: ClusterViewResult['failedNodes'] = [];
  for (const e of book.values()) {
    const seenBy = ok.filter((v) => v.entries.some((x) => x.id === e.id && (x.fail || x.pfail))).map((v) => v.node);
    const unreachable = views.some((v) => v.node === e.addr && !v.ok);
    if (seenBy.length === 0 && !unreachable) continue;
    const flags = ok.flatMap((v) => v.entries.filter((x) => x.id === e.id).map((x) => x.flags.join(',')));
    failedNodes.push({
      node: e.addr,
      id: e.id,
      flags: flags[0] ?? 'unreachable',
      role: e.master ? 'master' : 'replica',
      slots: rangesText(e.slots),
      seenBy,
    });
  }
  const uncovered = uncoveredSlots(views);
  const states: Record<string, string> = {};
  for (const v of ok) states[v.node] = v.info?.state ?? 'unknown';
  return {
    nodes: views.map((v) => summarise(v, book)),
    reachable: ok.length,
    unreachable: views.filter((v) => !v.ok).map((v) => v.node),
    openSlots: openSlots(views),
    openSlotCount: openSlots(views).length,
    ownersAgree: disagreeSlots.length === 0,
    disagreements,
    epochsAgree,
    epochCollisions: [...byEpoch.entries()].filter(([, n]) => n.length > 1).map(([epoch, nodes]) => ({ epoch, nodes })),
    failedNodes,
    uncoveredSlots: rangesText(uncovered),
    uncoveredSlotCount: uncovered.reduce((n, r) => n + r.end - r.start + 1, 0),
    primaries: prim,
    primariesWithoutReplica: prim.filter((p) => p.replicas.length === 0).map((p) => p.node),
    statesOk: ok.every((v) => v.info?.state === 'ok' && v.info.slotsOk === CLUSTER_SLOTS),
    minSlotsOk: Math.min(...ok.map((v) => v.info?.slotsOk ?? 0)),
    states,
  };
}

/** Reads and compares every node's view of the cluster. */
export const clusterView: ActionDefinition<z.infer<typeof input>, ClusterViewResult> = {
  name: 'redis.cluster-view',
  description: "Every cluster node's CLUSTER NODES and CLUSTER INFO, compared: open slots, owner/epoch agreement, failed nodes, uncovered slots, replicas per primary.",
  risk: 'read',
  input,
  timeoutMs: 20_000,
  output: {
    'nodes[]': "each node asked: node, id, reachable, error {code, message}, role, flags, master, configEpoch, clusterState, slotsOk/slotsFail/slotsPfail, currentEpoch, knownNodes, slots (ranges), markers (its own open-slot markers)",
    reachable: 'number of nodes that answered',
    unreachable: 'host:port of nodes that did not answer',
    'openSlots[]': 'open slots: slot, source/sourceId (MIGRATING node), destination/destinationId (IMPORTING node), migrating, importing (which markers remain), owner/ownerId (agreed owner), markers (text)',
    openSlotCount: 'number of open slots',
    ownersAgree: 'every reachable node names the same owner for every slot',
    'disagreements[]': 'slot ranges where views differ: slots, views {node: owner}',
    epochsAgree: "every reachable node sees the same config epoch for each node",
    'epochCollisions[]': 'primaries sharing a config epoch: epoch, nodes',
    'failedNodes[]': 'nodes flagged fail/fail? by someone or not answering: node, id, flags, role, slots, seenBy',
    uncoveredSlots: 'slots no live master serves (ranges text)',
    uncoveredSlotCount: 'how many slots are uncovered',
    'primaries[]': 'masters with slots: node, id, slots, slotCount, failed, reachable, replicas, healthyReplicas, configEpoch',
    primariesWithoutReplica: 'masters with slots and no replica at all',
    statesOk: 'every reachable node says cluster_state:ok and 16384 slots ok',
    minSlotsOk: 'lowest cluster_slots_ok among reachable nodes',
    states: 'cluster_state per reachable node',
  },
  async run(_input, ctx) {
    return analyse(await collectViews(ctx));
  },
};
