/**
 * `redis.cluster-setslot-node`: closes a finished migration the way redis-cli does:
 * `CLUSTER SETSLOT <slot> NODE <destination-id>` on the destination first (it bumps its epoch and
 * stops importing), then on the source (which refuses while it still holds keys of the slot — the
 * safety net if keys were left), then on every other reachable master.
 */
import { z } from 'zod';
import type { ActionContext, ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { TargetError } from '../../errors.js';
import { executePlan, parseNodeKey, replyText, sendCommand } from './connection.js';
import { inRanges, parseClusterNodesFull } from './cluster-parse.js';
import { collectViews, findOpenSlot, primaries } from './cluster-views.js';

const input = z
  .object({
    /** The open slot (default: the lowest open slot). */
    slot: z.number().int().min(0).max(16383).optional(),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.cluster-setslot-node`. */
export type ClusterSetslotNodeInput = z.infer<typeof input>;

/** Findings of `redis.cluster-setslot-node`. */
export interface ClusterSetslotNodeResult {
  outcomes: CommandOutcome[];
  slot: number | null;
  owner: string | null;
  complete: boolean;
  notes: string[];
  dryRun?: true;
}

async function planSetslot(inp: ClusterSetslotNodeInput, ctx: ActionContext): Promise<PlannedCommand[]> {
  const views = await collectViews(ctx);
  const open = findOpenSlot(views, inp.slot);
  if (!open) return [];
  const dst = open.destination;
  if (!dst || !views.find((v) => v.node === dst)?.ok) {
    throw new TargetError('target_unreachable', `slot ${open.slot}: destination ${dst ?? open.destinationId} does not answer; the slot cannot be assigned to it`, true);
  }
  const s = String(open.slot);
  const argv = ['CLUSTER', 'SETSLOT', s, 'NODE', open.destinationId];
  const plan: PlannedCommand[] = [{ node: dst, argv, note: `slot ${s}: ${dst} takes ownership first (stops importing, bumps its epoch)` }];
  if (open.source && views.find((v) => v.node === open.source)?.ok) {
    plan.push({ node: open.source, argv, note: `slot ${s}: old owner ${open.source} hands over (refused while it still holds keys of the slot)` });
  }
  for (const p of primaries(views)) {
    if (p.failed || !p.reachable || p.node === dst || p.node === open.source) continue;
    plan.push({ node: p.node, argv, note: `slot ${s}: tell ${p.node} the new owner ${dst}` });
  }
  return plan;
}

/** Whether `node`'s own view shows `slot` owned by `ownerId` with no marker on its line. */
export async function ownsWithoutMarker(ctx: Pick<ActionContext, 'target'>, node: string, slot: number, ownerId: string): Promise<boolean | undefined> {
  try {
    const entries = parseClusterNodesFull(replyText(await sendCommand(ctx, parseNodeKey(node), ['CLUSTER', 'NODES'])));
    const self = entries.find((e) => e.myself);
    const owner = entries.find((e) => e.master && inRanges(e.slots, slot));
    return owner?.id === ownerId && !(self?.markers ?? []).some((m) => m.slot === slot);
  } catch {
    return undefined;
  }
}

/** Assigns a migrated slot to its destination on every master. */
export const clusterSetslotNode: ActionDefinition<ClusterSetslotNodeInput, ClusterSetslotNodeResult> = {
  name: 'redis.cluster-setslot-node',
  description: 'CLUSTER SETSLOT <slot> NODE <destination> on the destination, then the source, then the other masters (as redis-cli does) to close a finished migration.',
  risk: 'disruptive',
  input,
  timeoutMs: 30_000,
  output: {
    'outcomes[]': 'each SETSLOT sent: node, argv, ok, reply, error',
    slot: 'the slot assigned (null when none was open)',
    owner: 'id of the new owner',
    complete: 'every planned command succeeded',
    'notes[]': 'one line per command',
    dryRun: 'true when nothing was sent',
  },
  async plan(inp, ctx) {
    return planSetslot(inp, ctx);
  },
  async run(inp, ctx, given) {
    const plan = given ?? (await planSetslot(inp, ctx));
    const first = plan[0];
    const base = { slot: first ? Number(first.argv[2]) : (inp.slot ?? null), owner: first?.argv[4] ?? null, notes: plan.map((p) => p.note ?? p.argv.join(' ')) };
    if (plan.length === 0) return { outcomes: [], complete: true, ...base };
    if (ctx.dryRun) return { outcomes: [], complete: false, ...base, dryRun: true };
    const exec = await executePlan(ctx, plan);
    return { outcomes: exec.outcomes, complete: !exec.stopped, ...base };
  },
  async applied(cmd, _inp, ctx) {
    const slot = Number(cmd.argv[2]);
    const owner = cmd.argv[4];
    if (!Number.isInteger(slot) || owner === undefined) return undefined;
    return ownsWithoutMarker(ctx, cmd.node, slot, owner);
  },
};
