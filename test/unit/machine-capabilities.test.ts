/**
 * Issue 6 on the compiled machine, event by event through JSON snapshots (as in the store):
 * alternatives with their own roles and approver counts, escalate rules, "could not evaluate"
 * notes, skipped remediations, symptom-aware verification, phases, the compile errors that guard
 * them, and a rehydration test: a snapshot written by the engine at b012752 restores and finishes.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { actions } from '../../src/actions/registry.js';
import { NODE_SELECTORS } from '../../src/actions/redis/topology.js';
import type { ActionDefinition } from '../../src/actions/types.js';
import { stepMachine } from '../../src/engine/machine/run.js';
import type { StepResult } from '../../src/engine/machine/run.js';
import type { MachineContext, MachineEvent } from '../../src/engine/machine/types.js';
import { compileRunbookText, compileRunbookValue } from '../../src/engine/runbook/load.js';
import type { CompiledRunbook } from '../../src/engine/runbook/load.js';

const FIX = resolve(import.meta.dirname, '..', 'fixtures');
const deps = { actions: actions as ReadonlyMap<string, ActionDefinition<unknown, unknown>>, selectors: NODE_SELECTORS, defaultApprovalTimeoutMs: 60_000 };
const T0 = Date.parse('2026-12-01T03:00:00Z');
const CAP = readFileSync(join(FIX, 'runbooks-capabilities', 'cap-slowlog.yaml'), 'utf8');
const PHASES = readFileSync(join(FIX, 'runbooks-capabilities', 'cap-phases.yaml'), 'utf8');

function start(rb: CompiledRunbook, over: Partial<MachineContext> = {}): StepResult {
  return stepMachine(rb.machine, { input: { incidentId: 'inc-1', target: { name: 'cap', role: 'store', allowAutomatic: false }, labels: { instance: '10.0.0.1:6379' }, dryRun: false, params: rb.def.params, findings: {}, tried: [], seq: 0, awaiting: 0, ...over } });
}
function next(s: StepResult, rb: CompiledRunbook, e: MachineEvent): StepResult {
  return stepMachine(rb.machine, { snapshot: JSON.parse(JSON.stringify(s.snapshot)) }, e);
}
const cmd = (node: string, ...argv: string[]) => ({ node, argv, step: 0, origin: node });
const capFindings = (threshold: string) => ({
  probe: { usage: 0.1 },
  cfg: { 'slowlog-log-slower-than': threshold },
  replicaInfo: { '10.0.0.2:6379': { usage: 0.1 }, '10.0.0.3:6379': { usage: 0.1 } },
});

describe('alternatives', () => {
  const rb = compileRunbookText(CAP, 'cap.yaml', deps);
  function toOffer(): StepResult {
    let s = start(rb);
    s = next(s, rb, { type: 'effect.done', seq: 1, at: T0, result: { kind: 'diagnose', findings: capFindings('10000') } });
    expect(s.effects).toEqual([{ kind: 'plan', seq: 2, remediation: 'primary-only', key: 'offer-low#2', options: ['primary-only', 'every-node'] }]);
    return next(s, rb, {
      type: 'effect.done',
      seq: 2,
      at: T0 + 1,
      result: { kind: 'plan', commands: [], options: [{ remediation: 'primary-only', commands: [cmd('10.0.0.1:6379', 'CONFIG', 'SET', 'x', '1')] }, { remediation: 'every-node', commands: [cmd('10.0.0.2:6379', 'CONFIG', 'SET', 'x', '1')] }] },
    });
  }

  it('waits for a choice; an approval names its option and counts only for it; the chosen plan is what acts', () => {
    let s = toOffer();
    expect(s.state).toBe('awaiting_approval');
    expect(s.context.pendingEffect?.kind).toBe('request-approval');
    const key = s.context.current?.key ?? '';
    expect(next(s, rb, { type: 'approval.granted', at: T0 + 2, key, by: 'bob' }).changed).toBe(false); // no option: ignored
    expect(next(s, rb, { type: 'approval.granted', at: T0 + 2, key, by: 'bob', option: 'nope' }).changed).toBe(false);
    s = next(s, rb, { type: 'approval.granted', at: T0 + 2, key, by: 'bob', option: 'every-node' });
    expect(s.state).toBe('remediating');
    expect(s.context.current?.remediation).toBe('every-node');
    expect(s.context.current?.commands.map((c) => c.node)).toEqual(['10.0.0.2:6379']);
    expect(s.effects).toEqual([{ kind: 'act', seq: 4, remediation: 'every-node', key }]);
  });

  it('a rejection escalates and tries none of them', () => {
    let s = toOffer();
    s = next(s, rb, { type: 'approval.rejected', at: T0 + 2, key: s.context.current?.key ?? '', by: 'bob', reason: 'not now' });
    expect(s.state).toBe('escalated');
    expect(s.context.outcome).toBe('all options rejected by bob: not now');
  });

  it('when one option is left after another failed, it is proposed alone', () => {
    const s = start(rb, { tried: ['primary-only'] });
    const d = next(s, rb, { type: 'effect.done', seq: 1, at: T0, result: { kind: 'diagnose', findings: capFindings('10000') } });
    expect(d.effects).toEqual([{ kind: 'plan', seq: 2, remediation: 'every-node', key: 'every-node#2' }]);
  });

  it('an escalate rule stops deciding with its reason, and a condition reading a failed step says so', () => {
    const s = next(start(rb), rb, { type: 'effect.done', seq: 1, at: T0, result: { kind: 'diagnose', findings: { ...capFindings('10000'), probe: { error: { code: 'refused', message: 'connect ECONNREFUSED' } }, cfg: { error: { code: 'timeout', message: 'no answer' } } } } });
    expect(s.state).toBe('escalated');
    expect(s.context.outcome).toBe('the alerting node 10.0.0.1:6379 does not answer us (refused: connect ECONNREFUSED); too little is known to decide');
  });

  it('"could not evaluate" goes to the timeline when a rule reads a failed step', () => {
    const noEscalate = CAP.replace(/  - id: refused\n    when: exists\(probe.error\)\n    escalate: .*\n/, '');
    const rb2 = compileRunbookText(noEscalate, 'cap2.yaml', deps);
    const s = next(start(rb2), rb2, { type: 'effect.done', seq: 1, at: T0, result: { kind: 'diagnose', findings: { ...capFindings('10000'), cfg: { error: { code: 'timeout', message: 'no answer' } } } } });
    expect(s.notes.map((n) => n.summary)).toContain("could not evaluate decide[0] (low) 'number(cfg['slowlog-log-slower-than']) < number(params.wanted)': cfg failed (timeout: no answer)");
    expect(s.state).toBe('escalated');
  });
});

describe('verification checks the symptom; skipped is never verified', () => {
  const rb = compileRunbookText(CAP, 'cap.yaml', deps);
  function toActing(): StepResult {
    let s = start(rb, { tried: ['every-node'] });
    s = next(s, rb, { type: 'effect.done', seq: 1, at: T0, result: { kind: 'diagnose', findings: capFindings('10000') } });
    s = next(s, rb, { type: 'effect.done', seq: 2, at: T0, result: { kind: 'plan', commands: [cmd('10.0.0.1:6379', 'CONFIG', 'SET', 'x', '1')] } });
    return next(s, rb, { type: 'approval.granted', at: T0, key: s.context.current?.key ?? '', by: 'alice' });
  }

  it('the change in place but the symptom still there is reported as such', () => {
    let s = toActing();
    s = next(s, rb, { type: 'effect.done', seq: 4, at: T0, result: { kind: 'act', skipped: false, outcomes: [] } });
    const poll = { kind: 'verify' as const, findings: { after: { 'slowlog-log-slower-than': '20000' }, cfgNow: { 'slowlog-log-slower-than': '5' } } };
    s = next(s, rb, { type: 'effect.done', seq: 5, at: T0 + 1000, result: poll });
    expect(s.state).toBe('verifying');
    s = next(s, rb, { type: 'effect.done', seq: 6, at: T0 + 21_000, result: poll });
    expect(s.state).toBe('escalated');
    expect(s.context.outcome).toMatch(/the change was applied but the symptom did not clear \(number\(cfgNow/);
  });

  it('a skipped remediation goes back to deciding; with the symptom gone it resolves without a change', () => {
    const s = toActing();
    const skipped = next(s, rb, { type: 'effect.done', seq: 4, at: T0, result: { kind: 'act', skipped: true, reason: 'precondition no longer holds', findings: {} } });
    expect(skipped.state).not.toBe('verifying');
    expect(skipped.state).toBe('escalated'); // nothing left to try
    const gone = next(s, rb, { type: 'effect.done', seq: 4, at: T0, result: { kind: 'act', skipped: true, reason: 'precondition no longer holds', findings: { cfgNow: { 'slowlog-log-slower-than': '20000' } } } });
    expect(gone.state).toBe('resolved');
    expect(gone.context.outcome).toMatch(/the symptom cleared before anything was changed/);
  });
});

describe('phases', () => {
  const rb = compileRunbookText(PHASES, 'phases.yaml', deps);
  it('act → wait (a delayed effect) → act the next phase → gate with its own approval → act → verify', () => {
    let s = start(rb);
    s = next(s, rb, { type: 'effect.done', seq: 1, at: T0, result: { kind: 'diagnose', findings: { cfg: { maxclients: '1000' } } } });
    s = next(s, rb, { type: 'effect.done', seq: 2, at: T0, result: { kind: 'plan', commands: [cmd('n:1', 'A')] } });
    const key = s.context.current?.key ?? '';
    s = next(s, rb, { type: 'approval.granted', at: T0, key, by: 'alice' });
    s = next(s, rb, { type: 'effect.done', seq: 4, at: T0, result: { kind: 'act', skipped: false, outcomes: [], waitAt: 1 } });
    expect(s.state).toBe('remediating');
    expect(s.effects).toEqual([{ kind: 'wait', seq: 5, remediation: 'phased', key, wait: 1, poll: false, delayMs: 4000 }]);
    s = next(s, rb, { type: 'effect.done', seq: 5, at: T0 + 4000, result: { kind: 'wait', findings: {} } });
    expect(s.context.current?.phaseStart).toBe(2);
    expect(s.effects.map((e) => e.kind)).toEqual(['act']);
    s = next(s, rb, { type: 'effect.done', seq: 6, at: T0 + 4001, result: { kind: 'act', skipped: false, outcomes: [], waitAt: 3 } });
    expect(s.state).toBe('awaiting_approval');
    const gateKey = s.context.current?.key ?? '';
    expect(gateKey).toBe(`${key}-g3`);
    expect(next(s, rb, { type: 'approval.granted', at: T0, key, by: 'bob' }).changed).toBe(false); // the first phase's key is stale
    s = next(s, rb, { type: 'approval.granted', at: T0, key: gateKey, by: 'bob' });
    expect(s.state).toBe('remediating');
    expect(s.context.current?.phaseStart).toBe(4);
  });
});

describe('compile errors of issue 6 name the file and the YAML path', () => {
  const bad = (from: string, to: string, text = CAP): string => {
    expect(text.includes(from)).toBe(true);
    return text.replace(from, to);
  };
  const cases: [string, string, RegExp][] = [
    ['      until: number(after[\'slowlog-log-slower-than\']) == number(params.wanted)', '      until: number(params.wanted) > 0', /remediations\.primary-only\.verify\.until: .* reads no verify step: a verification that does not look at the live target cannot fail/],
    ['  cleared: number(cfgNow', '  cleared: number(cfg', /symptom\.cleared: .* reads no symptom step/],
    ['    reason: "slowlog-log-slower-than is {cfg', '    reason: "slowlog-log-slower-than is {nope', /decide\[1\]\.reason: unknown name 'nope' in template/],
    ['    reason: "slowlog-log-slower-than is {cfg', '    reason: "slowlog-log-slower-than is {cfg[', /decide\[1\]\.reason: bad template/],
    ['        with: { parameter: slowlog-log-slower-than, value: "{params.wanted}" }\n    verify:\n      steps:\n        - id: after', '        with: { parameter: slowlog-log-slower-than, value: "{paramz.wanted}" }\n    verify:\n      steps:\n        - id: after', /remediations\.primary-only\.steps\[0\]\.with\.value: unknown name 'paramz'/],
    ['        on: { nodes: "keys(replicaInfo)" }', '        on: { nodes: "keys(replicaInf)" }', /remediations\.every-node\.steps\[0\]\.on\.nodes: unknown name 'replicaInf'/],
    ['    propose: [primary-only, every-node]', '    propose: [primary-only, nowhere]', /decide\[1\]\.propose\[1\]: unknown remediation 'nowhere'/],
    ['    escalate: "the alerting node', '    propose: primary-only\n    escalate: "the alerting node', /cannot both propose and escalate/],
  ];
  for (const [from, to, msg] of cases) {
    it(msg.source.slice(0, 70), () => {
      expect(() => compileRunbookText(bad(from, to), 'rb.yaml', deps)).toThrow(msg);
    });
  }
  it('an alert-driven runbook with remediations must declare its symptom', () => {
    const noSymptom = CAP.replace(/symptom:\n(  .*\n|    .*\n|      .*\n)+/, '');
    expect(noSymptom.includes('symptom:')).toBe(false);
    expect(() => compileRunbookText(noSymptom, 'rb.yaml', deps)).toThrow(/rb\.yaml.*symptom: an alert-driven runbook with remediations must say how its symptom is checked/);
  });
  it('a wait must be followed by steps, and a wait condition must read its own steps', () => {
    const last = PHASES.replace('    verify:\n', '      - wait: { delay: 1s }\n    verify:\n');
    expect(() => compileRunbookText(last, 'rb.yaml', deps)).toThrow(/steps\[5\]\.wait: a wait must be followed by the steps it waits for/);
    const cond = PHASES.replace('      - wait: { delay: 4s, title: let clients settle }', '      - wait: { until: "number(cfg.maxclients) > 0", steps: [{ id: w1, action: redis.info-memory }] }');
    expect(() => compileRunbookText(cond, 'rb.yaml', deps)).toThrow(/steps\[1\]\.wait\.until: .* reads none of the wait's steps/);
  });
});

describe('rehydration: a snapshot written by an older engine restores and finishes', () => {
  it('the b012752 engine left an incident awaiting approval on the a981cb4 runbook; this engine approves, acts, verifies and resolves it', () => {
    const def = parse(readFileSync(join(FIX, 'runbook-memory-a981cb4.yaml'), 'utf8')) as unknown;
    // Stored definitions are compiled without authoring rules added since (it has no symptom).
    expect(() => compileRunbookValue(def, 'stored', deps)).toThrow(/symptom/);
    const rb = compileRunbookValue(def, 'stored', { ...deps, stored: true });
    const old = JSON.parse(readFileSync(join(FIX, 'snapshot-memory-awaiting-approval-b012752.json'), 'utf8')) as { state: string; snapshot: { context: MachineContext } };
    expect(old.state).toBe('awaiting_approval');
    expect(old.snapshot.context.pendingEffect).toBeUndefined();
    let s: StepResult = { snapshot: old.snapshot, context: old.snapshot.context, state: 'awaiting_approval', effects: [], notes: [], changed: false };
    s = next(s, rb, { type: 'approval.granted', at: T0, key: old.snapshot.context.current?.key ?? '', by: 'alice' });
    expect(s.state).toBe('remediating');
    expect(s.effects).toEqual([{ kind: 'act', seq: 4, remediation: 'raise-maxmemory', key: 'raise-maxmemory#2' }]);
    s = next(s, rb, { type: 'effect.done', seq: 4, at: T0 + 1, result: { kind: 'act', skipped: false, outcomes: [] } });
    s = next(s, rb, { type: 'effect.done', seq: 5, at: T0 + 2, result: { kind: 'verify', findings: { memAfter: { usage: 0.7 } } } });
    expect(s.state).toBe('resolved');
  });
});

describe('an alert that resolves before anything was proposed', () => {
  const rb = compileRunbookText(CAP, 'cap.yaml', deps);
  it('cancels the incident while diagnosing or planning; nothing was changed', () => {
    const s = start(rb);
    const c = next(s, rb, { type: 'alert.resolved', at: T0, fingerprint: 'f' });
    expect(c.state).toBe('cancelled');
    expect(c.context.outcome).toBe('alert resolved before any change; nothing was changed');
    let p = next(s, rb, { type: 'effect.done', seq: 1, at: T0, result: { kind: 'diagnose', findings: capFindings('10000') } });
    expect(p.state).toBe('planning');
    p = next(p, rb, { type: 'alert.resolved', at: T0, fingerprint: 'f' });
    expect(p.state).toBe('cancelled');
  });
});
