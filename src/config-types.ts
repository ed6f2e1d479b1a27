/**
 * The validated configuration, as the rest of the program sees it. `src/config.ts` builds it from
 * the YAML file (and is the only reader of process.env); nothing else reads the file or the env.
 */
import type { NodeRef } from './actions/types.js';

export type Role = 'redis.viewer' | 'redis.dba-operator' | 'redis.cluster-admin';
export const ROLES: readonly Role[] = ['redis.viewer', 'redis.dba-operator', 'redis.cluster-admin'];

/** TLS material, already read from the files named in the config. */
export interface TlsConfig {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  rejectUnauthorized: boolean;
}

/** The engine's own Redis. `undefined` in AppConfig.store means: start an embedded redis-server. */
export type StoreConfig =
  | { mode: 'url'; url: string; tls?: TlsConfig }
  | { mode: 'sentinel'; sentinels: NodeRef[]; masterName: string; username?: string; password?: string; sentinelPassword?: string; tls?: TlsConfig }
  | { mode: 'cluster'; nodes: NodeRef[]; username?: string; password?: string; tls?: TlsConfig };

export interface TargetConfig {
  name: string;
  mode: 'standalone' | 'sentinel' | 'cluster';
  /** Data nodes (standalone: the primary and any replicas; cluster: seeds or all nodes; sentinel: optional). */
  endpoints: NodeRef[];
  sentinel?: { masterName: string; endpoints: NodeRef[]; password?: string };
  tls?: TlsConfig;
  username?: string;
  /** Resolved secret. Never logged, never written to timelines. */
  password?: string;
  /**
   * Named secrets a runbook's actions may use (e.g. the new and the old password of a rotation),
   * resolved from `${ENV}` references at load. Plans refer to them as `${secret:<name>}`; the value
   * replaces the placeholder only when the command is sent. Never logged, stored or shown.
   */
  secrets?: Record<string, string>;
  role: 'cache' | 'store';
  /** Alert labels that select this target (all must match), e.g. { redis_cluster: 'cache-prod' }. */
  labels: Record<string, string>;
  /** Steps marked `automatic: true` in a runbook may skip approval on this target. Default false. */
  allowAutomatic: boolean;
}

export interface Approver {
  /** Identity as the doors present it: a CLI/HTTP user name, `slack:U123`, or `slack-group:S123`. */
  id: string;
  roles: Role[];
}

export interface RouteConfig {
  /** alertname to match (exact). */
  alertname?: string;
  /** Labels that must all equal the given values. */
  labels: Record<string, string>;
  runbook: string;
}

/** A scheduled hygiene run: a runbook on a target on a cron pattern (a BullMQ job scheduler). */
export interface ScheduleConfig {
  name: string;
  runbook: string;
  target: string;
  cron: string;
  tz?: string;
  /** Default true: scheduled runs diagnose and show plans; set false to open real incidents (approvals still apply). */
  dryRun: boolean;
}

/**
 * Slack (issue 3): incident threads, approval buttons and `/redis`. Without it the engine runs
 * unchanged and approvals go through the CLI / HTTP API.
 */
export interface SlackConfig {
  /** Bot token (`xoxb-…`). Resolved secret: never logged, never posted. */
  botToken: string;
  /** Signing secret that authenticates requests to `POST /slack/events`. Never logged. */
  signingSecret: string;
  /** App-level token (`xapp-…`): when set, Bolt uses Socket Mode instead of `POST /slack/events`. */
  appToken?: string;
  /** Channel ID incident messages go to unless the target has its own. */
  defaultChannel: string;
  /** Per-target channel IDs (target name → channel ID), overriding `defaultChannel`. */
  channels: Record<string, string>;
  /** Web API base URL, ending with `/` (default `https://slack.com/api/`; GovSlack, tests). */
  apiUrl: string;
}

export interface AppConfig {
  /** Path of the config file this was read from (for messages), or '<defaults>'. */
  source: string;
  store?: StoreConfig;
  embedded: { dataDir: string; redisServerBin: string; port: number };
  /** `workerPort`: where a `worker` process (no HTTP door) serves /metrics, /healthz and /readyz; unset: no HTTP at all. */
  http: { host: string; port: number; workerPort?: number; token?: string; maxBodyBytes: number };
  targets: Record<string, TargetConfig>;
  approvers: Approver[];
  routes: RouteConfig[];
  schedules: ScheduleConfig[];
  /** The first of `runbooksDirs`, or the default `runbooks` next to the config file (even when it does not exist). */
  runbooksDir: string;
  /**
   * The operator's runbook directories (absolute), in order, loaded after the shipped runbooks: a
   * runbook with the name of an earlier one overrides it. Without `runbooksDir` in the file: the
   * `runbooks` directory next to the config file if it exists, else none.
   */
  runbooksDirs: string[];
  /** Load the package's own runbooks first (`shippedRunbooks`, default true). */
  shippedRunbooks: boolean;
  engine: {
    dryRun: boolean;
    approvalTimeoutMs: number;
    lockTtlMs: number;
    workerConcurrency: number;
    queuePrefix: string;
    keyPrefix: string;
    /**
     * Fault injection for crash tests only (`engine.faultInjection` in the config file): the
     * worker process kills itself with SIGKILL right after the N-th remediation command it sent
     * reached the target, before recording it as done — the worst moment for a crash. With
     * `hang`, an incident labelled `rr_fault: effect-done` (or `command-sent`) stops being handled
     * at that point (the process writes `<keyPrefix>:fault:hung:<id>` and waits for ever), so the
     * crash matrix can SIGKILL the worker there.
     */
    faultInjection?: { killAfterCommands?: number; hang?: boolean };
    /** At most `max` remediations of one runbook on one target within `windowMs` (persistent, in the store). */
    circuitBreaker: { max: number; windowMs: number };
    /** On SIGTERM: how long jobs in flight may finish before they are handed back (`engine.shutdownTimeout`, default 30 s). */
    shutdownTimeoutMs: number;
  };
  /** Absent: no Slack. */
  slack?: SlackConfig;
  logLevel: string;
}
