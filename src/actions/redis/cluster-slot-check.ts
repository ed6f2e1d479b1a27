/**
 * `redis.cluster-slot-check`: verification of one slot after a fix. Which master every reachable
 * node names as its owner, whether any node still has a marker for it, how many keys of the slot
 * each master holds (COUNTKEYSINSLOT), and whether the keys are readable where the cluster routes
 * them: EXISTS on the agreed owner in batches, answered without MOVED/ASK/CLUSTERDOWN. Read-only.
 */
import { z } from 'zod';
import type { ActionDefinition } from '../types.js';
import { parseNodeKey, sendCommand } from './connection.js';
import { inRanges } from './cluster-parse.js';
import { countKeysInSlot, keysInSlot } from './cluster-slot-keys.js';
import { addressBook, collectViews, primaries } from './cluster-views.js';

const input = z
  .object({
    slot: z.number().int().min(0).max(16383),
    /** Keys read back on the owner at most. */
    maxKeys: z.number().int().min(0).max(1_000_000).default(100_000),
  })
  .strict();

/** Validated input of `redis.cluster-slot-check`. */
export type ClusterSlotCheckInput = z.infer<typeof input>;

/** Findings of `redis.cluster-slot-check`. */
export interface ClusterSlotCheckResult {
  slot: number;
  owner: string | null;
  ownerId: string | null;
  ownerAgreed: boolean;
  open: boolean;
  markers: string[];
  keysByNode: Record<string, number>;
  keysOnOwner: number;
  keysElsewhere: number;
  readable: number;
  unreadable: number;
  readErrors: string[];
  ok: boolean;
}

/** Checks one slot on the live cluster. */
export const clusterSlotCheck: ActionDefinition<ClusterSlotCheckInput, ClusterSlotCheckResult> = {
  name: 'redis.cluster-slot-check',
  description: 'After a slot fix: agreed owner, no marker anywhere, keys only on the owner, and every key readable on it without a redirect.',
  risk: 'read',
  input,
  timeoutMs: 60_000,
  output: {
    slot: 'the slot checked',
    owner: 'host:port of the owner every reachable node names (null when they disagree)',
    ownerId: 'its node id',
    ownerAgreed: 'every reachable node names the same owner',
    open: 'some node still shows a MIGRATING/IMPORTING marker for the slot',
    'markers[]': 'the markers still seen, as host:port state peer-id',
    keysByNode: 'COUNTKEYSINSLOT per reachable master (host:port → keys)',
    keysOnOwner: 'keys of the slot on the owner',
    keysElsewhere: 'keys of the slot on other masters (stranded: should be 0)',
    readable: 'keys answered EXISTS=1 on the owner without a redirect',
    unreadable: 'keys listed on the owner that did not read back (missing, MOVED, ASK, CLUSTERDOWN)',
    'readErrors[]': 'the first errors met while reading back',
    ok: 'owner agreed, no marker, nothing elsewhere, every key readable',
  },
  async run(inp, ctx) {
    const views = await collectViews(ctx);
    const book = addressBook(views);
    const ownersSeen = new Set<string | null>();
    const markers: string[] = [];
    for (const v of views) {
      if (!v.ok) continue;
      ownersSeen.add(v.entries.find((e) => e.master && inRanges(e.slots, inp.slot))?.id ?? null);
      for (const m of v.self?.markers ?? []) if (m.slot === inp.slot) markers.push(`${v.node} ${m.state} ${book.get(m.peerId)?.addr || m.peerId}`);
    }
    const ownerAgreed = ownersSeen.size === 1 && !ownersSeen.has(null);
    const ownerId = ownerAgreed ? ([...ownersSeen][0] ?? null) : null;
    const owner = ownerId ? book.get(ownerId)?.addr || null : null;
    const keysByNode: Record<string, number> = {};
    for (const p of primaries(views)) {
      if (!p.reachable) continue;
      const n = await countKeysInSlot(ctx, p.node, inp.slot);
      if (n !== null) keysByNode[p.node] = n;
    }
    const keysOnOwner = owner ? (keysByNode[owner] ?? 0) : 0;
    const keysElsewhere = Object.entries(keysByNode).reduce((n, [node, k]) => (node === owner ? n : n + k), 0);
    let readable = 0;
    let unreadable = 0;
    const readErrors: string[] = [];
    if (owner && keysOnOwner > 0) {
      const keys = await keysInSlot(ctx, owner, inp.slot, Math.min(keysOnOwner, inp.maxKeys));
      for (let i = 0; i < keys.length; i += 100) {
        const chunk = keys.slice(i, i + 100);
        try {
          const n = Number(await sendCommand(ctx, parseNodeKey(owner), ['EXISTS', ...chunk]));
          readable += n;
          unreadable += chunk.length - n;
        } catch (err) {
          unreadable += chunk.length;
          if (readErrors.length < 5) readErrors.push((err as Error).message);
        }
      }
    }
    return {
      slot: inp.slot,
      owner,
      ownerId,
      ownerAgreed,
      open: markers.length > 0,
      markers,
      keysByNode,
      keysOnOwner,
      keysElsewhere,
      readable,
      unreadable,
      readErrors,
      ok: ownerAgreed && markers.length === 0 && keysElsewhere === 0 && unreadable === 0,
    };
  },
};
