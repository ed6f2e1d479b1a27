/**
 * The config file's schema (zod, strict: unknown keys are errors). `src/config.ts` runs it after
 * YAML parsing and `${VAR}` interpolation, and turns its issues into `file: yaml.path: problem`.
 * Relative TLS file paths resolve against the config file's directory.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { getNextMillis } from 'bullmq';
import { z } from 'zod';
import type { NodeRef } from './actions/types.js';
import { ROLES } from './config-types.js';
import { parseDuration } from './util/duration.js';

/** Log levels accepted in `logLevel` and `LOG_LEVEL` (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const TARGET_NAME = /^[a-z0-9][a-z0-9._-]*$/;

/** Parse `host:port` or `[v6addr]:port`. */
export function parseEndpoint(s: string): NodeRef | undefined {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([^\s:[\]/@]+):(\d{1,5})$/.exec(s);
  const host = m?.[1];
  const port = Number(m?.[2]);
  if (host === undefined || !(port >= 1 && port <= 65535)) return undefined;
  return { host, port };
}

const nonEmpty = z.string().min(1, 'must not be empty');
const secret = z.string();
const bool = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());
const int = (min: number, max: number): z.ZodType<number> =>
  z.preprocess((v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v), z.number().int().min(min).max(max));
const port = int(0, 65535);
/** Label values stay strings: coercing YAML numbers would turn `01` into `1` and silently never match. */
const labels = z.record(z.string(), z.string({ error: (iss) => (iss.input === undefined ? undefined : 'expected a string (quote numbers)') }));

const endpoint = z.string().transform((s, ctx): NodeRef => {
  const n = parseEndpoint(s.trim());
  if (n === undefined) ctx.addIssue({ code: 'custom', message: 'expected host:port' });
  return n ?? { host: '', port: 0 };
});
const endpoints = (what: string) => z.array(endpoint).min(1, `at least one ${what} required`);

const duration = z.unknown().transform((v, ctx): number => {
  let ms = Number.NaN;
  if (typeof v === 'string' || typeof v === 'number') {
    try {
      ms = parseDuration(v);
    } catch {
      // reported below
    }
  }
  if (!(ms > 0)) ctx.addIssue({ code: 'custom', message: 'expected a positive duration like 30s, 5m, 1h, or milliseconds' });
  return ms;
});

function tlsSchema(baseDir: string) {
  const file = nonEmpty.transform((p, ctx): string => {
    const abs = resolve(baseDir, p);
    try {
      return readFileSync(abs, 'utf8');
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `cannot read file ${abs} (${errnoCode(err)})` });
      return '';
    }
  });
  return z
    .strictObject({
      ca: file.optional(),
      cert: file.optional(),
      key: file.optional(),
      servername: nonEmpty.optional(),
      rejectUnauthorized: bool.default(true),
    })
    .superRefine(
      (t, ctx) => {
        if (t.cert !== undefined && t.key === undefined) ctx.addIssue({ code: 'custom', path: ['key'], message: 'required when cert is set' });
        if (t.key !== undefined && t.cert === undefined) ctx.addIssue({ code: 'custom', path: ['cert'], message: 'required when key is set' });
      },
      { when: isObjectPayload },
    );
}

function targetSchema(baseDir: string) {
  return z
    .strictObject({
      mode: z.enum(['standalone', 'sentinel', 'cluster']).default('standalone'),
      endpoints: z.array(endpoint).default([]),
      sentinel: z
        .strictObject({ masterName: nonEmpty, endpoints: endpoints('sentinel endpoint'), password: secret.optional() })
        .optional(),
      tls: tlsSchema(baseDir).optional(),
      username: nonEmpty.optional(),
      password: secret.optional(),
      secrets: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'secret names are letters, digits, . _ -'), secret.min(1, 'must not be empty')).optional(),
      role: z.enum(['cache', 'store']),
      labels: labels.default({}),
      allowAutomatic: bool.default(false),
    })
    .superRefine(
      (t, ctx) => {
        if (t.mode === 'sentinel' && t.sentinel === undefined) {
          ctx.addIssue({ code: 'custom', path: ['sentinel'], message: 'required when mode is sentinel' });
        }
        if ((t.mode === 'standalone' || t.mode === 'cluster') && t.sentinel !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['sentinel'], message: 'only allowed when mode is sentinel' });
        }
        if ((t.mode === 'standalone' || t.mode === 'cluster') && Array.isArray(t.endpoints) && t.endpoints.length === 0) {
          ctx.addIssue({ code: 'custom', path: ['endpoints'], message: `at least one host:port required for mode ${t.mode}` });
        }
      },
      { when: isObjectPayload },
    );
}

function storeSchema(baseDir: string) {
  return z
    .strictObject({
      url: z.string().optional(),
      sentinel: z
        .strictObject({
          endpoints: endpoints('sentinel endpoint'),
          masterName: nonEmpty,
          username: nonEmpty.optional(),
          password: secret.optional(),
          sentinelPassword: secret.optional(),
        })
        .optional(),
      cluster: z
        .strictObject({ nodes: endpoints('node'), username: nonEmpty.optional(), password: secret.optional() })
        .optional(),
      tls: tlsSchema(baseDir).optional(),
    })
    .superRefine(
      (s, ctx) => {
        const kinds = (['url', 'sentinel', 'cluster'] as const).filter((k) => s[k] !== undefined);
        if (kinds.length !== 1) {
          ctx.addIssue({ code: 'custom', message: 'set exactly one of url, sentinel, cluster (or omit store for an embedded redis-server)' });
        }
        if (typeof s.url === 'string' && !/^rediss?:\/\/[^\s]+$/.test(s.url)) {
          ctx.addIssue({ code: 'custom', path: ['url'], message: 'expected a redis:// or rediss:// URL' });
        }
      },
      { when: isObjectPayload },
    );
}

const approverSchema = z.strictObject({
  id: nonEmpty,
  roles: z.array(z.enum(ROLES)).min(1, 'at least one role required'),
});

const routeSchema = z.strictObject({
  match: z
    .strictObject({ alertname: nonEmpty.optional(), labels: labels.optional() })
    .superRefine(
      (m, ctx) => {
        const hasLabels = m.labels !== undefined && Object.keys(m.labels).length > 0;
        if (m.alertname === undefined && !hasLabels) ctx.addIssue({ code: 'custom', message: 'set alertname and/or labels' });
      },
      { when: isObjectPayload },
    ),
  runbook: nonEmpty,
});

const scheduleSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'expected a lowercase name (letters, digits, . _ -)'),
    runbook: nonEmpty,
    target: nonEmpty,
    cron: z.string().regex(/^\S+(\s+\S+){4,5}$/, 'expected a cron pattern with 5 or 6 fields, e.g. "0 3 * * *"'),
    tz: nonEmpty.optional(),
    dryRun: bool.default(true),
  })
  .superRefine(
    (s, ctx) => {
      // Issue 12 #2: checked with the parser BullMQ schedules with, so a bad pattern or time zone
      // stops the start instead of failing later inside the scheduler. The message names the schedule.
      if (typeof s.cron !== 'string' || !/^\S+(\s+\S+){4,5}$/.test(s.cron)) return;
      try {
        getNextMillis(Date.now(), { pattern: s.cron, ...(s.tz !== undefined ? { tz: s.tz } : {}) });
      } catch (err) {
        const why = err instanceof Error ? err.message : 'invalid';
        const path = s.tz !== undefined && /timestamp|zone|tz/i.test(why) ? 'tz' : 'cron';
        ctx.addIssue({ code: 'custom', path: [path], message: `schedule '${String(s.name)}': ${path === 'tz' ? 'invalid time zone' : 'invalid cron pattern'} (${why})` });
      }
    },
    { when: isObjectPayload },
  );

/** Default Slack Web API base URL. */
export const SLACK_API_URL = 'https://slack.com/api/';

/** Channel IDs, not names: names change, and conversations.history needs the ID. */
const channelId = z.string().regex(/^[CGD][A-Z0-9]{2,}$/, 'expected a channel ID like C0123456789 (not a #name)');

const slackSchema = z.strictObject({
  // Secret values are checked by shape only; messages never echo them.
  botToken: z.string().regex(/^xox[bp]-\S+$/, 'expected a bot token (xoxb-...)'),
  signingSecret: z.string().regex(/^\S{8,}$/, 'expected the app signing secret'),
  appToken: z.string().regex(/^xapp-\S+$/, 'expected an app-level token (xapp-...) for Socket Mode').optional(),
  defaultChannel: channelId,
  channels: z.record(z.string(), channelId).default({}),
  apiUrl: z
    .string()
    .regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'expected an http(s) URL like https://slack.com/api/')
    .default(SLACK_API_URL),
});

export function configSchema(baseDir: string) {
  return z.strictObject({
    store: storeSchema(baseDir).optional(),
    embedded: z
      .strictObject({
        dataDir: nonEmpty.default('./.data'),
        redisServer: nonEmpty.default('redis-server'),
        port: port.default(0),
      })
      .prefault({}),
    http: z
      .strictObject({
        host: nonEmpty.default('127.0.0.1'),
        port: port.default(8080),
        workerPort: port.optional(),
        token: nonEmpty.optional(),
        maxBodyBytes: int(1, Number.MAX_SAFE_INTEGER).default(1024 * 1024),
      })
      .prefault({}),
    targets: z
      .record(z.string().regex(TARGET_NAME, `invalid target name: must match ${TARGET_NAME.source}`), targetSchema(baseDir))
      .default({}),
    approvers: z
      .array(approverSchema)
      .default([])
      .superRefine(
        (list, ctx) => {
          // `when` lets this run on a body whose other parts failed, so `approvers: {}` gets here too (issue 12 fuzzing)
          if (!Array.isArray(list)) return;
          const seen = new Set<string>();
          list.forEach((a, i) => {
            const id: unknown = (a as { id?: unknown } | null)?.id;
            if (typeof id !== 'string') return;
            if (seen.has(id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: 'duplicate approver id' });
            seen.add(id);
          });
        },
        { when: isObjectPayload },
      ),
    routes: z.array(routeSchema).default([]),
    schedules: z.array(scheduleSchema).default([]),
    /** One directory or a list, layered on the shipped runbooks (a later one overrides a runbook of the same name). */
    runbooksDir: z.union([nonEmpty, z.array(nonEmpty).min(1, 'at least one directory required')], { error: (iss) => (iss.input === undefined ? undefined : 'expected a directory or a list of directories') }).optional(),
    /** Load the runbooks shipped with the package first (default true). */
    shippedRunbooks: bool.default(true),
    engine: z
      .strictObject({
        dryRun: bool.default(false),
        approvalTimeout: duration.default(parseDuration('30m')),
        lockTtl: duration.default(parseDuration('10m')),
        workerConcurrency: int(1, 1024).default(4),
        queuePrefix: nonEmpty.default('{rr}'),
        keyPrefix: nonEmpty.default('rr'),
        faultInjection: z.strictObject({ killAfterCommands: int(1, 100_000).optional(), hang: bool.optional() }).optional(),
        /** At most `max` remediations per target and runbook within `window`; beyond that, escalate instead of acting. */
        circuitBreaker: z.strictObject({ max: int(1, 1000).default(3), window: duration.default(parseDuration('1h')) }).prefault({}),
        /** On SIGTERM: how long jobs in flight may finish before they are handed back to other workers. */
        shutdownTimeout: duration.default(parseDuration('30s')),
      })
      .prefault({}),
    slack: slackSchema.optional(),
    logLevel: z.enum(LOG_LEVELS).optional(),
  }).superRefine(
    (c, ctx) => {
      if (Array.isArray(c.schedules) && isPlainObject(c.targets)) {
        // Issue 12 #2: a schedule naming an unknown target is a start-up error, not a failed job later.
        c.schedules.forEach((s, i) => {
          const target: unknown = (s as { target?: unknown } | null)?.target;
          if (typeof target === 'string' && !Object.hasOwn(c.targets, target)) {
            ctx.addIssue({ code: 'custom', path: ['schedules', i, 'target'], message: `schedule '${String((s as { name?: unknown }).name)}': unknown target '${target}'` });
          }
        });
      }
      const channels = (c.slack as { channels?: unknown } | undefined)?.channels;
      if (!isPlainObject(channels) || !isPlainObject(c.targets)) return;
      for (const name of Object.keys(channels)) {
        if (!Object.hasOwn(c.targets, name)) ctx.addIssue({ code: 'custom', path: ['slack', 'channels', name], message: 'not a configured target' });
      }
    },
    { when: isObjectPayload },
  );
}

export type ParsedConfig = z.output<ReturnType<typeof configSchema>>;
export type ParsedStore = NonNullable<ParsedConfig['store']>;
export type ParsedTarget = ParsedConfig['targets'][string];

/** Refinements run only on objects (a wrong type is already reported). */
function isObjectPayload(payload: { value: unknown }): boolean {
  return typeof payload.value === 'object' && payload.value !== null;
}

/** The errno code of a failed file read, for messages. */
export function errnoCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unreadable';
}

/** A plain object (not an array, not a class instance). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
