/**
 * The request-approval effect: write the proposal and who may approve it to the timeline (once,
 * even if the job runs again), and schedule its expiry as a BullMQ delayed job — never an
 * in-process timer, so it survives restarts.
 */
import type { Queue } from 'bullmq';
import type { Approver } from '../../config-types.js';
import type { Effect } from '../machine/types.js';
import { EFFECT_JOB_OPTS, safeId } from '../queue.js';
import type { JobData } from '../queue.js';
import { approversFor } from '../roles.js';
import type { IncidentRecord } from '../store/incidents.js';
import type { IncidentSummary } from '../types.js';
import type { EffectEnv } from './context.js';
import { entry } from './context.js';

export async function requestApproval(
  env: EffectEnv,
  queue: Queue<JobData>,
  rec: IncidentRecord,
  e: Extract<Effect, { kind: 'request-approval' }>,
  pending: IncidentSummary['pendingApproval'],
  approvers: readonly Approver[],
): Promise<void> {
  const marker = env.keys.intent(rec.id, `${e.key}-requested`);
  if ((await env.redis.set(marker, '1', 'PX', 30 * 24 * 3600_000, 'NX')) !== 'OK') return;
  const role = pending?.role ?? 'redis.dba-operator';
  const required = pending?.approversRequired ?? 1;
  const commands = (pending?.commands ?? []).map((c) => `${c.node}: ${c.argv.join(' ')}`).join('; ');
  await env.store.append(
    rec.id,
    entry(env, 'approval.requested', `approval needed (${role}${required > 1 ? `, ${required} distinct approvers` : ''}) for ${pending?.title ?? e.remediation}: ${commands}; expires in ${Math.round(e.timeoutMs / 60000)} min`, {
      proposal: e.key,
      role,
      approversRequired: required,
      approvers: approversFor(approvers, role),
      risk: pending?.risk,
      timeoutMs: e.timeoutMs,
    }),
  );
  await queue.add('approval.expired', { type: 'event', incidentId: rec.id, event: { type: 'approval.expired', at: 0, key: e.key } }, { jobId: safeId(`${rec.id}-exp-${e.key}`), ...EFFECT_JOB_OPTS, delay: e.timeoutMs });
}
