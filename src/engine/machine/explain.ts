/**
 * Nothing fails silently: when a condition is false because what it reads is missing (a step that
 * failed, a node that refused us), say so — "could not evaluate …: why" — instead of a silent false.
 */
import type { CompiledExpr } from '../expr/index.js';
import { SCOPE_BUILTINS } from './scope.js';

function errorOf(v: unknown): { code?: unknown; message?: unknown } | undefined {
  if (v !== null && typeof v === 'object' && 'error' in v) {
    const e = (v as { error: unknown }).error;
    if (e && typeof e === 'object') return e as { code?: unknown; message?: unknown };
  }
  return undefined;
}

/** Why `cond` cannot be evaluated on these findings, or undefined when everything it reads is there. */
export function unevaluable(cond: CompiledExpr, findings: Readonly<Record<string, unknown>>): string | undefined {
  const why: string[] = [];
  for (const root of cond.paths()) {
    if ((SCOPE_BUILTINS as readonly string[]).includes(root)) continue;
    const v = findings[root];
    if (v === undefined) {
      why.push(`${root} has no value`);
      continue;
    }
    const e = errorOf(v);
    if (e) {
      why.push(`${root} failed (${String(e.code)}: ${String(e.message)})`);
      continue;
    }
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const byNode = Object.entries(v as Record<string, unknown>).filter(([k]) => /:\d+$/.test(k));
      const failed = byNode.filter(([, x]) => errorOf(x) !== undefined);
      if (byNode.length > 0 && failed.length === byNode.length) {
        why.push(`${root} failed on every node (${failed.map(([k, x]) => `${k}: ${String(errorOf(x)?.code)}`).join(', ')})`);
      }
    }
  }
  return why.length > 0 ? why.join('; ') : undefined;
}
