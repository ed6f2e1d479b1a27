/**
 * Semantic checks of a schema-valid runbook against the action registry: unknown actions, bad
 * node selectors, bad `with:` inputs, bad references in expressions, and — the safety rule — a
 * mutating step without an approval gate. Pure; returns issues with their YAML paths.
 */
import type { ActionDefinition, Risk } from '../../actions/types.js';
import { compileExpr, compileTemplate } from '../expr/index.js';
import { SCOPE_BUILTINS } from '../machine/scope.js';
import type { RunbookDef, SelectorDef, StepDef } from './schema.js';
import { isWait, proposalsOf } from './schema.js';
import { withExprs } from './step-inputs.js';

export interface Issue {
  path: (string | number)[];
  message: string;
}

export interface CheckDeps {
  actions: ReadonlyMap<string, ActionDefinition<unknown, unknown>>;
  selectors: readonly string[];
  /** Restored from the store for an incident in flight: skip authoring rules added later. */
  stored?: boolean;
}

const RISK_ORDER: Record<Risk, number> = { read: 0, write: 1, disruptive: 2 };

export function checkRunbook(def: RunbookDef, deps: CheckDeps): Issue[] {
  const issues: Issue[] = [];
  const known = [...deps.actions.keys()].sort();
  const stepIds = new Set<string>();

  const checkExpr = (src: string, path: (string | number)[], names: Set<string>): string[] => {
    try {
      const c = compileExpr(src);
      for (const root of c.paths()) {
        if (!names.has(root)) {
          issues.push({ path, message: `unknown name '${root}' in '${src}' (known: ${[...names].sort().join(', ')})` });
        }
      }
      return c.paths();
    } catch (e) {
      issues.push({ path, message: `bad expression: ${(e as Error).message}` });
      return [];
    }
  };

  /** Notes, reasons, escalations and costs: `{expr}` templates, compiled at load. */
  const checkTemplate = (src: string | undefined, path: (string | number)[], names: Set<string>): void => {
    if (src === undefined) return;
    try {
      const t = compileTemplate(src);
      for (const root of t.paths()) {
        if (!names.has(root)) issues.push({ path, message: `unknown name '${root}' in template '${src}' (known: ${[...names].sort().join(', ')})` });
      }
    } catch (e) {
      issues.push({ path, message: `bad template: ${(e as Error).message}` });
    }
  };

  const checkStep = (
    s: { action: string; on: SelectorDef; with: Record<string, unknown> },
    path: (string | number)[],
    mustRead: string | undefined,
    names: Set<string>,
  ): Risk | undefined => {
    const action = deps.actions.get(s.action);
    if (!action) {
      issues.push({ path: [...path, 'action'], message: `unknown action '${s.action}' (known: ${known.join(', ')})` });
      return undefined;
    }
    if (typeof s.on === 'string') {
      if (!deps.selectors.includes(s.on)) {
        issues.push({ path: [...path, 'on'], message: `unknown node selector '${s.on}' (known: ${deps.selectors.join(', ')}, or { node: <expr> } / { nodes: <expr> })` });
      }
    } else if ('node' in s.on) {
      checkExpr(s.on.node, [...path, 'on', 'node'], names);
    } else {
      checkExpr(s.on.nodes, [...path, 'on', 'nodes'], names);
    }
    let exprPaths: string[] = [];
    try {
      const found = withExprs(s.with);
      exprPaths = found.map((e) => e.path.join('.'));
      for (const e of found) {
        for (const root of e.compiled.paths()) {
          if (!names.has(root)) issues.push({ path: [...path, 'with', ...e.path], message: `unknown name '${root}' in '${e.source}' (known: ${[...names].sort().join(', ')})` });
        }
      }
    } catch (e) {
      issues.push({ path: [...path, 'with'], message: `bad expression: ${(e as Error).message}` });
    }
    const parsed = action.input.safeParse(s.with);
    if (!parsed.success) {
      // Values given by expressions are only known at run time: check everything else now.
      const first = parsed.error.issues.find((i) => !exprPaths.some((p) => i.path.join('.').startsWith(p) && p !== ''));
      if (first) {
        issues.push({ path: [...path, 'with', ...(first.path as (string | number)[])], message: `invalid input for ${s.action}: ${first.message}` });
      }
    }
    if (mustRead !== undefined && action.risk !== 'read') {
      issues.push({ path: [...path, 'action'], message: `${s.action} is a ${action.risk} action: ${mustRead} may only use read actions` });
    }
    return action.risk;
  };

  def.diagnose.forEach((s: StepDef, i) => {
    if (stepIds.has(s.id)) issues.push({ path: ['diagnose', i, 'id'], message: `duplicate step id '${s.id}'` });
    checkStep(s, ['diagnose', i], 'diagnose steps (they run without approval)', new Set([...stepIds, ...SCOPE_BUILTINS]));
    stepIds.add(s.id);
  });
  for (const name of Object.keys(def.derive)) {
    if (stepIds.has(name) || (SCOPE_BUILTINS as readonly string[]).includes(name)) {
      issues.push({ path: ['derive', name], message: `'${name}' is already a step id or a built-in name` });
    }
  }
  const diagnosisNames = new Set([...stepIds, ...Object.keys(def.derive), ...SCOPE_BUILTINS]);

  for (const [name, src] of Object.entries(def.derive)) checkExpr(src, ['derive', name], diagnosisNames);

  def.decide.forEach((r, i) => {
    checkExpr(r.when, ['decide', i, 'when'], diagnosisNames);
    checkTemplate(r.note, ['decide', i, 'note'], diagnosisNames);
    checkTemplate(r.reason, ['decide', i, 'reason'], diagnosisNames);
    checkTemplate(r.escalate, ['decide', i, 'escalate'], diagnosisNames);
    const props = proposalsOf(r);
    props.forEach((p, k) => {
      if (!Object.hasOwn(def.remediations, p)) {
        issues.push({ path: ['decide', i, 'propose', ...(Array.isArray(r.propose) ? [k] : [])], message: `unknown remediation '${p}' (known: ${Object.keys(def.remediations).join(', ') || 'none'})` });
      }
    });
    if (new Set(props).size !== props.length) issues.push({ path: ['decide', i, 'propose'], message: 'the same remediation is offered twice' });
  });

  // The symptom: how the alert's condition is checked on the live target.
  const symptomNames = new Set(diagnosisNames);
  if (def.symptom) {
    def.symptom.steps.forEach((s, i) => {
      if (symptomNames.has(s.id)) issues.push({ path: ['symptom', 'steps', i, 'id'], message: `'${s.id}' is already a step id or a derived name; symptom steps need their own ids` });
      checkStep(s, ['symptom', 'steps', i], 'symptom steps', symptomNames);
      symptomNames.add(s.id);
    });
    const roots = checkExpr(def.symptom.cleared, ['symptom', 'cleared'], symptomNames);
    if (!def.symptom.steps.some((s) => roots.includes(s.id))) {
      issues.push({ path: ['symptom', 'cleared'], message: `'${def.symptom.cleared}' reads no symptom step: it cannot tell whether the symptom is gone on the live target` });
    }
  } else if (!deps.stored && def.match.length > 0 && Object.values(def.remediations).some((r) => r.risk !== 'read')) {
    issues.push({ path: ['symptom'], message: 'an alert-driven runbook with remediations must say how its symptom is checked: add symptom: { steps, cleared }' });
  }

  for (const [id, rem] of Object.entries(def.remediations)) {
    const base = ['remediations', id];
    let maxRisk: Risk = 'read';
    const waitIds = new Set<string>();
    rem.steps.forEach((s, i) => {
      if (isWait(s)) {
        const w = s.wait;
        if (i === rem.steps.length - 1) issues.push({ path: [...base, 'steps', i, 'wait'], message: 'a wait must be followed by the steps it waits for' });
        const names = new Set([...diagnosisNames, ...waitIds]);
        (w.steps ?? []).forEach((ws, k) => {
          if (names.has(ws.id) || symptomNames.has(ws.id)) issues.push({ path: [...base, 'steps', i, 'wait', 'steps', k, 'id'], message: `'${ws.id}' is already a step id; wait steps need their own ids` });
          checkStep(ws, [...base, 'steps', i, 'wait', 'steps', k], 'wait steps', names);
          names.add(ws.id);
          waitIds.add(ws.id);
        });
        if (w.until !== undefined) {
          const roots = checkExpr(w.until, [...base, 'steps', i, 'wait', 'until'], names);
          if (!(w.steps ?? []).some((ws) => roots.includes(ws.id))) {
            issues.push({ path: [...base, 'steps', i, 'wait', 'until'], message: `'${w.until}' reads none of the wait's steps: it could never change while waiting` });
          }
        }
        if (w.approval && rem.risk === 'disruptive' && w.approval.role === 'redis.viewer') {
          issues.push({ path: [...base, 'steps', i, 'wait', 'approval', 'role'], message: 'redis.viewer may not approve a disruptive remediation' });
        }
        return;
      }
      const risk = checkStep(s, [...base, 'steps', i], undefined, diagnosisNames);
      if (risk && RISK_ORDER[risk] > RISK_ORDER[maxRisk]) maxRisk = risk;
      if (s.repeat && !deps.actions.get(s.action)?.plan) {
        issues.push({ path: [...base, 'steps', i, 'repeat'], message: `${s.action} cannot plan, so it cannot repeat` });
      }
    });
    checkTemplate(rem.cost, [...base, 'cost'], diagnosisNames);
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
      if (verifyNames.has(s.id) || symptomNames.has(s.id)) issues.push({ path: [...base, 'verify', 'steps', i, 'id'], message: `'${s.id}' is already a diagnose, symptom or verify step id; verify steps need their own ids` });
      checkStep(s, [...base, 'verify', 'steps', i], 'verification steps', verifyNames);
      verifyNames.add(s.id);
    });
    const untilRoots = checkExpr(rem.verify.until, [...base, 'verify', 'until'], verifyNames);
    if (!deps.stored && !rem.verify.steps.some((s) => untilRoots.includes(s.id))) {
      issues.push({ path: [...base, 'verify', 'until'], message: `'${rem.verify.until}' reads no verify step: a verification that does not look at the live target cannot fail` });
    }
  }
  return issues;
}
