/**
 * Apply one event to a persisted machine snapshot (or start a new machine) and collect what the
 * machine asked for. Pure apart from XState itself: restore → transition → persisted snapshot.
 * Entry actions are not replayed on restore, so the effects returned are exactly this step's.
 */
import { createActor } from 'xstate';
import type { AnyStateMachine } from 'xstate';
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

/** Where the provided actions of a machine collect into during one (synchronous) step. */
interface Sink {
  effects: Effect[];
  notes: MachineNote[];
}

/**
 * The machine with its `effect` / `note` actions provided, built once per compiled machine
 * (`provide()` per step cost more than the step itself). A step runs synchronously, so one sink
 * per machine, swapped in for the duration of the step, is safe.
 */
const provided = new WeakMap<AnyStateMachine, { machine: AnyStateMachine; sink: Sink }>();

function withSink(machine: AnyStateMachine): { machine: AnyStateMachine; sink: Sink } {
  let hit = provided.get(machine);
  if (!hit) {
    const sink: Sink = { effects: [], notes: [] };
    const m = machine.provide({
      actions: {
        effect: (_: unknown, p: Effect) => void sink.effects.push(p),
        note: (_: unknown, p: MachineNote) => {
          if (p.summary) sink.notes.push(p);
        },
      },
    });
    hit = { machine: m, sink };
    provided.set(machine, hit);
  }
  return hit;
}

export function stepMachine(machine: AnyStateMachine, from: { snapshot: unknown } | { input: MachineContext }, event?: MachineEvent): StepResult {
  const { machine: m, sink } = withSink(machine);
  const effects: Effect[] = [];
  const notes: MachineNote[] = [];
  sink.effects = effects;
  sink.notes = notes;
  const actor = 'snapshot' in from ? createActor(m, { snapshot: from.snapshot as never }) : createActor(m, { input: from.input });
  let error: string | undefined;
  actor.subscribe({ error: (e) => void (error = e instanceof Error ? e.message : String(e)) });
  actor.start();
  const before = 'snapshot' in from ? JSON.stringify(from.snapshot) : '';
  if (event) actor.send(event);
  const snap = actor.getSnapshot();
  const persisted = actor.getPersistedSnapshot();
  actor.stop();
  if (snap.status === 'error' && !error) error = String(snap.error);
  const json = JSON.stringify(persisted);
  return {
    snapshot: JSON.parse(json) as unknown,
    context: snap.context as MachineContext,
    state: incidentStateOf(snap.value),
    effects,
    notes,
    changed: json !== before,
    ...(error !== undefined ? { error } : {}),
  };
}
