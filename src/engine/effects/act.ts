/**
 * The act effect: take the target's lock, re-check the precondition on the live target, then send
 * exactly the approved commands, one at a time, each checkpointed in the store before and after it
 * is sent. A `repeat` step is planned again from the live target after each round (the round's plan
 * is stored before any of it is sent) until its plan is empty or its round limit is reached.
 *
 * After a crash the job runs again and resumes at the first command not known to be done: a
 * command found "sending" is checked on the live target with its action's `applied()` — in place:
 * skipped; not in place: sent; cannot tell: the incident escalates (never sent twice blindly).
 * Every command has a hard timeout.
 */
import { formatPlanned } from '../../actions/command-format.js';
import type { CommandOutcome, PlannedCommand, TargetHandle } from '../../actions/types.js';
import { parseNodeKey } from '../../actions/redis/connection.js';
import { redisErrorCode, RunbooksError } from '../../errors.js';
import { compileExpr } from '../expr/index.js';
import type { TargetLocks } from '../locks.js';
import { scopeOf } from '../machine/scope.js';
import type { MachineContext } from '../machine/types.js';
import type { ActStepDef, RunbookDef } from '../runbook/schema.js';
import { isWait } from '../runbook/schema.js';
import { durationMs } from '../runbook/duration.js';
import type { IncidentRecord } from '../store/incidents.js';
import type { EffectEnv } from './context.js';
import { entry } from './context.js';
import type { EffectOutcome } from './diagnose.js';
import { runSteps } from './diagnose.js';
import { planStep, stepInput } from './plan.js';

/** Commands this process sent (for the crash-test fault injection only). */
let sentByThisProcess = 0;

/** Version of the intent record layout: v2 checkpoints every command. */
const INTENT_VERSION = '2';

type Failure = { code: string; message: string };

function show(c: PlannedCommand): string {
  return formatPlanned(c);
}

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

  // Phases: this run covers the steps from `phaseStart` up to the next wait (exclusive).
  const phaseStart = current.phaseStart ?? 0;
  const nextWait = rem.steps.findIndex((s, i) => i >= phaseStart && isWait(s));
  const phaseEnd = nextWait < 0 ? rem.steps.length : nextWait;
  const waitAt = nextWait < 0 ? {} : { waitAt: nextWait };
  const phaseCommands = current.commands.filter((c) => (c.step ?? 0) >= phaseStart && (c.step ?? 0) < phaseEnd);
  const intentKey = env.keys.intent(rec.id, phaseStart === 0 ? key : `${key}-p${phaseStart}`);
  const prior = await env.redis.hgetall(intentKey);
  if (prior['status'] === 'done') {
    if (prior['failed']) return { failed: JSON.parse(prior['failed']) as Failure };
    return { result: { kind: 'act', skipped: false, outcomes: JSON.parse(prior['outcomes'] ?? '[]') as CommandOutcome[], ...waitAt } };
  }
  const resuming = prior['status'] === 'started';
  if (resuming && prior['v'] !== INTENT_VERSION) {
    // Written by an engine that did not checkpoint each command: we cannot tell what was sent.
    return { failed: { code: 'intent_interrupted', message: `${rem.title}: a previous attempt started at ${prior['at']} and was interrupted; it is not repeated — check the target by hand` } };
  }

  if (!resuming && phaseStart === 0 && rem.precondition) {
    const pre = compileExpr(rem.precondition);
    const roots = new Set(pre.paths());
    const steps = def.diagnose.filter((s) => roots.has(s.id) || Object.keys(def.derive).some((d) => roots.has(d)));
    const { findings } = await runSteps(env, rec, target, def, ctx, steps, { derive: true, timelineKind: 'finding' });
    const fresh = { ...ctx.findings, ...findings };
    if (!pre.test(scopeOf({ ...ctx, findings: fresh }))) {
      const reason = `precondition no longer holds on the live target (${rem.precondition}); ${rem.title} skipped`;
      await env.store.append(rec.id, entry(env, 'precondition.failed', reason, { remediation: remId }));
      // Is the symptom itself gone? Then the incident resolves without any change; else decide again.
      const symptom = def.symptom ? (await runSteps(env, rec, target, def, { ...ctx, findings: fresh }, def.symptom.steps, { derive: false, timelineKind: 'verification.poll' })).findings : {};
      return { result: { kind: 'act', skipped: true, reason, findings: { ...findings, ...symptom } } };
    }
  }

  if (!resuming && phaseStart === 0) {
    const open = await breakerTrips(env, rec, key);
    if (open) return { failed: open };
  }

  const phase = phaseStart > 0 || nextWait >= 0 ? ` (phase ${rem.steps.slice(0, phaseStart).filter(isWait).length + 1})` : '';
  const intentEntry = async (): Promise<void> => {
    await env.store.append(rec.id, entry(env, 'command.intent', `about to send${phase}: ${phaseCommands.map(show).join('; ') || 'nothing'}`, { remediation: remId, key, commands: phaseCommands }));
    await env.redis.hset(intentKey, 'logged', '1');
  };
  if (resuming) {
    // Stopped between recording the intent and writing it to the timeline: write it now, once.
    if (prior['logged'] !== '1') await intentEntry();
    await env.store.append(rec.id, entry(env, 'note', `${rem.title}: resuming after an interruption (the previous attempt started at ${prior['at']}); commands already done are not sent again`, { remediation: remId, key }));
  } else {
    const at = new Date(env.now()).toISOString();
    await env.redis.hset(intentKey, { v: INTENT_VERSION, status: 'started', at, commands: JSON.stringify(phaseCommands) });
    await env.redis.pexpire(intentKey, 30 * 24 * 3600_000);
    await intentEntry();
  }

  const outcomes: CommandOutcome[] = [];
  let failure: Failure | undefined;
  for (let i = phaseStart; i < phaseEnd; i++) {
    const step = rem.steps[i];
    if (!step || isWait(step)) continue;
    failure = await runStep(env, locks, rec, target, ctx, intentKey, remId, step, i, current.commands.filter((c) => (c.step ?? 0) === i), outcomes);
    if (failure) break;
  }
  await env.redis.hset(intentKey, { status: 'done', outcomes: JSON.stringify(outcomes), failed: failure ? JSON.stringify(failure) : '' });
  if (failure) return { failed: failure };
  return { result: { kind: 'act', skipped: false, outcomes, ...waitAt } };
}

/**
 * The circuit breaker: at most `max` remediations of this runbook on this target within the
 * window (a sorted set in the store, so it holds across processes and restarts). When it is open
 * the incident escalates instead of acting, and says why; otherwise this remediation is counted.
 */
async function breakerTrips(env: EffectEnv, rec: IncidentRecord, key: string): Promise<Failure | undefined> {
  const k = env.keys.breaker(rec.target, rec.runbook);
  const now = env.now();
  // One round trip, atomic: drop what left the window; a retry of this remediation passes; else
  // count it, or refuse when the window is full (the members say which incidents filled it).
  const r = (await env.redis.eval(BREAKER, 1, k, String(now), String(env.breaker.windowMs), `${rec.id}:${key}`, String(env.breaker.max))) as [number, string[]?];
  if (r[0] !== 1) return undefined;
  const recent = r[1] ?? [];
  const mins = Math.round(env.breaker.windowMs / 60_000);
  return {
    code: 'circuit_open',
    message: `circuit breaker open: ${recent.length} remediations of ${rec.runbook} on target ${rec.target} in the last ${mins} min (limit ${env.breaker.max}; incidents ${[...new Set(recent.map((m) => m.split(':')[0]))].join(', ')}); escalating instead of acting — something keeps bringing the problem back`,
  };
}

const BREAKER = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then return {0} end
local recent = redis.call('ZRANGE', KEYS[1], 0, -1)
if #recent >= tonumber(ARGV[4]) then return {1, recent} end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {0}`;

/** Run one step: its approved commands (round 0), then, for a `repeat` step, the next rounds. */
async function runStep(
  env: EffectEnv,
  locks: TargetLocks,
  rec: IncidentRecord,
  target: TargetHandle,
  ctx: MachineContext,
  intentKey: string,
  remId: string,
  step: ActStepDef,
  i: number,
  approved: PlannedCommand[],
  outcomes: CommandOutcome[],
): Promise<Failure | undefined> {
  const action = env.actions.get(step.action);
  if (!action) return { code: 'action_unknown', message: `unknown action ${step.action}` };
  let input: unknown;
  try {
    input = action.input.parse(stepInput(step, ctx));
  } catch (e) {
    return { code: e instanceof RunbooksError ? e.code : 'input_invalid', message: (e as Error).message };
  }
  const rounds = step.repeat?.max ?? 1;
  const timeoutMs = step.timeout !== undefined ? durationMs(step.timeout) : action.timeoutMs;
  for (let round = 0; round < rounds; round++) {
    let cmds: PlannedCommand[];
    if (round === 0) cmds = approved;
    else {
      const stored = await env.redis.hget(intentKey, `plan:${i}:${round}`);
      if (stored) cmds = JSON.parse(stored) as PlannedCommand[];
      else {
        try {
          cmds = await planStep(env, rec, target, ctx, step, i, remId, round);
        } catch (e) {
          return { code: e instanceof RunbooksError ? e.code : redisErrorCode(e), message: `${step.action}: planning round ${round + 1} failed: ${(e as Error).message}` };
        }
        // Frozen before any of it is sent: a resumed run sends exactly this round.
        await env.redis.hset(intentKey, `plan:${i}:${round}`, JSON.stringify(cmds));
      }
      if (cmds.length === 0) {
        await env.store.append(rec.id, entry(env, 'note', `${step.action}: done after ${round} round${round === 1 ? '' : 's'} (nothing left to do)`, { remediation: remId, step: i, rounds: round }));
        return undefined;
      }
      await locks.refresh(target.name, rec.id);
    }
    for (const [j, cmd] of cmds.entries()) {
      const field = `c:${i}:${round}:${j}`;
      const st = await env.redis.hget(intentKey, field);
      if (st === 'done') continue;
      const node = parseNodeKey(cmd.origin ?? cmd.node);
      const actx = {
        target,
        node,
        findings: ctx.findings,
        params: { ...ctx.params, ...(input as Record<string, unknown>) },
        dryRun: false,
        log: env.log.child({ incident: rec.id, action: step.action }),
        now: env.now,
      };
      if (st === 'sending') {
        // Interrupted between "about to send" and "sent": look at the target before deciding.
        let inPlace: boolean | undefined;
        try {
          inPlace = action.applied ? await action.applied(cmd, input, { ...actx, signal: new AbortController().signal }) : undefined;
        } catch (e) {
          inPlace = undefined;
          env.log.warn({ incident: rec.id, err: (e as Error).message }, 'applied() check failed');
        }
        if (inPlace === undefined) {
          return { code: 'intent_interrupted', message: `${show(cmd)} was being sent when the engine stopped and ${step.action} cannot tell whether it took effect; it is not repeated — check the target by hand` };
        }
        await env.store.append(rec.id, entry(env, 'note', `${show(cmd)}: interrupted (the worker stopped while sending it); checked on the live target: ${inPlace ? 'already in place, not sent again' : 'not in place, sending it now'}`, { remediation: remId, command: cmd, inPlace }));
        if (inPlace) {
          await env.redis.hset(intentKey, field, 'done');
          outcomes.push({ ...cmd, ok: true, reply: 'already in place (checked after a restart)' });
          continue;
        }
      }
      await env.redis.hset(intentKey, field, 'sending');
      const ac = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      try {
        const res = (await Promise.race([
          action.run(input, { ...actx, signal: ac.signal }, [cmd]),
          new Promise<never>((_, rej) => {
            timer = setTimeout(() => {
              ac.abort();
              rej(new RunbooksError('command_timeout', `${show(cmd)} did not answer within ${timeoutMs} ms`));
            }, timeoutMs);
          }),
        ])) as { outcomes?: CommandOutcome[] } & Record<string, unknown>;
        sentByThisProcess++;
        if (env.killAfterCommands !== undefined && sentByThisProcess >= env.killAfterCommands) process.kill(process.pid, 'SIGKILL');
        if (env.hangAt) await env.hangAt(rec, 'command-sent');
        const got = res.outcomes ?? [];
        for (const o of got) {
          outcomes.push(o);
          await env.store.append(rec.id, entry(env, 'command.executed', `${show(o)} → ${o.ok ? (o.reply ?? 'OK') : `ERROR ${o.error}`}`, { ...o, remediation: remId, round: round + 1 }));
        }
        // Commands run one at a time, so "persisted" is read from the REWRITE's own outcome: the
        // change is live but will not survive a restart (e.g. the server runs without a config file).
        for (const o of got) {
          if (!o.ok && o.argv[0]?.toUpperCase() === 'CONFIG' && o.argv[1]?.toUpperCase() === 'REWRITE') {
            await env.store.append(rec.id, entry(env, 'note', `${o.node}: the change is live but not persisted (CONFIG REWRITE: ${o.error ?? 'failed'})`, { persisted: false, node: o.node }));
          }
        }
        await env.redis.hset(intentKey, field, 'done');
        const bad = got.find((o) => !o.ok && !(o.argv[0]?.toUpperCase() === 'CONFIG' && o.argv[1]?.toUpperCase() === 'REWRITE'));
        if (bad) return { code: 'command_failed', message: `${show(bad)} failed: ${bad.error}` };
      } catch (e) {
        const f = { code: e instanceof RunbooksError ? e.code : redisErrorCode(e), message: (e as Error).message };
        // A timed-out command may or may not have taken effect: it stays "sending" (checked on resume).
        if (f.code !== 'command_timeout') await env.redis.hset(intentKey, field, 'done');
        await env.store.append(rec.id, entry(env, 'error', `${step.action} on ${cmd.origin ?? cmd.node} failed: ${f.message}`, { code: f.code }));
        return f;
      } finally {
        clearTimeout(timer);
      }
    }
    if (step.repeat) {
      await env.store.append(rec.id, entry(env, 'note', `${step.action}: round ${round + 1} done (${cmds.length} command${cmds.length === 1 ? '' : 's'})`, { remediation: remId, step: i, round: round + 1, commands: cmds.length }));
    }
  }
  if (step.repeat) {
    await env.store.append(rec.id, entry(env, 'note', `${step.action}: stopped after the limit of ${rounds} rounds; verification decides whether that was enough`, { remediation: remId, step: i, rounds }));
  }
  return undefined;
}
