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

  const deciding: unknown[] = [];
  def.decide.forEach((r, i) => {
    const cond = exprs.get(`decide[${i}].when`) ?? ex(`decide[${i}].when`, r.when);
    const remId = r.propose;
    if (remId === undefined) return;
    const rem = def.remediations[remId];
    if (!rem) return;
    deciding.push({
      guard: ({ context }: Args) =>
        !context.tried.includes(remId) && roleAllowed(rem, context) && cond.test(scopeOf(context)),
      target: `rem_${remId}`,
      actions: [
        note(({ context }) => ({
          kind: 'decision',
          summary: `${rem.title}: ${r.reason ? interpolate(r.reason, scopeOf(context)) : `rule ${r.id ?? i} matched`}`,
          data: { rule: r.id ?? i, remediation: remId, when: r.when },
        })),
      ],
    });
  });
  deciding.push(
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

  const remStates: Record<string, unknown> = {};
  for (const [remId, rem] of Object.entries(def.remediations)) {
    remStates[`rem_${remId}`] = remediationState(remId, rem, opts, ex);
  }

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
          'effect.done': {
            guard: awaited,
            target: 'deciding',
            actions: [
              mergeFindings(),
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
  const verifyOk = ({ context, event }: Args): boolean => {
    const r = resultOf(event);
    const findings = r && 'findings' in r ? { ...context.findings, ...r.findings } : context.findings;
    return until.test(scopeOf({ ...context, findings }));
  };
  const atOf = (e: Ev): number => e.at;
  const deadlinePassed = ({ context, event }: Args): boolean =>
    atOf(event) - (context.current?.verifyStartedAt ?? atOf(event)) >= within;
  const holdDone = ({ context, event }: Args): boolean =>
    holdFor === 0 || atOf(event) - (context.current?.holdSince ?? atOf(event)) >= holdFor;
  const patchCurrent = (f: (c: NonNullable<Ctx['current']>, a: Args) => Partial<NonNullable<Ctx['current']>>) =>
    assign({ current: (a: Args) => (a.context.current ? { ...a.context.current, ...f(a.context.current, a) } : undefined) });

  const failureNote = (why: string) =>
    note(({ context }) => ({ kind: 'verification.failed', summary: `${rem.title}: ${why}`, data: { remediation: remId, polls: context.current?.polls } }));
  const failureActions = (why: string) => [
    failureNote(why),
    ...(failureTarget === '#rb.escalated' ? [setOutcome(() => `${rem.title}: ${why}`)] : []),
  ];

  return {
    initial: 'planning',
    entry: [
      assign({
        current: ({ context }: Args) => ({ remediation: remId, key: `${remId}#${context.seq + 1}`, commands: [], approvals: [], polls: 0 }),
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
          'effect.done': {
            guard: awaited,
            target: 'verifying',
            actions: [mergeFindings(), patchCurrent((_, a) => ({ verifyStartedAt: a.event.at }))],
          },
          'effect.failed': {
            guard: awaited,
            target: '#rb.escalated',
            actions: [setOutcome(({ event }) => `${rem.title} failed: ${event.type === 'effect.failed' ? event.error.message : ''}`)],
          },
        },
      },
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
                note(({ context }) => ({ kind: 'verification.passed', summary: `${rem.title}: verified (${rem.verify.until})`, data: { remediation: remId, polls: (context.current?.polls ?? 0) + 1 } })),
                ...(successTarget === '#rb.resolved' ? [setOutcome(() => `${rem.title}: verified`)] : []),
              ],
            },
            {
              guard: (a: Args) => awaited(a) && verifyOk(a),
              target: 'verifying',
              reenter: true,
              actions: [mergeFindings(), patchCurrent((c, a) => ({ holdSince: c.holdSince ?? a.event.at, polls: c.polls + 1 }))],
            },
            { guard: (a: Args) => awaited(a) && deadlinePassed(a), target: failureTarget, actions: [mergeFindings(), ...failureActions(`not verified within ${rem.verify.within}`)] },
            { guard: awaited, target: 'verifying', reenter: true, actions: [mergeFindings(), patchCurrent((c) => ({ holdSince: undefined, polls: c.polls + 1 }))] },
          ],
          'effect.failed': [
            { guard: (a: Args) => awaited(a) && deadlinePassed(a), target: failureTarget, actions: failureActions(`not verified within ${rem.verify.within}`) },
            { guard: awaited, target: 'verifying', reenter: true, actions: [patchCurrent((c) => ({ holdSince: undefined, polls: c.polls + 1 }))] },
          ],
        },
      },
    },
  };
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
