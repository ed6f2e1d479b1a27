/**
 * The runbook format (apiVersion redis-runbooks/v1) as a zod schema. This is the single source of
 * truth: `runbooks/runbook.schema.json` (for editors) is generated from it by
 * `redis-runbooks schema`, and the loader validates every file against it before compiling.
 */
import { z } from 'zod';
import { isDuration } from './duration.js';

const id = z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected a lowercase id: letters, digits, dashes');
/** Step ids are names in expressions: letters, digits and underscores (no dashes). */
const stepId = z.string().regex(/^[a-z][a-zA-Z0-9_]*$/, 'expected an identifier usable in expressions: letters, digits, underscores (e.g. memAfter)');
const duration = z.union([z.string().refine(isDuration, 'expected a duration like 30s, 5m, 1h30m, 250ms, 2d'), z.number().int().nonnegative()]);
const expr = z.string().min(1).max(2000);
const roleName = z.enum(['redis.viewer', 'redis.dba-operator', 'redis.cluster-admin']);
/**
 * Where a step runs: a selector name (`primary`, `replicas`, …), one node an expression names
 * (`{ node: best.address }`), or every node a list expression names (`{ nodes: repl.stuckReplicas }`).
 * Nodes named by expressions are resolved against the live topology and refused when they are not
 * part of the target.
 */
const selector = z.union([
  z.string().min(1),
  z.object({ node: expr }).strict(),
  z.object({ nodes: expr }).strict(),
]);

/** Which alerts a runbook answers: alertname and/or labels that must all match. */
export const matchSchema = z
  .object({
    alertname: z.string().min(1).optional(),
    labels: z.record(z.string(), z.string()).optional(),
  })
  .strict()
  .refine((m) => m.alertname !== undefined || (m.labels !== undefined && Object.keys(m.labels).length > 0), {
    message: 'a match needs an alertname or at least one label',
  });

/** A step: one action run on the nodes a selector picks (one invocation per node). */
export const stepSchema = z
  .object({
    id: stepId,
    action: z.string().min(1),
    on: selector.default('alerting-node'),
    with: z.record(z.string(), z.unknown()).default({}),
    description: z.string().optional(),
  })
  .strict();

/** A mutating step of a remediation (no id needed; `on` picks the nodes). */
export const actStepSchema = z
  .object({
    action: z.string().min(1),
    on: selector.default('alerting-node'),
    with: z.record(z.string(), z.unknown()).default({}),
    /**
     * Loop: after the step's commands ran, plan it again from the live target and run the new plan,
     * until the plan is empty or `max` rounds ran (e.g. move keys in batches until none is left).
     */
    repeat: z.object({ max: z.number().int().min(1).max(100_000) }).strict().optional(),
    /** Hard timeout of each command of this step (default: the action's own timeout). */
    timeout: duration.optional(),
  })
  .strict();

/**
 * A wait between two phases of a remediation: a delay (a BullMQ delayed job, so it survives
 * restarts), a condition polled on read-only steps, or a second approval. What comes after it runs
 * only when the wait is over; e.g. add a new password now, remove the old one once nobody uses it.
 */
export const waitStepSchema = z
  .object({
    wait: z
      .object({
        title: z.string().min(1).optional(),
        delay: duration.optional(),
        steps: z.array(stepSchema).optional(),
        until: expr.optional(),
        every: duration.default('30s'),
        within: duration.default('1h'),
        /** When `until` has not held within `within`: escalate (default), or go on anyway. */
        onTimeout: z.enum(['escalate', 'continue']).default('escalate'),
        approval: z.lazy(() => approvalSchema).optional(),
      })
      .strict()
      .refine((w) => [w.delay !== undefined, w.until !== undefined, w.approval !== undefined].filter(Boolean).length === 1, {
        message: 'a wait is exactly one of: delay, until (with steps), approval',
      })
      .refine((w) => w.until === undefined || (w.steps !== undefined && w.steps.length > 0), { message: 'a wait with until needs the read-only steps it reads' }),
  })
  .strict();

/** A decision rule: when the condition holds, add a note and/or propose a remediation. */
export const ruleSchema = z
  .object({
    id: id.optional(),
    when: expr,
    note: z.string().optional(),
    /** One remediation, or several offered side by side (the approver chooses one). */
    propose: z.union([id, z.array(id).min(1).max(6)]).optional(),
    reason: z.string().optional(),
    /** Stop deciding and escalate with this reason (e.g. too little is known to decide). */
    escalate: z.string().min(1).optional(),
  })
  .strict()
  .refine((r) => r.note !== undefined || r.propose !== undefined || r.escalate !== undefined, { message: 'a rule needs a note, a propose or an escalate' })
  .refine((r) => !(r.propose !== undefined && r.escalate !== undefined), { message: 'a rule cannot both propose and escalate' });

const outcomeSchema = z.union([z.enum(['resolve', 'escalate', 'next']), z.object({ handover: z.string().min(1) }).strict()]);

export const approvalSchema = z
  .object({
    role: roleName,
    approvers: z.number().int().min(1).max(3).default(1),
    timeout: duration.optional(),
  })
  .strict();

export const verifySchema = z
  .object({
    steps: z.array(stepSchema).min(1),
    until: expr,
    every: duration.default('15s'),
    within: duration.default('5m'),
    holdFor: duration.default(0),
  })
  .strict();

export const remediationSchema = z
  .object({
    title: z.string().min(1),
    description: z.string().optional(),
    risk: z.enum(['read', 'write', 'disruptive']),
    /** What it costs, shown beside the option (a template: e.g. data deleted, keys that could be evicted). */
    cost: z.string().min(1).optional(),
    approval: approvalSchema.optional(),
    automatic: z.boolean().default(false),
    targetRoles: z.array(z.enum(['cache', 'store'])).optional(),
    precondition: expr.optional(),
    /** Mutating steps, in order; `wait:` entries split them into phases. */
    steps: z.array(z.union([actStepSchema, waitStepSchema])).min(1),
    verify: verifySchema,
    onSuccess: outcomeSchema.default('resolve'),
    onFailure: outcomeSchema.default('next'),
  })
  .strict();

export const runbookSchema = z
  .object({
    apiVersion: z.literal('redis-runbooks/v1'),
    kind: z.literal('Runbook'),
    name: z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected a lowercase name'),
    title: z.string().min(1),
    description: z.string().optional(),
    severity: z.enum(['info', 'warning', 'critical']).default('warning'),
    match: z.array(matchSchema).default([]),
    params: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])).default({}),
    diagnose: z.array(stepSchema).min(1),
    derive: z.record(z.string().regex(/^[a-z][a-zA-Z0-9]*$/), expr).default({}),
    /**
     * How the alert's condition is checked on the live target. An incident resolves only when a
     * remediation's `verify.until` holds and `symptom.cleared` holds too.
     */
    symptom: z.object({ steps: z.array(stepSchema).min(1), cleared: expr }).strict().optional(),
    decide: z.array(ruleSchema).default([]),
    remediations: z.record(id, remediationSchema).default({}),
    onNoRemediation: z.enum(['escalate', 'resolve']).default('escalate'),
  })
  .strict();

export type RunbookDef = z.infer<typeof runbookSchema>;
export type StepDef = z.infer<typeof stepSchema>;
export type ActStepDef = z.infer<typeof actStepSchema>;
export type WaitStepDef = z.infer<typeof waitStepSchema>;
export type RemediationStepDef = ActStepDef | WaitStepDef;

/** Is this remediation step a wait between phases? */
export function isWait(s: RemediationStepDef): s is WaitStepDef {
  return 'wait' in s;
}
export type RuleDef = z.infer<typeof ruleSchema>;
export type RemediationDef = z.infer<typeof remediationSchema>;
export type VerifyDef = z.infer<typeof verifySchema>;
export type OutcomeDef = z.infer<typeof outcomeSchema>;
export type SelectorDef = z.infer<typeof selector>;
export type SymptomDef = NonNullable<RunbookDef['symptom']>;

/** The remediations a rule proposes, as a list (empty when it proposes none). */
export function proposalsOf(r: RuleDef): string[] {
  return r.propose === undefined ? [] : Array.isArray(r.propose) ? r.propose : [r.propose];
}
