/**
 * Findings flow into actions: a step's `with:` values and its `on: { node | nodes }` may name
 * what the diagnosis found. A string that is exactly `{expr}` becomes the expression's typed value
 * (a number, a list, an object); a string with `{expr}` inside it is interpolated into text
 * (`{{` and `}}` for literal braces). Pure: compiled once at load, evaluated at plan time.
 */
import { closingBrace, compileExpr, compileTemplate } from '../expr/index.js';
import type { CompiledExpr, CompiledTemplate } from '../expr/index.js';

/** One expression found inside a `with:` value, by its path under `with`. */
export interface WithExpr {
  path: (string | number)[];
  kind: 'value' | 'text';
  source: string;
  compiled: CompiledExpr | CompiledTemplate;
}

function hasBrace(s: string): boolean {
  return s.replace(/\{\{|\}\}/g, '').includes('{');
}

/** Is this string exactly one `{expr}` (not `{{…`, not `{a} and {b}`)? Returns the expression. */
function wholeExpr(raw: string): string | undefined {
  const s = raw.trim();
  if (!s.startsWith('{') || s.startsWith('{{') || !s.endsWith('}')) return undefined;
  try {
    return closingBrace(s, 0) === s.length - 1 ? s.slice(1, -1) : undefined;
  } catch {
    return undefined;
  }
}

/** Every expression inside `value` (walks objects and arrays). Throws ExprError on a bad one. */
export function withExprs(value: unknown, path: (string | number)[] = []): WithExpr[] {
  if (typeof value === 'string') {
    if (!hasBrace(value)) return [];
    const whole = wholeExpr(value);
    if (whole !== undefined) return [{ path, kind: 'value', source: whole, compiled: compileExpr(whole) }];
    return [{ path, kind: 'text', source: value, compiled: compileTemplate(value) }];
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => withExprs(v, [...path, i]));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => withExprs(v, [...path, k]));
  return [];
}

/** Root names an expression of `value` reads. */
export function withNames(value: unknown): string[] {
  return [...new Set(withExprs(value).flatMap((e) => e.compiled.paths()))];
}

/** Does `value` hold any expression? */
export function hasExprs(value: unknown): boolean {
  return withExprs(value).length > 0;
}

/**
 * `value` with every expression evaluated against `scope`. Unevaluable expressions (missing
 * findings) are reported in `missing`, never silently dropped: the caller refuses to plan.
 */
export function resolveWith(value: unknown, scope: Readonly<Record<string, unknown>>): { value: unknown; missing: string[] } {
  const missing: string[] = [];
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      if (!hasBrace(v)) return v.replace(/\{\{/g, '{').replace(/\}\}/g, '}');
      const whole = wholeExpr(v);
      if (whole !== undefined) {
        const r = compileExpr(whole).evaluate(scope);
        if (r === null || r === undefined) missing.push(whole);
        return r;
      }
      return compileTemplate(v).render(scope);
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return { value: walk(value), missing };
}

/** Why a step's `with:` could not be evaluated (the same words for diagnostics and remediations). */
export function unresolvedMessage(action: string, missing: readonly string[]): string {
  return `could not evaluate ${missing.map((m) => `{${m}}`).join(', ')} for ${action}: no such finding (a step it depends on failed or found nothing)`;
}
