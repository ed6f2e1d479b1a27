/**
 * The engine's BullMQ queue: job names, payloads, and job ids. Job ids are deterministic so a
 * re-dispatch (after a crash, or a duplicate webhook) never creates a second job.
 */
import { Queue } from 'bullmq';
import type { ConnectionOptions, JobsOptions } from 'bullmq';
import type { Effect, MachineEvent } from './machine/types.js';
import type { RoutedAlert } from './types.js';

export const QUEUE_NAME = 'runbooks';

export type JobData =
  | { type: 'alert'; routed: RoutedAlert; receivedAt: number }
  | { type: 'event'; incidentId: string; event: MachineEvent }
  | { type: 'effect'; incidentId: string; effect: Effect; attempt?: number }
  | { type: 'notify'; incidentId: string }
  | { type: 'schedule'; schedule: string; runbook: string; target: string; dryRun: boolean };

/** BullMQ job ids may not contain ':' nor be integers. */
export function safeId(s: string): string {
  return s.replace(/[:\s]/g, '_');
}

export function alertJobId(r: { alert: Pick<RoutedAlert['alert'], 'fingerprint' | 'startsAt' | 'status'> }): string {
  return safeId(`a-${r.alert.fingerprint}-${r.alert.startsAt}-${r.alert.status}`);
}

export function effectJobId(incidentId: string, e: Effect, attempt = 0): string {
  return safeId(`${incidentId}-e${e.seq}-${e.kind}${attempt > 0 ? `-w${attempt}` : ''}`);
}

/**
 * Effect and timer jobs hold nothing once done (the incident record is the state; a redelivered
 * or stale one is ignored by the sequence check), so they are removed on completion.
 */
export const EFFECT_JOB_OPTS: JobsOptions = { removeOnComplete: true };

/** Alert jobs are kept an hour: their deterministic id is a second guard against redelivery. */
export const ALERT_JOB_OPTS: JobsOptions = { removeOnComplete: { age: 3600, count: 20_000 } };

/** Notification jobs retry for a long time (Slack down for an hour must still catch up). */
export const NOTIFY_JOB_OPTS: JobsOptions = {
  attempts: 25,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: true,
  removeOnFail: { age: 7 * 24 * 3600 },
};

export const DEFAULT_JOB_OPTS: JobsOptions = {
  removeOnComplete: { age: 24 * 3600, count: 50_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
  attempts: 5,
  backoff: { type: 'exponential', delay: 500 },
};

export function createQueue(connection: ConnectionOptions, prefix: string): Queue<JobData> {
  return new Queue<JobData>(QUEUE_NAME, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTS });
}
