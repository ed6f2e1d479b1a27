/**
 * `{expr}` interpolation for human-readable text such as decision reasons. `{{` and `}}` stand for
 * literal braces; a `}` inside a quoted string of the expression does not close it.
 */
import { ExprError } from './errors.js';
import { formatValue } from './format.js';
import { compileExpr, type CompiledExpr } from './compile.js';

/** A parsed template, ready to render many times. */
export interface CompiledTemplate {
  readonly source: string;
  /** Root identifiers read by all the embedded expressions. */
  paths(): string[];
  /** The text with every `{expr}` replaced by its formatted value. Never throws. */
  render(scope: Readonly<Record<string, unknown>>): string;
}

/** Parse a template once. Throws {@link ExprError} (column relative to the template) on a bad `{expr}`. */
export function compileTemplate(template: string): CompiledTemplate {
  const parts: (string | CompiledExpr)[] = [];
  let text = '';
  let i = 0;
  while (i < template.length) {
    const c = template[i];
    const n = template[i + 1];
    if ((c === '{' && n === '{') || (c === '}' && n === '}')) {
      text += c;
      i += 2;
    } else if (c === '{') {
      const end = closingBrace(template, i);
      if (text !== '') parts.push(text);
      text = '';
      parts.push(compileAt(template, i + 1, end));
      i = end + 1;
    } else {
      text += c ?? '';
      i++;
    }
  }
  if (text !== '') parts.push(text);
  return {
    source: template,
    paths: () => [...new Set(parts.flatMap((p) => (typeof p === 'string' ? [] : p.paths())))],
    render: (scope) => parts.map((p) => (typeof p === 'string' ? p : formatValue(p.evaluate(scope)))).join(''),
  };
}

/** Index of the `}` closing the `{` at `open`, skipping quoted strings. Throws ExprError when unterminated. */
export function closingBrace(template: string, open: number): number {
  let quote: string | undefined;
  for (let j = open + 1; j < template.length; j++) {
    const c = template[j];
    if (quote !== undefined) {
      if (c === '\\') j++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '}') {
      return j;
    }
  }
  throw new ExprError("unterminated '{' in template", open, template);
}

function compileAt(template: string, start: number, end: number): CompiledExpr {
  try {
    return compileExpr(template.slice(start, end));
  } catch (err) {
    if (err instanceof ExprError) throw new ExprError(err.detail, start + err.position, template);
    throw err;
  }
}

const cache = new Map<string, CompiledTemplate>();
const CACHE_LIMIT = 500;

/**
 * Render `template` against `scope`, e.g. `"fragmentation {mem.fragmentationRatio} on {node}"`.
 * Numbers get up to 3 decimals, `null` shows as `n/a`, arrays/objects as JSON; use `bytes(x)` or
 * `pct(x)` inside the braces for units. Compiled templates are cached.
 *
 * Never throws: it runs inside machine actions, so a malformed template is returned verbatim.
 * Validate templates up front with {@link compileTemplate}, which does throw {@link ExprError}.
 */
export function interpolate(template: string, scope: Readonly<Record<string, unknown>>): string {
  let compiled = cache.get(template);
  if (compiled === undefined) {
    try {
      compiled = compileTemplate(template);
    } catch {
      compiled = { source: template, paths: () => [], render: () => template };
    }
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(template, compiled);
  }
  return compiled.render(scope);
}
