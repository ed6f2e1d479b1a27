/**
 * The verify effect: one poll of a remediation's verification steps (read-only). The machine
 * decides from the findings (the remediation's `verify.until` and the runbook's `symptom.cleared`) whether the condition holds, has held long enough, or timed out; the
 * next poll is a delayed job, so a restart loses nothing.
 */
import type { TargetHandle } from '../../actions/types.js';
import type { TargetLocks } from '../locks.js';
import type { MachineContext } from '../machine/types.js';
import type { RunbookDef } from '../runbook/schema.js';
import { isWait } from '../runbook/schema.js';
import type { IncidentRecord } from '../store/incidents.js';
import type { EffectEnv } from './context.js';
import type { EffectOutcome } from './diagnose.js';
import { runSteps } from './diagnose.js';

export async function verify(
  env: EffectEnv,
  locks: TargetLocks,
  rec: IncidentRecord,
  target: TargetHandle,
  def: RunbookDef,
  ctx: MachineContext,
  remId: string,
): Promise<EffectOutcome> {
  const rem = def.remediations[remId];
  if (!rem) return { failed: { code: 'remediation_unknown', message: `unknown remediation ${remId}` } };
  await locks.refresh(target.name, rec.id);
  // The remediation's own check, then the runbook's symptom: both must hold to resolve.
  const steps = [...rem.verify.steps, ...(def.symptom?.steps ?? [])];
  const { findings, failures } = await runSteps(env, rec, target, def, ctx, steps, { derive: false, timelineKind: 'verification.poll' });
  if (failures === steps.length) {
    return { failed: { code: 'verify_unreachable', message: 'every verification step failed' } };
  }
  return { result: { kind: 'verify', findings } };
}

/**
 * Between two phases of a remediation: a delay has passed (the job was delayed by it, so nothing
 * to read), or one poll of the wait's read-only steps (the machine tests `until`). The lock stays
 * held: one remediation at a time per target, across all its phases.
 */
export async function waitPhase(
  env: EffectEnv,
  locks: TargetLocks,
  rec: IncidentRecord,
  target: TargetHandle,
  def: RunbookDef,
  ctx: MachineContext,
  remId: string,
  wait: number,
  poll: boolean,
): Promise<EffectOutcome> {
  const step = def.remediations[remId]?.steps[wait];
  if (!step || !isWait(step)) return { failed: { code: 'remediation_unknown', message: `no wait at step ${wait} of ${remId}` } };
  await locks.refresh(target.name, rec.id);
  if (!poll || !step.wait.steps) return { result: { kind: 'wait', findings: {} } };
  const { findings, failures } = await runSteps(env, rec, target, def, ctx, step.wait.steps, { derive: false, timelineKind: 'verification.poll' });
  if (failures === step.wait.steps.length) return { failed: { code: 'wait_unreachable', message: 'every step of the wait failed' } };
  return { result: { kind: 'wait', findings } };
}
