/**
 * The plan effect: ask each step of a remediation for the exact commands it would send, to which
 * node. The plan is frozen into the proposal: what is approved is exactly what runs (a `repeat`
 * step shows its first round; later rounds are planned the same way from the live target). When
 * several options are offered, each is planned. In a dry run the plan is written to the timeline
 * and nothing is sent.
 */
import type { PlannedCommand, TargetHandle } from '../../actions/types.js';
import { formatPlanned } from '../../actions/command-format.js';
import { nodeKey } from '../../actions/types.js';
import { redisErrorCode, RunbooksError } from '../../errors.js';
import { interpolate } from '../expr/index.js';
import { scopeOf } from '../machine/scope.js';
import type { MachineContext, OfferedOption } from '../machine/types.js';
import { selectNodes } from '../node-selection.js';
import type { ActStepDef, RemediationDef, RunbookDef } from '../runbook/schema.js';
import { isWait } from '../runbook/schema.js';
import { resolveWith, unresolvedMessage } from '../runbook/step-inputs.js';
import type { IncidentRecord } from '../store/incidents.js';
import type { EffectEnv } from './context.js';
import { entry } from './context.js';
import type { EffectOutcome } from './diagnose.js';

/** The input of a remediation step, its `with:` expressions evaluated against the findings. */
export function stepInput(step: ActStepDef, ctx: MachineContext): Record<string, unknown> {
  const r = resolveWith(step.with, scopeOf(ctx));
  if (r.missing.length > 0) {
    throw new RunbooksError('input_unresolved', unresolvedMessage(step.action, r.missing));
  }
  return r.value as Record<string, unknown>;
}

/** Plan one step on every node it names; commands carry the step index and the node planned from. */
export async function planStep(env: EffectEnv, rec: IncidentRecord, target: TargetHandle, ctx: MachineContext, step: ActStepDef, index: number, remId: string, round = 0): Promise<PlannedCommand[]> {
  const action = env.actions.get(step.action);
  if (!action?.plan) throw new RunbooksError('action_not_plannable', `${step.action} cannot plan`);
  const raw = stepInput(step, ctx);
  const parsed = action.input.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new RunbooksError('input_invalid', `invalid input for ${step.action} at with.${(first?.path ?? []).join('.')}: ${first?.message ?? 'invalid'}`);
  }
  if (env.replay) return env.replay.plan(rec, remId, step, index, round);
  const nodes = await selectNodes(target, step.on, rec.node, scopeOf(ctx));
  const out: PlannedCommand[] = [];
  for (const node of nodes) {
    const ac = new AbortController();
    const cmds = await action.plan(parsed.data, {
      target,
      node,
      findings: ctx.findings,
      params: { ...ctx.params, ...raw },
      dryRun: rec.dryRun,
      log: env.log.child({ incident: rec.id, action: step.action }),
      signal: ac.signal,
      now: env.now,
    });
    for (const c of cmds) out.push({ ...c, step: index, origin: nodeKey(node) });
  }
  return out;
}

async function planRemediation(env: EffectEnv, rec: IncidentRecord, target: TargetHandle, ctx: MachineContext, rem: RemediationDef, remId: string): Promise<PlannedCommand[]> {
  if (rem.targetRoles && !rem.targetRoles.includes(target.role)) {
    throw new RunbooksError('target_role_forbidden', `${rem.title} is not allowed on a '${target.role}' target`);
  }
  const commands: PlannedCommand[] = [];
  for (const [i, step] of rem.steps.entries()) if (!isWait(step)) commands.push(...(await planStep(env, rec, target, ctx, step, i, remId)));
  return commands;
}

function describe(rem: RemediationDef, commands: PlannedCommand[], ctx: MachineContext, dryRun: boolean): string {
  const lines: string[] = [];
  rem.steps.forEach((s, i) => {
    if (isWait(s)) lines.push(`then ${waitText(s.wait)}, then`);
    else lines.push(...commands.filter((c) => c.step === i).map((c) => formatPlanned(c)));
  });
  const loops = rem.steps.flatMap((s) => (!isWait(s) && s.repeat ? [`${s.action} repeats (re-planned from the live target) until its plan is empty, at most ${s.repeat.max} rounds`] : []));
  const cost = rem.cost ? ` — cost: ${interpolate(rem.cost, scopeOf(ctx))}` : '';
  return `${rem.title} (${rem.risk})${dryRun ? ' — dry run, would send' : ''}: ${lines.join('; ') || 'nothing to send'}${loops.length ? ` (${loops.join('; ')})` : ''}${cost}`;
}

/** A wait between phases, in words. */
export function waitText(w: import('../runbook/schema.js').WaitStepDef['wait']): string {
  const what = w.delay !== undefined ? `wait ${String(w.delay)}` : w.until !== undefined ? `wait until ${w.until} (checked every ${String(w.every)}, at most ${String(w.within)})` : `wait for a second approval (${w.approval?.role ?? ''})`;
  return w.title ? `${what} — ${w.title}` : what;
}

export async function plan(env: EffectEnv, rec: IncidentRecord, target: TargetHandle, def: RunbookDef, ctx: MachineContext, remId: string, optionIds?: string[]): Promise<EffectOutcome> {
  const ids = optionIds && optionIds.length > 0 ? optionIds : [remId];
  const options: OfferedOption[] = [];
  for (const [k, id] of ids.entries()) {
    const rem = def.remediations[id];
    if (!rem) return { failed: { code: 'remediation_unknown', message: `unknown remediation ${id}` } };
    let commands: PlannedCommand[];
    try {
      commands = await planRemediation(env, rec, target, ctx, rem, id);
    } catch (e) {
      const failure = { code: e instanceof RunbooksError ? e.code : redisErrorCode(e), message: (e as Error).message };
      if (ids.length === 1) return { failed: failure };
      // One option that cannot be planned is dropped from the offer, and the timeline says why.
      await env.store.append(rec.id, entry(env, 'error', `option (${k + 1}) ${rem.title} cannot be planned: ${failure.message}`, { remediation: id, code: failure.code }));
      continue;
    }
    options.push({ remediation: id, commands });
    await env.store.append(
      rec.id,
      entry(env, rec.dryRun ? 'command.dry-run' : 'proposal', `${ids.length > 1 ? `option (${k + 1}) ` : ''}${describe(rem, commands, ctx, rec.dryRun)}`, {
        remediation: id,
        risk: rem.risk,
        commands,
        ...(ids.length > 1 ? { option: k + 1 } : {}),
        ...(rem.cost ? { cost: interpolate(rem.cost, scopeOf(ctx)) } : {}),
      }),
    );
  }
  if (ids.length === 1) return { result: { kind: 'plan', commands: options[0]?.commands ?? [] } };
  return { result: { kind: 'plan', commands: options[0]?.commands ?? [], options } };
}
