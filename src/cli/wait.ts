/** Wait for an incident to reach a state a person must act on (approval) or a final state. */
import type { Engine } from '../engine/engine.js';
import type { IncidentDetail } from '../engine/types.js';
import { FINAL_STATES } from '../engine/types.js';

export async function waitForStop(engine: Engine, id: string, opts: { timeoutMs: number; untilStates?: string[] }): Promise<IncidentDetail | undefined> {
  const stopAt = Date.now() + opts.timeoutMs;
  const stops = opts.untilStates ?? [...FINAL_STATES, 'awaiting_approval'];
  for (;;) {
    const inc = await engine.getIncident(id);
    if (inc && stops.includes(inc.state)) return inc;
    if (Date.now() > stopAt) return inc;
    await new Promise((r) => setTimeout(r, 100));
  }
}
