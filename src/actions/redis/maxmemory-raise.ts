/**
 * `redis.maxmemory-raise`: grows maxmemory by a capped step, keeping host RAM headroom for fork
 * copy-on-write and buffers. Replicas first, then the primary (`ctx.node`); each SET is persisted
 * with CONFIG REWRITE.
 */
import { z } from 'zod';
import type { ActionContext, ActionDefinition, CommandOutcome, NodeRef, PlannedCommand } from '../types.js';
import { nodeKey } from '../types.js';
import { TargetError } from '../../errors.js';
import { executePlan, readInfo } from './connection.js';
import { commonApplied } from './applied.js';
import { infoRole, num } from './info.js';
import { resolveNodes } from './topology.js';
import { rewriteStatus } from './config-set.js';
import { OUTCOME_FIELDS } from './outcome-fields.js';

const MiB = 1024 * 1024;

const input = z
  .object({
    /** Growth as a fraction of the current limit (0.25 = +25%). */
    step: z.number().positive().max(1).default(0.25),
    /** Share of host RAM that must stay free above the new limit. */
    headroom: z.number().min(0).max(0.9).default(0.3),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.maxmemory-raise`. */
export type MaxmemoryRaiseInput = z.infer<typeof input>;

/** What the raise would do, node by node. */
export interface RaiseComputation {
  /** Replicas first, the primary last. */
  nodes: Array<{ node: NodeRef; current: number; totalSystemMemory: number }>;
  /** New limit in bytes (whole MiB), or null when no raise is possible. */
  target: number | null;
  /** Why there is no raise (when target is null). */
  reason?: string;
}

/** Findings of `redis.maxmemory-raise`. */
export interface MaxmemoryRaiseResult {
  outcomes: CommandOutcome[];
  /** Every planned command succeeded. */
  complete: boolean;
  /** New limit, or null when there was nothing to do. */
  newMaxmemory: number | null;
  /** node → CONFIG REWRITE succeeded (absent for nodes never reached). */
  persisted: Record<string, boolean>;
  notes: string[];
  /** The first failed CONFIG SET (nothing after it was sent). */
  failed?: { node: string; error: string };
  reason?: string;
  dryRun?: true;
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/**
 * The new limit: min(ceil_MiB(current·(1+step)), floor_MiB(RAM·(1−headroom))), RAM being the
 * smallest host among the nodes. `null` when that is not above the current limit.
 */
export function computeNewMaxmemory(current: number, totalSystemMemory: number, step: number, headroom: number): number | null {
  if (current <= 0 || totalSystemMemory <= 0) return null;
  const grown = Math.ceil((current * (1 + step)) / MiB) * MiB;
  const cap = Math.floor((totalSystemMemory * (1 - headroom)) / MiB) * MiB;
  const next = Math.min(grown, cap);
  return next > current ? next : null;
}

/** Reads the current limits of the primary (`ctx.node`) and its replicas and computes the raise. */
export async function computeRaise(inp: MaxmemoryRaiseInput, ctx: ActionContext): Promise<RaiseComputation> {
  const primaryInfo = await readInfo(ctx, ctx.node, 'memory', 'replication');
  if (infoRole(primaryInfo['replication']) === 'replica') {
    throw new TargetError('precondition_failed', `redis.maxmemory-raise must run on the primary; ${nodeKey(ctx.node)} is a replica`, false);
  }
  const replicas = (await resolveNodes(ctx.target, 'replicas', nodeKey(ctx.node))).filter((r) => nodeKey(r) !== nodeKey(ctx.node));
  const nodes: RaiseComputation['nodes'] = [];
  for (const r of replicas) {
    const mem = (await readInfo(ctx, r, 'memory'))['memory'];
    nodes.push({ node: r, current: num(mem, 'maxmemory'), totalSystemMemory: num(mem, 'total_system_memory') });
  }
  const pm = primaryInfo['memory'];
  const primary = { node: ctx.node, current: num(pm, 'maxmemory'), totalSystemMemory: num(pm, 'total_system_memory') };
  nodes.push(primary);
  if (primary.current <= 0) return { nodes, target: null, reason: 'maxmemory is 0 (no limit): nothing to raise' };
  const ram = Math.min(...nodes.map((n) => n.totalSystemMemory));
  if (!(ram > 0)) return { nodes, target: null, reason: 'total_system_memory unknown: cannot check headroom' };
  const target = computeNewMaxmemory(primary.current, ram, inp.step, inp.headroom);
  if (target === null) {
    const reason = `cannot raise within ${Math.round(inp.headroom * 100)}% headroom: maxmemory ${mib(primary.current)}, host RAM ${mib(ram)}`;
    return { nodes, target: null, reason };
  }
  return { nodes, target };
}

function toPlan(c: RaiseComputation): PlannedCommand[] {
  if (c.target === null) return [];
  const value = String(c.target);
  return c.nodes.flatMap(({ node, current }) => {
    const key = nodeKey(node);
    const who = node === c.nodes[c.nodes.length - 1]?.node ? 'primary' : 'replica';
    return [
      { node: key, argv: ['CONFIG', 'SET', 'maxmemory', value], note: `${who} maxmemory ${current} → ${value} (${mib(current)} → ${mib(c.target ?? 0)})` },
      { node: key, argv: ['CONFIG', 'REWRITE'], note: `persist maxmemory on ${key}` },
    ];
  });
}

/** Raises maxmemory on the primary (`ctx.node`) and its replicas, replicas first. */
export const maxmemoryRaise: ActionDefinition<MaxmemoryRaiseInput, MaxmemoryRaiseResult> = {
  name: 'redis.maxmemory-raise',
  description: 'Raises maxmemory by a capped step on all replicas, then the primary, keeping host RAM headroom.',
  risk: 'write',
  input,
  timeoutMs: 30_000,
  output: {
    ...OUTCOME_FIELDS,
    complete: 'true when every planned command was sent (a failed CONFIG SET or an abort stops the rest) or nothing was planned; false in a dry run',
    newMaxmemory: 'the new maxmemory, bytes (whole MiB); null when there was nothing to raise',
    persisted: 'host:port → true when its CONFIG REWRITE succeeded (absent for nodes never reached)',
    'persisted.*': 'CONFIG REWRITE of that node succeeded: the new limit survives a restart',
    notes: 'one line per node: old → new limit in bytes and MiB, then any "not persisted" reason',
    failed: 'the first CONFIG SET that failed (nothing after it was sent); absent when none failed',
    'failed.node': 'host:port where it failed',
    'failed.error': 'the error reply',
    reason: 'why nothing was planned (no limit, host RAM unknown, no room within the headroom); absent when planned',
    dryRun: 'true when nothing was sent (dry run); absent otherwise',
  },
  async plan(inp, ctx) {
    return toPlan(await computeRaise(inp, ctx));
  },
  async run(inp, ctx, given) {
    let plan = given;
    let reason: string | undefined;
    if (plan === undefined) {
      const c = await computeRaise(inp, ctx);
      plan = toPlan(c);
      reason = c.reason;
    }
    const setCmds = plan.filter((p) => p.argv[1]?.toUpperCase() === 'SET');
    const newMaxmemory = setCmds[0] ? Number(setCmds[0].argv[3]) : null;
    const notes = setCmds.map((p) => p.note ?? p.argv.join(' '));
    if (plan.length === 0) {
      return { outcomes: [], complete: true, newMaxmemory: null, persisted: {}, notes: [], reason: reason ?? 'nothing to raise' };
    }
    if (ctx.dryRun) return { outcomes: [], complete: false, newMaxmemory, persisted: {}, notes, dryRun: true };
    const exec = await executePlan(ctx, plan, (cmd) => cmd.argv[1]?.toUpperCase() === 'SET');
    const persisted: Record<string, boolean> = {};
    for (const o of exec.outcomes) {
      if (o.argv[1]?.toUpperCase() !== 'REWRITE') continue;
      const st = rewriteStatus(o);
      persisted[o.node] = st.persisted;
      if (st.note) notes.push(`${o.node}: ${st.note}`);
    }
    const bad = exec.stopped ? exec.outcomes[exec.outcomes.length - 1] : undefined;
    return {
      outcomes: exec.outcomes,
      complete: !exec.stopped,
      newMaxmemory,
      persisted,
      notes,
      ...(bad && !bad.ok ? { failed: { node: bad.node, error: bad.error ?? 'failed' } } : {}),
    };
  },
  applied(cmd, _inp, ctx) {
    return commonApplied(cmd, ctx);
  },
};
