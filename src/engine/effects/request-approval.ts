/**
 * The approval gate's I/O: the `approval.requested` timeline entry (the proposal and who may
 * approve it; written by the engine atomically with the state change), and the request's expiry as
 * a BullMQ delayed job — never an in-process timer, so it survives restarts. The job id makes
 * scheduling idempotent.
 */
import type { Queue } from 'bullmq';
import { formatPlanned } from '../../actions/command-format.js';
import type { Approver } from '../../config-types.js';
import type { Effect } from '../machine/types.js';
import { EFFECT_JOB_OPTS, safeId } from '../queue.js';
import type { JobData } from '../queue.js';
import { approversFor } from '../roles.js';
import type { IncidentRecord } from '../store/incidents.js';
import type { IncidentSummary, TimelineEntry } from '../types.js';
import type { EffectEnv } from './context.js';
import { entry } from './context.js';

type RequestEffect = Extract<Effect, { kind: 'request-approval' }>;

export function approvalRequestedEntry(env: Pick<EffectEnv, 'now'>, e: RequestEffect, pending: IncidentSummary['pendingApproval'], approvers: readonly Approver[]): TimelineEntry {
  const role = pending?.role ?? 'redis.dba-operator';
  const required = pending?.approversRequired ?? 1;
  const commands = (pending?.commands ?? []).map((c) => formatPlanned(c)).join('; ');
  return entry(env, 'approval.requested', `approval needed (${role}${required > 1 ? `, ${required} distinct approvers` : ''}) for ${pending?.title ?? e.remediation}: ${commands}; expires in ${Math.round(e.timeoutMs / 60000)} min`, {
    proposal: e.key,
    role,
    approversRequired: required,
    approvers: approversFor(approvers, role),
    risk: pending?.risk,
    timeoutMs: e.timeoutMs,
  });
}

export async function scheduleApprovalExpiry(queue: Queue<JobData>, rec: IncidentRecord, e: RequestEffect): Promise<void> {
  await queue.add('approval.expired', { type: 'event', incidentId: rec.id, event: { type: 'approval.expired', at: 0, key: e.key } }, { jobId: safeId(`${rec.id}-exp-${e.key}`), ...EFFECT_JOB_OPTS, delay: e.timeoutMs });
}
