/**
 * Alertmanager webhook (`"version": "4"`) body: schema, validation with path-naming errors, and
 * the mapping to the engine's {@link AlertInput}.
 *
 * Unknown keys are accepted (Alertmanager adds fields over versions: `notification_reason` from
 * v0.32, `routeLabels` from v0.34); label and annotation values must be strings.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { AlertInput } from '../../engine/types.js';

/** Most alerts accepted in one webhook body. */
export const MAX_ALERTS_PER_BODY = 1000;

/**
 * Issue 12 #5: bounds on what an alert may carry into the store (it is copied to the incident
 * record and its timeline). Sizes are UTF-8 bytes.
 */
export const LIMITS = {
  /** Largest label value. */
  labelValueBytes: 4096,
  /** Largest label name. */
  labelNameBytes: 256,
  /** Most labels on one alert. */
  labels: 64,
  /** Largest sum of annotation names and values of one alert. */
  annotationsBytes: 16 * 1024,
  /** Largest `generatorURL`. */
  urlBytes: 4096,
} as const;

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/** A label set within {@link LIMITS}; each issue names the label. */
function boundedLabels(m: Record<string, string>, ctx: z.RefinementCtx): void {
  const names = Object.keys(m);
  if (names.length > LIMITS.labels) ctx.addIssue({ code: 'custom', message: `${names.length} labels (at most ${LIMITS.labels})` });
  for (const k of names) {
    if (bytes(k) > LIMITS.labelNameBytes) ctx.addIssue({ code: 'custom', path: [k], message: `label name of ${bytes(k)} bytes (at most ${LIMITS.labelNameBytes})` });
    const v = m[k] ?? '';
    if (bytes(v) > LIMITS.labelValueBytes) ctx.addIssue({ code: 'custom', path: [k], message: `label value of ${bytes(v)} bytes (at most ${LIMITS.labelValueBytes})` });
  }
}

/** Annotations within {@link LIMITS} (their names and values together). */
function boundedAnnotations(m: Record<string, string>, ctx: z.RefinementCtx): void {
  let total = 0;
  for (const [k, v] of Object.entries(m)) total += bytes(k) + bytes(v);
  if (total > LIMITS.annotationsBytes) ctx.addIssue({ code: 'custom', message: `annotations of ${total} bytes in total (at most ${LIMITS.annotationsBytes})` });
}

/** Go's zero `time.Time`, which old senders put in `endsAt` of firing alerts. */
const GO_ZERO_TIME = /^0001-01-01T00:00:00(\.0+)?Z$/;

const stringMap = z.record(z.string(), z.string());
const timestamp = z.iso.datetime({ offset: true });

/** One alert of the body. `labels.alertname` is required; every label value is a string. */
const alertSchema = z.looseObject({
  status: z.enum(['firing', 'resolved']),
  labels: z.object({ alertname: z.string().min(1) }).catchall(z.string()).superRefine(boundedLabels),
  annotations: stringMap.superRefine(boundedAnnotations).optional(),
  startsAt: timestamp,
  endsAt: timestamp.optional(),
  generatorURL: z
    .string()
    .refine((s) => bytes(s) <= LIMITS.urlBytes, `longer than ${LIMITS.urlBytes} bytes`)
    .optional(),
  /** Hash of the label set (16 hex digits from Alertmanager); computed when missing. */
  fingerprint: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of [A-Za-z0-9_-]')
    .optional(),
});

/** The whole webhook body, as Alertmanager sends it. */
export const webhookSchema = z.looseObject({
  version: z.literal('4'),
  groupKey: z.string(),
  truncatedAlerts: z.number().int().nonnegative(),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupLabels: stringMap,
  commonLabels: stringMap,
  commonAnnotations: stringMap,
  externalURL: z.string(),
  notification_reason: z.string().optional(),
  routeLabels: stringMap.optional(),
  alerts: z.array(alertSchema).max(MAX_ALERTS_PER_BODY),
});

/** The raw body after validation (unknown keys kept). */
export type WebhookBody = z.infer<typeof webhookSchema>;

/** A validated notification: group metadata plus the alerts mapped for the engine. */
export interface ParsedWebhook {
  groupKey: string;
  status: 'firing' | 'resolved';
  receiver: string;
  /** Alerts Alertmanager dropped because of the receiver's `max_alerts`. */
  truncatedAlerts: number;
  externalURL: string;
  notificationReason?: string;
  alerts: AlertInput[];
}

/** Result of {@link parseWebhook}: the parsed notification, or one line naming the JSON path(s) at fault. */
export type ParseWebhookResult = { ok: true; value: ParsedWebhook } | { ok: false; error: string };

/**
 * Fingerprint of a label set, for senders that omit `fingerprint`: the first 16 hex digits of the
 * sha256 of the label pairs sorted by name. Stable for equal label sets, independent of key order.
 */
export function fingerprintLabels(labels: Readonly<Record<string, string>>): string {
  const pairs = Object.keys(labels)
    .sort()
    .map((k) => [k, labels[k] ?? '']);
  return createHash('sha256').update(JSON.stringify(pairs)).digest('hex').slice(0, 16);
}

/** `['alerts', 0, 'labels', 'alertname']` → `alerts[0].labels.alertname`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && /^[A-Za-z_$][\w$]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out === '' ? 'body' : out;
}

const MAX_REPORTED_ISSUES = 5;

/** Per-parse error map: a missing field reads `required` rather than `expected string, received undefined`. */
export const requiredErrorMap = (iss: { code: string; input?: unknown }): string | undefined =>
  iss.code === 'invalid_type' && iss.input === undefined ? 'required' : undefined;

/** One line naming the path of each issue (the first five): `alerts[0].labels.alertname: required; …`. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const shown = issues
    .slice(0, MAX_REPORTED_ISSUES)
    .map((i) => `${formatPath(i.path)}: ${i.message.replace(/^(Invalid input|Invalid option|Too small|Too big): /, '')}`);
  if (issues.length > MAX_REPORTED_ISSUES) shown.push(`(${issues.length - MAX_REPORTED_ISSUES} more)`);
  return shown.join('; ');
}

/**
 * Validate an Alertmanager v4 webhook body (already JSON-parsed) and map its alerts to
 * {@link AlertInput}s. Errors name the JSON path, e.g. `alerts[0].labels.alertname: required`.
 */
export function parseWebhook(raw: unknown): ParseWebhookResult {
  const result = webhookSchema.safeParse(raw, { error: requiredErrorMap });
  if (!result.success) return { ok: false, error: describeIssues(result.error.issues) };
  const body = result.data;
  const value: ParsedWebhook = {
    groupKey: body.groupKey,
    status: body.status,
    receiver: body.receiver,
    truncatedAlerts: body.truncatedAlerts,
    externalURL: body.externalURL,
    alerts: body.alerts.map(toAlertInput),
  };
  if (body.notification_reason !== undefined) value.notificationReason = body.notification_reason;
  return { ok: true, value };
}

function toAlertInput(a: z.infer<typeof alertSchema>): AlertInput {
  const labels: Record<string, string> = { ...a.labels };
  const out: AlertInput = {
    status: a.status,
    labels,
    annotations: { ...(a.annotations ?? {}) },
    startsAt: a.startsAt,
    fingerprint: a.fingerprint ?? fingerprintLabels(labels),
  };
  if (a.endsAt !== undefined && !GO_ZERO_TIME.test(a.endsAt)) out.endsAt = a.endsAt;
  if (a.generatorURL !== undefined && a.generatorURL !== '') out.generatorURL = a.generatorURL;
  return out;
}
