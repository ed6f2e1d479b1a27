/**
 * The compiled memory-pressure machine, driven event by event through the same stepMachine() the
 * worker uses, with snapshots round-tripped through JSON between steps (as they are in Redis).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { actions } from '../../src/actions/registry.js';
import { NODE_SELECTORS } from '../../src/actions/redis/topology.js';
import type { ActionDefinition } from '../../src/actions/types.js';
import { stepMachine } from '../../src/engine/machine/run.js';
import type { StepResult } from '../../src/engine/machine/run.js';
import type { MachineContext, MachineEvent } from '../../src/engine/machine/types.js';
import { compileRunbookText } from '../../src/engine/runbook/load.js';
import type { CompiledRunbook } from '../../src/engine/runbook/load.js';
import { RUNBOOKS_DIR } from '../helpers/app.js';

const deps = { actions: actions as ReadonlyMap<string, ActionDefinition<unknown, unknown>>, selectors: NODE_SELECTORS, defaultApprovalTimeoutMs: 60_000 };
// The machine's semantics, on a fixed runbook (the shipped one evolves with its own tests).
const MEMORY = readFileSync(join(RUNBOOKS_DIR, '..', 'test', 'fixtures', 'runbooks-machine', 'redis-memory-pressure.yaml'), 'utf8');
const MiB = 1024 * 1024;
const T0 = Date.parse('2026-11-25T03:00:00Z');

function ctx(rb: CompiledRunbook, over: Partial<MachineContext> = {}): MachineContext {
  return { incidentId: 'inc-1', target: { name: 'cache-prod', role: 'store', allowAutomatic: false }, labels: {}, dryRun: false, params: rb.def.params, findings: {}, tried: [], seq: 0, awaiting: 0, ...over };
}

function findings(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    mem: { usage: 0.9, usedMemory: 58 * MiB, maxmemory: 64 * MiB, totalSystemMemory: 24 * 1024 * MiB, fragmentationRatio: 1.1, fragmentationBytes: MiB, policy: 'noeviction' },
    stats: { oomErrors: 3 },
    keyspace: { keys: 1000, expires: 900, noTtlShare: 0.1 },
    bigkeys: { dominantPrefix: null, topKeys: [] },
    doctor: { healthy: true },
    usage: 0.9,
    canRaise: true,
    ...over,
  };
}

/** Apply an event to a snapshot that went through JSON, as it does in the store. */
function next(s: StepResult, rb: CompiledRunbook, e: MachineEvent): StepResult {
  return stepMachine(rb.machine, { snapshot: JSON.parse(JSON.stringify(s.snapshot)) }, e);
}

function toApproval(rb: CompiledRunbook, c: MachineContext, f = findings()): StepResult {
  let s = stepMachine(rb.machine, { input: c });
  expect(s.state).toBe('diagnosing');
  expect(s.effects).toEqual([{ kind: 'diagnose', seq: 1 }]);
  s = next(s, rb, { type: 'effect.done', seq: 1, at: T0, result: { kind: 'diagnose', findings: f } });
  expect(s.state).toBe('planning');
  const plan = s.effects.find((e) => e.kind === 'plan');
  expect(plan).toBeDefined();
  s = next(s, rb, { type: 'effect.done', seq: plan?.seq ?? 0, at: T0, result: { kind: 'plan', commands: [{ node: '10.0.0.1:6379', argv: ['CONFIG', 'SET', 'maxmemory', '83886080'] }] } });
  return s;
}

describe('memory-pressure machine', () => {
  const rb = compileRunbookText(MEMORY, 'm.yaml', deps);

  it('store target with headroom: raise-maxmemory → approval → act → verify → resolved', () => {
    let s = toApproval(rb, ctx(rb));
    expect(s.state).toBe('awaiting_approval');
    expect(s.context.current?.remediation).toBe('raise-maxmemory');
    const key = s.context.current?.key ?? '';
    expect(s.effects).toEqual([{ kind: 'request-approval', seq: 3, remediation: 'raise-maxmemory', key, timeoutMs: 60_000 }]);
    s = next(s, rb, { type: 'approval.granted', at: T0 + 1000, key, by: 'alice' });
    expect(s.state).toBe('remediating');
    expect(s.context.current?.approvals).toEqual([{ by: 'alice', at: new Date(T0 + 1000).toISOString() }]);
    s = next(s, rb, { type: 'effect.done', seq: 4, at: T0 + 2000, result: { kind: 'act', skipped: false, outcomes: [] } });
    expect(s.state).toBe('verifying');
    expect(s.effects).toEqual([{ kind: 'verify', seq: 5, remediation: 'raise-maxmemory', key, delayMs: 0 }]);
    s = next(s, rb, { type: 'effect.done', seq: 5, at: T0 + 3000, result: { kind: 'verify', findings: { memAfter: { usage: 0.88 } } } });
    expect(s.state).toBe('verifying');
    expect(s.effects).toEqual([{ kind: 'verify', seq: 6, remediation: 'raise-maxmemory', key, delayMs: 15_000 }]);
    s = next(s, rb, { type: 'effect.done', seq: 6, at: T0 + 18_000, result: { kind: 'verify', findings: { memAfter: { usage: 0.72 }, memNow: { usage: 0.72 } } } });
    expect(s.state).toBe('resolved');
    expect(s.effects.map((e) => e.kind)).toEqual(['release-lock', 'closed']);
    expect(s.notes.map((n) => n.kind)).toContain('verification.passed');
  });

  it('verification that never holds escalates at its deadline (onFailure: escalate)', () => {
    let s = toApproval(rb, ctx(rb));
    const key = s.context.current?.key ?? '';
    s = next(s, rb, { type: 'approval.granted', at: T0, key, by: 'alice' });
    s = next(s, rb, { type: 'effect.done', seq: 4, at: T0, result: { kind: 'act', skipped: false, outcomes: [] } });
    s = next(s, rb, { type: 'effect.done', seq: 5, at: T0 + 60_000, result: { kind: 'verify', findings: { memAfter: { usage: 0.9 } } } });
    expect(s.state).toBe('verifying');
    s = next(s, rb, { type: 'effect.done', seq: 6, at: T0 + 5 * 60_000 + 1, result: { kind: 'verify', findings: { memAfter: { usage: 0.9 } } } });
    expect(s.state).toBe('escalated');
    expect(s.context.outcome).toMatch(/not verified within 5m/);
  });

  it('ignores stale results, wrong proposal keys and duplicate approvers', () => {
    let s = toApproval(rb, ctx(rb));
    const key = s.context.current?.key ?? '';
    expect(next(s, rb, { type: 'effect.done', seq: 1, at: T0, result: { kind: 'diagnose', findings: {} } }).changed).toBe(false);
    expect(next(s, rb, { type: 'approval.granted', at: T0, key: 'purge#1', by: 'alice' }).changed).toBe(false);
    expect(next(s, rb, { type: 'approval.expired', at: T0, key: 'purge#1' }).changed).toBe(false);
    s = next(s, rb, { type: 'approval.expired', at: T0, key });
    expect(s.state).toBe('escalated');
    expect(s.context.outcome).toMatch(/approval expired/);
  });

  it('a resolved alert cancels a pending approval', () => {
    let s = toApproval(rb, ctx(rb));
    s = next(s, rb, { type: 'alert.resolved', at: T0, fingerprint: 'f' });
    expect(s.state).toBe('cancelled');
    expect(s.notes.map((n) => n.kind)).toContain('approval.cancelled');
  });

  it('a rejection escalates with who and why', () => {
    let s = toApproval(rb, ctx(rb));
    s = next(s, rb, { type: 'approval.rejected', at: T0, key: s.context.current?.key ?? '', by: 'bob', reason: 'peak traffic' });
    expect(s.state).toBe('escalated');
    expect(s.context.outcome).toContain('rejected by bob: peak traffic');
  });

  it('cache target with noeviction proposes allkeys-lru first; never on a store target', () => {
    const cache = toApproval(rb, ctx(rb, { target: { name: 'c', role: 'cache', allowAutomatic: false } }));
    expect(cache.context.current?.remediation).toBe('allkeys-lru');
    const store = toApproval(rb, ctx(rb));
    expect(store.context.current?.remediation).toBe('raise-maxmemory');
  });

  it('nothing to propose (no headroom, no fragmentation): escalates with the notes for a human', () => {
    let s = stepMachine(rb.machine, { input: ctx(rb) });
    s = next(s, rb, { type: 'effect.done', seq: 1, at: T0, result: { kind: 'diagnose', findings: findings({ canRaise: false, keyspace: { keys: 1000, noTtlShare: 0.95 } }) } });
    expect(s.state).toBe('escalated');
    expect(s.notes.map((n) => n.summary).join('\n')).toMatch(/95% of 1000 keys have no TTL/);
  });

  it('fragmentation on a near-empty instance is reported, not acted on', () => {
    let s = stepMachine(rb.machine, { input: ctx(rb) });
    s = next(s, rb, { type: 'effect.done', seq: 1, at: T0, result: { kind: 'diagnose', findings: findings({ canRaise: false, mem: { usage: 0.9, usedMemory: 2 * MiB, maxmemory: 64 * MiB, fragmentationRatio: 9.02, policy: 'allkeys-lru' } }) } });
    expect(s.notes.some((n) => /fragmentation ratio 9\.02 ignored/.test(n.summary))).toBe(true);
    expect(s.state).toBe('escalated');
  });

  it('a failed purge moves on to the next cause (onFailure: next), never repeating it', () => {
    const f = findings({ mem: { usage: 0.9, usedMemory: 300 * MiB, maxmemory: 320 * MiB, totalSystemMemory: 24 * 1024 * MiB, fragmentationRatio: 1.9, fragmentationBytes: 200 * MiB, policy: 'noeviction' } });
    let s = toApproval(rb, ctx(rb), f);
    expect(s.context.current?.remediation).toBe('purge');
    s = next(s, rb, { type: 'approval.granted', at: T0, key: s.context.current?.key ?? '', by: 'alice' });
    s = next(s, rb, { type: 'effect.done', seq: 4, at: T0, result: { kind: 'act', skipped: false, outcomes: [] } });
    s = next(s, rb, { type: 'effect.done', seq: 5, at: T0 + 3 * 60_000, result: { kind: 'verify', findings: { memAfter: { usage: 0.9, fragmentationRatio: 1.9 } } } });
    expect(s.state).toBe('planning');
    expect(s.context.tried).toEqual(['purge']);
    expect(s.context.current?.remediation).toBe('raise-maxmemory');
  });

  it('dry run plans every matching remediation and completes without acting', () => {
    let s = stepMachine(rb.machine, { input: ctx(rb, { dryRun: true, target: { name: 'c', role: 'cache', allowAutomatic: false } }) });
    s = next(s, rb, { type: 'effect.done', seq: 1, at: T0, result: { kind: 'diagnose', findings: findings() } });
    const kinds: string[] = [];
    while (s.state === 'planning') {
      const plan = s.effects.find((e) => e.kind === 'plan');
      kinds.push(s.context.current?.remediation ?? '');
      s = next(s, rb, { type: 'effect.done', seq: plan?.seq ?? 0, at: T0, result: { kind: 'plan', commands: [{ node: 'n:1', argv: ['X'] }] } });
    }
    expect(kinds).toEqual(['allkeys-lru', 'raise-maxmemory']);
    expect(s.state).toBe('completed');
  });
});

describe('runbook features beyond memory', () => {
  it('two distinct approvers, automatic steps and a verification that must hold', () => {
    const two = MEMORY.replace("    approval: { role: redis.dba-operator }\n    precondition: mem.policy == 'noeviction'", "    approval: { role: redis.dba-operator, approvers: 2 }\n    precondition: mem.policy == 'noeviction'");
    const rb = compileRunbookText(two, 'two.yaml', deps);
    let s = toApproval(rb, ctx(rb, { target: { name: 'c', role: 'cache', allowAutomatic: false } }));
    const key = s.context.current?.key ?? '';
    s = next(s, rb, { type: 'approval.granted', at: T0, key, by: 'alice' });
    expect(s.state).toBe('awaiting_approval');
    expect(next(s, rb, { type: 'approval.granted', at: T0, key, by: 'alice' }).changed).toBe(false);
    s = next(s, rb, { type: 'approval.granted', at: T0, key, by: 'bob' });
    expect(s.state).toBe('remediating');
    s = next(s, rb, { type: 'effect.done', seq: 4, at: T0, result: { kind: 'act', skipped: false, outcomes: [] } });
    const ok = { kind: 'verify' as const, findings: { memAfter: { policy: 'allkeys-lru' }, statsAfter: { oomErrors: 3 }, memNow: { usage: 0.8 } } };
    s = next(s, rb, { type: 'effect.done', seq: 5, at: T0 + 1000, result: ok });
    expect(s.state).toBe('verifying'); // holdFor: 60s
    s = next(s, rb, { type: 'effect.done', seq: 6, at: T0 + 31_000, result: { kind: 'verify', findings: { memAfter: { policy: 'allkeys-lru' }, statsAfter: { oomErrors: 9 } } } });
    expect(s.state).toBe('verifying'); // OOM errors grew: the hold restarts
    s = next(s, rb, { type: 'effect.done', seq: 7, at: T0 + 61_000, result: ok });
    expect(s.state).toBe('verifying');
    s = next(s, rb, { type: 'effect.done', seq: 8, at: T0 + 122_000, result: ok });
    expect(s.state).toBe('resolved');
  });

  it('automatic steps skip approval only where the target allows it', () => {
    const auto = MEMORY.replace("    risk: write\n    approval: { role: redis.dba-operator }\n    precondition: mem.usage", "    risk: write\n    automatic: true\n    approval: { role: redis.dba-operator }\n    precondition: mem.usage");
    const rb = compileRunbookText(auto, 'auto.yaml', deps);
    expect(toApproval(rb, ctx(rb, { target: { name: 's', role: 'store', allowAutomatic: true } })).state).toBe('remediating');
    expect(toApproval(rb, ctx(rb)).state).toBe('awaiting_approval');
  });

  it('hand-over to another runbook ends this incident and asks for the next', () => {
    const ho = MEMORY.replace('    onFailure: escalate\n', '    onFailure: { handover: redis-memory-pressure }\n');
    const rb = compileRunbookText(ho, 'ho.yaml', deps);
    let s = toApproval(rb, ctx(rb));
    s = next(s, rb, { type: 'approval.granted', at: T0, key: s.context.current?.key ?? '', by: 'alice' });
    s = next(s, rb, { type: 'effect.done', seq: 4, at: T0, result: { kind: 'act', skipped: false, outcomes: [] } });
    s = next(s, rb, { type: 'effect.failed', seq: 5, at: T0 + 10 * 60_000, error: { code: 'verify_unreachable', message: 'x' } });
    expect(s.state).toBe('completed');
    expect(s.effects.map((e) => e.kind)).toEqual(['release-lock', 'handover', 'closed']);
  });
});
