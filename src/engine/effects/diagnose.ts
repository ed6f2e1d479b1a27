/**
 * The diagnose effect: run every read-only diagnostic step of the runbook on the nodes it names,
 * record each finding on the timeline, then compute the derived values.
 */
import { nodeKey } from '../../actions/types.js';
import type { TargetHandle } from '../../actions/types.js';
import { compileExpr } from '../expr/index.js';
import type { MachineContext } from '../machine/types.js';
import { scopeOf } from '../machine/scope.js';
import type { RunbookDef, StepDef } from '../runbook/schema.js';
import type { IncidentRecord } from '../store/incidents.js';
import type { EffectEnv } from './context.js';
import { entry, findingOf, runOnNodes, summarise } from './context.js';

export type EffectOutcome =
  | { result: import('../machine/types.js').EffectResult }
  | { failed: { code: string; message: string } }
  | { deferred: true };

/**
 * The runbook's `derive` values over fresh findings, in order (a derived value may use the ones
 * before it). Pure: the diagnose effect and rehearsals (`redis-runbooks test`) both use it.
 */
export function deriveValues(def: RunbookDef, ctx: MachineContext, findings: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const derived: Record<string, unknown> = {};
  for (const [name, src] of Object.entries(def.derive)) {
    derived[name] = compileExpr(src).evaluate(scopeOf({ ...ctx, findings: { ...ctx.findings, ...findings, ...derived } }));
  }
  return derived;
}

/** Run `steps` and return their findings (plus derived values when `derive` is given). */
export async function runSteps(
  env: EffectEnv,
  rec: IncidentRecord,
  target: TargetHandle,
  def: RunbookDef,
  ctx: MachineContext,
  steps: StepDef[],
  opts: { derive: boolean; timelineKind: 'finding' | 'verification.poll' },
): Promise<{ findings: Record<string, unknown>; failures: number; codes: string[] }> {
  const findings: Record<string, unknown> = {};
  let failures = 0;
  const codes = new Set<string>();
  for (const step of steps) {
    const known = { ...ctx.findings, ...findings };
    const { runs } = env.replay ? { runs: env.replay.runs(rec, step, opts.timelineKind) } : await runOnNodes(env, rec, target, step, scopeOf({ ...ctx, findings: known }), known, ctx.params, def.name);
    findings[step.id] = findingOf(step.on, runs);
    const bad = runs.filter((r) => !r.ok);
    failures += bad.length === runs.length ? 1 : 0;
    for (const b of bad) if (b.error?.code) codes.add(b.error.code);
    await env.store.append(
      rec.id,
      entry(env, bad.length > 0 ? 'error' : opts.timelineKind, `${step.id} (${step.action} on ${runs.map((r) => nodeKey(r.node)).join(', ') || 'no node'}): ${bad.length > 0 ? bad.map((b) => `${b.error?.code}: ${b.error?.message}`).join('; ') : summarise(findings[step.id], 300)}`, {
        step: step.id,
        action: step.action,
        nodes: runs.map((r) => nodeKey(r.node)),
        ms: Math.round(runs.reduce((a, r) => a + r.ms, 0)),
        value: findings[step.id],
      }),
    );
  }
  if (opts.derive) {
    const derived = deriveValues(def, ctx, findings);
    Object.assign(findings, derived);
    if (Object.keys(def.derive).length > 0) {
      await env.store.append(rec.id, entry(env, 'finding', `derived: ${summarise(derived, 300)}`, { derived }));
    }
  }
  return { findings, failures, codes: [...codes] };
}

export async function diagnose(env: EffectEnv, rec: IncidentRecord, target: TargetHandle, def: RunbookDef, ctx: MachineContext): Promise<EffectOutcome> {
  // Failed steps are findings too (`{ error: { code, message } }`, classified): the runbook's rules
  // decide what a node that refuses us means, and escalate when too little is known.
  const { findings } = await runSteps(env, rec, target, def, ctx, def.diagnose, { derive: true, timelineKind: 'finding' });
  return { result: { kind: 'diagnose', findings } };
}
