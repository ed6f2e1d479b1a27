/**
 * What effect executors share: the store, the catalog, targets, the clock, and helpers to run an
 * action on the nodes a selector picks, with a timeout, recording durations.
 */
import type { Logger } from 'pino';
import type { ActionContext, ActionDefinition, NodeRef, PlannedCommand, TargetHandle } from '../../actions/types.js';
import { nodeKey } from '../../actions/types.js';
import { redisErrorCode, RunbooksError } from '../../errors.js';
import { formatBytes } from '../expr/index.js';
import type { Metrics } from '../metrics.js';
import type { IncidentRecord, IncidentStore, StoreClient } from '../store/incidents.js';
import type { Keys } from '../keys.js';
import type { TimelineEntry, TimelineKind } from '../types.js';
import { isFanOut, selectNodes } from '../node-selection.js';
import type { SelectorDef } from '../runbook/schema.js';
import { resolveWith, unresolvedMessage } from '../runbook/step-inputs.js';

/** Any registered action (inputs and outputs vary per action). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyAction = ActionDefinition<any, any>;

export interface EffectEnv {
  /** The actions runbook steps may name, injected by the composition root (no global lookup). */
  actions: ReadonlyMap<string, AnyAction>;
  redis: StoreClient;
  store: IncidentStore;
  keys: Keys;
  metrics: Metrics;
  log: Logger;
  now(): number;
  lockTtlMs: number;
  /** At most `max` remediations of one runbook on one target within `windowMs`. */
  breaker: { max: number; windowMs: number };
  /** Crash tests only: SIGKILL this process after this many remediation commands were sent. */
  killAfterCommands?: number;
  /**
   * Crash tests only (`engine.faultInjection.hang`): called at a crash point of an incident; hangs
   * this process's handling of it (for ever) when the incident is labelled for that point, so a
   * test can SIGKILL the process exactly there.
   */
  hangAt?: (rec: IncidentRecord, point: FaultPoint) => Promise<void>;
  /**
   * Recorded findings and plans instead of the live target's (the crash matrix drives every state
   * of every runbook with them, as rehearsals do): diagnostic reads and planning go through it;
   * remediation commands are still sent to the target's nodes.
   */
  replay?: Replay;
}

/** Where a crash test may stop a worker: after an effect ran (its result not yet applied), or after a remediation command reached the target (not yet marked done). */
export type FaultPoint = 'effect-done' | 'command-sent';

/** Recorded answers for reads and plans (see {@link EffectEnv.replay}). */
export interface Replay {
  /** The runs of one read-only step, as `runOnNodes` would return them. */
  runs(rec: IncidentRecord, step: { id: string; action: string; on: SelectorDef }, purpose: 'finding' | 'verification.poll'): StepRun[];
  /** The commands one remediation step plans (`round` > 0: a `repeat` step planned again after a round). */
  plan(rec: IncidentRecord, remediation: string, step: { action: string }, index: number, round: number): PlannedCommand[];
}

export { FAN_OUT } from '../node-selection.js';

export function entry(env: Pick<EffectEnv, 'now'>, kind: TimelineKind, summary: string, data?: Record<string, unknown>): TimelineEntry {
  return { at: new Date(env.now()).toISOString(), kind, actor: { kind: 'engine' }, summary, ...(data ? { data } : {}) };
}

export interface StepRun {
  node: NodeRef;
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string };
  ms: number;
}

/** Run one action on every node `on` selects. Failures become results, never throws. */
export async function runOnNodes(
  env: EffectEnv,
  rec: IncidentRecord,
  target: TargetHandle,
  step: { action: string; on: SelectorDef; with: Record<string, unknown> },
  scope: Readonly<Record<string, unknown>>,
  findings: Record<string, unknown>,
  params: Record<string, unknown>,
  runbook: string,
): Promise<{ nodes: NodeRef[]; runs: StepRun[] }> {
  const action = env.actions.get(step.action);
  if (!action) throw new RunbooksError('action_unknown', `unknown action ${step.action}`);
  const failAll = (code: string, message: string) => ({ nodes: [], runs: [{ node: { host: '?', port: 0 }, ok: false, error: { code, message }, ms: 0 }] });
  let nodes: NodeRef[];
  try {
    nodes = await selectNodes(target, step.on, rec.node, scope);
  } catch (e) {
    return failAll(e instanceof RunbooksError ? e.code : redisErrorCode(e), (e as Error).message);
  }
  const resolved = resolveWith(step.with, scope);
  if (resolved.missing.length > 0) {
    return failAll('input_unresolved', unresolvedMessage(step.action, resolved.missing));
  }
  const withValues = resolved.value as Record<string, unknown>;
  const parsedInput = action.input.safeParse(withValues);
  if (!parsedInput.success) {
    const first = parsedInput.error.issues[0];
    return failAll('input_invalid', `invalid input for ${step.action} at with.${(first?.path ?? []).join('.')}: ${first?.message ?? 'invalid'}`);
  }
  const input = parsedInput.data;
  const runs: StepRun[] = [];
  for (const node of nodes) {
    const t0 = performance.now();
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), action.timeoutMs);
    const ctx: ActionContext = { target, node, findings, params: { ...params, ...withValues }, dryRun: rec.dryRun, log: env.log.child({ incident: rec.id, action: step.action, node: nodeKey(node) }), signal: ac.signal, now: env.now };
    try {
      const result = await Promise.race([
        action.run(input, ctx),
        new Promise<never>((_, rej) => ac.signal.addEventListener('abort', () => rej(new RunbooksError('action_timeout', `${step.action} timed out after ${action.timeoutMs} ms on ${nodeKey(node)}`, { retryable: true })))),
      ]);
      runs.push({ node, ok: true, result, ms: performance.now() - t0 });
    } catch (e) {
      const code = e instanceof RunbooksError ? e.code : redisErrorCode(e);
      runs.push({ node, ok: false, error: { code, message: (e as Error).message }, ms: performance.now() - t0 });
    } finally {
      clearTimeout(timer);
      env.metrics.stepDuration.observe({ runbook, kind: action.risk === 'read' ? 'diagnostic' : 'remediation' }, (performance.now() - t0) / 1000);
    }
  }
  return { nodes, runs };
}

/** Findings of one step: the single result, or a map by node for fan-out selectors. */
export function findingOf(on: SelectorDef, runs: StepRun[]): unknown {
  const one = (r: StepRun): unknown => (r.ok ? r.result : { error: r.error });
  if (isFanOut(on)) return Object.fromEntries(runs.map((r) => [nodeKey(r.node), one(r)]));
  const first = runs[0];
  return first ? one(first) : { error: { code: 'no_nodes', message: 'no node matched the selector' } };
}

const BYTE_KEY = /(memory|bytes|maxmemory|rss|peak|buffer|backlog)$/i;

function scalar(k: string, v: unknown): string | undefined {
  if (typeof v === 'number') {
    if (BYTE_KEY.test(k) && Math.abs(v) >= 1024) return formatBytes(v);
    return Number.isInteger(v) ? String(v) : v.toFixed(3).replace(/\.?0+$/, '');
  }
  if (typeof v === 'string') return v.length > 60 ? `${v.slice(0, 57)}...` : v;
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.length}]`;
  return undefined;
}

/**
 * A short, secret-free, human summary of a finding for the timeline and Slack: numbers, not
 * dumps (`usage=0.904 usedMemory=57.8 MiB policy=noeviction …`). The full value stays in `data`.
 */
export function summarise(value: unknown, max = 400): string {
  if (value === null || typeof value !== 'object') return String(scalar('', value) ?? value);
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (keys.length > 0 && keys.every((k) => /^[^\s]+:\d+$/.test(k))) {
    const parts = keys.map((k) => `${k} {${summarise(obj[k], 120)}}`);
    const s = parts.join('; ');
    return s.length > max ? `${s.slice(0, max - 3)}...` : s;
  }
  const parts: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'node' || k === 'text') continue;
    if (k === 'error' && v && typeof v === 'object') {
      parts.push(`error=${String((v as { code?: unknown }).code)}: ${String((v as { message?: unknown }).message)}`);
      continue;
    }
    const f = scalar(k, v);
    if (f !== undefined) parts.push(`${k}=${f}`);
    else if (v && typeof v === 'object' && !Array.isArray(v)) {
      const inner = Object.entries(v as Record<string, unknown>)
        .map(([ik, iv]) => (scalar(ik, iv) !== undefined ? `${ik}=${scalar(ik, iv)}` : undefined))
        .filter((x): x is string => x !== undefined)
        .slice(0, 4);
      if (inner.length > 0) parts.push(`${k}={${inner.join(' ')}}`);
    }
  }
  const s = parts.join(' ');
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}
