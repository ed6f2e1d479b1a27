/**
 * Compile a validated runbook into an XState v5 machine. Pure: no I/O. The machine records what
 * must happen as `effect` and `note` actions; the engine supplies their implementations (to collect
 * them) with `machine.provide()`, persists the snapshot, then carries the effects out.
 *
 * Shape: diagnosing → deciding → rem_<id>.{planning → awaitingApproval → acting → verifying}
 * → resolved | escalated | cancelled | completed | handover_<runbook>.
 */
import { assign, setup } from 'xstate';
import type { AnyStateMachine } from 'xstate';
import { compileExpr, interpolate } from '../expr/index.js';
import type { CompiledExpr } from '../expr/index.js';
import type { OutcomeDef, RemediationDef, RunbookDef } from '../runbook/schema.js';
import { isWait, proposalsOf } from '../runbook/schema.js';
import { unevaluable } from './explain.js';
import { durationMs } from '../runbook/duration.js';
import { scopeOf } from './scope.js';
import type { Effect, EffectResult, MachineContext, MachineEvent, MachineNote } from './types.js';

type Ctx = MachineContext;
type Ev = MachineEvent;
type Args = { context: Ctx; event: Ev };

export interface CompiledMachine {
  machine: AnyStateMachine;
  /** Expressions by YAML path, already parsed (shared with the effects that evaluate them). */
  exprs: Map<string, CompiledExpr>;
}

export interface CompileOptions {
  defaultApprovalTimeoutMs: number;
}

const FINALS = ['resolved', 'escalated', 'cancelled', 'completed'] as const;

function awaited({ context, event }: Args): boolean {
  return (event.type === 'effect.done' || event.type === 'effect.failed') && event.seq === context.awaiting;
}

function resultOf(event: Ev): EffectResult | undefined {
  return event.type === 'effect.done' ? event.result : undefined;
}

/** Entry actions that issue the next awaited effect. */
function issue(make: (c: Ctx) => Effect): unknown[] {
  return [
    assign({ seq: ({ context }: Args) => context.seq + 1, awaiting: ({ context }: Args) => context.seq + 1 }),
    // Kept in the snapshot: after a crash, recovery re-dispatches exactly the effect awaited.
    assign({ pendingEffect: ({ context }: Args) => make(context) }),
    { type: 'effect', params: ({ context }: Args) => make(context) },
  ];
}

function note(make: (a: Args) => MachineNote | undefined): unknown {
  return { type: 'note', params: (a: Args) => make(a) ?? { kind: 'note', summary: '', data: { skip: true } } };
}

function setOutcome(make: (a: Args) => string): unknown {
  return assign({ outcome: (a: Args) => make(a) });
}

function mergeFindings(): unknown {
  return assign({
    findings: ({ context, event }: Args) => {
      const r = resultOf(event);
      if (r && 'findings' in r) return { ...context.findings, ...r.findings };
      return context.findings;
    },
  });
}

function outcomeTarget(o: OutcomeDef): string {
  if (typeof o === 'object') return `#rb.handover_${o.handover}`;
  return o === 'resolve' ? '#rb.resolved' : o === 'escalate' ? '#rb.escalated' : '#rb.deciding';
}

function handoversOf(def: RunbookDef): string[] {
  const out = new Set<string>();
  for (const r of Object.values(def.remediations)) {
    for (const o of [r.onSuccess, r.onFailure]) if (typeof o === 'object') out.add(o.handover);
  }
  return [...out];
}

export function compileMachine(def: RunbookDef, opts: CompileOptions): CompiledMachine {
  const exprs = new Map<string, CompiledExpr>();
  const ex = (path: string, src: string): CompiledExpr => {
    const c = compileExpr(src);
    exprs.set(path, c);
    return c;
  };

  const noteRules = def.decide
    .map((r, i) => ({ r, i, cond: ex(`decide[${i}].when`, r.when) }))
    .filter((x) => x.r.note !== undefined);

  const available = (ids: string[], context: Ctx): string[] =>
    ids.filter((id) => {
      const rem = def.remediations[id];
      return rem !== undefined && !context.tried.includes(id) && roleAllowed(rem, context);
    });
  const reasonOf = (r: (typeof def.decide)[number], i: number, context: Ctx, title: string): string =>
    `${title}: ${r.reason ? interpolate(r.reason, scopeOf(context)) : `rule ${r.id ?? i} matched`}`;

  const deciding: unknown[] = [];
  const offerRules: number[] = [];
  def.decide.forEach((r, i) => {
    const cond = exprs.get(`decide[${i}].when`) ?? ex(`decide[${i}].when`, r.when);
    if (r.escalate !== undefined) {
      const why = r.escalate;
      deciding.push({
        // A dry run that has planned its candidates completes: an escalation read from the
        // findings it started with would describe a change that was never made.
        guard: ({ context }: Args) => !(context.dryRun && context.tried.length > 0) && cond.test(scopeOf(context)),
        target: 'escalated',
        actions: [
          note(({ context }) => ({ kind: 'decision', summary: `escalate: ${interpolate(why, scopeOf(context))}`, data: { rule: r.id ?? i, when: r.when } })),
          setOutcome(({ context }) => interpolate(why, scopeOf(context))),
        ],
      });
      return;
    }
    const ids = proposalsOf(r);
    if (ids.length === 0) return;
    if (ids.length > 1) {
      offerRules.push(i);
      // Several left: offer them side by side.
      deciding.push({
        guard: ({ context }: Args) => available(ids, context).length > 1 && cond.test(scopeOf(context)),
        target: 'offering',
        actions: [
          assign({
            current: ({ context }: Args) => ({
              remediation: available(ids, context)[0] ?? '',
              key: `offer-${r.id ?? i}#${context.seq + 1}`,
              commands: [],
              approvals: [],
              polls: 0,
              options: available(ids, context).map((id) => ({ remediation: id, commands: [] })),
            }),
          }),
          note(({ context }) => ({
            kind: 'decision',
            summary: `${available(ids, context).length} options fit: ${available(ids, context).map((id, k) => `(${k + 1}) ${def.remediations[id]?.title ?? id}`).join('; ')}${r.reason ? ` — ${interpolate(r.reason, scopeOf(context))}` : ''}`,
            data: { rule: r.id ?? i, options: available(ids, context), when: r.when },
          })),
        ],
      });
    }
    // One left (or a single proposal): propose it.
    for (const remId of ids) {
      const rem = def.remediations[remId];
      if (!rem) continue;
      deciding.push({
        guard: ({ context }: Args) => {
          const left = available(ids, context);
          return left.length >= 1 && left[0] === remId && (ids.length === 1 || left.length === 1) && cond.test(scopeOf(context));
        },
        target: `rem_${remId}`,
        actions: [note(({ context }) => ({ kind: 'decision', summary: reasonOf(r, i, context, rem.title), data: { rule: r.id ?? i, remediation: remId, when: r.when } }))],
      });
    }
  });
  deciding.push(
    {
      guard: ({ context }: Args) => allFailed(def, context),
      target: 'escalated',
      actions: [setOutcome(({ context }) => `diagnosis failed: every diagnostic step failed (${failureCodes(def, context).join(', ')}); too little is known to decide — is the target reachable, are its credentials right?`)],
    },
    { guard: ({ context }: Args) => context.dryRun, target: 'completed', actions: [setOutcome(() => 'dry run: nothing was changed')] },
    {
      guard: ({ context }: Args) => context.tried.length > 0,
      target: 'escalated',
      actions: [setOutcome(({ context }) => `no remediation left to try after ${context.tried.join(', ')}; needs a human`)],
    },
    def.onNoRemediation === 'resolve'
      ? { target: 'resolved', actions: [setOutcome(() => 'diagnosed; no remediation needed')] }
      : { target: 'escalated', actions: [setOutcome(() => 'no automatic remediation applies to these findings; needs a human')] },
  );

  const symptomCleared = def.symptom ? ex('symptom.cleared', def.symptom.cleared) : undefined;
  const remStates: Record<string, unknown> = {};
  for (const [remId, rem] of Object.entries(def.remediations)) {
    remStates[`rem_${remId}`] = remediationState(remId, rem, opts, ex, symptomCleared);
  }
  const offered = [...new Set(offerRules.flatMap((i) => proposalsOf(def.decide[i] ?? { when: '' })))];
  const offering = offered.length > 0 ? { offering: offeringState(def, offered, opts) } : {};

  const finals: Record<string, unknown> = {};
  for (const f of FINALS) {
    finals[f] = {
      type: 'final',
      entry: [{ type: 'effect', params: ({ context }: Args) => ({ kind: 'closed', seq: context.seq, state: f, outcome: context.outcome ?? f }) }],
    };
  }
  for (const h of handoversOf(def)) {
    finals[`handover_${h}`] = {
      type: 'final',
      entry: [
        setOutcome(() => `handed over to runbook ${h}`),
        { type: 'effect', params: ({ context }: Args) => ({ kind: 'handover', seq: context.seq, runbook: h }) },
        { type: 'effect', params: ({ context }: Args) => ({ kind: 'closed', seq: context.seq, state: 'completed', outcome: `handed over to runbook ${h}` }) },
      ],
    };
  }

  const config = {
    id: 'rb',
    context: ({ input }: { input: Ctx }) => input,
    initial: 'diagnosing',
    on: {
      'incident.cancel': {
        target: '.cancelled',
        actions: [setOutcome(({ event }) => `cancelled by ${event.type === 'incident.cancel' ? event.by : 'unknown'}`)],
      },
    },
    states: {
      diagnosing: {
        entry: issue((c) => ({ kind: 'diagnose', seq: c.seq })),
        on: {
          'alert.resolved': resolvedBeforeProposal(),
          'effect.done': {
            guard: awaited,
            target: 'deciding',
            actions: [
              mergeFindings(),
              ...def.decide.map((r, i) => {
                const cond = exprs.get(`decide[${i}].when`);
                return note(({ context }) => {
                  if (!cond || cond.test(scopeOf(context))) return undefined;
                  const why = unevaluable(cond, context.findings);
                  return why ? { kind: 'note', summary: `could not evaluate decide[${i}]${r.id ? ` (${r.id})` : ''} '${r.when}': ${why}`, data: { rule: r.id ?? i, unevaluable: true } } : undefined;
                });
              }),
              ...noteRules.map(({ r, i, cond }) =>
                note(({ context }) =>
                  cond.test(scopeOf(context))
                    ? { kind: 'note', summary: interpolate(r.note ?? '', scopeOf(context)), data: { rule: r.id ?? i } }
                    : undefined,
                ),
              ),
            ],
          },
          'effect.failed': {
            guard: awaited,
            target: 'escalated',
            actions: [setOutcome(({ event }) => `diagnosis failed: ${event.type === 'effect.failed' ? event.error.message : ''}`)],
          },
        },
      },
      deciding: { always: deciding },
      ...offering,
      ...remStates,
      ...finals,
    },
  };

  const machine = setup({
    types: {} as { context: Ctx; events: Ev; input: Ctx },
    actions: {
      effect: (_: unknown, _params: Effect) => undefined,
      note: (_: unknown, _params: MachineNote) => undefined,
    },
    // The config is generated from runbook data (state names are remediation ids, guards and
    // actions closures over compiled expressions), so XState's literal-keyed config types cannot
    // describe it; its shape is checked by the machine tests and the xstate/graph coverage instead.
  }).createMachine(config as never);
  return { machine: machine as unknown as AnyStateMachine, exprs };
}

function roleAllowed(rem: RemediationDef, ctx: Ctx): boolean {
  return rem.targetRoles === undefined || rem.targetRoles.includes(ctx.target.role);
}

function remediationState(
  remId: string,
  rem: RemediationDef,
  opts: CompileOptions,
  ex: (path: string, src: string) => CompiledExpr,
  symptomCleared: CompiledExpr | undefined,
): unknown {
  const base = `remediations.${remId}`;
  const until = ex(`${base}.verify.until`, rem.verify.until);
  if (rem.precondition) ex(`${base}.precondition`, rem.precondition);
  const every = durationMs(rem.verify.every);
  const within = durationMs(rem.verify.within);
  const holdFor = durationMs(rem.verify.holdFor);
  const required = rem.approval?.approvers ?? 1;
  const timeoutMs = rem.approval?.timeout !== undefined ? durationMs(rem.approval.timeout) : opts.defaultApprovalTimeoutMs;
  const keyMatch = ({ context, event }: Args): boolean => 'key' in event && event.key === context.current?.key;
  const successTarget = outcomeTarget(rem.onSuccess);
  const failureTarget = outcomeTarget(rem.onFailure);
  const pollScope = ({ context, event }: Args): Record<string, unknown> => {
    const r = resultOf(event);
    const findings = r && 'findings' in r ? { ...context.findings, ...r.findings } : context.findings;
    return scopeOf({ ...context, findings });
  };
  const changeOk = (a: Args): boolean => until.test(pollScope(a));
  const symptomOk = (a: Args): boolean => symptomCleared === undefined || symptomCleared.test(pollScope(a));
  const verifyOk = (a: Args): boolean => changeOk(a) && symptomOk(a);
  const atOf = (e: Ev): number => e.at;
  const deadlinePassed = ({ context, event }: Args): boolean =>
    atOf(event) - (context.current?.verifyStartedAt ?? atOf(event)) >= within;
  const holdDone = ({ context, event }: Args): boolean =>
    holdFor === 0 || atOf(event) - (context.current?.holdSince ?? atOf(event)) >= holdFor;
  const patchCurrent = (f: (c: NonNullable<Ctx['current']>, a: Args) => Partial<NonNullable<Ctx['current']>>) =>
    assign({ current: (a: Args) => (a.context.current ? { ...a.context.current, ...f(a.context.current, a) } : undefined) });

  /** Why verification failed, from the last poll: the change not in place, or the symptom still there. */
  const whyFailed = (a: Args): string => {
    const within = `not verified within ${rem.verify.within}`;
    if (a.event.type !== 'effect.done') return `${within} (the last poll failed: the target did not answer)`;
    if (!changeOk(a)) return `${within}: the change is not in place (${rem.verify.until} does not hold)`;
    if (!symptomOk(a)) return `${within}: the change was applied but the symptom did not clear (${symptomCleared?.source ?? ''} does not hold)`;
    return `${within}: it did not hold for ${rem.verify.holdFor}`;
  };
  const failureActions = [
    note((a) => ({ kind: 'verification.failed', summary: `${rem.title}: ${whyFailed(a)}`, data: { remediation: remId, polls: a.context.current?.polls, next: failureTarget === '#rb.deciding' ? 'next option' : failureTarget } })),
    ...(failureTarget === '#rb.escalated' ? [setOutcome((a: Args) => `${rem.title}: ${whyFailed(a)}`)] : []),
  ];

  // Phases: each `wait:` step is a state between two acting phases.
  const waitIndexes = rem.steps.flatMap((st, i) => (isWait(st) ? [i] : []));
  const waitTextOf = (w: number): string => {
    const st = rem.steps[w];
    if (!st || !isWait(st)) return '';
    const x = st.wait;
    const what = x.delay !== undefined ? `waiting ${String(x.delay)}` : x.until !== undefined ? `waiting until ${x.until}` : `waiting for a second approval (${x.approval?.role ?? ''})`;
    return x.title ? `${what} — ${x.title}` : what;
  };
  const nextPhase = (w: number) => patchCurrent(() => ({ phaseStart: w + 1, waitStartedAt: undefined, polls: 0 }));
  const waitStates: Record<string, unknown> = {};
  for (const w of waitIndexes) {
    const st = rem.steps[w];
    if (!st || !isWait(st)) continue;
    const x = st.wait;
    if (x.approval) {
      const gateRequired = x.approval.approvers;
      const gateTimeout = x.approval.timeout !== undefined ? durationMs(x.approval.timeout) : opts.defaultApprovalTimeoutMs;
      waitStates[phaseStateName(rem, w)] = {
        entry: [
          patchCurrent((c, a) => ({ key: `${c.key.replace(/-g\d+$/, '')}-g${w}`, approvals: [], gate: w, expiresAt: a.event.at + gateTimeout })),
          ...issue((c) => ({ kind: 'request-approval', seq: c.seq, remediation: remId, key: c.current?.key ?? '', timeoutMs: gateTimeout })),
        ],
        exit: [patchCurrent(() => ({ gate: undefined }))],
        on: {
          'approval.granted': [
            {
              guard: (a: Args) => keyMatch(a) && isNewApprover(a) && (a.context.current?.approvals.length ?? 0) + 1 >= gateRequired,
              target: 'acting',
              actions: [addApproval(), nextPhase(w)],
            },
            {
              guard: (a: Args) => keyMatch(a) && isNewApprover(a),
              actions: [addApproval(), note(({ context }) => ({ kind: 'note', summary: `${rem.title}: ${context.current?.approvals.length ?? 0} of ${gateRequired} approvals for the next phase` }))],
            },
          ],
          'approval.rejected': {
            guard: keyMatch,
            target: '#rb.escalated',
            actions: [setOutcome(({ event }) => `${rem.title}: the next phase was rejected by ${'by' in event ? event.by : 'unknown'}; what the earlier phase changed stays in place`)],
          },
          'approval.expired': {
            guard: keyMatch,
            target: '#rb.escalated',
            actions: [setOutcome(() => `${rem.title}: nobody approved the next phase in time; what the earlier phase changed stays in place`)],
          },
        },
      };
      continue;
    }
    const every = durationMs(x.every);
    const within = durationMs(x.within);
    const cond = x.until !== undefined ? ex(`${base}.steps[${w}].wait.until`, x.until) : undefined;
    const delayMs = x.delay !== undefined ? durationMs(x.delay) : 0;
    const holds = (a: Args): boolean => cond === undefined || cond.test(pollScope(a));
    const late = (a: Args): boolean => a.event.at - (a.context.current?.waitStartedAt ?? a.event.at) >= within;
    waitStates[phaseStateName(rem, w)] = {
      entry: issue((c) => ({
        kind: 'wait',
        seq: c.seq,
        remediation: remId,
        key: c.current?.key ?? '',
        wait: w,
        poll: cond !== undefined,
        delayMs: cond === undefined ? delayMs : (c.current?.polls ?? 0) === 0 ? 0 : every,
      })),
      on: {
        'effect.done': [
          {
            guard: (a: Args) => awaited(a) && holds(a),
            target: 'acting',
            actions: [mergeFindings(), note(() => ({ kind: 'note', summary: `${rem.title}: ${cond ? `${x.until} holds` : `${String(x.delay)} passed`}; next phase`, data: { remediation: remId, wait: w } })), nextPhase(w)],
          },
          ...(x.onTimeout === 'continue'
            ? [{ guard: (a: Args) => awaited(a) && late(a), target: 'acting', actions: [mergeFindings(), note(() => ({ kind: 'note', summary: `${rem.title}: ${x.until ?? ''} did not hold within ${String(x.within)}; going on as the runbook says` })), nextPhase(w)] }]
            : [{ guard: (a: Args) => awaited(a) && late(a), target: '#rb.escalated', actions: [mergeFindings(), setOutcome(() => `${rem.title}: ${x.until ?? ''} did not hold within ${String(x.within)}; the next phase was not run — what the earlier phase changed stays in place`)] }]),
          { guard: awaited, target: phaseStateName(rem, w), reenter: true, actions: [mergeFindings(), patchCurrent((c) => ({ polls: c.polls + 1 }))] },
        ],
        'effect.failed': [
          { guard: (a: Args) => awaited(a) && late(a), target: '#rb.escalated', actions: [setOutcome(({ event }) => `${rem.title}: waiting failed: ${event.type === 'effect.failed' ? event.error.message : ''}`)] },
          { guard: awaited, target: phaseStateName(rem, w), reenter: true, actions: [patchCurrent((c) => ({ polls: c.polls + 1 }))] },
        ],
      },
    };
  }

  return {
    initial: 'planning',
    entry: [
      assign({
        current: ({ context }: Args) =>
          context.current?.chosen && context.current.remediation === remId
            ? context.current
            : { remediation: remId, key: `${remId}#${context.seq + 1}`, commands: [], approvals: [], polls: 0 },
      }),
    ],
    exit: [
      assign({ tried: ({ context }: Args) => (context.tried.includes(remId) ? context.tried : [...context.tried, remId]) }),
      { type: 'effect', params: ({ context }: Args) => ({ kind: 'release-lock', seq: context.seq }) },
    ],
    states: {
      planning: {
        entry: issue((c) => ({ kind: 'plan', seq: c.seq, remediation: remId, key: c.current?.key ?? '' })),
        on: {
          'alert.resolved': resolvedBeforeProposal(),
          'effect.done': [
            {
              guard: (a: Args) => awaited(a) && commandsOf(a.event).length === 0,
              target: '#rb.deciding',
              actions: [note(() => ({ kind: 'note', summary: `${rem.title}: nothing to do (the plan is empty)`, data: { remediation: remId } }))],
            },
            {
              guard: (a: Args) => awaited(a) && a.context.dryRun,
              target: '#rb.deciding',
              actions: [patchCurrent((_, a) => ({ commands: commandsOf(a.event) }))],
            },
            {
              guard: (a: Args) => awaited(a) && rem.automatic && a.context.target.allowAutomatic,
              target: 'acting',
              actions: [
                patchCurrent((_, a) => ({ commands: commandsOf(a.event) })),
                note(() => ({ kind: 'note', summary: `${rem.title}: automatic step, allowed on this target; no approval needed`, data: { remediation: remId } })),
              ],
            },
            { guard: awaited, target: 'awaitingApproval', actions: [patchCurrent((_, a) => ({ commands: commandsOf(a.event) }))] },
          ],
          'effect.failed': {
            guard: awaited,
            target: '#rb.deciding',
            actions: [note(({ event }) => ({ kind: 'error', summary: `${rem.title}: planning failed: ${event.type === 'effect.failed' ? event.error.message : ''}` }))],
          },
        },
      },
      awaitingApproval: {
        entry: [
          patchCurrent((_, a) => ({ expiresAt: a.event.at + timeoutMs })),
          ...issue((c) => ({ kind: 'request-approval', seq: c.seq, remediation: remId, key: c.current?.key ?? '', timeoutMs })),
        ],
        on: {
          'approval.granted': [
            {
              guard: (a: Args) => keyMatch(a) && isNewApprover(a) && (a.context.current?.approvals.length ?? 0) + 1 >= required,
              target: 'acting',
              actions: [addApproval()],
            },
            {
              guard: (a: Args) => keyMatch(a) && isNewApprover(a),
              actions: [
                addApproval(),
                note(({ context }) => ({
                  kind: 'note',
                  summary: `${rem.title}: ${(context.current?.approvals.length ?? 0)} of ${required} approvals; waiting for another approver`,
                })),
              ],
            },
          ],
          'approval.rejected': {
            guard: keyMatch,
            target: '#rb.escalated',
            actions: [setOutcome(({ event }) => `${rem.title} rejected by ${'by' in event ? event.by : 'unknown'}${'reason' in event && event.reason ? `: ${event.reason}` : ''}`)],
          },
          'approval.expired': {
            guard: keyMatch,
            target: '#rb.escalated',
            actions: [
              note(() => ({ kind: 'approval.expired', summary: `${rem.title}: approval expired after ${Math.round(timeoutMs / 1000)} s` })),
              setOutcome(() => `${rem.title}: approval expired`),
            ],
          },
          'alert.resolved': {
            target: '#rb.cancelled',
            actions: [
              note(() => ({ kind: 'approval.cancelled', summary: `${rem.title}: approval request cancelled: the alert resolved` })),
              setOutcome(() => 'alert resolved before approval; nothing was changed'),
            ],
          },
        },
      },
      acting: {
        entry: issue((c) => ({ kind: 'act', seq: c.seq, remediation: remId, key: c.current?.key ?? '' })),
        on: {
          'effect.done': [
            {
              guard: (a: Args) => awaited(a) && isSkipped(a.event) && symptomCleared !== undefined && symptomCleared.test(pollScope(a)),
              target: '#rb.resolved',
              actions: [
                mergeFindings(),
                note(({ event }) => ({ kind: 'note', summary: `${rem.title}: skipped, nothing was changed (${skipReason(event)}); the symptom is gone on the live target (${symptomCleared?.source ?? ''})`, data: { remediation: remId, skipped: true } })),
                setOutcome(() => `the symptom cleared before anything was changed (${symptomCleared?.source ?? ''}); ${rem.title} was not needed`),
              ],
            },
            {
              // Skipped (the precondition no longer held on the live target): nothing was changed,
              // so nothing is verified; it counts as tried and the runbook decides again.
              guard: (a: Args) => awaited(a) && isSkipped(a.event),
              target: '#rb.deciding',
              actions: [mergeFindings(), note(({ event }) => ({ kind: 'note', summary: `${rem.title}: skipped, nothing was changed (${skipReason(event)})`, data: { remediation: remId, skipped: true } }))],
            },
            ...waitIndexes.map((w) => ({
              // The phase is done and a wait comes next.
              guard: (a: Args) => awaited(a) && waitAtOf(a.event) === w,
              target: phaseStateName(rem, w),
              actions: [
                mergeFindings(),
                patchCurrent((_, a) => ({ waitStartedAt: a.event.at, polls: 0 })),
                note(() => ({ kind: 'note', summary: `${rem.title}: phase done; ${waitTextOf(w)}`, data: { remediation: remId, wait: w } })),
              ],
            })),
            {
              guard: awaited,
              target: 'verifying',
              actions: [mergeFindings(), patchCurrent((_, a) => ({ verifyStartedAt: a.event.at, polls: 0 }))],
            },
          ],
          'effect.failed': {
            guard: awaited,
            target: '#rb.escalated',
            actions: [setOutcome(({ event }) => `${rem.title} failed: ${event.type === 'effect.failed' ? event.error.message : ''}`)],
          },
        },
      },
      ...waitStates,
      verifying: {
        entry: issue((c) => ({
          kind: 'verify',
          seq: c.seq,
          remediation: remId,
          key: c.current?.key ?? '',
          delayMs: (c.current?.polls ?? 0) === 0 ? 0 : every,
        })),
        on: {
          'effect.done': [
            {
              guard: (a: Args) => awaited(a) && verifyOk(a) && holdDone(a),
              target: successTarget,
              actions: [
                mergeFindings(),
                note(({ context }) => ({ kind: 'verification.passed', summary: `${rem.title}: verified on the live target (${rem.verify.until}${symptomCleared ? `; symptom cleared: ${symptomCleared.source}` : ''})`, data: { remediation: remId, polls: (context.current?.polls ?? 0) + 1 } })),
                ...(successTarget === '#rb.resolved' ? [setOutcome(() => `${rem.title}: verified`)] : []),
              ],
            },
            {
              guard: (a: Args) => awaited(a) && verifyOk(a),
              target: 'verifying',
              reenter: true,
              actions: [mergeFindings(), patchCurrent((c, a) => ({ holdSince: c.holdSince ?? a.event.at, polls: c.polls + 1 }))],
            },
            { guard: (a: Args) => awaited(a) && deadlinePassed(a), target: failureTarget, actions: [...failureActions, mergeFindings()] },
            { guard: awaited, target: 'verifying', reenter: true, actions: [mergeFindings(), patchCurrent((c) => ({ holdSince: undefined, polls: c.polls + 1 }))] },
          ],
          'effect.failed': [
            { guard: (a: Args) => awaited(a) && deadlinePassed(a), target: failureTarget, actions: failureActions },
            { guard: awaited, target: 'verifying', reenter: true, actions: [patchCurrent((c) => ({ holdSince: undefined, polls: c.polls + 1 }))] },
          ],
        },
      },
    },
  };
}

/** The state between two phases: `gate_<i>` for an approval, `wait_<i>` for a delay or a condition. */
function phaseStateName(rem: RemediationDef, w: number): string {
  const st = rem.steps[w];
  return st && isWait(st) && st.wait.approval ? `gate_${w}` : `wait_${w}`;
}

function waitAtOf(e: Ev): number | undefined {
  const r = resultOf(e);
  return r !== undefined && r.kind === 'act' && !r.skipped ? r.waitAt : undefined;
}

/** An alert that resolves while diagnosing or planning cancels the incident: nothing was changed. */
function resolvedBeforeProposal(): unknown {
  return {
    target: '#rb.cancelled',
    actions: [
      note(() => ({ kind: 'approval.cancelled', summary: 'the alert resolved before anything was proposed; nothing was changed' })),
      setOutcome(() => 'alert resolved before any change; nothing was changed'),
    ],
  };
}

function isSkipped(e: Ev): boolean {
  const r = resultOf(e);
  return r !== undefined && r.kind === 'act' && r.skipped;
}

function skipReason(e: Ev): string {
  const r = resultOf(e);
  return r !== undefined && r.kind === 'act' && r.skipped ? r.reason : '';
}

function isFindingError(v: unknown): boolean {
  return v !== null && typeof v === 'object' && 'error' in v && Object.keys(v).length === 1;
}

/** Every diagnostic step failed on every node it ran on. */
function allFailed(def: RunbookDef, ctx: Ctx): boolean {
  return def.diagnose.every((s) => {
    const v = ctx.findings[s.id];
    if (v === undefined || isFindingError(v)) return true;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const vals = Object.values(v as Record<string, unknown>);
      return vals.length > 0 && Object.keys(v).every((k) => /:\d+$/.test(k)) && vals.every(isFindingError);
    }
    return false;
  });
}

function failureCodes(def: RunbookDef, ctx: Ctx): string[] {
  const codes = new Set<string>();
  const add = (v: unknown): void => {
    if (isFindingError(v)) codes.add(String((v as { error: { code?: unknown } }).error.code));
  };
  for (const s of def.diagnose) {
    const v = ctx.findings[s.id];
    add(v);
    if (v && typeof v === 'object') for (const x of Object.values(v as Record<string, unknown>)) add(x);
  }
  return [...codes];
}

function commandsOf(e: Ev): import('../../actions/types.js').PlannedCommand[] {
  const r = resultOf(e);
  return r && r.kind === 'plan' ? r.commands : [];
}

function isNewApprover({ context, event }: Args): boolean {
  return event.type === 'approval.granted' && !(context.current?.approvals ?? []).some((a) => a.by === event.by);
}

function addApproval(): unknown {
  return assign({
    current: ({ context, event }: Args) =>
      context.current && event.type === 'approval.granted'
        ? { ...context.current, approvals: [...context.current.approvals, { by: event.by, at: new Date(event.at).toISOString() }] }
        : context.current,
  });
}

/**
 * Alternatives offered side by side: plan every option (exact commands each), wait for an approver
 * to choose one (`approval.granted` with `option`), then act on the chosen one. Each option keeps
 * its own role and number of approvers; approvals only count for the option they chose.
 */
function offeringState(def: RunbookDef, offered: string[], opts: CompileOptions): unknown {
  const remOf = (id: string): RemediationDef | undefined => def.remediations[id];
  const required = (id: string): number => remOf(id)?.approval?.approvers ?? 1;
  const timeoutOf = (c: Ctx): number => {
    const first = c.current?.options?.[0]?.remediation;
    const t = first ? remOf(first)?.approval?.timeout : undefined;
    return t !== undefined ? durationMs(t) : opts.defaultApprovalTimeoutMs;
  };
  const keyMatch = ({ context, event }: Args): boolean => 'key' in event && event.key === context.current?.key;
  const optionOf = (e: Ev): string | undefined => (e.type === 'approval.granted' ? e.option : undefined);
  const isNew = ({ context, event }: Args): boolean =>
    event.type === 'approval.granted' && !(context.current?.approvals ?? []).some((a) => a.by === event.by && a.option === event.option);
  const offeredNow = ({ context, event }: Args): boolean => {
    const o = optionOf(event);
    return o !== undefined && (context.current?.options ?? []).some((x) => x.remediation === o);
  };
  const countFor = (c: Ctx, id: string): number => (c.current?.approvals ?? []).filter((a) => a.option === id).length;
  const markAllTried = assign({
    tried: ({ context }: Args) => [...new Set([...context.tried, ...(context.current?.options ?? []).map((o) => o.remediation)])],
  });
  const addApproval = assign({
    current: ({ context, event }: Args) =>
      context.current && event.type === 'approval.granted'
        ? { ...context.current, approvals: [...context.current.approvals, { by: event.by, at: new Date(event.at).toISOString(), ...(event.option !== undefined ? { option: event.option } : {}) }] }
        : context.current,
  });
  const choose = (id: string) =>
    assign({
      current: ({ context }: Args) => {
        const cur = context.current;
        if (!cur) return cur;
        const opt = (cur.options ?? []).find((o) => o.remediation === id);
        return { ...cur, remediation: id, commands: opt?.commands ?? [], chosen: true };
      },
    });

  const chooseTransitions = offered.flatMap((id) => [
    {
      guard: (a: Args) => keyMatch(a) && offeredNow(a) && optionOf(a.event) === id && isNew(a) && countFor(a.context, id) + 1 >= required(id),
      target: `#rb.rem_${id}.acting`,
      actions: [
        addApproval,
        choose(id),
        note(({ event }) => ({ kind: 'decision', summary: `option chosen: ${remOf(id)?.title ?? id} (by ${event.type === 'approval.granted' ? event.by : '?'})`, data: { option: id } })),
      ],
    },
    {
      guard: (a: Args) => keyMatch(a) && offeredNow(a) && optionOf(a.event) === id && isNew(a),
      actions: [
        addApproval,
        note(({ context }) => ({ kind: 'note', summary: `${remOf(id)?.title ?? id}: ${countFor(context, id)} of ${required(id)} approvals; waiting for another approver`, data: { option: id } })),
      ],
    },
  ]);

  return {
    initial: 'planning',
    states: {
      planning: {
        entry: issue((c) => ({ kind: 'plan', seq: c.seq, remediation: c.current?.remediation ?? '', key: c.current?.key ?? '', options: (c.current?.options ?? []).map((o) => o.remediation) })),
        on: {
          'alert.resolved': resolvedBeforeProposal(),
          'effect.done': [
            {
              // Options whose plan came out empty have nothing to do: drop them.
              guard: (a: Args) => awaited(a) && optionsOf(a.event).length === 0,
              target: '#rb.deciding',
              actions: [markAllTried, note(() => ({ kind: 'note', summary: 'none of the options has anything to do (every plan is empty)' }))],
            },
            {
              guard: (a: Args) => awaited(a) && a.context.dryRun,
              target: '#rb.deciding',
              actions: [markAllTried],
            },
            {
              guard: awaited,
              target: 'awaitingApproval',
              actions: [
                assign({
                  current: ({ context, event }: Args) => (context.current ? { ...context.current, options: optionsOf(event), commands: optionsOf(event)[0]?.commands ?? [] } : context.current),
                }),
              ],
            },
          ],
          'effect.failed': {
            guard: awaited,
            target: '#rb.deciding',
            actions: [markAllTried, note(({ event }) => ({ kind: 'error', summary: `planning the options failed: ${event.type === 'effect.failed' ? event.error.message : ''}` }))],
          },
        },
      },
      awaitingApproval: {
        entry: [
          assign({ current: ({ context, event }: Args) => (context.current ? { ...context.current, expiresAt: event.at + timeoutOf(context) } : context.current) }),
          ...issue((c) => ({ kind: 'request-approval', seq: c.seq, remediation: c.current?.remediation ?? '', key: c.current?.key ?? '', timeoutMs: timeoutOf(c) })),
        ],
        on: {
          'approval.granted': chooseTransitions,
          'approval.rejected': {
            guard: keyMatch,
            target: '#rb.escalated',
            actions: [markAllTried, setOutcome(({ event }) => `all options rejected by ${'by' in event ? event.by : 'unknown'}${'reason' in event && event.reason ? `: ${event.reason}` : ''}`)],
          },
          'approval.expired': {
            guard: keyMatch,
            target: '#rb.escalated',
            actions: [
              note(({ context }) => ({ kind: 'approval.expired', summary: `approval expired after ${Math.round(timeoutOf(context) / 1000)} s; no option was chosen` })),
              setOutcome(() => 'approval expired; no option was chosen'),
            ],
          },
          'alert.resolved': {
            target: '#rb.cancelled',
            actions: [
              note(() => ({ kind: 'approval.cancelled', summary: 'approval request cancelled: the alert resolved' })),
              setOutcome(() => 'alert resolved before approval; nothing was changed'),
            ],
          },
        },
      },
    },
  };
}

function optionsOf(e: Ev): import('./types.js').OfferedOption[] {
  const r = resultOf(e);
  return r && r.kind === 'plan' ? (r.options ?? []).filter((o) => o.commands.length > 0) : [];
}
