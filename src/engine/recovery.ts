/**
 * Recovery at start: every open incident whose awaited effect has no live job (a process stopped
 * between the snapshot write and the enqueue, or the job was lost) gets it dispatched again — job
 * ids make this idempotent — and the timeline says so. Incidents whose final state was written but
 * whose bookkeeping was not are closed properly.
 */
import type { EffectEnv } from './effects/context.js';
import { entry } from './effects/context.js';
import type { Effect, MachineContext } from './machine/types.js';
import { EFFECT_JOB_OPTS, NOTIFY_JOB_OPTS, effectJobId } from './queue.js';
import type { IncidentRecord } from './store/incidents.js';
import { FINAL_STATES } from './types.js';
import type { EngineDeps } from './engine-deps.js';
import type { Runner } from './runner.js';

/** Snapshots written before the machine kept its pending effect: infer it from the state. */
function legacyPendingEffect(state: IncidentRecord['state'], ctx: MachineContext, approvalTimeoutMs: number): Effect | undefined {
  const cur = ctx.current;
  const base = { seq: ctx.awaiting, remediation: cur?.remediation ?? '', key: cur?.key ?? '' };
  switch (state) {
    case 'diagnosing':
      return { kind: 'diagnose', seq: ctx.awaiting };
    case 'planning':
      return { kind: 'plan', ...base };
    case 'awaiting_approval':
      return { kind: 'request-approval', ...base, timeoutMs: approvalTimeoutMs };
    case 'remediating':
      return { kind: 'act', ...base };
    case 'verifying':
      return { kind: 'verify', ...base, delayMs: 0 };
    default:
      return undefined;
  }
}

/** After a restart: re-dispatch the awaited effect of every open incident (idempotent job ids). */
export async function recover(d: EngineDeps, env: EffectEnv, runner: Runner): Promise<number> {
  let n = 0;
  for (const id of await d.store.openIds()) {
    const rec = await d.store.get(id);
    if (!rec) continue;
    // Let the notifier (Slack) catch up with whatever changed while no process ran.
    if (d.notifier) await d.queue.add('notify', { type: 'notify', incidentId: id }, NOTIFY_JOB_OPTS);
    if (FINAL_STATES.includes(rec.state)) {
      // A process died between the final write and its bookkeeping.
      await d.locks.release(rec.target, id);
      await runner.closed(rec, rec.state, rec.outcome ?? rec.state);
      await d.store.append(id, entry(env, 'note', `recovered at start: the incident was ${rec.state} but a process stopped before its bookkeeping (lock, open index) was done; done now`, { state: rec.state, interrupted: true }));
      continue;
    }
    const ctx = (rec.snapshot as { context: MachineContext }).context;
    const effect = ctx.pendingEffect?.seq === ctx.awaiting ? ctx.pendingEffect : legacyPendingEffect(rec.state, ctx, d.config.engine.approvalTimeoutMs);
    if (!effect) continue;
    const kind = effect.kind;
    const job = await d.queue.getJob(effectJobId(id, effect));
    if (job && !(await job.isCompleted()) && !(await job.isFailed())) continue;
    if (kind === 'request-approval' && job) continue;
    const delay = (effect.kind === 'verify' || effect.kind === 'wait') && effect.delayMs > 0 ? { delay: effect.delayMs } : {};
    await d.queue.add(effect.kind, { type: 'effect', incidentId: id, effect }, { jobId: effectJobId(id, effect, job ? 100 : 0), ...EFFECT_JOB_OPTS, ...delay });
    await d.store.append(id, entry(env, 'note', `recovered at start: the ${effect.kind} step this incident was waiting on had no live job (a process stopped); it was dispatched again`, { effect: effect.kind, seq: effect.seq, interrupted: true }));
    n++;
  }
  return n;
}
