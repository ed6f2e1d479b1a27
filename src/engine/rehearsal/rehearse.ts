/**
 * Rehearse a runbook on recorded findings, with no Redis: the compiled machine is driven with
 * `stepMachine` exactly as the engine drives it. The diagnose effect answers with the case's
 * findings (derived values computed by the engine's own `deriveValues`), the plan effect with the
 * case's recorded plans (after evaluating each step's `with:` on the findings and checking it
 * against the action's input schema, as the engine does before planning), and the `then:` steps
 * play the approver, Alertmanager and the later effects. What comes out — state, proposal, notes,
 * outcome, plans, costs, inputs — is compared with the case's `expect`.
 */
import type { ActionDefinition, PlannedCommand } from '../../actions/types.js';
import { formatPlanned } from '../../actions/command-format.js';
import { deriveValues } from '../effects/diagnose.js';
import { stepInput } from '../effects/plan.js';
import { compileExpr, interpolate } from '../expr/index.js';
import { stepMachine } from '../machine/run.js';
import type { StepResult } from '../machine/run.js';
import { scopeOf } from '../machine/scope.js';
import type { Effect, MachineContext, MachineEvent, OfferedOption } from '../machine/types.js';
import type { CompiledRunbook } from '../runbook/load.js';
import { isWait } from '../runbook/schema.js';
import { FINAL_STATES } from '../types.js';
import type { IncidentState } from '../types.js';
import type { RehearsalCase, RehearsalExpect, ThenStep } from './schema.js';

export interface RehearsalDeps {
  actions: ReadonlyMap<string, ActionDefinition<unknown, unknown>>;
}

/** What a rehearsal produced, and how it differs from the case's `expect`. */
export interface CaseResult {
  name: string;
  state: IncidentState;
  /** The first proposal made: one remediation, or the options offered side by side. */
  proposes: string[];
  /** Every proposal made, in order (a dry run plans each candidate in turn). */
  proposals: string[][];
  /** Summaries of the machine's notes, in order. */
  notes: string[];
  outcome?: string;
  /** Plans of the first proposal as shown (`host:port: CMD …`), by remediation id. */
  plans: Record<string, string[]>;
  /** Costs shown beside the first proposal's options, by remediation id. */
  costs: Record<string, string>;
  /** `with:` values each step of a planned remediation was planned with, by remediation id. */
  inputs: Record<string, Record<string, unknown>[]>;
  /** Machine states passed through (`diagnosing`, `rem_purge.planning`, …). */
  visited: string[];
  /** Differences from `expect` (empty: the case passes). */
  mismatches: string[];
}

const T0 = Date.parse('2026-01-01T00:00:00Z');

/** The machine state as a dotted path: `rem_purge.awaitingApproval`. */
export function statePath(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [k, v] = Object.entries(value as Record<string, unknown>)[0] ?? ['?', undefined];
    return v === undefined ? k : `${k}.${statePath(v)}`;
  }
  return String(value);
}

/** Parse a shown plan line (`host:port: CMD "a b" c`) back into a command: the inverse of formatPlanned. */
export function parsePlanLine(line: string): PlannedCommand {
  const m = /^(\S+:\d+): (.*)$/.exec(line);
  if (!m) throw new Error(`not a plan line: ${line}`);
  const argv: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const t of (m[2] ?? '').matchAll(re)) argv.push(t[1] !== undefined ? (JSON.parse(`"${t[1]}"`) as string) : (t[2] ?? ''));
  return { node: m[1] ?? '', argv };
}

/** A param as a case writes it (`2s`, `100mb`, `85%` become numbers, as in the runbook's own params). */
export function paramValue(v: number | string | boolean): number | string | boolean {
  if (typeof v === 'string' && /^\d+(\.\d+)?\s*(b|kb|mb|gb|tb|ms|s|m|h|%)$/i.test(v.trim())) {
    const n = compileExpr(v.trim().replace(/\s+/g, '')).evaluate({});
    return typeof n === 'number' ? n : v;
  }
  return v;
}

class CaseError extends Error {}

/** The machine's input for a case: its target, alert labels, dry run and params. */
export function caseInput(rb: CompiledRunbook, c: RehearsalCase): MachineContext {
  const params = { ...rb.def.params, ...Object.fromEntries(Object.entries(c.params).map(([k, v]) => [k, paramValue(v)])) };
  return {
    incidentId: 'rehearsal',
    target: { name: c.target.name, role: c.target.role, allowAutomatic: c.target.allowAutomatic },
    labels: c.alert.labels,
    dryRun: c.dryRun,
    params,
    findings: {},
    tried: [],
    seq: 0,
    awaiting: 0,
  };
}

/**
 * Rehearse one case (its `raw:` replies already turned into findings: see `materialize` in
 * suite.ts). Never throws for a runbook problem: it becomes a mismatch.
 */
export function rehearseCase(rb: CompiledRunbook, c: RehearsalCase, deps: RehearsalDeps): CaseResult {
  const def = rb.def;
  const res: CaseResult = { name: c.name, state: 'diagnosing', proposes: [], proposals: [], notes: [], plans: {}, costs: {}, inputs: {}, visited: [], mismatches: [] };
  const input = caseInput(rb, c);
  let clock = T0;
  const record = (s: StepResult): StepResult => {
    if (s.error) throw new CaseError(`the machine failed: ${s.error}`);
    for (const n of s.notes) res.notes.push(n.summary);
    const path = statePath((s.snapshot as { value: unknown }).value);
    if (res.visited[res.visited.length - 1] !== path) res.visited.push(path);
    res.state = s.state;
    if (s.context.outcome !== undefined) res.outcome = s.context.outcome;
    return s;
  };
  const send = (s: StepResult, event: MachineEvent, what: string): StepResult => {
    const next = stepMachine(rb.machine, { snapshot: s.snapshot }, event);
    if (!next.changed) throw new CaseError(`${what}: the machine did not take ${event.type} in state ${statePath((s.snapshot as { value: unknown }).value)}`);
    return record(next);
  };

  /** What the plan effect would return for one remediation, from the recorded plan. */
  const planOne = (id: string, ctx: MachineContext): { commands: PlannedCommand[] } | { failed: { code: string; message: string } } => {
    const rem = def.remediations[id];
    if (!rem) return { failed: { code: 'remediation_unknown', message: `unknown remediation ${id}` } };
    if (rem.targetRoles && !rem.targetRoles.includes(ctx.target.role)) {
      return { failed: { code: 'target_role_forbidden', message: `${rem.title} is not allowed on a '${ctx.target.role}' target` } };
    }
    const inputs: Record<string, unknown>[] = [];
    for (const step of rem.steps) {
      if (isWait(step)) continue;
      const action = deps.actions.get(step.action);
      if (!action?.plan) return { failed: { code: 'action_not_plannable', message: `${step.action} cannot plan` } };
      let raw: Record<string, unknown>;
      try {
        raw = stepInput(step, ctx);
      } catch (e) {
        return { failed: { code: 'input_unresolved', message: (e as Error).message } };
      }
      const parsed = action.input.safeParse(raw);
      if (!parsed.success) {
        const first = parsed.error.issues[0];
        return { failed: { code: 'input_invalid', message: `invalid input for ${step.action} at with.${(first?.path ?? []).join('.')}: ${first?.message ?? 'invalid'}` } };
      }
      if (typeof step.on === 'object') {
        const src = 'node' in step.on ? step.on.node : step.on.nodes;
        const v = compileExpr(src).evaluate(scopeOf(ctx));
        if (v === null || v === undefined || (Array.isArray(v) && v.length === 0 && 'node' in step.on)) {
          return { failed: { code: 'node_unresolved', message: `on: ${src} names no node` } };
        }
      }
      inputs.push(parsed.data as Record<string, unknown>);
    }
    res.inputs[id] = inputs;
    const lines = c.plans[id];
    if (lines === undefined) throw new CaseError(`the runbook plans ${id} here, but the case records no plan for it (add plans.${id}: [] or the recorded lines)`);
    if (!Array.isArray(lines)) return { failed: { code: 'plan_failed', message: lines.failed } };
    return { commands: lines.map(parsePlanLine) };
  };

  const planEffect = (s: StepResult, e: Extract<Effect, { kind: 'plan' }>): StepResult => {
    const ctx = s.context;
    const ids = e.options && e.options.length > 0 ? e.options : [e.remediation];
    const options: OfferedOption[] = [];
    let failure: { code: string; message: string } | undefined;
    for (const id of ids) {
      const p = planOne(id, ctx);
      if ('failed' in p) {
        failure = p.failed;
        res.notes.push(`(rehearsal) ${id} cannot be planned: ${p.failed.message}`);
        continue;
      }
      options.push({ remediation: id, commands: p.commands });
    }
    const offered = options.filter((o) => o.commands.length > 0);
    if (offered.length > 0) {
      const ids2 = offered.map((o) => o.remediation);
      res.proposals.push(ids2);
      if (res.proposals.length === 1) {
        res.proposes = ids2;
        for (const o of offered) {
          res.plans[o.remediation] = o.commands.map((x) => formatPlanned(x));
          const cost = def.remediations[o.remediation]?.cost;
          if (cost) res.costs[o.remediation] = interpolate(cost, scopeOf(ctx));
        }
      }
    }
    clock += 1;
    if (ids.length === 1) {
      if (failure) return send(s, { type: 'effect.failed', seq: e.seq, at: clock, error: failure }, 'plan');
      return send(s, { type: 'effect.done', seq: e.seq, at: clock, result: { kind: 'plan', commands: options[0]?.commands ?? [] } }, 'plan');
    }
    return send(s, { type: 'effect.done', seq: e.seq, at: clock, result: { kind: 'plan', commands: options[0]?.commands ?? [], options } }, 'plan');
  };

  const applyThen = (s: StepResult, t: ThenStep, i: number): StepResult => {
    const ctx = s.context;
    const pending = ctx.pendingEffect;
    const key = ctx.current?.key ?? '';
    const where = `then[${i}]`;
    const need = (kind: Effect['kind']): Effect => {
      if (!pending || pending.kind !== kind || pending.seq !== ctx.awaiting) {
        throw new CaseError(`${where}: ${Object.keys(t)[0]} does not fit: the incident is ${s.state}${pending ? ` awaiting ${pending.kind}` : ''}`);
      }
      return pending;
    };
    clock += 1000;
    if ('approve' in t) {
      need('request-approval');
      const options = ctx.current?.options;
      if (options && options.length > 0 && t.approve.option === undefined) throw new CaseError(`${where}: approve needs an option (offered: ${options.map((o) => o.remediation).join(', ')})`);
      return send(s, { type: 'approval.granted', at: clock, key, by: t.approve.by, ...(t.approve.option !== undefined ? { option: t.approve.option } : {}) }, where);
    }
    if ('reject' in t) {
      need('request-approval');
      return send(s, { type: 'approval.rejected', at: clock, key, by: t.reject.by, ...(t.reject.reason !== undefined ? { reason: t.reject.reason } : {}) }, where);
    }
    if ('expire' in t) {
      need('request-approval');
      return send(s, { type: 'approval.expired', at: clock, key }, where);
    }
    if ('alertResolved' in t) return send(s, { type: 'alert.resolved', at: clock, fingerprint: 'rehearsal' }, where);
    if ('cancel' in t) return send(s, { type: 'incident.cancel', at: clock, by: t.cancel.by }, where);
    if ('act' in t) {
      const e = need('act');
      if (t.act === 'done') {
        const rem = def.remediations[ctx.current?.remediation ?? ''];
        const from = ctx.current?.phaseStart ?? 0;
        const waitAt = rem?.steps.findIndex((st, k) => k >= from && isWait(st));
        const outcomes = (ctx.current?.commands ?? []).map((x) => ({ ...x, ok: true, reply: 'OK' }));
        return send(s, { type: 'effect.done', seq: e.seq, at: clock, result: { kind: 'act', skipped: false, outcomes, ...(waitAt !== undefined && waitAt >= 0 ? { waitAt } : {}) } }, where);
      }
      if ('skipped' in t.act) return send(s, { type: 'effect.done', seq: e.seq, at: clock, result: { kind: 'act', skipped: true, reason: t.act.skipped, findings: t.act.findings } }, where);
      return send(s, { type: 'effect.failed', seq: e.seq, at: clock, error: { code: 'rehearsal', message: t.act.failed } }, where);
    }
    if ('verify' in t || 'verifyFailed' in t) {
      const e = need('verify');
      const at = (ctx.current?.verifyStartedAt ?? clock) + t.afterMs;
      clock = Math.max(clock, at);
      if ('verify' in t) return send(s, { type: 'effect.done', seq: e.seq, at, result: { kind: 'verify', findings: t.verify } }, where);
      return send(s, { type: 'effect.failed', seq: e.seq, at, error: { code: 'rehearsal', message: t.verifyFailed } }, where);
    }
    if ('wait' in t) {
      const e = need('wait');
      const at = (ctx.current?.waitStartedAt ?? clock) + t.afterMs;
      clock = Math.max(clock, at);
      return send(s, { type: 'effect.done', seq: e.seq, at, result: { kind: 'wait', findings: t.wait } }, where);
    }
    throw new CaseError(`${where}: unknown step`);
  };

  try {
    let s = record(stepMachine(rb.machine, { input }));
    const thens = [...c.then];
    let thenIndex = 0;
    for (let guard = 0; guard < 500; guard++) {
      if (FINAL_STATES.includes(s.state)) break;
      const ctx = s.context;
      const e = ctx.pendingEffect;
      if (e && e.seq === ctx.awaiting && e.kind === 'diagnose') {
        const derived = deriveValues(def, ctx, c.findings);
        clock += 1;
        s = send(s, { type: 'effect.done', seq: e.seq, at: clock, result: { kind: 'diagnose', findings: { ...c.findings, ...derived } } }, 'diagnose');
        continue;
      }
      if (e && e.seq === ctx.awaiting && e.kind === 'plan') {
        s = planEffect(s, e);
        continue;
      }
      const t = thens[thenIndex];
      if (t === undefined) break;
      s = applyThen(s, t, thenIndex);
      thenIndex++;
    }
    if (thenIndex < thens.length) res.mismatches.push(`then[${thenIndex}]: not used: the incident ${FINAL_STATES.includes(s.state) ? 'closed' : 'stopped'} (${s.state}) before it`);
  } catch (e) {
    if (!(e instanceof CaseError)) throw e;
    res.mismatches.push(e.message);
    return res;
  }
  res.mismatches.push(...compare(res, c.expect));
  return res;
}

function re(src: string): RegExp {
  return new RegExp(src);
}

function listing(xs: string[]): string {
  return xs.length === 0 ? '(none)' : xs.map((x) => `\n      ${x}`).join('');
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Differences between what a rehearsal produced and what its case expects. */
export function compare(r: CaseResult, x: RehearsalExpect): string[] {
  const out: string[] = [];
  if (r.state !== x.state) out.push(`state: expected ${x.state}, got ${r.state}${r.outcome ? ` (${r.outcome})` : ''}`);
  if (x.proposes !== undefined) {
    const want = typeof x.proposes === 'string' ? [x.proposes] : x.proposes;
    if (!same(want, r.proposes)) out.push(`proposes: expected [${want.join(', ')}], got [${r.proposes.join(', ')}]`);
  }
  for (const n of x.notes) if (!r.notes.some((s) => re(n).test(s))) out.push(`notes: no note matches /${n}/; notes were:${listing(r.notes)}`);
  for (const n of x.notNotes) {
    const hit = r.notes.find((s) => re(n).test(s));
    if (hit !== undefined) out.push(`notes: a note matches /${n}/ but must not: ${hit}`);
  }
  if (x.outcome !== undefined && !re(x.outcome).test(r.outcome ?? '')) out.push(`outcome: /${x.outcome}/ does not match: ${r.outcome ?? '(none)'}`);
  if (x.plan !== undefined) {
    const single = r.proposes.length === 1 ? r.proposes[0] : undefined;
    const want: Record<string, string[]> = Array.isArray(x.plan) ? (single !== undefined ? { [single]: x.plan } : {}) : x.plan;
    if (Array.isArray(x.plan) && single === undefined) out.push(`plan: a list needs one proposal, but [${r.proposes.join(', ')}] were proposed (give plan: { <remediation>: [...] })`);
    for (const [id, lines] of Object.entries(want)) {
      const got = r.plans[id];
      if (got === undefined) out.push(`plan: ${id} was not proposed (proposed: [${r.proposes.join(', ')}])`);
      else if (!same(lines, got)) out.push(`plan of ${id}: expected${listing(lines)}\n    got${listing(got)}`);
    }
  }
  for (const [id, n] of Object.entries(x.planSize ?? {})) {
    const got = r.plans[id];
    if (got === undefined) out.push(`plan: ${id} was not proposed (proposed: [${r.proposes.join(', ')}])`);
    else if (got.length !== n) out.push(`plan of ${id}: expected ${n} commands, got ${got.length}`);
  }
  for (const [id, src] of Object.entries(x.cost ?? {})) {
    const got = r.costs[id];
    if (got === undefined || !re(src).test(got)) out.push(`cost of ${id}: /${src}/ does not match: ${got ?? '(no cost shown)'}`);
  }
  for (const [id, want] of Object.entries(x.inputs ?? {})) {
    if (!same(want, r.inputs[id])) out.push(`inputs of ${id}: expected ${JSON.stringify(want)}, got ${JSON.stringify(r.inputs[id] ?? null)}`);
  }
  return out;
}
