/**
 * The BullMQ worker: takes alert, event and effect jobs off the queue and hands them to the
 * engine. Several workers (processes, hosts) share the queue; per-incident ordering comes from the
 * compare-and-set on the incident's snapshot, not from the queue.
 */
import { UnrecoverableError, Worker } from 'bullmq';
import type { ConnectionOptions, Job } from 'bullmq';
import type { Logger } from 'pino';
import { RunbooksError } from '../errors.js';
import type { Engine } from './engine.js';
import { QUEUE_NAME } from './queue.js';
import type { JobData } from './queue.js';

export interface WorkerHandle {
  worker: Worker<JobData>;
  /**
   * Graceful stop: take no new job, let the jobs in flight finish within `deadlineMs`, then hand
   * back those still running — each goes back to the front of the wait list with its lock
   * released, so another worker takes it at once (the per-command checkpoints of an act make a
   * half-done one resumable) — and resolve with them. Never waits much longer than the deadline.
   */
  close(deadlineMs?: number): Promise<{ handedBack: JobData[] }>;
}

/** Thrown into a job's processing when it is handed back at shutdown (BullMQ no longer owns it here). */
export class HandedBackError extends Error {
  constructor() {
    super('handed back to another worker at shutdown');
    this.name = 'HandedBackError';
  }
}

/** Default `engine.shutdownTimeout`. */
export const DEFAULT_SHUTDOWN_MS = 30_000;

export interface WorkerOptions {
  connection: ConnectionOptions;
  prefix: string;
  concurrency: number;
  log: Logger;
  /** Called with the jobs handed back at shutdown, before `close()` resolves (e.g. to note it on their timelines). */
  onHandBack?: (jobs: JobData[]) => Promise<void>;
}

export function startWorker(engine: Engine, opts: WorkerOptions): WorkerHandle {
  /** Jobs this worker is processing: to hand them back when the shutdown deadline passes. */
  const active = new Map<string, { job: Job<JobData>; token: string | undefined; handBack: (e: Error) => void }>();
  const worker = new Worker<JobData>(
    QUEUE_NAME,
    async (job, token) => {
      const id = job.id ?? '';
      let handBack: (e: Error) => void = () => undefined;
      const handedBack = new Promise<never>((_, reject) => {
        handBack = reject;
      });
      active.set(id, { job, token, handBack });
      try {
        return await Promise.race([handle(job), handedBack]);
      } finally {
        active.delete(id);
      }
    },
    {
      connection: opts.connection,
      prefix: opts.prefix,
      concurrency: opts.concurrency,
      autorun: true,
      // A worker killed mid-job (kill -9, a lost host) holds its job's lock until it expires: keep
      // that short so another worker picks the job up in seconds, not BullMQ's default 30–60 s.
      // The lock is renewed every lockDuration/2 while a job runs, so long steps are not affected.
      lockDuration: 10_000,
      stalledInterval: 5_000,
      maxStalledCount: 5,
    },
  );
  worker.on('error', (e) => opts.log.warn({ err: e.message }, 'worker connection error'));

  async function handle(job: Job<JobData>): Promise<void> {
    const d = job.data;
    try {
      switch (d.type) {
        case 'alert':
          await engine.handleAlert(d.routed);
          return;
        case 'event':
          await engine.handleEvent(d.incidentId, d.event);
          return;
        case 'effect':
          // stalledCounter > 0: a worker took this job before and stopped without finishing it.
          await engine.runEffect(d.incidentId, d.effect, d.attempt ?? 0, job.stalledCounter > 0);
          return;
        case 'notify':
          await engine.notify(d.incidentId);
          return;
        case 'schedule':
          await engine.run(d.runbook, d.target, { dryRun: d.dryRun, by: `schedule:${d.schedule}` });
          return;
      }
    } catch (e) {
      opts.log.error({ job: job.id, type: d.type, err: (e as Error).message }, 'job failed');
      if (e instanceof RunbooksError && !e.retryable) throw new UnrecoverableError(`${e.code}: ${e.message}`);
      throw e;
    }
  }

  const sleep = (ms: number): Promise<'timeout'> => new Promise((r) => setTimeout(() => r('timeout'), ms).unref());
  return {
    worker,
    async close(deadlineMs = DEFAULT_SHUTDOWN_MS) {
      // BullMQ's close() stops fetching at once and waits for the jobs in flight, without a deadline.
      const closing = worker.close().then(
        () => 'closed' as const,
        () => 'closed' as const,
      );
      if (active.size > 0) opts.log.info({ jobs: [...active.keys()], deadlineMs }, 'stopping: waiting for the jobs in flight');
      if ((await Promise.race([closing, sleep(deadlineMs)])) === 'closed') return { handedBack: [] };
      const handedBack: JobData[] = [];
      for (const [id, a] of [...active]) {
        try {
          // Lock released, back to the wait list: another worker takes it now, not after the lock expires.
          if (a.token !== undefined) await a.job.moveToWait(a.token);
          handedBack.push(a.job.data);
        } catch (e) {
          // The lock was lost already: the stalled-job check returns it to the queue.
          opts.log.warn({ job: id, err: (e as Error).message }, 'could not hand a job back; it returns after its lock expires');
        }
        // BullMQ stops waiting for it; what it was doing is abandoned with this process.
        a.handBack(new HandedBackError());
      }
      opts.log.warn({ jobs: handedBack.map((d) => describeJob(d)), deadlineMs }, 'shutdown deadline passed: jobs in flight handed back to other workers');
      if (handedBack.length > 0 && opts.onHandBack) await opts.onHandBack(handedBack).catch((e: unknown) => opts.log.warn({ err: (e as Error).message }, 'could not record the hand-back'));
      await Promise.race([closing, sleep(5000)]);
      return { handedBack };
    },
  };
}

/** `effect act inc-…` — what a job was doing, for logs. */
export function describeJob(d: JobData): string {
  switch (d.type) {
    case 'effect':
      return `${d.effect.kind} of ${d.incidentId}`;
    case 'event':
      return `${d.event.type} for ${d.incidentId}`;
    case 'alert':
      return `alert ${d.routed.alert.labels['alertname'] ?? ''}`;
    case 'notify':
      return `notify ${d.incidentId}`;
    case 'schedule':
      return `schedule ${d.schedule}`;
  }
}
