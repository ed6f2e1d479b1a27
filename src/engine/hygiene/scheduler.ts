/**
 * Hygiene schedules: one BullMQ job scheduler per (check, target) on the `hygiene` queue, upserted
 * at start (idempotent: restarts and several processes never duplicate them) and removed when the
 * check is gone from the files (only ids with our prefix). A scheduler's tick adds one `run` job
 * delayed by a deterministic per-(check, target) jitter, so a fleet is not scanned at once; the
 * queue's global concurrency (kept in the store, shared by every process) caps how many checks run
 * at the same time.
 */
import { createHash } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import type { ConnectionOptions, Job } from 'bullmq';
import type { Logger } from 'pino';
import { safeId } from '../queue.js';
import type { HygieneAssignment } from './schema.js';
import type { HygieneService } from './service.js';

export const HYGIENE_QUEUE = 'hygiene';
/** Prefix of our scheduler ids: schedulers without it are never touched. */
export const SCHEDULER_PREFIX = 'hyg-';

export type HygieneJobData = { type: 'tick' | 'run'; check: string; target: string };

export function schedulerId(check: string, target: string): string {
  return safeId(`${SCHEDULER_PREFIX}${check}--${target}`);
}

/** Deterministic jitter in [0, maxMs): the same (check, target) always waits the same. */
export function jitterMs(check: string, target: string, maxMs: number): number {
  if (maxMs <= 0) return 0;
  const h = createHash('sha256').update(`${check}\0${target}`).digest();
  return h.readUInt32BE(0) % Math.floor(maxMs);
}

export function createHygieneQueue(connection: ConnectionOptions, prefix: string): Queue<HygieneJobData> {
  return new Queue<HygieneJobData>(HYGIENE_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: { removeOnComplete: { age: 24 * 3600, count: 1000 }, removeOnFail: { age: 7 * 24 * 3600, count: 1000 }, attempts: 2, backoff: { type: 'exponential', delay: 5000 } },
  });
}

/** Make the queue's schedulers match `wanted`; returns the ids kept. `maxConcurrent` is the fleet-wide cap. */
export async function syncHygieneSchedulers(queue: Queue<HygieneJobData>, wanted: readonly HygieneAssignment[], opts: { maxConcurrent: number }): Promise<string[]> {
  const ids = new Map(wanted.map((a) => [schedulerId(a.check.name, a.target), a]));
  for (const s of await queue.getJobSchedulers(0, -1)) {
    const id = s.key ?? s.id;
    if (typeof id === 'string' && id.startsWith(SCHEDULER_PREFIX) && !ids.has(id)) await queue.removeJobScheduler(id);
  }
  for (const [id, a] of ids) {
    await queue.upsertJobScheduler(id, { pattern: a.schedule, ...(a.check.tz !== undefined ? { tz: a.check.tz } : {}) }, { name: 'tick', data: { type: 'tick', check: a.check.name, target: a.target } });
  }
  await queue.setGlobalConcurrency(opts.maxConcurrent);
  return [...ids.keys()];
}

export interface HygieneWorkerHandle {
  worker: Worker<HygieneJobData>;
  close(timeoutMs?: number): Promise<void>;
}

/** The worker of the hygiene queue: a tick adds its (jittered) run; a run runs the check. */
export function startHygieneWorker(service: HygieneService, queue: Queue<HygieneJobData>, opts: { connection: ConnectionOptions; prefix: string; log: Logger }): HygieneWorkerHandle {
  const worker = new Worker<HygieneJobData>(
    HYGIENE_QUEUE,
    async (job: Job<HygieneJobData>) => {
      const { check, target } = job.data;
      const a = service.assignment(check, target);
      if (!a) {
        opts.log.info({ check, target }, 'hygiene job for a check no longer configured: skipped');
        return;
      }
      if (job.data.type === 'tick') {
        const delay = jitterMs(check, target, a.check.jitterSeconds * 1000);
        await queue.add('run', { type: 'run', check, target }, { jobId: safeId(`hyg-run-${check}--${target}-${job.timestamp}`), delay });
        return;
      }
      await service.runCheck(check, target);
    },
    { connection: opts.connection, prefix: opts.prefix, concurrency: 4, lockDuration: 60_000 },
  );
  worker.on('error', (e) => opts.log.warn({ err: e.message }, 'hygiene worker connection error'));
  return {
    worker,
    async close(timeoutMs = 10_000) {
      await Promise.race([worker.close(), new Promise<void>((r) => setTimeout(r, timeoutMs).unref())]);
      if (worker.isRunning()) await worker.close(true);
    },
  };
}
