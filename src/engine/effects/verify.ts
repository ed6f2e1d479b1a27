/**
 * The verify effect: one poll of a remediation's verification steps (read-only). The machine
 * decides from the findings (the remediation's `verify.until` and the runbook's `symptom.cleared`) whether the condition holds, has held long enough, or timed out; the
 * next poll is a delayed job, so a restart loses nothing.
 */
import type { TargetHandle } from '../../actions/types.js';
import type { TargetLocks } from '../locks.js';
import type { MachineContext } from '../machine/types.js';
import type { RunbookDef } from '../runbook/schema.js';
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
