/**
 * One remediation at a time per target: a lock in the store (SET NX PX), owned by an incident,
 * re-entrant for its owner, refreshed while it verifies, released by compare-and-delete.
 */
import type { StoreClient } from './store/incidents.js';

export class TargetLocks {
  constructor(
    private readonly redis: StoreClient,
    private readonly keyOf: (target: string) => string,
    private readonly ttlMs: number,
  ) {}

  /** Returns the owner after the attempt: the caller holds the lock iff it equals `owner`. */
  async acquire(target: string, owner: string): Promise<string> {
    const r = await this.redis.eval(
      `local cur = redis.call('GET', KEYS[1])
       if cur == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return ARGV[1] end
       if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
       return cur`,
      1,
      this.keyOf(target),
      owner,
      String(this.ttlMs),
    );
    return String(r);
  }

  async refresh(target: string, owner: string): Promise<void> {
    await this.redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`, 1, this.keyOf(target), owner, String(this.ttlMs));
  }

  /** Release only if `owner` holds it. Returns whether it did. */
  async release(target: string, owner: string): Promise<boolean> {
    const r = await this.redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1, this.keyOf(target), owner);
    return r === 1;
  }

  async holder(target: string): Promise<string | undefined> {
    return (await this.redis.get(this.keyOf(target))) ?? undefined;
  }
}
