/**
 * Wiring of the hygiene checks for the composition root: load the files of every runbook
 * directory, resolve them against the configured targets and runbooks (refusing to start on any
 * error), and build the service, its queue, its schedulers and its worker.
 */
import type { ConnectionOptions, Queue } from 'bullmq';
import type { Logger } from 'pino';
import { RunbookError } from '../../errors.js';
import { validateCheckParams } from './checks.js';
import { assignments, loadHygieneDirs } from './schema.js';
import type { HygieneAssignment } from './schema.js';
import { createHygieneQueue, startHygieneWorker, syncHygieneSchedulers } from './scheduler.js';
import type { HygieneJobData, HygieneWorkerHandle } from './scheduler.js';
import { HygieneService } from './service.js';
import type { HygieneServiceDeps } from './service.js';

export { HygieneService } from './service.js';
export type { HygieneReader, HygieneReport, HygieneFinding } from './types.js';
export { renderHygieneMarkdown } from './digest.js';

/** Fleet-wide cap on hygiene jobs running at once (BullMQ global concurrency, kept in the store). */
export const DEFAULT_MAX_CONCURRENT = 2;

/** Load and resolve the hygiene checks of `dirs`; throws RunbookError naming file, line and path. */
export function loadHygiene(dirs: readonly string[], targets: ReadonlyMap<string, { role: 'cache' | 'store' }>, runbooks: readonly string[]): HygieneAssignment[] {
  const { checks, errors } = loadHygieneDirs(dirs, validateCheckParams);
  const r = assignments(checks, targets, { runbooks });
  const all = [...errors, ...r.errors];
  if (all.length > 0) throw new RunbookError(`invalid hygiene checks:\n${all.join('\n')}`);
  return r.assignments;
}

export interface HygieneRuntime {
  service: HygieneService;
  queue: Queue<HygieneJobData>;
  worker?: HygieneWorkerHandle;
  schedulers?: string[];
  close(): Promise<void>;
}

export async function startHygiene(
  deps: Omit<HygieneServiceDeps, 'log'> & { log: Logger },
  opts: { queueConnection: ConnectionOptions; workerConnection?: ConnectionOptions; prefix: string; schedules: boolean; maxConcurrent?: number },
): Promise<HygieneRuntime> {
  const service = new HygieneService(deps);
  const queue = createHygieneQueue(opts.queueConnection, opts.prefix);
  queue.on('error', (e) => deps.log.warn({ err: e.message }, 'hygiene queue error'));
  let schedulers: string[] | undefined;
  if (opts.schedules) {
    schedulers = await syncHygieneSchedulers(queue, deps.assignments, { maxConcurrent: opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT });
    deps.log.info({ schedulers: schedulers.length }, 'hygiene schedulers synced');
  }
  const worker = opts.workerConnection ? startHygieneWorker(service, queue, { connection: opts.workerConnection, prefix: opts.prefix, log: deps.log }) : undefined;
  return {
    service,
    queue,
    ...(worker ? { worker } : {}),
    ...(schedulers ? { schedulers } : {}),
    async close() {
      if (worker) await worker.close(5000);
      await queue.close();
    },
  };
}
