/**
 * `POST /webhooks/alertmanager`: validate the body, route every alert, enqueue the routed ones.
 *
 * Nothing is enqueued unless the whole body is valid (any 4xx means nothing happened, and
 * Alertmanager does not retry 4xx). Store trouble answers 503 so Alertmanager retries; the engine
 * deduplicates on fingerprint + startsAt, so a retried batch is safe.
 */
import type { AlertInput, RoutedAlert } from '../../engine/types.js';
import { parseWebhook } from '../alertmanager/payload.js';
import { readJson } from './body.js';
import { HttpError, notReady } from './http-error.js';
import { sendJson } from './respond.js';
import { engineReady } from './ready.js';
import type { RequestContext } from './types.js';

/** Body of the 202 answer. `accepted + unmatched + duplicates` is the number of alerts received. */
export interface WebhookAnswer {
  accepted: number;
  unmatched: number;
  duplicates: number;
}

/** Handle one Alertmanager notification. */
export async function handleAlertmanagerWebhook(ctx: RequestContext): Promise<void> {
  const { deps, req, res } = ctx;
  const { metrics, log } = deps;
  const raw = await readJson(req, deps.maxBodyBytes);
  const parsed = parseWebhook(raw);
  if (!parsed.ok) {
    metrics.alertsReceived.inc({ status: statusOf(raw), outcome: 'invalid' });
    throw new HttpError(400, 'payload_invalid', parsed.error);
  }
  const { alerts, truncatedAlerts, receiver } = parsed.value;
  if (truncatedAlerts > 0) {
    log.warn({ receiver, truncatedAlerts }, 'Alertmanager truncated this notification (receiver max_alerts); some alerts were not sent');
  }

  const routed: RoutedAlert[] = [];
  const unmatched: { alert: AlertInput; reason: string; detail: string }[] = [];
  for (const alert of alerts) {
    const r = deps.route(alert);
    if (r.ok) routed.push(r.routed);
    else unmatched.push({ alert, reason: r.reason, detail: r.detail });
  }

  const answer: WebhookAnswer = { accepted: 0, unmatched: unmatched.length, duplicates: 0 };
  const counts = { firing: { routed: 0, duplicate: 0 }, resolved: { routed: 0, duplicate: 0 } };
  if (routed.length > 0) {
    if (!(await engineReady(deps))) throw notReady();
    // One batch per status, so the metrics know which status each duplicate had.
    for (const status of ['firing', 'resolved'] as const) {
      const batch = routed.filter((r) => r.alert.status === status);
      if (batch.length === 0) continue;
      const { enqueued, duplicates } = await deps.engine.ingest(batch);
      counts[status].routed += enqueued;
      counts[status].duplicate += duplicates;
      answer.accepted += enqueued;
      answer.duplicates += duplicates;
    }
  }

  // Counted only once the answer is decided, so an Alertmanager retry after a 503 does not double-count.
  for (const status of ['firing', 'resolved'] as const) {
    if (counts[status].routed > 0) metrics.alertsReceived.inc({ status, outcome: 'routed' }, counts[status].routed);
    if (counts[status].duplicate > 0) metrics.alertsReceived.inc({ status, outcome: 'duplicate' }, counts[status].duplicate);
  }
  for (const u of unmatched) {
    metrics.alertsReceived.inc({ status: u.alert.status, outcome: 'unmatched' });
    log.info(
      { alertname: u.alert.labels['alertname'], instance: safeInstance(u.alert.labels['instance']), reason: u.reason, detail: u.detail },
      'alert matched no runbook route',
    );
  }
  log.info({ receiver, alerts: alerts.length, ...answer }, 'alertmanager notification accepted');
  sendJson(res, 202, answer);
}

/** The body's top-level `status` when it is a known one (for the `invalid` metric). */
function statusOf(raw: unknown): 'firing' | 'resolved' | 'unknown' {
  const s = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>)['status'] : undefined;
  return s === 'firing' || s === 'resolved' ? s : 'unknown';
}

/** `instance` without any `user:password@` part, for logs. */
function safeInstance(instance: string | undefined): string | undefined {
  return instance?.replace(/\/\/[^/@]*@/, '//');
}
