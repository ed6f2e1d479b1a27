/**
 * `redis.cluster-setslot-stable`: clears an open slot's markers to roll a migration back:
 * `CLUSTER SETSLOT <slot> STABLE` on the source (the owner; it stops redirecting with ASK, so keys
 * can be moved back to it) and/or on the destination (it stops importing). STABLE moves no key:
 * on the destination it is refused at run time while the destination still holds keys of the slot
 * (they would be stranded on a node that does not own the slot).
 */
import { z } from 'zod';
import type { ActionContext, ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { executePlan, parseNodeKey, replyText, sendCommand } from './connection.js';
import { parseClusterNodesFull } from './cluster-parse.js';
import { countKeysInSlot } from './cluster-slot-keys.js';
import { collectViews, findOpenSlot } from './cluster-views.js';

const input = z
  .object({
    /** The open slot (default: the lowest open slot). */
    slot: z.number().int().min(0).max(16383).optional(),
    /** Which end(s) to clear: source first, then destination. */
    side: z.enum(['source', 'destination', 'both']).default('both'),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.cluster-setslot-stable`. */
export type ClusterSetslotStableInput = z.infer<typeof input>;

/** Findings of `redis.cluster-setslot-stable`. */
export interface ClusterSetslotStableResult {
  outcomes: CommandOutcome[];
  slot: number | null;
  complete: boolean;
  notes: string[];
  dryRun?: true;
}

async function planStable(inp: ClusterSetslotStableInput, ctx: ActionContext): Promise<PlannedCommand[]> {
  const views = await collectViews(ctx);
  const open = findOpenSlot(views, inp.slot);
  if (!open) return [];
  const s = String(open.slot);
  const argv = ['CLUSTER', 'SETSLOT', s, 'STABLE'];
  const plan: PlannedCommand[] = [];
  if (inp.side !== 'destination' && open.source && open.migrating) {
    plan.push({ node: open.source, argv, note: `slot ${s}: ${open.source} stops migrating (serves the slot alone again; keys already on ${open.destination ?? open.destinationId} are unreadable until moved back)` });
  }
  if (inp.side !== 'source' && open.destination && open.importing) {
    plan.push({ node: open.destination, argv, note: `slot ${s}: ${open.destination} stops importing (only once it holds no key of the slot)` });
  }
  return plan;
}

/** Whether `node`'s own line has no marker for `slot` (undefined when it does not answer). */
async function noMarker(ctx: Pick<ActionContext, 'target'>, node: string, slot: number): Promise<boolean | undefined> {
  try {
    const self = parseClusterNodesFull(replyText(await sendCommand(ctx, parseNodeKey(node), ['CLUSTER', 'NODES']))).find((e) => e.myself);
    return !(self?.markers ?? []).some((m) => m.slot === slot);
  } catch {
    return undefined;
  }
}

/** Clears the MIGRATING/IMPORTING markers of an open slot. */
export const clusterSetslotStable: ActionDefinition<ClusterSetslotStableInput, ClusterSetslotStableResult> = {
  name: 'redis.cluster-setslot-stable',
  description: 'CLUSTER SETSLOT <slot> STABLE on the source and/or destination of an open slot (roll back); never strands keys on the destination.',
  risk: 'disruptive',
  input,
  timeoutMs: 30_000,
  output: {
    'outcomes[]': 'each STABLE sent (or refused): node, argv, ok, reply, error',
    slot: 'the slot cleared (null when none was open)',
    complete: 'every planned command succeeded',
    'notes[]': 'one line per command',
    dryRun: 'true when nothing was sent',
  },
  async plan(inp, ctx) {
    return planStable(inp, ctx);
  },
  async run(inp, ctx, given) {
    const plan = given ?? (await planStable(inp, ctx));
    const slot = plan[0] ? Number(plan[0].argv[2]) : (inp.slot ?? null);
    const notes = plan.map((p) => p.note ?? p.argv.join(' '));
    if (plan.length === 0) return { outcomes: [], slot, complete: true, notes };
    if (ctx.dryRun) return { outcomes: [], slot, complete: false, notes, dryRun: true };
    const outcomes: CommandOutcome[] = [];
    for (const cmd of plan) {
      // The destination must be empty: STABLE there would strand its keys of the slot.
      const self = parseClusterNodesFull(replyText(await sendCommand(ctx, parseNodeKey(cmd.node), ['CLUSTER', 'NODES']))).find((e) => e.myself);
      const importing = (self?.markers ?? []).some((m) => m.slot === Number(cmd.argv[2]) && m.state === 'importing');
      const held = importing ? await countKeysInSlot(ctx, cmd.node, Number(cmd.argv[2])) : 0;
      if (held !== 0) {
        outcomes.push({ ...cmd, ok: false, error: `refused: ${cmd.node} still holds ${held ?? 'an unknown number of'} keys of slot ${cmd.argv[2]}` });
        return { outcomes, slot, complete: false, notes };
      }
      const exec = await executePlan(ctx, [cmd]);
      outcomes.push(...exec.outcomes);
      if (exec.stopped) return { outcomes, slot, complete: false, notes };
    }
    return { outcomes, slot, complete: true, notes };
  },
  async applied(cmd, _inp, ctx) {
    const slot = Number(cmd.argv[2]);
    return Number.isInteger(slot) ? noMarker(ctx, cmd.node, slot) : undefined;
  },
};
