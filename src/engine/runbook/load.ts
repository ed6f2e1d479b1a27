/**
 * Load runbooks: parse YAML (duplicate keys and alias bombs rejected), validate against the
 * schema, check against the action registry, compile to an XState machine. Every error names the
 * file, the YAML path and the line.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { LineCounter, isNode, parseDocument } from 'yaml';
import type { ActionDefinition } from '../../actions/types.js';
import { RunbookError } from '../../errors.js';
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

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out || '(root)';
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
    throw new RunbookError(issues.map((i) => `${file}${lineOf(i.path)}: ${formatPath(i.path)}: ${i.message}`).join('\n'));
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

/** Load every `*.yaml` / `*.yml` runbook of a directory. Errors of all files are collected. */
export function loadRunbookDir(dir: string, deps: LoadDeps): { runbooks: CompiledRunbook[]; errors: string[] } {
  const runbooks: CompiledRunbook[] = [];
  const errors: string[] = [];
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (e) {
    return { runbooks, errors: [`${dir}: cannot read runbook directory: ${(e as Error).message}`] };
  }
  for (const f of files) {
    const path = join(dir, f);
    try {
      runbooks.push(compileRunbookText(readFileSync(path, 'utf8'), path, deps));
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  const names = new Map<string, string>();
  for (const rb of runbooks) {
    const prev = names.get(rb.def.name);
    if (prev) errors.push(`${rb.file}: name: runbook '${rb.def.name}' is already defined in ${basename(prev)}`);
    names.set(rb.def.name, rb.file);
  }
  for (const rb of runbooks) {
    for (const [id, r] of Object.entries(rb.def.remediations)) {
      for (const [k, o] of [['onSuccess', r.onSuccess], ['onFailure', r.onFailure]] as const) {
        if (typeof o === 'object' && !names.has(o.handover)) {
          errors.push(`${rb.file}: remediations.${id}.${k}.handover: unknown runbook '${o.handover}' (known: ${[...names.keys()].join(', ')})`);
        }
      }
    }
  }
  return { runbooks, errors };
}
