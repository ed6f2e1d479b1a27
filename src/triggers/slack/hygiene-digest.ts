/**
 * The hygiene digest in Slack: one message per check run with changes below the incident
 * threshold (new findings and cleared ones), posted to the target's channel. Implements the
 * engine's {@link HygieneDigestSink} port: the engine never imports Slack.
 */
import type { WebClient } from './client.js';
import type { Logger } from 'pino';
import type { SlackConfig } from '../../config-types.js';
import type { HygieneDigest, HygieneDigestSink } from '../../engine/hygiene/types.js';
import { createWebClient } from './client.js';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const MAX_LINES = 20;

/** The message text (Slack mrkdwn), at most 20 findings per list. */
export function digestText(d: HygieneDigest): string {
  const counts = `${d.openCounts.critical} critical, ${d.openCounts.warning} warning, ${d.openCounts.info} info open`;
  const lines = [`*Hygiene digest* · \`${esc(d.check)}\` on *${esc(d.target)}* · ${d.opened.length} new, ${d.cleared.length} cleared (${counts})`];
  const list = (title: string, fs: HygieneDigest['opened'], cleared: boolean): void => {
    if (fs.length === 0) return;
    lines.push(`*${title}*`);
    for (const f of fs.slice(0, MAX_LINES)) lines.push(`• ${cleared ? '~' : ''}[${f.severity}] ${esc(f.summary.slice(0, 400))}${cleared ? '~' : ''}`);
    if (fs.length > MAX_LINES) lines.push(`… and ${fs.length - MAX_LINES} more (redis-runbooks hygiene report --target ${esc(d.target)})`);
  };
  list('New', d.opened, false);
  list('Cleared', d.cleared, true);
  return lines.join('\n');
}

export class SlackHygieneDigest implements HygieneDigestSink {
  private readonly client: WebClient;
  constructor(private readonly o: { config: SlackConfig; log: Logger }) {
    this.client = createWebClient(o.config, o.log, 1);
  }

  async post(d: HygieneDigest): Promise<void> {
    const channel = Object.hasOwn(this.o.config.channels, d.target) ? (this.o.config.channels[d.target] ?? this.o.config.defaultChannel) : this.o.config.defaultChannel;
    const text = digestText(d);
    await this.client.chat.postMessage({ channel, text, unfurl_links: false, metadata: { event_type: 'redis_runbooks_hygiene_digest', event_payload: { check: d.check, target: d.target, at: d.at, opened: d.opened.length, cleared: d.cleared.length } } });
  }
}
