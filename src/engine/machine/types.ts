/**
 * What flows through a compiled runbook machine: its context, the events it accepts, and the
 * effects it asks the engine to carry out. The machine itself never does I/O: it records effects,
 * and the engine persists the snapshot before it dispatches them (an outbox).
 */
import type { CommandOutcome, PlannedCommand, Risk } from '../../actions/types.js';
import type { Role } from '../../config-types.js';
import type { TimelineKind } from '../types.js';

export interface Approval {
  by: string;
  at: string;
  /** The option (remediation id) this approval chose, when alternatives were offered. */
  option?: string;
}

/** One of several remediations offered side by side, with its exact plan. */
export interface OfferedOption {
  remediation: string;
  commands: PlannedCommand[];
}

/** The remediation the machine is working on. */
export interface CurrentRemediation {
  remediation: string;
  /** `<remediation>#<seq>`: identifies this proposal (approvals and expiry refer to it). */
  key: string;
  commands: PlannedCommand[];
  approvals: Approval[];
  /** Alternatives offered side by side (the approver chooses one); absent for a single proposal. */
  options?: OfferedOption[];
  /** Set when the remediation was chosen among options: its `commands` are the chosen plan. */
  chosen?: boolean;
  /** Index of the remediation step the current phase starts at (after a `wait:`); 0 at first. */
  phaseStart?: number;
  /** While waiting between phases: when the wait began (ms), for `within`. */
  waitStartedAt?: number;
  /** While a second approval gates the next phase: the index of that `wait:` step. */
  gate?: number;
  /** When the approval request expires (ms since epoch), set on entering the approval gate. */
  expiresAt?: number;
  verifyStartedAt?: number;
  holdSince?: number;
  polls: number;
}

export interface MachineContext {
  incidentId: string;
  target: { name: string; role: 'cache' | 'store'; allowAutomatic: boolean };
  labels: Record<string, string>;
  dryRun: boolean;
  params: Record<string, number | string | boolean>;
  findings: Record<string, unknown>;
  tried: string[];
  current?: CurrentRemediation;
  /** Sequence of effects issued; the machine only accepts the result of the one it awaits. */
  seq: number;
  awaiting: number;
  /** The effect the machine awaits (its `seq` is `awaiting`): what recovery re-dispatches. */
  pendingEffect?: Effect;
  outcome?: string;
}

/** Effects the engine executes after persisting the snapshot. */
export type Effect =
  | { kind: 'diagnose'; seq: number }
  | { kind: 'plan'; seq: number; remediation: string; key: string; options?: string[] }
  | { kind: 'request-approval'; seq: number; remediation: string; key: string; timeoutMs: number }
  | { kind: 'act'; seq: number; remediation: string; key: string }
  | { kind: 'verify'; seq: number; remediation: string; key: string; delayMs: number }
  /** Between phases: a delay (a delayed `phase.elapsed` event) or a poll of the wait's steps. */
  | { kind: 'wait'; seq: number; remediation: string; key: string; wait: number; delayMs: number; poll: boolean }
  | { kind: 'release-lock'; seq: number }
  | { kind: 'handover'; seq: number; runbook: string }
  | { kind: 'closed'; seq: number; state: 'resolved' | 'escalated' | 'cancelled' | 'completed'; outcome: string };

/** Timeline entries the machine itself writes (atomically with its snapshot). */
export interface MachineNote {
  kind: TimelineKind;
  summary: string;
  data?: Record<string, unknown>;
}

export type MachineEvent =
  | { type: 'effect.done'; seq: number; at: number; result: EffectResult }
  | { type: 'effect.failed'; seq: number; at: number; error: { code: string; message: string } }
  | { type: 'approval.granted'; at: number; key: string; by: string; option?: string }
  | { type: 'approval.rejected'; at: number; key: string; by: string; reason?: string }
  | { type: 'approval.expired'; at: number; key: string }
  | { type: 'alert.resolved'; at: number; fingerprint: string }
  | { type: 'incident.cancel'; at: number; by: string }
  | { type: 'phase.elapsed'; at: number; key: string; wait: number };

/** Results of effects, carried by `effect.done`. */
export type EffectResult =
  | { kind: 'diagnose'; findings: Record<string, unknown> }
  | { kind: 'plan'; commands: PlannedCommand[]; options?: OfferedOption[] }
  | { kind: 'act'; skipped: false; outcomes: CommandOutcome[]; waitAt?: number }
  | { kind: 'act'; skipped: true; reason: string; findings: Record<string, unknown> }
  | { kind: 'verify'; findings: Record<string, unknown> }
  | { kind: 'wait'; findings: Record<string, unknown> };

/** Static facts about a remediation, for doors and effects (not in the snapshot). */
export interface RemediationInfo {
  id: string;
  title: string;
  risk: Risk;
  role: Role;
  approversRequired: number;
  automatic: boolean;
}
