/**
 * The BullMQ worker: takes alert, event and effect jobs off the queue and hands them to the
 * engine. Several workers (processes, hosts) share the queue; per-incident ordering comes from the
 * compare-and-set on the incident's snapshot, not from the queue.
 */
import { UnrecoverableError, Worker } from 'bullmq';
import type { ConnectionOptions } from 'bullmq';
import type { Logger } from 'pino';
import { RunbooksError } from '../errors.js';
import type { Engine } from './engine.js';
import { QUEUE_NAME } from './queue.js';
import type { JobData } from './queue.js';

export interface WorkerHandle {
  worker: Worker<JobData>;
  close(timeoutMs?: number): Promise<void>;
}

export function startWorker(engine: Engine, opts: { connection: ConnectionOptions; prefix: string; concurrency: number; log: Logger }): WorkerHandle {
  const worker = new Worker<JobData>(
    QUEUE_NAME,
    async (job) => {
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
            await engine.runEffect(d.incidentId, d.effect, d.attempt ?? 0);
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
  return {
    worker,
    async close(timeoutMs = 10_000) {
      await Promise.race([worker.close(), new Promise<void>((r) => setTimeout(r, timeoutMs).unref())]);
      if (worker.isRunning()) await worker.close(true);
    },
  };
}
