/**
 * Load runbooks: parse YAML (duplicate keys and alias bombs rejected), validate against the
 * schema, check against the action registry, compile to an XState machine. Every error names the
 * file, the YAML path and the line.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, isNode, parseDocument } from 'yaml';
import type { ActionDefinition } from '../../actions/types.js';
import { RunbookError } from '../../errors.js';
import { issueLines } from '../../util/issue-format.js';
import { compileExpr } from '../expr/index.js';
import { compileMachine } from '../machine/compile.js';
import type { CompiledMachine } from '../machine/compile.js';
import type { RemediationInfo } from '../machine/types.js';
import { checkRunbook } from './check.js';
import type { Issue } from './check.js';
import { runbookSchema } from './schema.js';
import type { RunbookDef } from './schema.js';

export interface CompiledRunbook extends CompiledMachine {
  def: RunbookDef;
  file: string;
  /** Content hash of the validated definition: stored with every snapshot. */
  hash: string;
  remediations: Map<string, RemediationInfo>;
}

export interface LoadDeps {
  actions: ReadonlyMap<string, ActionDefinition<unknown, unknown>>;
  selectors: readonly string[];
  defaultApprovalTimeoutMs: number;
  /**
   * A definition restored from the store for an incident already running on it: authoring rules
   * added since (e.g. "an alert-driven runbook must declare its symptom") are not applied, so an
   * upgrade never strands an incident in flight. Safety checks still apply.
   */
  stored?: boolean;
}


/** Parse, validate, check and compile one runbook from its text. Throws RunbookError listing every issue. */
export function compileRunbookText(text: string, file: string, deps: LoadDeps): CompiledRunbook {
  const lc = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    const msgs = doc.errors.map((e) => {
      const pos = lc.linePos(e.pos[0]);
      return `${file}:${pos.line}:${pos.col}: ${e.message.split('\n')[0]}`;
    });
    throw new RunbookError(msgs.join('\n'));
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 50 });
  } catch (e) {
    throw new RunbookError(`${file}: ${(e as Error).message}`);
  }
  const lineOf = (path: readonly PropertyKey[]): string => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true);
      if (isNode(node) && node.range) return `:${lc.linePos(node.range[0]).line}`;
    }
    return '';
  };
  return compileRunbookValue(raw, file, deps, lineOf);
}

/** Validate, check and compile an already-parsed runbook (e.g. a definition stored with old incidents). */
export function compileRunbookValue(raw: unknown, file: string, deps: LoadDeps, lineOf: (path: readonly PropertyKey[]) => string = () => ''): CompiledRunbook {
  const fail = (issues: Issue[]): never => {
    throw new RunbookError(issueLines(file, issues, lineOf));
  };
  const parsed = runbookSchema.safeParse(raw);
  if (!parsed.success) {
    fail(parsed.error.issues.map((i) => ({ path: i.path as (string | number)[], message: i.message })));
  }
  const def = normaliseParams((parsed as { data: RunbookDef }).data);
  const issues = checkRunbook(def, deps);
  if (issues.length > 0) fail(issues);
  let compiled: CompiledMachine;
  try {
    compiled = compileMachine(def, { defaultApprovalTimeoutMs: deps.defaultApprovalTimeoutMs });
  } catch (e) {
    throw new RunbookError(`${file}: does not compile: ${(e as Error).message}`);
  }
  const remediations = new Map<string, RemediationInfo>();
  for (const [id, r] of Object.entries(def.remediations)) {
    remediations.set(id, {
      id,
      title: r.title,
      risk: r.risk,
      role: r.approval?.role ?? 'redis.dba-operator',
      approversRequired: r.approval?.approvers ?? 1,
      automatic: r.automatic,
    });
  }
  const hash = createHash('sha256').update(JSON.stringify(def)).digest('hex').slice(0, 16);
  return { ...compiled, def, file, hash, remediations };
}

/** Params written with units (`100mb`, `30s`, `85%`) become numbers, as they would in an expression. */
function normaliseParams(def: RunbookDef): RunbookDef {
  const params: RunbookDef['params'] = {};
  for (const [k, v] of Object.entries(def.params)) {
    if (typeof v === 'string' && /^\d+(\.\d+)?\s*(b|kb|mb|gb|tb|ms|s|m|h|%)$/i.test(v.trim())) {
      const n = compileExpr(v.trim().replace(/\s+/g, '')).evaluate({});
      params[k] = typeof n === 'number' ? n : v;
    } else params[k] = v;
  }
  return { ...def, params };
}

/**
 * The runbooks shipped with the package: `runbooks/` at the package root, found from this module
 * (`src/engine/runbook/` in a checkout, `dist/engine/runbook/` when installed), never from the
 * working directory or the config file.
 */
export const SHIPPED_RUNBOOKS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'runbooks');

/** One directory of runbooks in a catalog: later directories override earlier ones by name. */
export interface RunbookDirSpec {
  dir: string;
  /** The package's own runbooks (overrides of these are reported as "overrides the shipped …"). */
  shipped?: boolean;
}

/** A runbook that replaced one with the same name from an earlier directory. */
export interface RunbookOverride {
  name: string;
  /** The file that wins. */
  file: string;
  /** The file it replaced. */
  replaced: string;
  /** The replaced runbook is one the package ships. */
  shipped: boolean;
}

/** Load every `*.yaml` / `*.yml` runbook of a directory. Errors of all files are collected. */
export function loadRunbookDir(dir: string, deps: LoadDeps): { runbooks: CompiledRunbook[]; errors: string[] } {
  const { runbooks, errors } = loadRunbookDirs([{ dir }], deps);
  return { runbooks, errors };
}

/**
 * Load several runbook directories in order (e.g. the shipped runbooks, then the operator's). A
 * runbook whose name an earlier directory already defined replaces it (reported in `overrides`);
 * two files with the same name in one directory are an error. A directory listed twice (same real
 * path) is read once. Handovers are checked against the merged set.
 */
export function loadRunbookDirs(
  dirs: readonly RunbookDirSpec[],
  deps: LoadDeps,
): { runbooks: CompiledRunbook[]; errors: string[]; overrides: RunbookOverride[] } {
  const byName = new Map<string, { rb: CompiledRunbook; shipped: boolean }>();
  const errors: string[] = [];
  const overrides: RunbookOverride[] = [];
  const seen = new Set<string>();
  for (const spec of dirs) {
    const real = realPath(spec.dir);
    if (seen.has(real)) continue;
    seen.add(real);
    const own = loadOneDir(spec.dir, deps, errors);
    for (const rb of own) {
      const prev = byName.get(rb.def.name);
      if (prev) overrides.push({ name: rb.def.name, file: rb.file, replaced: prev.rb.file, shipped: prev.shipped });
      // Map.set on an existing key keeps its position: an override takes the place of what it replaces.
      byName.set(rb.def.name, { rb, shipped: spec.shipped === true });
    }
  }
  const runbooks = [...byName.values()].map((v) => v.rb);
  for (const rb of runbooks) {
    for (const [id, r] of Object.entries(rb.def.remediations)) {
      for (const [k, o] of [['onSuccess', r.onSuccess], ['onFailure', r.onFailure]] as const) {
        if (typeof o === 'object' && !byName.has(o.handover)) {
          errors.push(`${rb.file}: remediations.${id}.${k}.handover: unknown runbook '${o.handover}' (known: ${[...byName.keys()].join(', ')})`);
        }
      }
    }
  }
  return { runbooks, errors, overrides };
}

/** The runbooks of one directory; a name defined twice in it is an error. */
function loadOneDir(dir: string, deps: LoadDeps, errors: string[]): CompiledRunbook[] {
  const runbooks: CompiledRunbook[] = [];
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (e) {
    errors.push(`${dir}: cannot read runbook directory: ${(e as Error).message}`);
    return runbooks;
  }
  const names = new Map<string, string>();
  for (const f of files) {
    const path = join(dir, f);
    let rb: CompiledRunbook;
    try {
      rb = compileRunbookText(readFileSync(path, 'utf8'), path, deps);
    } catch (e) {
      errors.push((e as Error).message);
      continue;
    }
    const prev = names.get(rb.def.name);
    if (prev) {
      errors.push(`${rb.file}: name: runbook '${rb.def.name}' is already defined in ${basename(prev)}`);
      continue;
    }
    names.set(rb.def.name, rb.file);
    runbooks.push(rb);
  }
  return runbooks;
}

function realPath(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return resolve(dir);
  }
}
