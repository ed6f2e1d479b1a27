/**
 * Engine data types and the port the doors (HTTP, CLI, Slack) use to talk to the engine.
 */
import type { PlannedCommand, Risk } from '../actions/types.js';
import type { Role } from '../config-types.js';

/** One alert from an Alertmanager webhook, validated at the door. */
export interface AlertInput {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL?: string;
  fingerprint: string;
}

/** An alert the router matched to a runbook and a target. */
export interface RoutedAlert {
  alert: AlertInput;
  runbook: string;
  target: string;
  /** `host:port` of the node named by the alert's `instance`, when it is one of the target's nodes. */
  node?: string;
}

export type IncidentState =
  | 'diagnosing'
  | 'deciding'
  | 'planning'
  | 'awaiting_approval'
  | 'remediating'
  | 'verifying'
  | 'resolved'
  | 'escalated'
  | 'cancelled'
  | 'completed'; // dry run finished

export const FINAL_STATES: readonly IncidentState[] = ['resolved', 'escalated', 'cancelled', 'completed'];

export type Actor = { kind: 'engine' } | { kind: 'alertmanager' } | { kind: 'user'; id: string; via: 'cli' | 'http' | 'slack' };

export type TimelineKind =
  | 'alert.firing'
  | 'alert.resolved'
  | 'incident.opened'
  | 'incident.joined'
  | 'incident.reopened'
  | 'finding'
  | 'note'
  | 'decision'
  | 'proposal'
  | 'approval.requested'
  | 'approval.granted'
  | 'approval.rejected'
  | 'approval.refused'
  | 'approval.expired'
  | 'approval.cancelled'
  | 'lock.waiting'
  | 'lock.acquired'
  | 'lock.released'
  | 'precondition.failed'
  | 'command.intent'
  | 'command.executed'
  | 'command.dry-run'
  | 'verification.poll'
  | 'verification.passed'
  | 'verification.failed'
  | 'incident.resolved'
  | 'incident.escalated'
  | 'incident.cancelled'
  | 'incident.completed'
  | 'incident.handover'
  | 'error';

/** One timeline entry. `data` is JSON; it never holds secrets. */
export interface TimelineEntry {
  /** Entry id (assigned by the store): `<position>-0`, ordered like a stream id. */
  id?: string;
  at: string; // ISO-8601 UTC
  kind: TimelineKind;
  actor: Actor;
  summary: string;
  data?: Record<string, unknown>;
}

/** A remediation proposal as shown to approvers. */
export interface Proposal {
  /** Unique within the incident: `<remediation>#<n>`. */
  key: string;
  remediation: string;
  title: string;
  risk: Risk;
  role: Role;
  approversRequired: number;
  automatic: boolean;
  commands: PlannedCommand[];
  evidence: string[];
  /**
   * Alternatives offered side by side (numbered from 1): the approver chooses one. The top-level
   * fields describe option 1. Each option keeps its own role and number of approvers.
   */
  options?: ProposalOption[];
}

/** One of several remediations offered side by side. */
export interface ProposalOption {
  option: number;
  remediation: string;
  title: string;
  description?: string;
  risk: Risk;
  role: Role;
  approversRequired: number;
  commands: PlannedCommand[];
  /** What it costs (data deleted, keys that could be evicted), rendered from the runbook's `cost`. */
  cost?: string;
}

export interface IncidentSummary {
  id: string;
  runbook: string;
  target: string;
  state: IncidentState;
  title: string;
  severity?: string;
  fingerprints: string[];
  dryRun: boolean;
  createdAt: string;
  updatedAt: string;
  /** The proposal awaiting approval, if any. */
  pendingApproval?: Proposal & { approvals: { by: string; at: string; option?: string }[]; expiresAt: string };
  outcome?: string;
}

export interface IncidentDetail extends IncidentSummary {
  findings: Record<string, unknown>;
  labels: Record<string, string>;
  version: number;
}

/** Result of an approval/rejection request made through a door. */
export type DecisionResult =
  | { ok: true; state: IncidentState; message: string }
  | { ok: false; code: 'not_found' | 'not_awaiting_approval' | 'forbidden' | 'duplicate_approver' | 'stale' | 'option_required' | 'option_invalid'; message: string };

export interface DecisionOptions {
  key?: string;
  /** Which option (1-based) an approval chooses, when alternatives are offered. */
  option?: number;
  also?: string[];
}

/** `/redis status` and `GET /api/targets/:name/status`. */
export interface TargetStatus {
  target: string;
  mode: 'standalone' | 'sentinel' | 'cluster';
  role: 'cache' | 'store';
  nodes: {
    node: string;
    ok: boolean;
    error?: string;
    role?: string;
    usedMemory?: number;
    maxmemory?: number;
    usage?: number | null;
    policy?: string;
    connectedClients?: number;
    replication?: string;
    clusterState?: string;
  }[];
  openIncidents: { id: string; runbook: string; state: IncidentState }[];
}

/** Called (through a durable job) whenever an incident's timeline or state changed. */
export interface IncidentNotifier {
  sync(incidentId: string): Promise<void>;
}

/** What the doors may ask of the engine. */
export interface EnginePort {
  /** Enqueue routed alerts. Resolves when they are durably enqueued; rejects with StoreUnavailableError when the store is down. */
  ingest(alerts: RoutedAlert[]): Promise<{ enqueued: number; duplicates: number }>;
  /** Open an incident by hand (`run` command). */
  run(runbook: string, target: string, opts: { dryRun: boolean; by: string; via?: 'cli' | 'http' | 'slack' }): Promise<{ incidentId: string }>;
  listIncidents(opts?: { open?: boolean; limit?: number }): Promise<IncidentSummary[]>;
  getIncident(id: string): Promise<IncidentDetail | undefined>;
  getTimeline(id: string): Promise<TimelineEntry[] | undefined>;
  /**
   * Approve the pending proposal. `opts.key` (the proposal key a button carried) makes a click on
   * an outdated message `stale` instead of approving whatever is pending now. `opts.roles` are
   * extra identities the door resolved (e.g. Slack user groups) whose roles also count.
   */
  approve(id: string, by: string, via: 'cli' | 'http' | 'slack', opts?: DecisionOptions): Promise<DecisionResult>;
  reject(id: string, by: string, via: 'cli' | 'http' | 'slack', reason?: string, opts?: DecisionOptions): Promise<DecisionResult>;
  /** Roles of an identity (and of the extra identities given, e.g. its Slack user groups). */
  rolesOf(by: string, also?: string[]): Role[];
  /** Configured target names and loaded runbook names (for help and validation at the doors). */
  names(): { targets: string[]; runbooks: string[] };
  /** One-glance status of a target: every node's role, memory, clients, replication, cluster state. Read-only. */
  targetStatus(target: string): Promise<TargetStatus | undefined>;
  /** Is the store reachable right now? */
  ready(): Promise<boolean>;
}
