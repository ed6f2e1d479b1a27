/**
 * Hygiene check files (`runbooks/hygiene/*.yaml`, kind `HygieneCheck`): the zod schema and the
 * loader. Every error names the file, the line and the YAML path; a check's `params` are
 * validated against the schema of its check type (see `checks.ts`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getNextMillis } from 'bullmq';
import { LineCounter, isNode, parseDocument } from 'yaml';
import { z } from 'zod';
import { RunbookError } from '../../errors.js';
import { issueLines } from '../../util/issue-format.js';
import { CHECK_TYPES, SEVERITIES } from './types.js';

const cronPattern = z
  .string()
  .regex(/^\S+(\s+\S+){4,5}$/, 'expected a cron pattern with 5 or 6 fields, e.g. "0 3 * * *" or "*/2 * * * * *"')
  .refine((p) => {
    try {
      getNextMillis(Date.now(), { pattern: p });
      return true;
    } catch {
      return false;
    }
  }, 'invalid cron pattern');

const name = z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected a lowercase id: letters, digits, dashes').max(60);
const params = z.record(z.string(), z.unknown());

export const hygieneCheckSchema = z
  .object({
    apiVersion: z.literal('redis-runbooks/v1'),
    kind: z.literal('HygieneCheck'),
    name,
    description: z.string().max(500).optional(),
    /** `false` turns off a check of the same name loaded earlier (e.g. a shipped one). */
    enabled: z.boolean().default(true),
    schedule: cronPattern,
    tz: z.string().min(1).optional(),
    /** Each run waits a deterministic share of this (per check and target) so a fleet is not scanned at once. */
    jitterSeconds: z.number().min(0).max(3600).default(30),
    /** `all` (every configured target) or a list of target names. */
    targets: z.union([z.literal('all'), z.array(z.string().min(1)).min(1)]).default('all'),
    /** Target role filter: the check only runs on targets of these roles. */
    roles: z.array(z.enum(['cache', 'store'])).min(1).optional(),
    check: z.enum(CHECK_TYPES),
    params: params.default({}),
    overrides: z.record(z.string(), z.object({ schedule: cronPattern.optional(), params: params.optional(), enabled: z.boolean().optional() }).strict()).default({}),
    /** Findings at or above `severity` open an incident of `runbook` (through the alert path). */
    openIncident: z.object({ severity: z.enum(SEVERITIES).default('critical'), runbook: z.string().min(1) }).strict().optional(),
  })
  .strict();

export type HygieneCheckDef = z.infer<typeof hygieneCheckSchema> & { file: string };

/** One (check, target) pair as scheduled: the effective schedule and params after overrides. */
export interface HygieneAssignment {
  check: HygieneCheckDef;
  target: string;
  schedule: string;
  params: Record<string, unknown>;
}


/** Parse and validate one hygiene file. Throws RunbookError naming file:line: path for every issue. */
export function parseHygieneText(text: string, file: string, validateParams: (check: string, params: unknown) => { path: PropertyKey[]; message: string }[]): HygieneCheckDef {
  const lc = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new RunbookError(doc.errors.map((e) => `${file}:${lc.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`).join('\n'));
  }
  const lineOf = (path: readonly PropertyKey[]): string => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true);
      if (isNode(node) && node.range) return `:${lc.linePos(node.range[0]).line}`;
    }
    return '';
  };
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 50 });
  } catch (e) {
    throw new RunbookError(`${file}: ${(e as Error).message}`);
  }
  const fail = (issues: { path: readonly PropertyKey[]; message: string }[]): never => {
    throw new RunbookError(issueLines(file, issues, lineOf));
  };
  const parsed = hygieneCheckSchema.safeParse(raw);
  if (!parsed.success) return fail(parsed.error.issues.map((i) => ({ path: i.path, message: i.message })));
  const def = parsed.data;
  const issues = validateParams(def.check, def.params).map((i) => ({ path: ['params', ...i.path], message: i.message }));
  for (const [t, ov] of Object.entries(def.overrides)) {
    if (ov.params) issues.push(...validateParams(def.check, { ...def.params, ...ov.params }).map((i) => ({ path: ['overrides', t, 'params', ...i.path], message: i.message })));
  }
  if (issues.length > 0) fail(issues);
  return { ...def, file };
}

/**
 * Load `<dir>/hygiene/*.yaml` of every runbook directory, in order: a check whose name an earlier
 * directory defined replaces it. Errors of all files are collected.
 */
export function loadHygieneDirs(dirs: readonly string[], validateParams: Parameters<typeof parseHygieneText>[2]): { checks: HygieneCheckDef[]; errors: string[] } {
  const byName = new Map<string, HygieneCheckDef>();
  const errors: string[] = [];
  for (const dir of [...new Set(dirs)]) {
    const hdir = join(dir, 'hygiene');
    let files: string[];
    try {
      files = readdirSync(hdir).filter((f) => /\.ya?ml$/.test(f)).sort();
    } catch {
      continue; // a runbook directory without hygiene checks
    }
    const seen = new Map<string, string>();
    for (const f of files) {
      const file = join(hdir, f);
      try {
        const def = parseHygieneText(readFileSync(file, 'utf8'), file, validateParams);
        const dup = seen.get(def.name);
        if (dup) {
          errors.push(`${file}: name: hygiene check '${def.name}' is also defined in ${dup}`);
          continue;
        }
        seen.set(def.name, file);
        byName.set(def.name, def);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
  }
  return { checks: [...byName.values()].filter((c) => c.enabled), errors };
}

/**
 * The (check, target) pairs to schedule: `targets` resolved against the configured targets (an
 * unknown name is an error naming the file), role filter and per-target overrides applied.
 */
export function assignments(checks: readonly HygieneCheckDef[], targets: ReadonlyMap<string, { role: 'cache' | 'store' }>, known: { runbooks: readonly string[] }): { assignments: HygieneAssignment[]; errors: string[] } {
  const out: HygieneAssignment[] = [];
  const errors: string[] = [];
  for (const c of checks) {
    const names = c.targets === 'all' ? [...targets.keys()] : c.targets;
    for (const t of names) if (!targets.has(t)) errors.push(`${c.file}: targets: unknown target '${t}' (known: ${[...targets.keys()].join(', ') || 'none'})`);
    for (const t of Object.keys(c.overrides)) if (!targets.has(t)) errors.push(`${c.file}: overrides.${t}: unknown target '${t}'`);
    if (c.openIncident && !known.runbooks.includes(c.openIncident.runbook)) errors.push(`${c.file}: openIncident.runbook: unknown runbook '${c.openIncident.runbook}' (known: ${known.runbooks.join(', ')})`);
    for (const t of names) {
      const cfg = targets.get(t);
      if (!cfg) continue;
      if (c.roles && !c.roles.includes(cfg.role)) continue;
      const ov = Object.hasOwn(c.overrides, t) ? c.overrides[t] : undefined;
      if (ov?.enabled === false) continue;
      out.push({ check: c, target: t, schedule: ov?.schedule ?? c.schedule, params: { ...c.params, ...(ov?.params ?? {}) } });
    }
  }
  return { assignments: out, errors };
}
