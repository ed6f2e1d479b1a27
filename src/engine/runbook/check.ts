/**
 * Semantic checks of a schema-valid runbook against the action registry: unknown actions, bad
 * node selectors, bad `with:` inputs, bad references in expressions, and — the safety rule — a
 * mutating step without an approval gate. Pure; returns issues with their YAML paths.
 */
import type { ActionDefinition, Risk } from '../../actions/types.js';
import { compileExpr } from '../expr/index.js';
import { SCOPE_BUILTINS } from '../machine/scope.js';
import type { RunbookDef, StepDef } from './schema.js';

export interface Issue {
  path: (string | number)[];
  message: string;
}

export interface CheckDeps {
  actions: ReadonlyMap<string, ActionDefinition<unknown, unknown>>;
  selectors: readonly string[];
}

const RISK_ORDER: Record<Risk, number> = { read: 0, write: 1, disruptive: 2 };

export function checkRunbook(def: RunbookDef, deps: CheckDeps): Issue[] {
  const issues: Issue[] = [];
  const known = [...deps.actions.keys()].sort();
  const stepIds = new Set<string>();

  const checkStep = (s: { action: string; on: string; with: Record<string, unknown> }, path: (string | number)[], mustRead: string | undefined): Risk | undefined => {
    const action = deps.actions.get(s.action);
    if (!action) {
      issues.push({ path: [...path, 'action'], message: `unknown action '${s.action}' (known: ${known.join(', ')})` });
      return undefined;
    }
    if (!deps.selectors.includes(s.on)) {
      issues.push({ path: [...path, 'on'], message: `unknown node selector '${s.on}' (known: ${deps.selectors.join(', ')})` });
    }
    const parsed = action.input.safeParse(s.with);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      issues.push({ path: [...path, 'with', ...((first?.path ?? []) as (string | number)[])], message: `invalid input for ${s.action}: ${first?.message ?? 'invalid'}` });
    }
    if (mustRead !== undefined && action.risk !== 'read') {
      issues.push({ path: [...path, 'action'], message: `${s.action} is a ${action.risk} action: ${mustRead} may only use read actions` });
    }
    return action.risk;
  };

  def.diagnose.forEach((s: StepDef, i) => {
    if (stepIds.has(s.id)) issues.push({ path: ['diagnose', i, 'id'], message: `duplicate step id '${s.id}'` });
    stepIds.add(s.id);
    checkStep(s, ['diagnose', i], 'diagnose steps (they run without approval)');
  });
  for (const name of Object.keys(def.derive)) {
    if (stepIds.has(name) || (SCOPE_BUILTINS as readonly string[]).includes(name)) {
      issues.push({ path: ['derive', name], message: `'${name}' is already a step id or a built-in name` });
    }
  }
  const diagnosisNames = new Set([...stepIds, ...Object.keys(def.derive), ...SCOPE_BUILTINS]);

  const checkExpr = (src: string, path: (string | number)[], names: Set<string>): void => {
    try {
      const c = compileExpr(src);
      for (const root of c.paths()) {
        if (!names.has(root)) {
          issues.push({ path, message: `unknown name '${root}' in '${src}' (known: ${[...names].sort().join(', ')})` });
        }
      }
    } catch (e) {
      issues.push({ path, message: `bad expression: ${(e as Error).message}` });
    }
  };

  for (const [name, src] of Object.entries(def.derive)) checkExpr(src, ['derive', name], diagnosisNames);

  def.decide.forEach((r, i) => {
    checkExpr(r.when, ['decide', i, 'when'], diagnosisNames);
    if (r.propose !== undefined && !(r.propose in def.remediations)) {
      issues.push({ path: ['decide', i, 'propose'], message: `unknown remediation '${r.propose}' (known: ${Object.keys(def.remediations).join(', ') || 'none'})` });
    }
  });

  for (const [id, rem] of Object.entries(def.remediations)) {
    const base = ['remediations', id];
    let maxRisk: Risk = 'read';
    rem.steps.forEach((s, i) => {
      const risk = checkStep(s, [...base, 'steps', i], undefined);
      if (risk && RISK_ORDER[risk] > RISK_ORDER[maxRisk]) maxRisk = risk;
    });
    if (RISK_ORDER[maxRisk] > RISK_ORDER[rem.risk]) {
      issues.push({ path: [...base, 'risk'], message: `declared risk '${rem.risk}' is lower than its steps' risk '${maxRisk}'` });
    }
    const mutating = RISK_ORDER[maxRisk] > 0 || RISK_ORDER[rem.risk] > 0;
    if (mutating && rem.approval === undefined) {
      issues.push({ path: [...base], message: `mutating step without an approval gate: add 'approval: { role: ... }' (automatic steps need one too, for targets that do not allow automatic runs)` });
    }
    if (rem.automatic && rem.risk === 'disruptive') {
      issues.push({ path: [...base, 'automatic'], message: 'a disruptive remediation can never be automatic' });
    }
    if (rem.risk === 'disruptive' && rem.approval && rem.approval.role === 'redis.viewer') {
      issues.push({ path: [...base, 'approval', 'role'], message: 'redis.viewer may not approve a disruptive remediation' });
    }
    if (rem.precondition) checkExpr(rem.precondition, [...base, 'precondition'], diagnosisNames);
    const verifyNames = new Set(diagnosisNames);
    rem.verify.steps.forEach((s, i) => {
      if (stepIds.has(s.id)) issues.push({ path: [...base, 'verify', 'steps', i, 'id'], message: `'${s.id}' is already a diagnose step id; verify steps need their own ids` });
      verifyNames.add(s.id);
      checkStep(s, [...base, 'verify', 'steps', i], 'verification steps');
    });
    checkExpr(rem.verify.until, [...base, 'verify', 'until'], verifyNames);
  }
  return issues;
}
