/**
 * Scheduled hygiene runs as BullMQ job schedulers (BullMQ 6 has no `repeat`): upserted at every
 * start (idempotent), and schedulers of ours that are no longer configured are removed.
 */
import type { Queue } from 'bullmq';
import type { ScheduleConfig } from '../config-types.js';
import type { JobData } from './queue.js';

const PREFIX = 'sched-';

export async function syncSchedules(queue: Queue<JobData>, schedules: ScheduleConfig[], known: { runbooks: string[]; targets: string[] }): Promise<string[]> {
  for (const s of schedules) {
    if (!known.runbooks.includes(s.runbook)) throw new Error(`schedules.${s.name}: unknown runbook '${s.runbook}' (known: ${known.runbooks.join(', ')})`);
    if (!known.targets.includes(s.target)) throw new Error(`schedules.${s.name}: unknown target '${s.target}' (known: ${known.targets.join(', ')})`);
  }
  const wanted = new Set(schedules.map((s) => `${PREFIX}${s.name}`));
  for (const existing of await queue.getJobSchedulers()) {
    const id = existing.key ?? existing.id;
    if (typeof id === 'string' && id.startsWith(PREFIX) && !wanted.has(id)) await queue.removeJobScheduler(id);
  }
  for (const s of schedules) {
    await queue.upsertJobScheduler(
      `${PREFIX}${s.name}`,
      { pattern: s.cron, ...(s.tz !== undefined ? { tz: s.tz } : {}) },
      { name: 'schedule', data: { type: 'schedule', schedule: s.name, runbook: s.runbook, target: s.target, dryRun: s.dryRun } },
    );
  }
  return [...wanted];
}
