/**
 * Apply one event to a persisted machine snapshot (or start a new machine) and collect what the
 * machine asked for. Pure: XState's `transition()` on the resolved snapshot → next snapshot and the
 * actions as data. Entry actions are not replayed on restore, so the effects returned are exactly this step's.
 */
import { initialTransition, transition } from 'xstate';
import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import type { IncidentState } from '../types.js';
import type { Effect, MachineContext, MachineEvent, MachineNote } from './types.js';

export interface StepResult {
  snapshot: unknown;
  context: MachineContext;
  state: IncidentState;
  effects: Effect[];
  notes: MachineNote[];
  changed: boolean;
  error?: string;
}

/** Map the machine's state value to the incident state shown to people. */
export function incidentStateOf(value: unknown): IncidentState {
  if (typeof value === 'string') {
    if (value.startsWith('handover_')) return 'completed';
    if (value === 'resolved' || value === 'escalated' || value === 'cancelled' || value === 'completed' || value === 'diagnosing' || value === 'deciding') return value;
    return 'deciding';
  }
  if (value && typeof value === 'object') {
    const inner = Object.values(value as Record<string, unknown>)[0];
    // Between phases: a second approval is an approval gate; a delay or a condition is still remediating.
    if (typeof inner === 'string' && inner.startsWith('wait_')) return 'remediating';
    if (typeof inner === 'string' && inner.startsWith('gate_')) return 'awaiting_approval';
    switch (inner) {
      case 'planning':
        return 'planning';
      case 'awaitingApproval':
        return 'awaiting_approval';
      case 'acting':
        return 'remediating';
      case 'verifying':
        return 'verifying';
      default:
        return 'deciding';
    }
  }
  return 'deciding';
}

/** The actions a transition asked for, split into effects and timeline notes. */
function collect(actions: readonly { type: string; params?: unknown }[]): { effects: Effect[]; notes: MachineNote[] } {
  const effects: Effect[] = [];
  const notes: MachineNote[] = [];
  for (const a of actions) {
    if (a.type === 'effect' && a.params) effects.push(a.params as Effect);
    else if (a.type === 'note' && a.params && (a.params as MachineNote).summary) notes.push(a.params as MachineNote);
  }
  return { effects, notes };
}

/**
 * One step with XState's pure `transition()` (no actor, no side effects): the persisted snapshot
 * is resolved, the event applied, and the machine's `effect` / `note` actions come back as data.
 */
export function stepMachine(machine: AnyStateMachine, from: { snapshot: unknown } | { input: MachineContext }, event?: MachineEvent): StepResult {
  let error: string | undefined;
  let next: AnyMachineSnapshot;
  let actions: readonly { type: string; params?: unknown }[] = [];
  const before = 'snapshot' in from ? JSON.stringify(from.snapshot) : '';
  try {
    if ('snapshot' in from) {
      const persisted = from.snapshot as { value: unknown; context: MachineContext };
      const current = machine.resolveState({ value: persisted.value as never, context: persisted.context });
      [next, actions] = event ? transition(machine, current, event) : [current, []];
    } else {
      [next, actions] = initialTransition(machine, from.input);
    }
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
    const persisted = 'snapshot' in from ? (from.snapshot as { value: unknown; context: MachineContext }) : undefined;
    next = persisted ? machine.resolveState({ value: persisted.value as never, context: persisted.context }) : machine.resolveState({ value: 'diagnosing' as never, context: ('input' in from ? from.input : {}) as never });
  }
  if (next.status === 'error' && !error) error = String(next.error);
  const { effects, notes } = collect(actions);
  const json = JSON.stringify(machine.getPersistedSnapshot(next));
  return {
    snapshot: JSON.parse(json) as unknown,
    context: next.context as MachineContext,
    state: incidentStateOf(next.value),
    effects,
    notes,
    changed: json !== before,
    ...(error !== undefined ? { error } : {}),
  };
}
