/**
 * Contract between the engine and the actions it runs.
 *
 * An action is a typed definition: a name (matching its file), a description, a risk level, an
 * input schema, a timeout, and `run(input, ctx)` returning JSON-serialisable findings. Mutating
 * actions also implement `plan()` which returns the exact commands they would send, to which node:
 * the plan is shown in the approval request and in dry runs, and `run()` executes exactly that plan.
 */
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { z } from 'zod';

/** How much an action can hurt: `read` never mutates, `write` changes state, `disruptive` may drop data or clients. */
export type Risk = 'read' | 'write' | 'disruptive';

/** Role of a node as the engine discovered it. */
export type NodeRole = 'primary' | 'replica' | 'sentinel' | 'cluster-master' | 'cluster-replica' | 'unknown';

/** One Redis (or Sentinel) process of a target. */
export interface NodeRef {
  host: string;
  port: number;
  role?: NodeRole;
}

/** `host:port` — the canonical way nodes are named in findings, plans and timelines. */
export function nodeKey(n: NodeRef): string {
  return `${n.host}:${n.port}`;
}

/** One command of a plan: argv as sent, and the node it is sent to. Never contains secrets. */
export interface PlannedCommand {
  node: string; // host:port
  argv: string[];
  /** Why this command, in one line (shown in approvals and dry runs). */
  note?: string;
  /** Set by the engine: index of the remediation step that planned it. */
  step?: number;
  /** Set by the engine: the node the step was planned from (`host:port`). */
  origin?: string;
}

/** Outcome of one command actually sent. */
export interface CommandOutcome extends PlannedCommand {
  ok: boolean;
  reply?: string;
  error?: string;
}

/** What the target looks like to an action: its config and a way to reach its nodes. */
export interface TargetHandle {
  name: string;
  mode: 'standalone' | 'sentinel' | 'cluster';
  role: 'cache' | 'store';
  /** Data nodes known from config (seeds). */
  endpoints: NodeRef[];
  /** Sentinel endpoints, when mode is sentinel. */
  sentinels: NodeRef[];
  sentinelMasterName?: string;
  /** Whether steps marked `automatic` may run without approval on this target. */
  allowAutomatic: boolean;
  /** A plain single-node connection to one node (cached by the caller; do not quit it). */
  connect(node: NodeRef): Promise<Redis>;
  /**
   * A new connection to one node with the engine's identity and transport, not cached: what a new
   * client gets right now (a pooled connection may predate a certificate or password change). The
   * caller must disconnect it.
   */
  connectFresh?(node: NodeRef): Promise<Redis>;
  /**
   * The target's configured secret `name` (config `targets.<t>.secrets`), or undefined. Only
   * `sendCommand`/`executePlan` call it, to resolve a `${secret:<name>}` placeholder at send time;
   * a value must never be put into a plan, a finding, a log line or an error.
   */
  secret?(name: string): string | undefined;
  /** The TLS settings the engine reaches the data nodes with (absent: plain TCP). `key` is private: never output it. */
  tls?: Readonly<TargetTls>;
  /** The ACL user the engine connects as (absent: `default`). */
  username?: string;
}

/** A target's TLS transport, as configured (file contents). */
export interface TargetTls {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  rejectUnauthorized: boolean;
}

/** Everything an action may use. I/O is reached only through this object. */
export interface ActionContext {
  target: TargetHandle;
  /** The node this invocation runs on (fan-out steps get one invocation per node). */
  node: NodeRef;
  /** Findings of earlier steps, by step id (read-only). */
  findings: Readonly<Record<string, unknown>>;
  /** Runbook params merged with the step's `with:`. */
  params: Readonly<Record<string, unknown>>;
  dryRun: boolean;
  log: Logger;
  signal: AbortSignal;
  now(): number;
}

/** A registered action. `I` is the validated input (from the step's `with:`), `O` the findings. */
export interface ActionDefinition<I = unknown, O = unknown> {
  name: string;
  description: string;
  risk: Risk;
  input: z.ZodType<I>;
  timeoutMs: number;
  /**
   * The fields of what `run` returns, name → one-line meaning (nested fields as `a.b`, arrays as
   * `a[]`). Published in the runbook README and checked by a test: every action documents its output.
   */
  output?: Readonly<Record<string, string>>;
  /** Mutating actions: the exact commands they would send. Required when risk is not `read`. */
  plan?(input: I, ctx: ActionContext): Promise<PlannedCommand[]>;
  /**
   * Read actions: run and return findings. Mutating actions: execute exactly `plan` (given) and
   * return the outcomes (plus any extra findings, e.g. `persisted: false`).
   */
  run(input: I, ctx: ActionContext, plan?: PlannedCommand[]): Promise<O>;
  /**
   * Mutating actions: is the effect of `cmd` (one command of this action's plan) already in place
   * on the live target? `true` / `false`, or `undefined` when it cannot tell. After a crash the
   * engine resumes at the first command not known to be done: `true` skips it, `false` sends it,
   * `undefined` escalates (a human looks). Without it, an interrupted command always escalates.
   */
  applied?(cmd: PlannedCommand, input: I, ctx: ActionContext): Promise<boolean | undefined>;
}
