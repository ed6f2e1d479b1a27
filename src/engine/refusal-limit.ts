/**
 * Issue 12 #5: refused approval attempts are bounded per incident, so a caller without the role
 * cannot fill a `noeviction` store with `approval.refused` timeline entries. The count lives in
 * the store (one counter per incident, expiring with its window), so every process shares it.
 */
import type { Keys } from './keys.js';
import type { StoreClient } from './store/incidents.js';

/** Most refused attempts recorded per incident and window. */
export const MAX_REFUSALS = 10;
/** The window of {@link MAX_REFUSALS}. */
export const REFUSAL_WINDOW_MS = 10 * 60_000;

const INCR_WITH_TTL = `local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n`;

export class RefusalLimiter {
  constructor(
    private readonly redis: StoreClient,
    private readonly keys: Keys,
    readonly max = MAX_REFUSALS,
    readonly windowMs = REFUSAL_WINDOW_MS,
  ) {}

  /** Count one refused attempt on `incidentId`; false when the window's budget is spent (do not record it). */
  async admit(incidentId: string): Promise<boolean> {
    const n = Number(await this.redis.eval(INCR_WITH_TTL, 1, this.keys.refusals(incidentId), String(this.windowMs)));
    return n <= this.max;
  }
}
