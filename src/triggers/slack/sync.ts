/**
 * The Slack notifier: brings an incident's Slack presence up to date. Called from a durable
 * BullMQ `notify` job after every change; throwing makes BullMQ retry it with backoff, so a slow
 * or absent Slack never blocks the incident, and the thread catches up when Slack is back.
 *
 * One sync, under a short per-incident lock:
 *  1. root message: posted exactly once (see {@link SlackNotifier.ensureRoot});
 *  2. root message updated (chat.update) when what it shows changed;
 *  3. timeline entries after the stored cursor posted into the thread, the cursor advanced after
 *     each successful post (a crash between post and cursor can repeat one thread reply, never
 *     the root message).
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Approver, SlackConfig } from '../../config-types.js';
import type { EnginePort, IncidentDetail, IncidentNotifier, TimelineEntry } from '../../engine/types.js';
import { classify } from './client.js';
import type { WebClient } from './client.js';
import { SlackSyncError } from './errors.js';
import { renderRoot } from './root-message.js';
import type { SlackMessage } from './root-message.js';
import type { RootRef, SlackState, SyncLock } from './state.js';
import { LockLostError } from './state.js';
import { compareStreamIds, threadBatches } from './thread.js';

/** `metadata.event_type` of our root messages: how a lost post is found again. */
export const ROOT_EVENT_TYPE = 'redis_runbooks_incident';
/** The sync lock lives this long without being extended (each Slack call is far shorter). */
const LOCK_TTL_MS = 60_000;
/** How long a sync waits for another one on the same incident before throwing (BullMQ retries). */
const LOCK_WAIT_MS = 500;
/** After a 5xx / network failure, all syncs back off this long (a 429 uses its Retry-After). */
const UNAVAILABLE_PAUSE_MS = 1000;
/** conversations.history pages read when looking for a root message whose post went unanswered. */
const RECOVERY_PAGES = 20;
/** Look this far before the claim time (clock skew between us and Slack). */
const RECOVERY_MARGIN_S = 600;

export interface SlackNotifierDeps {
  engine: Pick<EnginePort, 'getIncident' | 'getTimeline'>;
  /** A client that never retries by itself. */
  client: WebClient;
  state: SlackState;
  config: SlackConfig;
  /** Config `approvers`: shown on a proposal as who may approve it. */
  approvers: readonly Approver[];
  log: Logger;
  now: () => number;
}

function digest(m: SlackMessage): string {
  return createHash('sha1').update(JSON.stringify(m)).digest('base64url');
}

export class SlackNotifier implements IncidentNotifier {
  constructor(private readonly d: SlackNotifierDeps) {}

  /** The channel of a target's incidents. */
  channelFor(target: string): string {
    return this.d.config.channels[target] ?? this.d.config.defaultChannel;
  }

  async sync(id: string): Promise<void> {
    const paused = await this.d.state.pausedFor();
    if (paused > 0) throw new SlackSyncError('slack_backoff', `Slack asked us to wait; retrying in about ${Math.ceil(paused / 1000)} s`);
    const lock = await this.d.state.lock(id, LOCK_TTL_MS, LOCK_WAIT_MS);
    if (!lock) throw new SlackSyncError('slack_sync_busy', `another process is syncing ${id} to Slack`);
    try {
      const inc = await this.d.engine.getIncident(id);
      if (!inc) return;
      const tl = (await this.d.engine.getTimeline(id)) ?? [];
      const root = await this.ensureRoot(inc, tl, lock);
      await this.updateRoot(inc, tl, root, lock);
      await this.postThread(id, tl, root, lock);
    } catch (e) {
      throw await this.failure(id, e);
    } finally {
      await lock.release().catch(() => undefined);
    }
  }

  /**
   * The root message, posted exactly once. Before posting we record a claim (channel + time); the
   * post carries `metadata { event_type: redis_runbooks_incident, event_payload: { incident_id } }`.
   * A later sync that finds a claim but no `ts` (the process died, or the answer was lost, between
   * the post and storing its ts) first looks for that message with conversations.history since
   * the claim, and adopts it; only when it is certainly absent does it post. A definite refusal
   * (ok:false) drops the claim. Together with the lock this never yields a second root message.
   */
  private async ensureRoot(inc: IncidentDetail, tl: TimelineEntry[], lock: SyncLock): Promise<Required<Pick<RootRef, 'channel' | 'ts'>> & RootRef> {
    const cur = await this.d.state.root(inc.id);
    if (cur.channel && cur.ts) return { ...cur, channel: cur.channel, ts: cur.ts };
    const channel = cur.channel ?? this.channelFor(inc.target);
    if (cur.claimedAt !== undefined) {
      await lock.guard();
      const found = await this.findPosted(channel, inc.id, cur.claimedAt);
      if (found) {
        this.d.log.info({ incident: inc.id, channel, ts: found }, 'slack root message recovered from channel history');
        await this.d.state.posted(inc.id, channel, found, '');
        return { channel, ts: found, rendered: '' };
      }
    }
    const msg = renderRoot(inc, tl, this.d.approvers);
    await lock.guard();
    await this.d.state.claim(inc.id, channel, this.d.now());
    let ts: string | undefined;
    try {
      const res = await this.d.client.chat.postMessage({
        channel,
        text: msg.text,
        blocks: msg.blocks,
        attachments: msg.attachments,
        metadata: { event_type: ROOT_EVENT_TYPE, event_payload: { incident_id: inc.id } },
        unfurl_links: false,
        unfurl_media: false,
      });
      ts = res.ts;
    } catch (e) {
      if (classify(e).kind === 'refused') await this.d.state.unclaim(inc.id);
      throw e;
    }
    if (!ts) throw new SlackSyncError('slack_bad_answer', 'chat.postMessage answered without a ts');
    const rendered = digest(msg);
    await this.d.state.posted(inc.id, channel, ts, rendered);
    this.d.log.info({ incident: inc.id, channel, ts }, 'slack root message posted');
    return { channel, ts, rendered };
  }

  private async findPosted(channel: string, id: string, claimedAtMs: number): Promise<string | undefined> {
    let cursor: string | undefined;
    for (let page = 0; page < RECOVERY_PAGES; page++) {
      const res = await this.d.client.conversations.history({
        channel,
        oldest: String(Math.floor(claimedAtMs / 1000) - RECOVERY_MARGIN_S),
        limit: 200,
        include_all_metadata: true,
        ...(cursor ? { cursor } : {}),
      });
      for (const m of res.messages ?? []) {
        const meta = m.metadata as { event_type?: string; event_payload?: Record<string, unknown> } | undefined;
        if (meta?.event_type === ROOT_EVENT_TYPE && meta.event_payload?.['incident_id'] === id && m.ts) return m.ts;
      }
      cursor = res.response_metadata?.next_cursor || undefined;
      if (!cursor) return undefined;
    }
    // Not all of the channel since the claim was read: posting now could duplicate. Try later.
    throw new SlackSyncError('slack_recovery_incomplete', `could not read all of ${channel} since the claim of ${id}`);
  }

  private async updateRoot(inc: IncidentDetail, tl: TimelineEntry[], root: RootRef & { channel: string; ts: string }, lock: SyncLock): Promise<void> {
    const msg = renderRoot(inc, tl, this.d.approvers);
    const rendered = digest(msg);
    if (rendered === root.rendered) return;
    await lock.guard();
    await this.d.client.chat.update({
      channel: root.channel,
      ts: root.ts,
      text: msg.text,
      blocks: msg.blocks,
      attachments: msg.attachments,
      metadata: { event_type: ROOT_EVENT_TYPE, event_payload: { incident_id: inc.id } },
    });
    await this.d.state.setRendered(inc.id, rendered);
  }

  private async postThread(id: string, tl: TimelineEntry[], root: { channel: string; ts: string }, lock: SyncLock): Promise<void> {
    const cursor = await this.d.state.cursor(id);
    const fresh = tl.filter((e) => e.id !== undefined && compareStreamIds(e.id, cursor) > 0);
    for (const b of threadBatches(fresh)) {
      await lock.guard();
      await this.d.client.chat.postMessage({ channel: root.channel, thread_ts: root.ts, text: b.text, mrkdwn: true, unfurl_links: false, unfurl_media: false });
      await this.d.state.setCursor(id, b.lastId);
    }
  }

  /** Map a failure to a retryable error; back off every sync when Slack is rate limiting or down. */
  private async failure(id: string, e: unknown): Promise<Error> {
    if (e instanceof SlackSyncError) return e;
    if (e instanceof LockLostError) return new SlackSyncError('slack_sync_lock_lost', e.message, e);
    const f = classify(e);
    switch (f.kind) {
      case 'rate_limited':
        await this.d.state.pause(f.retryAfterMs).catch(() => undefined);
        this.d.log.warn({ incident: id, retryAfterMs: f.retryAfterMs }, 'slack rate limited; backing off');
        return new SlackSyncError('slack_rate_limited', `Slack rate limited us for ${f.retryAfterMs} ms`, e);
      case 'unavailable':
        await this.d.state.pause(UNAVAILABLE_PAUSE_MS).catch(() => undefined);
        this.d.log.warn({ incident: id, detail: f.detail }, 'slack unavailable; will retry');
        return new SlackSyncError('slack_unavailable', `Slack is unavailable: ${f.detail}`, e);
      case 'refused':
        this.d.log.warn({ incident: id, error: f.error }, 'slack refused a call');
        return new SlackSyncError('slack_api_error', `Slack refused: ${f.error}`, e);
      default:
        return e instanceof Error ? e : new Error(String(e));
    }
  }
}
