/**
 * Hygiene check types: severities, findings, the stored record of a finding across runs, and the
 * report the HTTP door and the CLI read.
 */
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { ActionDefinition, NodeRef, TargetHandle } from '../../actions/types.js';

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Rank of a severity (info 0 < warning 1 < critical 2). */
export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

/** The check types a `HygieneCheck` file may name in `check:`. */
export const CHECK_TYPES = [
  'memory-headroom',
  'maxmemory-unset',
  'eviction-policy',
  'keys-without-ttl',
  'persistence',
  'acl',
  'dangerous-commands',
  'fragmentation',
  'tls-certificate',
  'slowlog',
  'sentinel',
  'cluster',
  'big-keys',
] as const;
export type CheckType = (typeof CHECK_TYPES)[number];

/** What a check yields for one problem, before it is merged with earlier runs. */
export interface FindingDraft {
  severity: Severity;
  /** Stable identity within the check and target (e.g. `127.0.0.1:7000`, `family:session:*`, `user:app`). */
  key: string;
  /** One line with numbers (nodes, keys, bytes, ages). */
  summary: string;
  /** The node it concerns, `host:port` (labels the incident's `instance`). */
  node?: string;
  data: Record<string, unknown>;
}

/** A finding as stored and reported: the draft plus its history across runs. */
export interface HygieneFinding extends FindingDraft {
  check: string;
  target: string;
  status: 'open' | 'cleared';
  firstSeen: string;
  lastSeen: string;
  /** Runs in a row that found it (since it was first seen or last cleared). */
  runs: number;
  clearedAt?: string;
  /** Fingerprint of the alert it was sent as (it opened or joined an incident). */
  alertFingerprint?: string;
}

/** The last run of one check on one target. */
export interface HygieneRun {
  check: string;
  target: string;
  at: string;
  ms: number;
  /** Findings this run, and how many were new / cleared. */
  found: number;
  opened: number;
  cleared: number;
  error?: { code: string; message: string };
}

/** `GET /api/hygiene` and `redis-runbooks hygiene report`. */
export interface HygieneReport {
  generatedAt: string;
  targets: Array<{ target: string; open: HygieneFinding[]; cleared: HygieneFinding[]; runs: HygieneRun[] }>;
}

/** What the HTTP door and the CLI need from the hygiene service. */
export interface HygieneReader {
  report(opts?: { target?: string }): Promise<HygieneReport>;
}

/** Everything one check run may use. Read-only: checks never send a mutating command. */
export interface CheckContext<P> {
  target: TargetHandle;
  /** Data nodes: the primary and its replicas, or every node of a Cluster. */
  nodes: NodeRef[];
  /** Where bounded scans run: a replica with its link up when there is one, else the primary. */
  scanNode: NodeRef;
  params: P;
  /** What this check stored on its last run on this target (e.g. memory readings), or undefined. */
  previous: unknown;
  log: Logger;
  signal: AbortSignal;
  now(): number;
  /** Run a registered read action on one node. */
  action<I, O>(def: ActionDefinition<I, O>, node: NodeRef, input: unknown): Promise<O>;
  /** Send one read-only command to a node. */
  command(node: NodeRef, argv: string[]): Promise<unknown>;
}

/** One check type: its params (validated when the file loads) and its run. */
export interface CheckDefinition<P = Record<string, unknown>> {
  type: CheckType;
  description: string;
  params: z.ZodType<P>;
  /**
   * When the target's nodes cannot be resolved (e.g. every node serves an expired certificate),
   * run on the configured endpoints instead of failing: for checks that look at the connection itself.
   */
  endpointsOnFailure?: boolean;
  run(ctx: CheckContext<P>): Promise<{ findings: FindingDraft[]; state?: unknown }>;
}

/** One run's digest: what changed below the incident threshold (new findings, cleared ones). */
export interface HygieneDigest {
  check: string;
  target: string;
  at: string;
  /** New findings below the check's `openIncident.severity` (all of them when it opens no incidents). */
  opened: HygieneFinding[];
  /** Findings below the threshold that cleared this run. */
  cleared: HygieneFinding[];
  /** Findings still open after the run, by severity. */
  openCounts: Record<Severity, number>;
}

/** Where digests go (Slack when configured). The engine knows only this port. */
export interface HygieneDigestSink {
  post(d: HygieneDigest): Promise<void>;
}
