/**
 * The store-backed {@link MetricsSource}: what `/metrics` reads at scrape time (BullMQ job counts,
 * the open incidents' runbook and state). Read-only; one ZRANGE plus one HMGET per open incident.
 */
import type { Queue } from 'bullmq';
import type { Keys } from './keys.js';
import type { MetricsSource } from './metrics.js';
import type { StoreClient } from './store/incidents.js';
import { FINAL_STATES } from './types.js';

/** BullMQ states reported by `queue_jobs` (each always present, 0 included). */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed', 'completed'] as const;

export interface StoreMetricsDeps {
  queue: Pick<Queue, 'getJobCounts'>;
  redis: StoreClient;
  keys: Pick<Keys, 'open' | 'incident'>;
  now: () => number;
}

export function storeMetricsSource(d: StoreMetricsDeps): MetricsSource {
  return {
    now: d.now,
    async queueJobs() {
      const counts = await d.queue.getJobCounts(...QUEUE_STATES);
      const out: Record<string, number> = {};
      for (const s of QUEUE_STATES) out[s] = counts[s] ?? 0;
      return out;
    },
    async openIncidents() {
      const ids = await d.redis.zrange(d.keys.open, '0', '-1');
      // One command per incident (their keys hash to different slots on a Cluster store).
      const rows = await Promise.all(ids.map((id) => d.redis.hmget(d.keys.incident(id), 'runbook', 'state', 'updatedAt')));
      const out: { runbook: string; state: string; updatedAtMs: number }[] = [];
      for (const [runbook, state, updatedAt] of rows) {
        // closed between the two reads (final state written, not yet out of the open index)
        if (!runbook || !state || (FINAL_STATES as readonly string[]).includes(state)) continue;
        out.push({ runbook, state, updatedAtMs: updatedAt ? Date.parse(updatedAt) : Number.NaN });
      }
      return out;
    },
  };
}
