/** What the engine is built from (wired by the composition root, `src/app.ts`). */
import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { AppConfig } from '../config-types.js';
import type { RunbookCatalog } from './catalog.js';
import type { EffectEnv } from './effects/context.js';
import type { Keys } from './keys.js';
import type { TargetLocks } from './locks.js';
import type { Metrics } from './metrics.js';
import type { JobData } from './queue.js';
import type { IncidentStore, StoreClient } from './store/incidents.js';
import type { TargetRegistry } from './targets.js';
import type { IncidentNotifier } from './types.js';

export interface EngineDeps {
  /** The action registry (injected: effects never look actions up globally). */
  actions: EffectEnv['actions'];
  redis: StoreClient;
  queue: Queue<JobData>;
  keys: Keys;
  store: IncidentStore;
  catalog: RunbookCatalog;
  targets: TargetRegistry;
  locks: TargetLocks;
  config: AppConfig;
  metrics: Metrics;
  log: Logger;
  now: () => number;
  /** Told (through a durable `notify` job) whenever an incident changed: e.g. the Slack thread. */
  notifier?: IncidentNotifier;
  /** Recorded findings and plans instead of the live target's (the crash matrix; see `EffectEnv.replay`). */
  replay?: EffectEnv['replay'];
}
