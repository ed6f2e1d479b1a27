/**
 * What the Slack door keeps in the store, per incident: where its root message is (or that a post
 * was claimed), a hash of what the root message shows, the thread cursor, and a short sync lock.
 * Plus one global "Slack asked us to back off" marker. Key names come from engine/keys.ts.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Keys } from '../../engine/keys.js';
import type { StoreClient } from '../../engine/store/incidents.js';

/** The root message of an incident as stored. `claimedAt` without `ts`: a post may have happened. */
export interface RootRef {
  channel?: string;
  ts?: string;
  /** ms since epoch when a process claimed the right to post the root message. */
  claimedAt?: number;
  /** Hash of the last content sent with postMessage / chat.update. */
  rendered?: string;
}

/** A held sync lock. */
export interface SyncLock {
  /** Extend the lock; throws if it was lost (expired and taken): the caller must stop. */
  guard(): Promise<void>;
  release(): Promise<void>;
}

const EXTEND = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export class LockLostError extends Error {}

export class SlackState {
  constructor(
    private readonly redis: StoreClient,
    private readonly keys: Keys,
  ) {}

  async root(id: string): Promise<RootRef> {
    const h = await this.redis.hgetall(this.keys.slackMessage(id));
    return {
      ...(h['channel'] ? { channel: h['channel'] } : {}),
      ...(h['ts'] ? { ts: h['ts'] } : {}),
      ...(h['claimedAt'] ? { claimedAt: Number(h['claimedAt']) } : {}),
      ...(h['rendered'] ? { rendered: h['rendered'] } : {}),
    };
  }

  /** Root messages of several incidents (for links); one call per incident (keys live in different slots). */
  async roots(ids: string[]): Promise<Map<string, { channel: string; ts: string }>> {
    const out = new Map<string, { channel: string; ts: string }>();
    await Promise.all(
      ids.map(async (id) => {
        const r = await this.root(id);
        if (r.channel && r.ts) out.set(id, { channel: r.channel, ts: r.ts });
      }),
    );
    return out;
  }

  /** Record, before posting, that a root message is about to be posted to `channel`. */
  async claim(id: string, channel: string, atMs: number): Promise<void> {
    await this.redis.hset(this.keys.slackMessage(id), 'channel', channel, 'claimedAt', String(atMs));
  }

  /** Slack refused the post (ok:false): nothing was posted, the claim can go. */
  async unclaim(id: string): Promise<void> {
    await this.redis.hdel(this.keys.slackMessage(id), 'claimedAt');
  }

  async posted(id: string, channel: string, ts: string, rendered: string): Promise<void> {
    await this.redis.hset(this.keys.slackMessage(id), 'channel', channel, 'ts', ts, 'rendered', rendered);
  }

  async setRendered(id: string, rendered: string): Promise<void> {
    await this.redis.hset(this.keys.slackMessage(id), 'rendered', rendered);
  }

  /** Stream id of the last timeline entry posted to the thread ('' when none). */
  async cursor(id: string): Promise<string> {
    return (await this.redis.get(this.keys.slackCursor(id))) ?? '';
  }

  async setCursor(id: string, streamId: string): Promise<void> {
    await this.redis.set(this.keys.slackCursor(id), streamId);
  }

  /** Try to take the incident's sync lock, polling for up to `waitMs`. */
  async lock(id: string, ttlMs: number, waitMs: number): Promise<SyncLock | undefined> {
    const key = this.keys.slackLock(id);
    const token = randomBytes(8).toString('hex');
    const deadline = Date.now() + waitMs;
    for (;;) {
      if ((await this.redis.set(key, token, 'PX', ttlMs, 'NX')) === 'OK') break;
      if (Date.now() >= deadline) return undefined;
      await sleep(50);
    }
    return {
      guard: async () => {
        if ((await this.redis.eval(EXTEND, 1, key, token, String(ttlMs))) !== 1) throw new LockLostError(`slack sync lock of ${id} was lost`);
      },
      release: async () => {
        await this.redis.eval(RELEASE, 1, key, token);
      },
    };
  }

  /** Remaining back-off in ms (0: none). */
  async pausedFor(): Promise<number> {
    return Math.max(0, await this.redis.pttl(this.keys.slackPause));
  }

  /** Back off all syncs for `ms` (never shortens a longer pause already set). */
  async pause(ms: number): Promise<void> {
    const left = await this.pausedFor();
    if (left < ms) await this.redis.set(this.keys.slackPause, '1', 'PX', Math.ceil(ms));
  }
}
