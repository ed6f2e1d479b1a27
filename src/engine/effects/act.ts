/**
 * The act effect: take the target's lock, re-check the precondition on the live target, record
 * the intent, send exactly the approved commands, record the outcome. The intent record makes it
 * at-most-once: a step found "started" after a crash is never repeated, it is escalated.
 */
import { getAction } from '../../actions/registry.js';
import type { CommandOutcome, PlannedCommand, TargetHandle } from '../../actions/types.js';
import { redisErrorCode, RunbooksError } from '../../errors.js';
import { compileExpr } from '../expr/index.js';
import type { TargetLocks } from '../locks.js';
import { scopeOf } from '../machine/scope.js';
import type { MachineContext } from '../machine/types.js';
import type { RunbookDef } from '../runbook/schema.js';
import type { IncidentRecord } from '../store/incidents.js';
import type { EffectEnv } from './context.js';
import { entry } from './context.js';
import type { EffectOutcome } from './diagnose.js';
import { runSteps } from './diagnose.js';

export async function act(
  env: EffectEnv,
  locks: TargetLocks,
  rec: IncidentRecord,
  target: TargetHandle,
  def: RunbookDef,
  ctx: MachineContext,
  remId: string,
  key: string,
  attempt: number,
): Promise<EffectOutcome> {
  const rem = def.remediations[remId];
  const current = ctx.current;
  if (!rem || !current) return { failed: { code: 'remediation_unknown', message: `unknown remediation ${remId}` } };

  const holder = await locks.acquire(target.name, rec.id);
  if (holder !== rec.id) {
    if (attempt === 0) await env.store.append(rec.id, entry(env, 'lock.waiting', `waiting: incident ${holder} is remediating target ${target.name}`, { holder }));
    return { deferred: true };
  }

  const intentKey = env.keys.intent(rec.id, key);
  const prior = await env.redis.hgetall(intentKey);
  if (prior['status'] === 'done') {
    if (prior['failed']) return { failed: JSON.parse(prior['failed']) as { code: string; message: string } };
    return { result: { kind: 'act', skipped: false, outcomes: JSON.parse(prior['outcomes'] ?? '[]') as CommandOutcome[] } };
  }
  if (prior['status'] === 'started') {
    return { failed: { code: 'intent_interrupted', message: `${rem.title}: a previous attempt started at ${prior['at']} and was interrupted; it is not repeated — check the target by hand` } };
  }

  if (rem.precondition) {
    const pre = compileExpr(rem.precondition);
    const roots = new Set(pre.paths());
    const steps = def.diagnose.filter((s) => roots.has(s.id) || Object.keys(def.derive).some((d) => roots.has(d)));
    const { findings } = await runSteps(env, rec, target, def, ctx, steps, { derive: true, timelineKind: 'finding' });
    const fresh = { ...ctx.findings, ...findings };
    if (!pre.test(scopeOf({ ...ctx, findings: fresh }))) {
      const reason = `precondition no longer holds on the live target (${rem.precondition}); ${rem.title} skipped`;
      await env.store.append(rec.id, entry(env, 'precondition.failed', reason, { remediation: remId }));
      return { result: { kind: 'act', skipped: true, reason, findings } };
    }
  }

  const at = new Date(env.now()).toISOString();
  await env.redis.hset(intentKey, { status: 'started', at, commands: JSON.stringify(current.commands) });
  await env.redis.pexpire(intentKey, 30 * 24 * 3600_000);
  await env.store.append(rec.id, entry(env, 'command.intent', `about to send: ${current.commands.map((c) => `${c.node}: ${c.argv.join(' ')}`).join('; ')}`, { remediation: remId, key, commands: current.commands }));

  const outcomes: CommandOutcome[] = [];
  let failure: { code: string; message: string } | undefined;
  const groups = new Map<string, PlannedCommand[]>();
  for (const c of current.commands) {
    const g = `${c.step ?? 0}|${c.origin ?? c.node}`;
    groups.set(g, [...(groups.get(g) ?? []), c]);
  }
  for (const [g, cmds] of groups) {
    const [stepIdx, origin] = g.split('|') as [string, string];
    const step = rem.steps[Number(stepIdx)];
    const action = step ? getAction(step.action) : undefined;
    if (!step || !action) {
      failure = { code: 'action_unknown', message: `no step ${stepIdx}` };
      break;
    }
    const [host, port] = [origin.slice(0, origin.lastIndexOf(':')), Number(origin.slice(origin.lastIndexOf(':') + 1))];
    const ac = new AbortController();
    try {
      const res = (await action.run(action.input.parse(step.with), {
        target,
        node: { host, port },
        findings: ctx.findings,
        params: { ...ctx.params, ...step.with },
        dryRun: false,
        log: env.log.child({ incident: rec.id, action: step.action }),
        signal: ac.signal,
        now: env.now,
      }, cmds)) as { outcomes?: CommandOutcome[] } & Record<string, unknown>;
      for (const o of res.outcomes ?? []) {
        outcomes.push(o);
        await env.store.append(rec.id, entry(env, 'command.executed', `${o.node}: ${o.argv.join(' ')} → ${o.ok ? (o.reply ?? 'OK') : `ERROR ${o.error}`}`, { ...o, remediation: remId }));
      }
      for (const [k, v] of Object.entries(res)) {
        if (k !== 'outcomes' && (k === 'persisted' || k === 'notes')) {
          await env.store.append(rec.id, entry(env, 'note', `${step.action}: ${k} = ${JSON.stringify(v)}`, { [k]: v }));
        }
      }
      const bad = (res.outcomes ?? []).find((o) => !o.ok && !(o.argv[0]?.toUpperCase() === 'CONFIG' && o.argv[1]?.toUpperCase() === 'REWRITE'));
      if (bad) {
        failure = { code: 'command_failed', message: `${bad.node}: ${bad.argv.join(' ')} failed: ${bad.error}` };
        break;
      }
    } catch (e) {
      failure = { code: e instanceof RunbooksError ? e.code : redisErrorCode(e), message: (e as Error).message };
      await env.store.append(rec.id, entry(env, 'error', `${step.action} on ${origin} failed: ${failure.message}`, { code: failure.code }));
      break;
    }
  }
  await env.redis.hset(intentKey, { status: 'done', outcomes: JSON.stringify(outcomes), failed: failure ? JSON.stringify(failure) : '' });
  if (failure) return { failed: failure };
  return { result: { kind: 'act', skipped: false, outcomes } };
}
