/**
 * The rehearsal file format (`runbooks/rehearsals/<runbook>.rehearsal.yaml`): cases that replay a
 * runbook on recorded findings and say what must come out — the state it stops in, what it
 * proposes, the notes, the outcome and the exact plan. A unit test for a runbook, in YAML.
 */
import { z } from 'zod';

/** A plan line as approvers see it: `host:port: CMD arg …` (formatted like every shown command). */
const planLine = z.string().regex(/^\S+:\d+: \S/, 'expected "host:port: COMMAND args…"');

/** A regular expression (JavaScript syntax), checked when the file is read. */
const regex = z
  .string()
  .min(1)
  .refine(
    (src) => {
      try {
        new RegExp(src);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'not a valid regular expression' },
  );

/** Something that happens after the machine stopped: a person, Alertmanager, or an effect's result. */
const thenStep = z.union([
  z.object({ approve: z.object({ by: z.string().min(1).default('alice'), option: z.string().min(1).optional() }).strict().prefault({}) }).strict(),
  z.object({ reject: z.object({ by: z.string().min(1).default('alice'), reason: z.string().optional() }).strict().prefault({}) }).strict(),
  z.object({ expire: z.literal(true) }).strict(),
  z.object({ alertResolved: z.literal(true) }).strict(),
  z.object({ cancel: z.object({ by: z.string().min(1).default('alice') }).strict().prefault({}) }).strict(),
  /** The act effect: `done` (every planned command ok), `skipped` (precondition no longer held) or `failed`. */
  z.object({
    act: z.union([
      z.literal('done'),
      z.object({ skipped: z.string().min(1), findings: z.record(z.string(), z.unknown()).default({}) }).strict(),
      z.object({ failed: z.string().min(1) }).strict(),
    ]),
  }).strict(),
  /** One verification poll: the findings of the verify (and symptom) steps; `afterMs` since acting. */
  z.object({ verify: z.record(z.string(), z.unknown()), afterMs: z.number().int().nonnegative().default(0) }).strict(),
  /** One poll of a `wait:` between phases (its steps' findings), `afterMs` since the phase's commands. */
  z.object({ wait: z.record(z.string(), z.unknown()), afterMs: z.number().int().nonnegative().default(0) }).strict(),
  /** One poll that failed (the target did not answer). */
  z.object({ verifyFailed: z.string().min(1), afterMs: z.number().int().nonnegative().default(0) }).strict(),
]);
export type ThenStep = z.infer<typeof thenStep>;

export const expectSchema = z
  .object({
    /** The incident state the rehearsal stops in (after the `then:` steps, if any). */
    state: z.enum(['awaiting_approval', 'escalated', 'resolved', 'completed', 'cancelled', 'remediating', 'verifying']),
    /** The remediation proposed, or the options offered side by side (in order); `[]`: nothing. */
    proposes: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
    /** Each regex must match at least one note of the machine (notes, decisions, verification). */
    notes: z.array(regex).default([]),
    /** No note may match any of these. */
    notNotes: z.array(regex).default([]),
    /** Regex the outcome (why it resolved, escalated, …) must match. */
    outcome: regex.optional(),
    /** The exact plan of the proposal; with several options, by option id. */
    plan: z.union([z.array(planLine), z.record(z.string(), z.array(planLine))]).optional(),
    /** How many commands each option's plan holds, by remediation id (for plans too long to list). */
    planSize: z.record(z.string(), z.number().int().nonnegative()).optional(),
    /** Regex each option's cost (as shown beside it) must match, by remediation id. */
    cost: z.record(z.string(), regex).optional(),
    /** Values the remediation steps are planned with (`with:` evaluated on the findings), by remediation id. */
    inputs: z.record(z.string(), z.array(z.record(z.string(), z.unknown()))).optional(),
  })
  .strict();
export type RehearsalExpect = z.infer<typeof expectSchema>;

export const caseSchema = z
  .object({
    name: z.string().min(1),
    /** Where the findings came from (server, fault planted, date): for the reader. */
    source: z.string().optional(),
    target: z
      .object({
        name: z.string().min(1).default('rehearsal'),
        role: z.enum(['cache', 'store']).default('cache'),
        mode: z.enum(['standalone', 'sentinel', 'cluster']).default('standalone'),
        allowAutomatic: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    alert: z.object({ labels: z.record(z.string(), z.string()).default({}) }).strict().prefault({}),
    dryRun: z.boolean().default(false),
    /** Runbook params overridden for this case. */
    params: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])).default({}),
    /** The diagnose steps' recorded outputs, by step id (derived values are computed, not given). */
    findings: z.record(z.string(), z.unknown()).default({}),
    /**
     * Replies captured from real servers, by diagnose step id → node (`host:port`) → command
     * (`"INFO memory server replication"`, `"CLUSTER NODES"`, …): the step's own action runs on
     * them. A step given here and in `findings` takes its value from here.
     */
    raw: z.record(z.string(), z.record(z.string(), z.record(z.string(), z.unknown()))).default({}),
    /**
     * Recorded plans, by remediation id: what its actions planned against the live target, or
     * `{ failed: "why" }` when planning it failed there.
     */
    plans: z.record(z.string(), z.union([z.array(planLine), z.object({ failed: z.string().min(1) }).strict()])).default({}),
    then: z.array(thenStep).default([]),
    expect: expectSchema,
  })
  .strict();
export type RehearsalCase = z.infer<typeof caseSchema>;

export const rehearsalFileSchema = z
  .object({
    /** The runbook's `name`. */
    runbook: z.string().min(1),
    cases: z.array(caseSchema).min(1),
  })
  .strict();
export type RehearsalFile = z.infer<typeof rehearsalFileSchema>;
