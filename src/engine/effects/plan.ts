/**
 * The plan effect: ask each step of a remediation for the exact commands it would send, to which
 * node. The plan is frozen into the proposal: what is approved is exactly what runs. In a dry run
 * the plan is written to the timeline and nothing is sent.
 */
import { resolveNodes } from '../../actions/redis/topology.js';
import type { NodeSelector } from '../../actions/redis/topology.js';
import { getAction } from '../../actions/registry.js';
import type { PlannedCommand, TargetHandle } from '../../actions/types.js';
import { nodeKey } from '../../actions/types.js';
import { redisErrorCode } from '../../errors.js';
import type { MachineContext } from '../machine/types.js';
import type { RunbookDef } from '../runbook/schema.js';
import type { IncidentRecord } from '../store/incidents.js';
import type { EffectEnv } from './context.js';
import { entry } from './context.js';
import type { EffectOutcome } from './diagnose.js';

export async function plan(env: EffectEnv, rec: IncidentRecord, target: TargetHandle, def: RunbookDef, ctx: MachineContext, remId: string): Promise<EffectOutcome> {
  const rem = def.remediations[remId];
  if (!rem) return { failed: { code: 'remediation_unknown', message: `unknown remediation ${remId}` } };
  if (rem.targetRoles && !rem.targetRoles.includes(target.role)) {
    return { failed: { code: 'target_role_forbidden', message: `${rem.title} is not allowed on a '${target.role}' target` } };
  }
  const commands: PlannedCommand[] = [];
  try {
    for (const [i, step] of rem.steps.entries()) {
      const action = getAction(step.action);
      if (!action?.plan) return { failed: { code: 'action_not_plannable', message: `${step.action} cannot plan` } };
      const input = action.input.parse(step.with);
      const nodes = await resolveNodes(target, step.on as NodeSelector, rec.node);
      for (const node of nodes) {
        const ac = new AbortController();
        const cmds = await action.plan(input, {
          target,
          node,
          findings: ctx.findings,
          params: { ...ctx.params, ...step.with },
          dryRun: rec.dryRun,
          log: env.log.child({ incident: rec.id, action: step.action }),
          signal: ac.signal,
          now: env.now,
        });
        for (const c of cmds) commands.push({ ...c, step: i, origin: nodeKey(node) });
      }
    }
  } catch (e) {
    return { failed: { code: redisErrorCode(e), message: (e as Error).message } };
  }
  const lines = commands.map((c) => `${c.node}: ${c.argv.join(' ')}`);
  await env.store.append(
    rec.id,
    entry(env, rec.dryRun ? 'command.dry-run' : 'proposal', `${rem.title} (${rem.risk})${rec.dryRun ? ' — dry run, would send' : ''}: ${lines.join('; ') || 'nothing to send'}`, {
      remediation: remId,
      risk: rem.risk,
      commands,
    }),
  );
  return { result: { kind: 'plan', commands } };
}
