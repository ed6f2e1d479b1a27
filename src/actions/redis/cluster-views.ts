/**
 * Every node's own view of a Redis Cluster, read on plain single-node connections (never a
 * cluster client: redirects would hide per-node state), and the pure analysis the cluster actions
 * share: open slots with both ends, agreement on owners and epochs, failed nodes, uncovered slots,
 * replicas per primary.
 */
import type { ActionContext, NodeRef } from '../types.js';
import { nodeKey } from '../types.js';
import { TargetError } from '../../errors.js';
import { parseNodeKey, replyText, sendCommand, toTargetError } from './connection.js';
import type { ClusterInfo, ClusterNodeEntry, SlotRange } from './cluster-parse.js';
import { CLUSTER_SLOTS, parseClusterInfo, parseClusterNodesFull, rangesText, slotOwners, toRanges } from './cluster-parse.js';

/** One node's answer (or why it did not answer). */
export interface NodeView {
  /** `host:port` we asked. */
  node: string;
  ok: boolean;
  error?: { code: string; message: string };
  /** Its CLUSTER NODES, parsed (empty when not reachable). */
  entries: ClusterNodeEntry[];
  info: ClusterInfo | null;
  /** Its own (`myself`) line. */
  self: ClusterNodeEntry | null;
}

type Ctx = Pick<ActionContext, 'target' | 'node'>;

async function readView(ctx: Ctx, addr: string): Promise<NodeView> {
  const ref = parseNodeKey(addr);
  try {
    const [nodesReply, infoReply] = await Promise.all([
      sendCommand(ctx, ref, ['CLUSTER', 'NODES']),
      sendCommand(ctx, ref, ['CLUSTER', 'INFO']),
    ]);
    const entries = parseClusterNodesFull(replyText(nodesReply));
    const self = entries.find((e) => e.myself) ?? null;
    // A node that never met another one does not know its own IP: name it as we reached it.
    if (self && self.addr === '') Object.assign(self, { host: ref.host, port: ref.port, addr });
    return { node: addr, ok: true, entries, info: parseClusterInfo(replyText(infoReply)), self };
  } catch (err) {
    const te = toTargetError(err, ref, 'CLUSTER NODES');
    return { node: addr, ok: false, error: { code: te.code, message: te.message }, entries: [], info: null, self: null };
  }
}

/**
 * Asks every node it can find: the step's node and the configured endpoints first, then every
 * address any answer names (failed nodes included, so their unreachability is on record).
 */
export async function collectViews(ctx: Ctx): Promise<NodeView[]> {
  const seen = new Set<string>();
  const views: NodeView[] = [];
  let wave = [ctx.node, ...ctx.target.endpoints].map((n: NodeRef) => nodeKey(n)).filter((a) => !seen.has(a) && seen.add(a));
  while (wave.length > 0) {
    const answers = await Promise.all(wave.map((a) => readView(ctx, a)));
    views.push(...answers);
    wave = [];
    for (const v of answers) {
      for (const e of v.entries) {
        if (e.addr !== '' && !e.handshake && !seen.has(e.addr)) {
          seen.add(e.addr);
          wave.push(e.addr);
        }
      }
    }
  }
  if (!views.some((v) => v.ok)) {
    const first = views.find((v) => v.error)?.error;
    throw new TargetError(first?.code ?? 'target_unreachable', `${ctx.target.name}: no cluster node answered CLUSTER NODES${first ? `: ${first.message}` : ''}`, true);
  }
  return views.sort((a, b) => a.node.localeCompare(b.node));
}

/** An open slot, from the markers of every node that has one. */
export interface OpenSlot {
  slot: number;
  /** The MIGRATING node (or, when only the destination has a marker, the node it imports from). */
  source: string | null;
  sourceId: string;
  destination: string | null;
  destinationId: string;
  /** The source still shows `[slot->-dest]`. */
  migrating: boolean;
  /** The destination still shows `[slot-<-source]`. */
  importing: boolean;
  /** Owner the reachable nodes agree on (id and address), null when they disagree or none. */
  ownerId: string | null;
  owner: string | null;
  /** Every marker seen, as `host:port MIGRATING → host:port` / `IMPORTING ← host:port`. */
  markers: string[];
}

/** The id → address book of every answering view (a node's own line wins). */
export function addressBook(views: readonly NodeView[]): Map<string, ClusterNodeEntry> {
  const book = new Map<string, ClusterNodeEntry>();
  for (const v of views) for (const e of v.entries) if (!book.has(e.id) || e.myself) book.set(e.id, e);
  return book;
}

/** The owner of each slot that every reachable master-view agrees on; `undefined` where they disagree. */
export function consensusOwners(views: readonly NodeView[]): Array<string | null | undefined> {
  const maps = views.filter((v) => v.ok).map((v) => slotOwners(v.entries));
  const out: Array<string | null | undefined> = new Array<string | null | undefined>(CLUSTER_SLOTS).fill(null);
  for (let s = 0; s < CLUSTER_SLOTS; s++) {
    const first = maps[0]?.[s] ?? null;
    out[s] = maps.every((m) => (m[s] ?? null) === first) ? first : undefined;
  }
  return out;
}

/** Open slots from every reachable node's `myself` line, lowest slot first. */
export function openSlots(views: readonly NodeView[]): OpenSlot[] {
  const book = addressBook(views);
  const owners = consensusOwners(views);
  const addr = (id: string): string | null => book.get(id)?.addr || null;
  const bySlot = new Map<number, OpenSlot>();
  for (const v of views) {
    const self = v.self;
    if (!self) continue;
    for (const m of self.markers) {
      const o =
        bySlot.get(m.slot) ??
        ({ slot: m.slot, source: null, sourceId: '', destination: null, destinationId: '', migrating: false, importing: false, ownerId: null, owner: null, markers: [] } as OpenSlot);
      if (m.state === 'migrating') {
        o.migrating = true;
        o.sourceId = self.id;
        o.source = self.addr;
        if (!o.destinationId) {
          o.destinationId = m.peerId;
          o.destination = addr(m.peerId);
        }
        o.markers.push(`${self.addr} MIGRATING → ${addr(m.peerId) ?? m.peerId}`);
      } else {
        o.importing = true;
        o.destinationId = self.id;
        o.destination = self.addr;
        if (!o.sourceId) {
          o.sourceId = m.peerId;
          o.source = addr(m.peerId);
        }
        o.markers.push(`${self.addr} IMPORTING ← ${addr(m.peerId) ?? m.peerId}`);
      }
      const owner = owners[m.slot];
      o.ownerId = owner ?? null;
      o.owner = owner ? addr(owner) : null;
      bySlot.set(m.slot, o);
    }
  }
  return [...bySlot.values()].sort((a, b) => a.slot - b.slot);
}

/** The open slot `slot` (or the lowest open slot), undefined when it is not open (any more). */
export function findOpenSlot(views: readonly NodeView[], slot?: number): OpenSlot | undefined {
  const open = openSlots(views);
  return slot === undefined ? open[0] : open.find((o) => o.slot === slot);
}

/** The open slot `slot`, or the lowest one when `slot` is not given. Throws when there is none. */
export function pickOpenSlot(views: readonly NodeView[], slot?: number): OpenSlot {
  const open = openSlots(views);
  const hit = slot === undefined ? open[0] : open.find((o) => o.slot === slot);
  if (!hit) {
    throw new TargetError('slot_not_open', slot === undefined ? 'no open slot on any reachable node' : `slot ${slot} is not open on any reachable node`, false);
  }
  return hit;
}

/** A master as the reachable nodes see it. */
export interface PrimarySummary {
  node: string;
  id: string;
  slots: string;
  slotCount: number;
  /** Flagged `fail`/`fail?` by some reachable node, or asked and not answering. */
  failed: boolean;
  reachable: boolean;
  replicas: string[];
  /** Replicas that answer and are not flagged failed. */
  healthyReplicas: number;
  configEpoch: number;
}

/** Masters with slots (as the union of the reachable views knows them), their replicas and health. */
export function primaries(views: readonly NodeView[]): PrimarySummary[] {
  const book = addressBook(views);
  const reachable = new Set(views.filter((v) => v.ok).map((v) => v.node));
  const unreachable = new Set(views.filter((v) => !v.ok).map((v) => v.node));
  const failedIds = new Set<string>();
  for (const v of views) for (const e of v.entries) if (e.fail || e.pfail) failedIds.add(e.id);
  const out: PrimarySummary[] = [];
  for (const e of book.values()) {
    if (!e.master || e.slotCount === 0) continue;
    const reps = [...book.values()].filter((r) => r.masterId === e.id);
    out.push({
      node: e.addr,
      id: e.id,
      slots: rangesText(e.slots),
      slotCount: e.slotCount,
      failed: failedIds.has(e.id) || unreachable.has(e.addr),
      reachable: reachable.has(e.addr),
      replicas: reps.map((r) => r.addr),
      healthyReplicas: reps.filter((r) => reachable.has(r.addr) && !failedIds.has(r.id)).length,
      configEpoch: e.configEpoch,
    });
  }
  return out.sort((a, b) => a.node.localeCompare(b.node));
}

/** Slots no master claims in any reachable view, or claimed only by failed masters. */
export function uncoveredSlots(views: readonly NodeView[]): SlotRange[] {
  const failed = new Set(primaries(views).filter((p) => p.failed).map((p) => p.id));
  const maps = views.filter((v) => v.ok).map((v) => slotOwners(v.entries));
  const out: number[] = [];
  for (let s = 0; s < CLUSTER_SLOTS; s++) {
    const owners = maps.map((m) => m[s] ?? null);
    if (owners.every((o) => o === null || failed.has(o))) out.push(s);
  }
  return toRanges(out);
}
