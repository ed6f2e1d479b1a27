/**
 * The crash matrix's shared parts: the shipped runbooks with their timings scaled down (same
 * machines, seconds instead of minutes), and the replay of recorded findings and plans the worker
 * processes answer reads and plans with (`EffectEnv.replay`). Remediation commands are not
 * replayed: they go to the incident's own live redis-server.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument, isMap, isScalar, visit } from 'yaml';
import type { PlannedCommand } from '../../src/actions/types.js';
import { nodeKey } from '../../src/actions/types.js';
import { parseNodeKey } from '../../src/actions/redis/connection.js';
import type { Replay, StepRun } from '../../src/engine/effects/context.js';
import { isFanOut } from '../../src/engine/node-selection.js';
import { parsePlanLine } from '../../src/engine/rehearsal/rehearse.js';
import type { SelectorDef } from '../../src/engine/runbook/schema.js';

/** What the replay answers one incident with. */
export interface IncidentReplay {
  /** host:port of the incident's own redis-server (every planned command goes there). */
  node: string;
  /** Diagnostic findings by step id (the seed's findings). */
  findings: Record<string, unknown>;
  /** Verification findings by step id (a rehearsal's `verify:`), when one exists. */
  verify: Record<string, unknown> | null;
  /** Recorded plan lines by remediation (from the rehearsals), and the step they belong to. */
  plans: Record<string, { lines: string[]; step: number }>;
}

export type ReplayData = Record<string, IncidentReplay>;

const SCALED: Record<string, string | number> = { within: '3s', every: '500ms', holdFor: 0, delay: '1s' };

/** Copy the runbooks of `src` (top level only) to `dst` with verification and wait timings scaled down. */
export function scaleRunbooks(src: string, dst: string): string[] {
  const names: string[] = [];
  for (const f of readdirSync(src)) {
    if (!/\.ya?ml$/.test(f)) continue;
    const doc = parseDocument(readFileSync(join(src, f), 'utf8'));
    const rems = doc.get('remediations', true);
    if (isMap(rems)) {
      visit(rems, {
        Pair(_, pair) {
          if (isScalar(pair.key) && typeof pair.key.value === 'string' && pair.key.value in SCALED && isScalar(pair.value)) {
            pair.value.value = SCALED[pair.key.value];
          }
        },
      });
    }
    writeFileSync(join(dst, f), doc.toString());
    names.push(f);
  }
  return names;
}

/** A stand-in for a remediation no rehearsal recorded a plan of: one real, counted write. */
export function standIn(remediation: string, node: string, step: number): PlannedCommand {
  return { node, argv: ['SET', `rr:crash:${remediation}`, '1'], note: `stand-in for ${remediation} (no recorded plan)`, step, origin: node };
}

/** The commands the replay plans for one remediation step. */
export function replayPlan(d: IncidentReplay, remediation: string, index: number, firstStep: number): PlannedCommand[] {
  const p = d.plans[remediation];
  const at = p?.step ?? firstStep;
  if (index !== at) return [];
  if (!p || p.lines.length === 0) return [standIn(remediation, d.node, at)];
  return p.lines.map((l) => ({ ...parsePlanLine(l), node: d.node, step: at, origin: d.node }));
}

function isError(v: unknown): v is { error: { code: string; message: string } } {
  return typeof v === 'object' && v !== null && 'error' in v && Object.keys(v).length === 1;
}

/** The `Replay` a crash-matrix worker runs with. */
export function replayFrom(data: ReplayData, firstSteps: Record<string, Record<string, number>>): Replay {
  const missing = (step: string): StepRun[] => [{ node: { host: '?', port: 0 }, ok: false, error: { code: 'replay_missing', message: `no recorded value for ${step}` }, ms: 0 }];
  return {
    runs(rec, step: { id: string; on: SelectorDef }, purpose): StepRun[] {
      const d = data[rec.id];
      if (!d) return missing(step.id);
      const value = purpose === 'verification.poll' && d.verify && step.id in d.verify ? d.verify[step.id] : d.findings[step.id];
      if (value === undefined) return missing(step.id);
      const one = (node: string, v: unknown): StepRun => (isError(v) ? { node: parseNodeKey(node), ok: false, error: v.error, ms: 0 } : { node: parseNodeKey(node), ok: true, result: v, ms: 0 });
      if (isFanOut(step.on) && typeof value === 'object' && value !== null && Object.keys(value).every((k) => /:\d+$/.test(k))) {
        return Object.entries(value as Record<string, unknown>).map(([k, v]) => one(k, v));
      }
      return [one(d.node, value)];
    },
    plan(rec, remediation, _step, index, round): PlannedCommand[] {
      const d = data[rec.id];
      if (!d || round > 0) return []; // a repeat step: nothing left after its recorded round
      return replayPlan(d, remediation, index, firstSteps[rec.runbook]?.[remediation] ?? 0);
    },
  };
}

export { nodeKey };
