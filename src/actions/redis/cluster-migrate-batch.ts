/**
 * `redis.cluster-migrate-batch`: moves the keys of an open slot in bounded batches, forward
 * (source → destination, to finish a migration) or back (destination → source, to roll it back).
 * The plan lists the exact keys: GETKEYSINSLOT on the sending end, then one
 * `MIGRATE host port "" 0 <timeout> KEYS k1..kn` per batch. Re-planned fresh from the live target
 * each round (runbook `repeat`), so it ends when the slot is empty on the sending end.
 *
 * Never overwrites: keys that exist on both ends stop the plan (MIGRATE would answer BUSYKEY) and
 * are named; REPLACE is never sent. On a cluster with AUTH, `authSecret` names the target secret
 * (config `targets.<t>.secrets`) holding the password: the plan carries
 * `AUTH2 <user> ${secret:<name>}` (the target's ACL user, else `default`), resolved only at send
 * time, so the password never appears in a plan, a timeline or an error.
 */
import { z } from 'zod';
import type { ActionContext, ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { TargetError } from '../../errors.js';
import { secretRef } from '../command-format.js';
import { executePlan, parseNodeKey } from './connection.js';
import { keyHashSlot } from './cluster-parse.js';
import { countKeysInSlot, keysInSlot } from './cluster-slot-keys.js';
import { collectViews, findOpenSlot } from './cluster-views.js';

const input = z
  .object({
    /** The open slot (default: the lowest open slot). */
    slot: z.number().int().min(0).max(16383).optional(),
    /** `forward` finishes (source → destination); `back` rolls back (destination → source). */
    direction: z.enum(['forward', 'back']).default('forward'),
    /** Keys per MIGRATE. */
    batch: z.number().int().min(1).max(1000).default(100),
    /** MIGRATE commands per plan (one round). */
    batches: z.number().int().min(1).max(100).default(1),
    /** MIGRATE timeout (ms). */
    timeoutMs: z.number().int().min(100).max(120_000).default(5000),
    /** Keys listed on the receiving end to find keys on both sides. */
    maxList: z.number().int().min(1).max(1_000_000).default(100_000),
    /** Name of the target secret with the password MIGRATE must send to the receiving end (AUTH2). */
    authSecret: z.string().regex(/^[A-Za-z0-9_.-]+$/).optional(),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.cluster-migrate-batch`. */
export type ClusterMigrateBatchInput = z.infer<typeof input>;

/** Findings of `redis.cluster-migrate-batch`. */
export interface ClusterMigrateBatchResult {
  outcomes: CommandOutcome[];
  slot: number | null;
  from: string | null;
  to: string | null;
  /** Keys in MIGRATE commands answered OK. */
  moved: number;
  /** Keys of the slot still on the sending end after this round (null if unknown). */
  remaining: number | null;
  complete: boolean;
  notes: string[];
  dryRun?: true;
}

interface Ends {
  slot: number;
  from: string;
  to: string;
}

async function ends(inp: ClusterMigrateBatchInput, ctx: ActionContext): Promise<Ends | null> {
  const views = await collectViews(ctx);
  const open = findOpenSlot(views, inp.slot);
  if (!open) return null;
  const [from, to] = inp.direction === 'forward' ? [open.source, open.destination] : [open.destination, open.source];
  if (!from || !to) throw new TargetError('node_unknown', `slot ${open.slot}: an end has no known address (source ${open.sourceId}, destination ${open.destinationId})`, false);
  for (const end of [from, to]) {
    const v = views.find((x) => x.node === end);
    if (!v?.ok) throw new TargetError('target_unreachable', `slot ${open.slot}: ${end} does not answer (${v?.error?.message ?? 'unknown'}); keys cannot be moved`, true);
  }
  return { slot: open.slot, from, to };
}

/** Keys listed on `addr` for `slot`, or null when there are more than `max`. */
async function listAll(ctx: ActionContext, addr: string, slot: number, max: number): Promise<Set<string> | null> {
  const n = await countKeysInSlot(ctx, addr, slot);
  if (n === null) throw new TargetError('target_unreachable', `${addr} did not answer COUNTKEYSINSLOT ${slot}`, true);
  if (n > max) return null;
  return new Set(await keysInSlot(ctx, addr, slot, n));
}

async function planBatches(inp: ClusterMigrateBatchInput, ctx: ActionContext): Promise<PlannedCommand[]> {
  const e = await ends(inp, ctx);
  if (!e) return [];
  const total = await countKeysInSlot(ctx, e.from, e.slot);
  if (!total) return [];
  const keys = await keysInSlot(ctx, e.from, e.slot, Math.min(total, inp.batch * inp.batches));
  const onTo = await listAll(ctx, e.to, e.slot, inp.maxList);
  if (onTo === null) throw new TargetError('too_many_keys', `slot ${e.slot}: ${e.to} holds more than ${inp.maxList} keys; cannot check keys on both sides`, false);
  const both = keys.filter((k) => onTo.has(k));
  if (both.length > 0) {
    throw new TargetError(
      'keys_on_both_sides',
      `slot ${e.slot}: ${both.length} key(s) exist on both ${e.from} and ${e.to} (${both.slice(0, 5).join(', ')}${both.length > 5 ? ', …' : ''}); MIGRATE would fail with BUSYKEY and nothing is overwritten — compare them by hand`,
      false,
    );
  }
  const [host, port] = ((a) => [a.host, String(a.port)])(parseNodeKey(e.to));
  const rounds = Math.ceil(total / inp.batch);
  const auth = inp.authSecret !== undefined ? ['AUTH2', ctx.target.username ?? 'default', secretRef(inp.authSecret)] : [];
  const plan: PlannedCommand[] = [];
  for (let i = 0; i < keys.length; i += inp.batch) {
    const chunk = keys.slice(i, i + inp.batch);
    plan.push({
      node: e.from,
      argv: ['MIGRATE', host, port, '', '0', String(inp.timeoutMs), ...auth, 'KEYS', ...chunk],
      note: `slot ${e.slot}: move ${chunk.length} of ${total} keys ${e.from} → ${e.to} (${inp.direction === 'forward' ? 'finish' : 'roll back'}; batch of ${inp.batch}, ${rounds} batch(es) in all, each ≤ ${inp.timeoutMs} ms)`,
    });
  }
  return plan;
}

/** The keys and receiving end of one planned MIGRATE. */
export function migrateCommandParts(cmd: PlannedCommand): { to: string; keys: string[] } | null {
  const a = cmd.argv;
  if (a[0]?.toUpperCase() !== 'MIGRATE') return null;
  const k = a.findIndex((x) => x.toUpperCase() === 'KEYS');
  if (k < 0 || a[1] === undefined || a[2] === undefined) return null;
  return { to: `${a[1]}:${a[2]}`, keys: a.slice(k + 1) };
}

/** Moves keys of an open slot in bounded batches. */
export const clusterMigrateBatch: ActionDefinition<ClusterMigrateBatchInput, ClusterMigrateBatchResult> = {
  name: 'redis.cluster-migrate-batch',
  description: 'Moves the keys of an open slot in bounded MIGRATE batches, forward (finish) or back (roll back); never overwrites a key present on both ends; AUTH2 through a target secret reference.',
  risk: 'disruptive',
  input,
  timeoutMs: 120_000,
  output: {
    'outcomes[]': 'each MIGRATE sent: node, argv, ok, reply (OK / NOKEY), error',
    slot: 'the slot whose keys moved (null when no slot was open)',
    from: 'host:port of the sending end',
    to: 'host:port of the receiving end',
    moved: 'keys in MIGRATE commands answered OK',
    remaining: 'keys of the slot still on the sending end after this round (null if unknown)',
    complete: 'every planned MIGRATE succeeded',
    'notes[]': 'one line per batch',
    dryRun: 'true when nothing was sent',
  },
  async plan(inp, ctx) {
    return planBatches(inp, ctx);
  },
  async run(inp, ctx, given) {
    const plan = given ?? (await planBatches(inp, ctx));
    const first = plan[0];
    const parts = first ? migrateCommandParts(first) : null;
    const slot = parts?.keys[0] !== undefined ? keyHashSlot(parts.keys[0]) : null;
    const notes = plan.map((p) => p.note ?? p.argv.slice(0, 3).join(' '));
    const base = { slot, from: first?.node ?? null, to: parts?.to ?? null, notes };
    if (plan.length === 0) return { outcomes: [], moved: 0, remaining: 0, complete: true, ...base, slot: inp.slot ?? null };
    if (ctx.dryRun) return { outcomes: [], moved: 0, remaining: null, complete: false, ...base, dryRun: true };
    const exec = await executePlan(ctx, plan);
    const moved = exec.outcomes.filter((o) => o.ok && o.reply === 'OK').reduce((n, o) => n + (migrateCommandParts(o)?.keys.length ?? 0), 0);
    const remaining = first && slot !== null ? await countKeysInSlot(ctx, first.node, slot) : null;
    return { outcomes: exec.outcomes, moved, remaining, complete: !exec.stopped, ...base };
  },
  async applied(cmd, _inp, ctx) {
    const parts = migrateCommandParts(cmd);
    const k0 = parts?.keys[0];
    if (!parts || k0 === undefined) return undefined;
    const slot = keyHashSlot(k0);
    try {
      const onFrom = await listAll(ctx, cmd.node, slot, 1_000_000);
      if (onFrom === null) return undefined;
      const left = parts.keys.filter((k) => onFrom.has(k));
      if (left.length === 0) return true;
      const onTo = await listAll(ctx, parts.to, slot, 1_000_000);
      if (onTo === null) return undefined;
      // A key on both ends: a human decides which copy wins.
      return left.some((k) => onTo.has(k)) ? undefined : false;
    } catch {
      return undefined;
    }
  },
};
