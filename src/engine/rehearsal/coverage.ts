/**
 * Path coverage of a compiled runbook machine, with `xstate/graph`.
 *
 * - **Structure** (`toDirectedGraph`, plus the eventless `always` edges of `deciding`): every
 *   state is reachable from `diagnosing`, and from every state a final state can be reached without
 *   a human cancelling the incident (`incident.cancel` edges are left out of that check). Simple
 *   paths from `diagnosing` to a final state are counted.
 * - **Behaviour** (`getAdjacencyMap`): the machine itself, its guards evaluated, driven with
 *   representative events — `effect.done` with the rehearsal cases' findings (derived values
 *   computed), every step failing, recorded (or one-command) and empty plans, act done / skipped /
 *   failed, verification polls with the cases' verify findings and with nothing, early and past the
 *   deadline, `effect.failed`, `approval.granted` (every option, two approvers),
 *   `approval.rejected`, `approval.expired`, `alert.resolved`, `incident.cancel`. Every snapshot
 *   reached must be able to end in a final state; states the representative data never reach are
 *   listed (`unexercised`).
 */
import { createHash } from 'node:crypto';
import type { AnyMachineSnapshot, AnyStateNode } from 'xstate';
import { getAdjacencyMap, toDirectedGraph } from 'xstate/graph';
import type { DirectedGraphNode } from 'xstate/graph';
import { deriveValues } from '../effects/diagnose.js';
import type { Effect, MachineContext, MachineEvent, OfferedOption } from '../machine/types.js';
import type { CompiledRunbook } from '../runbook/load.js';
import { isWait } from '../runbook/schema.js';
import { paramValue, parsePlanLine, statePath } from './rehearse.js';
import type { RehearsalCase } from './schema.js';

export interface CoverageReport {
  runbook: string;
  /** Leaf states of the machine (atomic and final). */
  states: number;
  finals: string[];
  /** Simple paths from `diagnosing` to a final state in the state graph. */
  paths: number;
  /** Leaf states no edge leads to from `diagnosing`. */
  unreachable: string[];
  /** Leaf states from which no final state can be reached without a cancel. */
  deadEnds: string[];
  /** Behaviour: distinct snapshots the representative events reached, and their leaf states. */
  snapshots: number;
  reached: string[];
  /** Snapshots reached that cannot end in a final state (by the events tried). */
  stuck: string[];
  /** Leaf states the representative data never reached (`deciding` is transient: never resting). */
  unexercised: string[];
  /** The traversal stopped at its limit: `reached` is partial. */
  truncated: boolean;
  /**
   * With `opts.samples`: one persisted snapshot per leaf state reached (the first found, live
   * runs preferred to dry runs) — the crash matrix starts incidents in them.
   */
  samples?: Record<string, unknown>;
}

const T0 = Date.parse('2026-01-01T00:00:00Z');
const LATE = T0 + 10 * 365 * 24 * 3600_000;
const CANCEL = 'incident.cancel';

interface Leaf {
  id: string;
  node: AnyStateNode;
}

/** The leaf a transition into `node` lands in (compound states enter their initial child). */
function entryLeaf(node: AnyStateNode): AnyStateNode {
  let n = node;
  for (let i = 0; i < 20; i++) {
    if (n.type !== 'compound' || !n.initial) return n;
    const first = n.initial.target[0];
    if (!first) return n;
    n = first;
  }
  return n;
}

function leafId(node: AnyStateNode): string {
  return node.path.join('.');
}

function leavesUnder(node: AnyStateNode): AnyStateNode[] {
  const kids = Object.values(node.states) as AnyStateNode[];
  if (kids.length === 0) return [node];
  return kids.flatMap(leavesUnder);
}

/** Edges between leaf states: `[from, to, event]`. */
function leafEdges(root: DirectedGraphNode): Array<[string, string, string]> {
  const out: Array<[string, string, string]> = [];
  const walk = (g: DirectedGraphNode): void => {
    const sources = leavesUnder(g.stateNode);
    const edges: Array<{ target: AnyStateNode; event: string }> = g.edges.map((e) => ({ target: e.target, event: e.label.text }));
    for (const t of g.stateNode.always ?? []) for (const target of t.target ?? []) edges.push({ target, event: 'always' });
    for (const e of edges) {
      const to = leafId(entryLeaf(e.target));
      for (const s of sources) out.push([leafId(s), to, e.event]);
    }
    for (const c of g.children) walk(c);
  };
  walk(root);
  return out;
}

function closure(start: string[], next: Map<string, Set<string>>): Set<string> {
  const seen = new Set(start);
  const queue = [...start];
  while (queue.length > 0) {
    const x = queue.shift() as string;
    for (const y of next.get(x) ?? []) if (!seen.has(y)) (seen.add(y), queue.push(y));
  }
  return seen;
}

function countPaths(from: string, finals: Set<string>, next: Map<string, Set<string>>, cap = 1_000_000): number {
  let n = 0;
  const onPath = new Set<string>();
  const dfs = (x: string): void => {
    if (n >= cap) return;
    if (finals.has(x)) {
      n++;
      return;
    }
    onPath.add(x);
    for (const y of next.get(x) ?? []) if (!onPath.has(y)) dfs(y);
    onPath.delete(x);
  };
  dfs(from);
  return n;
}

/** Findings in which every diagnose step failed (the target refused us). */
function allFailed(rb: CompiledRunbook): Record<string, unknown> {
  return Object.fromEntries(rb.def.diagnose.map((s) => [s.id, { error: { code: 'refused', message: 'connect ECONNREFUSED (coverage)' } }]));
}

function digest(v: unknown): string {
  return createHash('sha1').update(JSON.stringify(v)).digest('hex').slice(0, 12);
}

/** Coverage of one runbook's machine, with the representative data of its rehearsal cases. */
export function coverageOf(rb: CompiledRunbook, cases: readonly RehearsalCase[], opts: { limit?: number; samples?: boolean } = {}): CoverageReport {
  // --- structure ---
  const graph = toDirectedGraph(rb.machine);
  const all = leavesUnder(rb.machine.root).map((n): Leaf => ({ id: leafId(n), node: n }));
  const finals = new Set(all.filter((l) => l.node.type === 'final').map((l) => l.id));
  const fwd = new Map<string, Set<string>>();
  const back = new Map<string, Set<string>>();
  for (const [a, b, ev] of leafEdges(graph)) {
    if (!fwd.has(a)) fwd.set(a, new Set());
    fwd.get(a)?.add(b);
    if (ev === CANCEL) continue;
    if (!back.has(b)) back.set(b, new Set());
    back.get(b)?.add(a);
  }
  const initial = leafId(entryLeaf(rb.machine.root));
  const reachable = closure([initial], fwd);
  const coReachable = closure([...finals], back);
  const fwdNoCancel = new Map<string, Set<string>>();
  for (const [a, b, ev] of leafEdges(graph)) {
    if (ev === CANCEL) continue;
    if (!fwdNoCancel.has(a)) fwdNoCancel.set(a, new Set());
    fwdNoCancel.get(a)?.add(b);
  }

  // --- behaviour ---
  const limit = opts.limit ?? 50_000;
  const verifyReps: Array<Record<string, unknown>> = [{}];
  const plans = new Map<string, string[]>();
  for (const c of cases) {
    for (const [id, lines] of Object.entries(c.plans)) if (Array.isArray(lines) && lines.length > 0 && !plans.has(id)) plans.set(id, lines);
    for (const t of c.then) if ('verify' in t) verifyReps.push(t.verify);
    for (const t of c.then) if ('wait' in t) verifyReps.push(t.wait);
  }
  const failedAll = allFailed(rb);
  // Each case's target and alert with its own findings (and with every step failing).
  const inputs = (cases.length > 0 ? cases : [undefined]).flatMap((c) => {
    const base: MachineContext = {
      incidentId: 'coverage',
      target: { name: c?.target.name ?? 'coverage', role: c?.target.role ?? 'cache', allowAutomatic: c?.target.allowAutomatic ?? false },
      labels: c?.alert.labels ?? {},
      dryRun: false,
      params: { ...rb.def.params, ...Object.fromEntries(Object.entries(c?.params ?? {}).map(([k, v]) => [k, paramValue(v)])) },
      findings: {},
      tried: [],
      seq: 0,
      awaiting: 0,
    };
    const reps = c ? [c.findings, failedAll] : [failedAll];
    return [base, { ...base, dryRun: true }, { ...base, target: { ...base.target, allowAutomatic: true } }].map((input) => ({ input, reps }));
  });
  const commandsFor = (id: string): OfferedOption => ({ remediation: id, commands: (plans.get(id) ?? [`127.0.0.1:1: ${id.toUpperCase()}`]).map(parsePlanLine) });

  const eventsFor = (diagnoseReps: Array<Record<string, unknown>>) => (snap: AnyMachineSnapshot): MachineEvent[] => {
    const ctx = snap.context as MachineContext;
    const out: MachineEvent[] = [];
    const e: Effect | undefined = ctx.pendingEffect;
    const key = ctx.current?.key ?? '';
    if (snap.status === 'done') return out;
    if (e && e.seq === ctx.awaiting) {
      const done = (result: Extract<MachineEvent, { type: 'effect.done' }>['result'], at = T0): MachineEvent => ({ type: 'effect.done', seq: e.seq, at, result });
      const failed = (at = T0): MachineEvent => ({ type: 'effect.failed', seq: e.seq, at, error: { code: 'refused', message: 'connect ECONNREFUSED (coverage)' } });
      switch (e.kind) {
        case 'diagnose':
          for (const f of diagnoseReps) out.push(done({ kind: 'diagnose', findings: { ...f, ...deriveValues(rb.def, ctx, f) } }));
          out.push(failed());
          break;
        case 'plan': {
          const ids = e.options && e.options.length > 0 ? e.options : [e.remediation];
          const opts2 = ids.map(commandsFor);
          out.push(done({ kind: 'plan', commands: opts2[0]?.commands ?? [], ...(ids.length > 1 ? { options: opts2 } : {}) }));
          out.push(done({ kind: 'plan', commands: [], ...(ids.length > 1 ? { options: ids.map((id) => ({ remediation: id, commands: [] })) } : {}) }));
          out.push(failed());
          break;
        }
        case 'request-approval': {
          const options = ctx.current?.options?.map((o) => o.remediation) ?? [undefined];
          for (const option of options) {
            for (const by of ['alice', 'bob']) out.push({ type: 'approval.granted', at: T0, key, by, ...(option !== undefined ? { option } : {}) });
          }
          out.push({ type: 'approval.rejected', at: T0, key, by: 'alice' }, { type: 'approval.expired', at: LATE, key });
          break;
        }
        case 'act': {
          const rem = rb.def.remediations[e.remediation];
          const from = ctx.current?.phaseStart ?? 0;
          const waitAt = rem?.steps.findIndex((st, k) => k >= from && isWait(st)) ?? -1;
          out.push(done({ kind: 'act', skipped: false, outcomes: [], ...(waitAt >= 0 ? { waitAt } : {}) }));
          out.push(done({ kind: 'act', skipped: true, reason: 'precondition no longer holds (coverage)', findings: {} }));
          out.push(failed());
          break;
        }
        case 'verify':
          for (const f of verifyReps) for (const at of [T0, LATE]) out.push(done({ kind: 'verify', findings: f }, at));
          out.push(failed(T0), failed(LATE));
          break;
        case 'wait':
          for (const f of verifyReps) for (const at of [T0, LATE]) out.push(done({ kind: 'wait', findings: f }, at));
          out.push(failed(T0), failed(LATE));
          break;
        default:
          break;
      }
    }
    out.push({ type: 'alert.resolved', at: T0, fingerprint: 'coverage' }, { type: CANCEL, at: T0, by: 'coverage' });
    return out;
  };
  const decisive = [...rb.def.diagnose.map((st) => st.id), ...Object.keys(rb.def.derive)];
  const serializeState = (snap: AnyMachineSnapshot): string => {
    const c = snap.context as MachineContext;
    return JSON.stringify({
      v: snap.value,
      d: c.dryRun,
      a: c.target.allowAutomatic,
      r: c.target.role,
      t: c.tried,
      cur: c.current ? [c.current.remediation, c.current.options?.map((o) => o.remediation), c.current.approvals.length, c.current.holdSince !== undefined, c.current.phaseStart ?? 0, c.current.gate] : null,
      // what the diagnosis found decides; verification polls only replace their own steps' values
      f: digest(decisive.map((k) => c.findings[k])),
    });
  };

  const adjacency = new Map<string, { leaf: string; next: Set<string>; final: boolean }>();
  const samples = new Map<string, { snapshot: unknown; dry: boolean }>();
  let truncated = false;
  for (const { input, reps } of inputs) {
    let adj: ReturnType<typeof getAdjacencyMap>;
    try {
      adj = getAdjacencyMap(rb.machine, { input, events: eventsFor(reps), serializeState: (s) => serializeState(s as AnyMachineSnapshot), limit });
    } catch (e) {
      if ((e as Error).message.includes('limit')) {
        truncated = true;
        continue;
      }
      throw e;
    }
    for (const [k, v] of Object.entries(adj)) {
      const snap = v.state as AnyMachineSnapshot;
      const node = adjacency.get(k) ?? { leaf: statePath(snap.value), next: new Set<string>(), final: snap.status === 'done' };
      if (opts.samples) {
        const had = samples.get(node.leaf);
        const dry = (snap.context as MachineContext).dryRun;
        if (!had || (had.dry && !dry)) samples.set(node.leaf, { snapshot: rb.machine.getPersistedSnapshot(snap), dry });
      }
      for (const [evKey, t] of Object.entries(v.transitions)) {
        if (evKey.includes(`"${CANCEL}"`)) continue;
        node.next.add(serializeState((t as { state: unknown }).state as AnyMachineSnapshot));
      }
      adjacency.set(k, node);
    }
  }
  const backSnap = new Map<string, Set<string>>();
  for (const [k, v] of adjacency) {
    for (const n of v.next) {
      if (n === k) continue;
      if (!backSnap.has(n)) backSnap.set(n, new Set());
      backSnap.get(n)?.add(k);
    }
  }
  const ending = closure([...adjacency].filter(([, v]) => v.final).map(([k]) => k), backSnap);
  const reached = [...new Set([...adjacency.values()].map((v) => v.leaf))].sort();
  const stuck = [...new Set([...adjacency].filter(([k]) => !ending.has(k)).map(([, v]) => v.leaf))].sort();
  return {
    runbook: rb.def.name,
    states: all.length,
    finals: [...finals].sort(),
    paths: countPaths(initial, finals, fwdNoCancel),
    unreachable: all.filter((l) => !reachable.has(l.id)).map((l) => l.id),
    deadEnds: all.filter((l) => !coReachable.has(l.id)).map((l) => l.id),
    snapshots: adjacency.size,
    reached,
    stuck,
    unexercised: all.map((l) => l.id).filter((id) => id !== 'deciding' && !reached.includes(id)),
    truncated,
    ...(opts.samples ? { samples: Object.fromEntries([...samples].map(([leaf, s]) => [leaf, s.snapshot])) } : {}),
  };
}
